"""OpenAPI: bodies we decode ourselves, documented by msgspec's schema; offline docs."""

from __future__ import annotations

import dataclasses
import importlib.resources
from collections.abc import Mapping
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any

import msgspec
from litestar import MediaType, Request, Response, Router
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    Example,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

from events import Actors, Figure

DOCUMENTS = "/api/schema"
ASSETS = f"{DOCUMENTS}/assets"
BEARER = "bearer"  # the security scheme of tokens made by `timeline tokens create`


def answer_spec(data: Any, description: str, media_type: str = MediaType.JSON) -> ResponseSpec:
    """OpenAPI documentation of an answer, without the random examples Litestar would make up
    for it (`"type": "ZmKydOmfiOiFecPeQNSf"` on the interactive page)."""
    return ResponseSpec(
        data, description=description, media_type=media_type, generate_examples=False
    )


_FIELD_OF = {f.metadata.get("alias", f.name): f.name for f in dataclasses.fields(Schema)}
_SCHEMAS = {"properties", "pattern_properties", "dependent_schemas"}  # name -> schema maps
_VALUES = {"enum", "const", "default", "examples", "example", "required", "dependent_required"}


def _resolve(raw: Any, definitions: Mapping[str, Any]) -> Any:
    """Inline every `$ref` of a msgspec schema (the event schemas are not recursive)."""
    if isinstance(raw, list):
        return [_resolve(item, definitions) for item in raw]
    if not isinstance(raw, dict):
        return raw
    if "$ref" in raw:
        return _resolve(definitions[raw["$ref"].rsplit("/", 1)[-1]], definitions)
    return {key: _resolve(value, definitions) for key, value in raw.items()}


def _spec(raw: dict[str, Any]) -> Schema:
    """A JSON Schema object as Litestar's `Schema`."""
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        name = _FIELD_OF.get(key)
        if name is None or key == "discriminator":  # its mapping names components we inlined
            continue
        if name == "type":
            fields[name] = (
                [OpenAPIType(t) for t in value] if isinstance(value, list) else OpenAPIType(value)
            )
        elif name in _VALUES:
            fields[name] = value
        elif name in _SCHEMAS:
            fields[name] = {k: _spec(v) for k, v in value.items()}
        elif isinstance(value, list):
            fields[name] = [_spec(item) for item in value]
        elif isinstance(value, dict):
            fields[name] = _spec(value)
        else:
            fields[name] = value
    return Schema(**fields)


# Event values whose own rules their types cannot say: each has them as JSON Schema (`RULE`).
_RULED = {ruled.__name__: ruled.RULE for ruled in (Actors, Figure)}


@cache
def schema_of(body_type: Any) -> Schema:
    """The OpenAPI schema of a msgspec type, with its definitions inlined (and `_RULED`)."""
    raw = msgspec.json.schema(body_type)
    definitions = {
        name: {**schema, **_RULED.get(name, {})} for name, schema in raw.get("$defs", {}).items()
    }
    resolved: dict[str, Any] = _resolve(raw, definitions)
    resolved.pop("$defs", None)
    return _spec(resolved)


def body_operation(
    body_type: Any, description: str, examples: Mapping[str, Any]
) -> type[Operation]:
    """An `operation_class` documenting a JSON body that the handler reads and decodes itself."""
    media_type = OpenAPIMediaType(
        schema=schema_of(body_type),
        examples={name: Example(summary=name, value=value) for name, value in examples.items()},
    )

    @dataclasses.dataclass
    class BodyOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={"application/json": media_type},
                description=description,
                required=True,
            )

    return BodyOperation


PLAIN_TEXT = Schema(type=OpenAPIType.STRING)
SERVER_SENT_EVENT = Schema(
    type=OpenAPIType.OBJECT,
    description="One server-sent event; `data` holds a log item as JSON",
    properties={
        "id": Schema(type=OpenAPIType.STRING),
        "event": Schema(type=OpenAPIType.STRING),
        "data": Schema(type=OpenAPIType.STRING),
        "retry": Schema(type=OpenAPIType.INTEGER),
    },
)


def text_answers(
    *media_types: str, schema: Schema = PLAIN_TEXT, only: bool = False
) -> type[Operation]:
    """An `operation_class` documenting text media types of the 200 answer (CSV, NDJSON, SSE).

    They are added beside the JSON the handler's return type documents, or replace it (`only`).
    """

    @dataclasses.dataclass
    class TextAnswers(Operation):
        def __post_init__(self) -> None:
            answer = (self.responses or {}).get("200")
            if not isinstance(answer, OpenAPIResponse):
                return
            content = {} if only or answer.content is None else dict(answer.content)
            for media_type in media_types:
                content[media_type] = OpenAPIMediaType(schema=schema)
            answer.content = content

    return TextAnswers


def swagger_assets() -> Path | None:
    """The Swagger UI files shipped by the `swagger-ui-bundle-v2` package, when installed."""
    try:
        vendor = importlib.resources.files("swagger_ui_bundle") / "vendor"
    except ModuleNotFoundError:
        return None
    found = sorted(Path(str(vendor)).glob("swagger-ui-*/swagger-ui-bundle.js"))
    return found[-1].parent if found else None


def docs_page(assets: Path | None) -> OpenAPIRenderPlugin:
    """Swagger UI at `/api/schema`, loading its files from `ASSETS` (or a CDN without them)."""
    if assets is None:
        return DocsPage(path="/")
    return DocsPage(
        path="/",
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
    )


def any_of(schema: Any) -> Any:
    """`schema` with every `oneOf` written `anyOf`. Litestar writes a union as `oneOf`, which
    refuses a value that more than one member allows: a figure's whole-number `value` is both
    an `integer` and a `number`, so every answer holding one failed the document."""
    if isinstance(schema, list):
        return [any_of(item) for item in schema]
    if isinstance(schema, dict):
        return {("anyOf" if key == "oneOf" else key): any_of(v) for key, v in schema.items()}
    return schema


_TIDIED: list[tuple[dict[str, Any], dict[str, Any]]] = []  # the last document, and as served


def served(openapi_schema: dict[str, Any]) -> dict[str, Any]:
    """The document Litestar made, as served: its unions `any_of`; tidied once for each document
    Litestar makes (it makes one again when routes are added)."""
    for made, tidied in _TIDIED:
        if made is openapi_schema:
            return tidied
    _TIDIED[:] = [(openapi_schema, any_of(openapi_schema))]
    return _TIDIED[0][1]


class DocumentJson(JsonRenderPlugin):
    """`/api/schema/openapi.json`: the document `served`."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, served(openapi_schema))


class DocsPage(SwaggerRenderPlugin):
    """`/api/schema`: the interactive page, of the document `served`."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, served(openapi_schema))


def _missing_as_problem(response: Response[Any]) -> Response[Any]:
    """Litestar answers an unknown path under the documents with an HTML page: a problem, as
    everywhere else under /api/."""
    if response.status_code == HTTPStatus.NOT_FOUND:
        raise NotFoundException()
    return response


def documents_router() -> Router:
    """The router Litestar serves the OpenAPI document and the interactive page from."""
    return Router(
        DOCUMENTS,
        route_handlers=[],
        include_in_schema=False,
        after_request=_missing_as_problem,
    )
