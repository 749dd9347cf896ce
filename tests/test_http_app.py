"""The app as a whole: health, OpenAPI and its offline page, problem details for every error."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from litestar import get
from litestar.exceptions import HTTPException
from litestar.testing import TestClient

from events import decode_batch, decode_event
from service.application import Timeline
from service.http import create_app
from service.http.problems import loggable
from tests.api import Client, log_state, problem, report_development, serve


def test_health_names_the_database_and_the_last_position(client: Client, database_url: str) -> None:
    assert client.get("/api/health").json() == {
        "status": "ok",
        "database": "sqlite" if database_url.startswith("sqlite") else "postgresql",
        "position": 0,
    }
    report_development(client)

    assert client.get("/api/health").json()["position"] == log_state(client).last_position


def test_openapi_documents_the_event_bodies_the_handlers_decode_themselves(
    client: Client,
) -> None:
    schema = client.get("/api/schema/openapi.json").json()

    single = schema["paths"]["/api/events"]["post"]["requestBody"]["content"]["application/json"]
    variants = single["schema"]["anyOf"]
    tags = sorted(variant["properties"]["type"]["enum"][0] for variant in variants)
    assert tags == sorted(
        [
            "development_reported",
            "report_added",
            "report_corrected",
            "report_retracted",
            "development_corrected",
            "status_changed",
        ]
    )
    assert all(variant["additionalProperties"] is False for variant in variants)
    batch = schema["paths"]["/api/events/batch"]["post"]["requestBody"]["content"]
    events = batch["application/json"]["schema"]["properties"]["events"]
    assert (events["minItems"], events["maxItems"]) == (1, 1000)
    assert "$ref" not in str(single)  # self-contained: nothing refers to a missing component


def test_openapi_documents_problem_responses(client: Client) -> None:
    schema = client.get("/api/schema/openapi.json").json()

    responses = schema["paths"]["/api/events"]["post"]["responses"]

    assert {"200", "201", "400", "404", "409", "413", "422"} <= set(responses)
    assert "application/problem+json" in responses["409"]["content"]


def test_docs_page_loads_its_scripts_from_this_server(client: Client) -> None:
    page = client.get("/api/schema")

    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', page.text)
    assert sources, "the page loads Swagger UI"
    assert all(source.startswith("/api/schema/assets/") for source in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source


def test_unknown_route_is_a_problem(client: Client) -> None:
    document = problem(client.get("/api/nothing-here"), 404)

    assert document["type"] == "about:blank"
    assert "/api/nothing-here" in document["detail"]


@pytest.mark.parametrize("path", ["/api/schema/nothing-here", "/api/schema/nothing.json"])
def test_unknown_path_under_the_api_documents_is_a_problem(client: Client, path: str) -> None:
    document = problem(client.get(path), 404)

    assert path in document["detail"]
    assert client.get("/api/schema").status_code == 200


def test_method_not_allowed_is_a_problem(client: Client) -> None:
    document = problem(client.delete("/api/events"), 405)

    assert "DELETE" in document["detail"]


@get("/api/boom")
async def boom() -> None:
    """A handler that fails as no handler of the service should."""
    raise RuntimeError("secret internals")


def test_unexpected_error_is_a_problem_that_reveals_nothing(database_url: str) -> None:
    with serve(database_url, extra_route_handlers=[boom]) as client:
        document = problem(client.get("/api/boom"), 500)

    assert "secret" not in str(document)


@get("/api/odd")
async def odd() -> None:
    """A handler answering a status that has no standard phrase."""
    raise HTTPException(status_code=499, detail="client closed the request")


def test_http_error_with_a_nonstandard_status_is_a_problem(database_url: str) -> None:
    with serve(database_url, extra_route_handlers=[odd]) as client:
        document = problem(client.get("/api/odd"), 499)

    assert document["detail"] == "client closed the request"


def test_app_closes_the_timeline_it_owns(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[bool] = []

    def spy_on(timeline: Timeline) -> Timeline:
        original = timeline.close

        def close() -> None:
            closed.append(True)
            original()

        monkeypatch.setattr(timeline, "close", close)
        return timeline

    with TestClient(create_app(spy_on(Timeline(database_url)))):
        assert closed == []
    assert closed == [True]

    borrowed = spy_on(Timeline(database_url))
    with TestClient(create_app(borrowed, own_timeline=False)):
        pass
    assert closed == [True]
    borrowed.close()


def test_extra_route_handlers_share_the_app_and_its_problem_mapping(database_url: str) -> None:
    @get("/api/extra")
    async def extra() -> dict[str, Any]:
        return {"extra": True}

    with serve(database_url, extra_route_handlers=[extra]) as client:
        assert client.get("/api/extra").json() == {"extra": True}
        problem(client.get("/api/extra/nothing"), 404)


def test_documented_examples_are_valid_bodies(client: Client) -> None:
    schema = client.get("/api/schema/openapi.json").json()

    for path, decode in (("/api/events", decode_event), ("/api/events/batch", decode_batch)):
        content = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert content["examples"]
        for example in content["examples"].values():
            decode(json.dumps(example["value"]))


@pytest.mark.parametrize(
    "path",
    [
        "/api/health",
        "/api/developments?as_of=2024-03-01",
        "/api/views/deliveries?format=csv",
        "/api/schema/openapi.json",
        "/",
        "/api/developments?as_of=someday",  # refused: the same 400, without its body
    ],
)
def test_head_answers_as_get_does_without_the_body(client: Client, path: str) -> None:
    report_development(client)
    got = client.get(path)

    head = client.head(path)

    assert (head.status_code, head.content) == (got.status_code, b"")
    assert head.headers["content-type"] == got.headers["content-type"]
    assert int(head.headers["content-length"]) == len(got.content) > 0


def test_head_where_no_get_answers_is_refused_as_get_would_be(client: Client) -> None:
    got, head = client.get("/api/events/batch"), client.head("/api/events/batch")

    assert (got.status_code, head.status_code) == (405, 405)
    assert head.content == b"" and head.headers["allow"] == got.headers["allow"]


def _operations(client: Client) -> dict[tuple[str, str], Any]:
    schema = client.get("/api/schema/openapi.json").json()
    return {(m.upper(), p): op for p, ops in schema["paths"].items() for m, op in ops.items()}


def test_openapi_says_which_operations_need_a_bearer_token(client: Client) -> None:
    schema = client.get("/api/schema/openapi.json").json()
    operations = _operations(client)
    schemes = schema["components"]["securitySchemes"]

    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"] == "bearer"
    needing = {key for key, op in operations.items() if op.get("security") == [{"bearer": []}]}
    assert needing == {
        ("POST", "/api/events"),
        ("POST", "/api/events/batch"),
        ("GET", "/api/verify"),
        ("POST", "/api/verify"),
        ("POST", "/api/checkpoints"),
        ("POST", "/api/projections/rebuild"),
    }


def test_openapi_of_a_service_whose_reads_need_a_token_says_so_but_for_health(
    database_url: str,
) -> None:
    with serve(database_url, require_read_token=True) as client:
        operations = _operations(client)
    open_ = {key for key, op in operations.items() if "security" not in op}
    assert open_ == {("GET", "/api/health")}


def test_openapi_components_have_no_made_up_examples(client: Client) -> None:
    # Litestar made random ones ("type": "ZmKydOmfiOiFecPeQNSf") for every documented answer
    schemas = client.get("/api/schema/openapi.json").json()["components"]["schemas"]
    examples: list[Any] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            examples.extend(node.get("examples", []))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schemas)
    assert examples and set(examples) == {"2024-02-23T10:15:00.123456Z"}  # a time's, our own


@pytest.mark.parametrize("path", ["/", "/api/developments", "/api/nothing", "/static/timeline.js"])
def test_every_answer_tells_browsers_not_to_sniff_frame_or_leak_it(
    client: Client, path: str
) -> None:
    headers = client.get(path).headers

    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_an_answer_to_a_request_with_a_token_is_kept_by_no_cache(client: Client) -> None:
    # the client sends its editor token; the same view asked without one
    with_token = client.get("/api/developments")
    del client.headers["Authorization"]
    anonymous = client.get("/api/developments")
    assert with_token.status_code == anonymous.status_code == 200
    assert with_token.headers["cache-control"] == "no-store"
    assert "cache-control" not in anonymous.headers


def test_the_interactive_api_page_keeps_its_inline_scripts(client: Client) -> None:
    headers = client.get("/api/schema").headers

    assert "content-security-policy" not in headers  # Swagger UI runs inline scripts
    assert headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/static/%00", "/static/timeline%00.js", "/api/schema/%00"])
def test_a_path_with_a_nul_character_is_a_404_not_a_500(client: Client, path: str) -> None:
    # the static routes stat a file by the path, and the file system refuses a NUL (a 500)
    for answer in (client.get(path), client.head(path)):
        assert answer.status_code == 404, answer.text


def test_a_path_cannot_forge_a_line_of_the_server_log() -> None:
    # a path ending a line, then a line that reads as an access log's
    forged = '/static/\x00\nINFO:     1.2.3.4:1 - "POST /api/events HTTP/1.1" 201 Created\x7f'
    logged = loggable(forged)
    assert "\n" not in logged and "\x00" not in logged and "\x7f" not in logged
    assert logged.startswith("/static/\\x00\\x0aINFO:") and logged.endswith("Created\\x7f")
