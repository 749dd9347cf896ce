"""The OpenAPI document gives the shape of each view's answer, and the answers have it: every
view of the seed corpus, at dates across it, validates against the schema the document gives
for its 200 JSON answer, and the views that answer CSV say so."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from service.application import Timeline
from service.ingest import import_events, seed_corpus
from tests import bodies
from tests.api import Client, serve

OPENAPI = "/api/schema/openapi.json"
DATES = ["2022-09-01", "2023-10-20", "2024-03-01", "2025-06-01"]
VIEWS = {  # each view, and what it is asked besides as_of
    "/api/developments": {"limit": 500},
    "/api/views/allegations": {"limit": 500},
    "/api/views/deliveries": {},
}


@pytest.fixture
def seeded(database_url: str) -> Iterator[Client]:
    """A client of the app over the seed corpus (`client`: over an empty log)."""
    timeline = Timeline(database_url)
    with seed_corpus() as corpus:
        import_events(timeline, corpus, recorded_by="seed")
    timeline.close()
    with serve(database_url) as reader:
        yield reader


def validator(document: dict[str, Any], path: str) -> Any:
    """A validator of the 200 JSON answer of `GET path`, as the document describes it."""
    answer = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    schema = {**answer["schema"], "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def test_every_view_answer_of_the_corpus_has_its_documented_shape(seeded: Client) -> None:
    document = seeded.get(OPENAPI).json()
    checked = 0
    for as_of in DATES:
        for path, params in VIEWS.items():
            answer = seeded.get(path, params={"as_of": as_of, **params}).json()
            validator(document, path).validate(answer)
            checked += 1
        items = seeded.get("/api/developments", params={"as_of": as_of, "limit": 500}).json()
        detail = validator(document, "/api/developments/{development_id}")
        history = validator(document, "/api/developments/{development_id}/history")
        for item in items["items"]:
            development = f"/api/developments/{item['development_id']}"
            detail.validate(seeded.get(development, params={"as_of": as_of}).json())
            history.validate(seeded.get(f"{development}/history").json())
            checked += 2
    changes = seeded.get("/api/changes", params={"since": "2000-01-01", "limit": 5000}).json()
    validator(document, "/api/changes").validate(changes)

    assert checked > 100


def test_an_answer_missing_a_documented_field_is_refused_by_the_schema(seeded: Client) -> None:
    # the check above can fail: the schemas require the fields the views always give
    document = seeded.get(OPENAPI).json()
    answer = seeded.get("/api/views/deliveries", params={"as_of": "2024-03-01"}).json()
    answer["series"][0].pop("originator")

    assert not validator(document, "/api/views/deliveries").is_valid(answer)


@pytest.mark.parametrize(
    "path",
    [*VIEWS, "/api/developments/{development_id}", "/api/developments/{development_id}/history",
     "/api/changes"],
)  # fmt: skip
def test_the_views_that_answer_csv_document_it_beside_json(client: Client, path: str) -> None:
    document = client.get(OPENAPI).json()

    content = document["paths"][path]["get"]["responses"]["200"]["content"]

    assert set(content) == {"application/json", "text/csv"}


def test_unions_are_any_of_in_the_document_and_on_its_page(client: Client) -> None:
    # a figure's whole-number value is an integer and a number: `oneOf` of the two refused it
    document = client.get(OPENAPI)
    page = client.get("/api/schema")

    assert '"anyOf"' in document.text and '"oneOf"' not in document.text
    assert '"anyOf"' in page.text and '"oneOf"' not in page.text


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each operation of the document by its label (`GET /api/health`)."""
    return {
        f"{method.upper()} {path}": operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_every_operation_documents_the_refusals_any_request_may_get(client: Client) -> None:
    # a parameter it does not take (400), the request deadline or the database gone (503)
    found = operations(client.get(OPENAPI).json())

    assert len(found) > 15
    for label, operation in found.items():
        assert {"400", "503"} <= set(operation["responses"]), label


@pytest.mark.parametrize("require_read_token", [False, True])
def test_operations_that_need_a_token_document_its_refusals(
    database_url: str, require_read_token: bool
) -> None:
    with serve(database_url, role="reader", require_read_token=require_read_token) as reader:
        found = operations(reader.get(OPENAPI).json())

    for label, operation in found.items():
        answers = set(operation["responses"])
        needs_token = "security" in operation
        assert needs_token == ("401" in answers), label
        stronger = not label.startswith("GET") or label == "GET /api/verify"  # than a reader
        assert ("403" in answers) == (needs_token and stronger), label
    assert ("security" in found["GET /api/developments"]) == require_read_token
    assert "security" not in found["GET /api/health"]  # a liveness probe needs no token


def test_times_the_service_writes_are_documented_as_date_times(client: Client) -> None:
    # so a generated client reads them as times, and the validation above checks each one
    schemas = client.get(OPENAPI).json()["components"]["schemas"]
    times = [("LogItem", "recorded_at"), ("ReceiptBody", "recorded_at"), ("Changes", "since"),
             ("Changes", "until"), ("History", "known_at"), ("TimelineAnswer", "known_at"),
             ("DeliveriesAnswer", "known_at"), ("DevelopmentAnswer", "known_at")]  # fmt: skip

    for name, field in times:
        assert schemas[name]["properties"][field]["format"] == "date-time", (name, field)


FIGURES = [  # figure, whether the server takes it
    ({"unit": "shell", "value": 10}, True),  # exact by default
    ({"unit": "shell"}, False),
    ({"unit": "shell", "qualifier": "about", "value": 10, "low": 5}, False),
    ({"unit": "shell", "qualifier": "range", "low": 5, "high": 10}, True),
    ({"unit": "shell", "qualifier": "range", "low": 5}, False),
    ({"unit": "shell", "qualifier": "range", "low": 5, "high": 10, "value": 7}, False),
    ({"unit": "shell", "qualifier": "unspecified"}, True),
    ({"unit": "shell", "qualifier": "unspecified", "value": 3}, False),
    ({"unit": "shell", "qualifier": "at_least", "value": 3, "low": None}, True),
]
ACTORS = [
    ({"supplier": "PRK"}, True),
    ({"targets": ["UKR"]}, True),
    ({}, False),
    ({"supplier": None}, False),
    ({"targets": []}, False),
]


@pytest.mark.parametrize(
    ("body", "taken"),
    [pytest.param(bodies.development_reported(report=bodies.report(figure=f)), t, id=f"figure-{i}")
     for i, (f, t) in enumerate(FIGURES)]
    + [pytest.param(bodies.development_reported(actors=a), t, id=f"actors-{i}")
       for i, (a, t) in enumerate(ACTORS)],
)  # fmt: skip
def test_the_documented_body_takes_what_the_server_takes_of_figures_and_actors(
    client: Client, body: dict[str, Any], taken: bool
) -> None:
    document = client.get(OPENAPI).json()
    content = document["paths"]["/api/events"]["post"]["requestBody"]["content"]
    schema = jsonschema_rs.Draft202012Validator(content["application/json"]["schema"])

    answer = client.post("/api/events", json=body)

    assert answer.status_code == (201 if taken else 400), answer.text
    assert schema.is_valid(body) == taken
