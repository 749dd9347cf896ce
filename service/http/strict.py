"""Query parameters a route does not declare are refused: a misspelt filter (`?suplier=IRN`)
would otherwise be ignored, and the answer would be the unfiltered one, with no warning. So is
a parameter given twice (`?as_of=2024-01-01&as_of=2024-06-01`): one of them would be ignored.
And a whole-number parameter written otherwise (`?limit=1.0`, `?after=1e3`), which Litestar
would read as a number; and the text `null` where the handler takes `X | None` of a type that
is not text (`?status=null`), which Litestar reads as the parameter left out: an unfiltered
answer, or a rebuild of every projection for `?name=null`.

What a route accepts is what Litestar parsed from its handler's signature (and its dependencies'):
the query names of the route's kwargs model, aliases such as `from` included.
"""

from __future__ import annotations

import re
from difflib import get_close_matches
from typing import Any
from urllib.parse import unquote_to_bytes

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.datastructures import MultiDict
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.typing import FieldDefinition

from service.http.openapi import DOCUMENTS  # its documents are not ours to refuse
from service.http.params import InvalidParameter, RefusedParameter

API = "/api/"


class RefuseUnknownParameters:
    """Middleware of every route: under /api/ (but its documents), a query parameter the route's
    handler does not declare is an `InvalidParameter` naming it and listing those it takes, and
    one given more than once, or a whole number not written as one, is an `InvalidParameter`
    naming it. On every route, so is a parameter whose %-escapes are not UTF-8, and on the web
    pages one given more than once (a page would show one of them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._accepted: dict[int, frozenset[str]] = {}  # by id() of the route handler
        self._whole: dict[int, frozenset[str]] = {}  # those that are whole numbers
        self._nulled: dict[int, frozenset[str]] = {}  # those that would read `null` as None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("query_string") and scope.get("method") != "OPTIONS":
            _check_utf8(scope["query_string"])  # on the web pages and downloads too
            if _is_api(scope):
                self._check(scope)
            elif not scope["path"].startswith(API):  # the web pages: they take any parameter
                twice = given_twice(
                    _where(scope), ASGIConnection[Any, Any, Any, Any](scope).query_params
                )
                if twice is not None:
                    raise twice
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> None:
        handler = scope["route_handler"]
        accepted = self._accepted.get(id(handler))
        if accepted is None:  # the first request of this route: what Litestar made of it
            self._accepted, self._whole, self._nulled = accepted_parameters(scope["litestar_app"])
            accepted = self._accepted.setdefault(id(handler), frozenset())
        params = ASGIConnection[Any, Any, Any, Any](scope).query_params
        refused = refusal(_where(scope), params, accepted)
        if refused is not None:
            raise refused
        for name in self._whole.get(id(handler), ()):
            # Litestar reads "1.0" and "1e1" as 1 and 10 (but refuses "1.5" and "05")
            if name in params and not _WHOLE.fullmatch(value := params[name]):
                zeros = _DIGITS.fullmatch(value)  # Litestar said "Expected `int`, got `str`"
                said = "is a whole number with leading zeros" if zeros else "is not a whole number"
                raise InvalidParameter(name, f"{value!r} {said}")
        for name in self._nulled.get(id(handler), ()):
            if params.get(name) == "null":
                raise InvalidParameter(name, f"'null' is not one of its values; leave {name} out")


def _check_utf8(query: bytes) -> None:
    """Refuse a parameter whose escapes are not UTF-8 (`actor=%ED%A0%80`): decoded, each bad
    byte became U+FFFD, a filter that matched nothing and answered an empty list."""
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        for part in (name, value):
            try:
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                said = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
                raise InvalidParameter(said, "its %-escapes are not UTF-8") from None


def _is_api(scope: Scope) -> bool:
    path: str = scope["path"]
    return (
        path.startswith(API)
        and path != DOCUMENTS
        and not path.startswith(DOCUMENTS + "/")
        and scope.get("method") != "OPTIONS"  # a CORS preflight: the request itself is checked
    )


Names = dict[int, frozenset[str]]  # query names, by id() of the route handler


def accepted_parameters(app: Litestar) -> tuple[Names, Names, Names]:
    """The query names each HTTP route handler of `app` takes, of those the whole numbers (`int`
    or `int | None` in its signature), and those of `X | None` where X is not `str`."""
    accepted: Names = {}
    whole: Names = {}
    nulled: Names = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler, kwargs_model in route.route_handler_map.values():
                query = {p.field_name: p.field_alias for p in kwargs_model.expected_query_params}
                fields = [
                    (query[name], field)
                    for name, field in handler.parsed_fn_signature.parameters.items()
                    if name in query
                ]
                key = id(handler)
                accepted[key] = accepted.get(key, frozenset()) | set(query.values())
                whole[key] = whole.get(key, frozenset()) | {n for n, f in fields if _is_int(f)}
                nulled[key] = nulled.get(key, frozenset()) | {n for n, f in fields if _nulled(f)}
    return accepted, whole, nulled


_WHOLE = re.compile(r"-?(?:0|[1-9][0-9]*)")  # the sign left to the parameter's bounds
_DIGITS = re.compile(r"-?[0-9]+")
_NAMED = 10  # unknown parameters a refusal names


def _is_int(field: FieldDefinition) -> bool:
    types = [t for t in field.inner_types if not t.is_none_type] if field.is_optional else [field]
    return any(t.is_subclass_of(int) and not t.is_subclass_of(bool) for t in types)


def _nulled(field: FieldDefinition) -> bool:
    """Whether Litestar reads the text `null` as None for this parameter."""
    types = [t for t in field.inner_types if not t.is_none_type] if field.is_optional else []
    return bool(types) and not any(t.annotation is str for t in types)


def _where(scope: Scope) -> str:
    return f"{scope.get('method')} {scope['path']}"


def given_twice(where: str, params: MultiDict[str]) -> RefusedParameter | None:
    """What refuses the first of `params` given more than once at `where`, or None."""
    twice = next((name for name in params if len(params.getall(name)) > 1), None)
    if twice is None:
        return None
    return RefusedParameter(twice, f"{where} takes one {twice!r}; it was given more")


def refusal(
    where: str, params: MultiDict[str], accepted: frozenset[str]
) -> RefusedParameter | None:
    """What refuses `params` at `where` (say `GET /api/views/deliveries`), which takes the
    `accepted` ones, or None: the first unknown one, named with what the route takes and the
    likely one it meant; else the first given twice (which of two was meant cannot be told)."""
    unknown = [name for name in params if name not in accepted]
    if not unknown:
        return given_twice(where, params)
    message = f"{where} has no parameter {unknown[0]!r}"
    if len(unknown) > 1:  # a few named: the answer does not echo a query of any length
        others = ", ".join(repr(name) for name in unknown[1:_NAMED])
        more = f" and {len(unknown) - _NAMED} more" if len(unknown) > _NAMED else ""
        message += f" (nor {others}{more})"
    if not accepted:
        return RefusedParameter(unknown[0], message + "; it takes no query parameters")
    message += "; it takes " + ", ".join(sorted(accepted))
    meant = get_close_matches(unknown[0], accepted, n=1)
    return RefusedParameter(
        unknown[0], message + (f" (did you mean {meant[0]!r}?)" if meant else "")
    )
