"""The OpenAPI document describes each query and path parameter as the server reads it: one
type (a query string has no null), whole-number bounds as whole numbers, and for dates, times
and ids the pattern the server checks, so a client generated from it sends what is accepted."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.api import Client, error_paths, problem, report_development

OPENAPI = "/api/schema/openapi.json"


def parameters(client: Client) -> list[tuple[str, dict[str, Any]]]:
    """Every query and path parameter of the document, with its operation's label."""
    document = client.get(OPENAPI).json()
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in ("query", "path"):
                    found.append((f"{method.upper()} {path} {parameter['name']}", parameter))
    return found


def schema_of(client: Client, path: str, name: str) -> dict[str, Any]:
    document = client.get(OPENAPI).json()
    (parameter,) = (p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name)
    schema: dict[str, Any] = parameter["schema"]
    return schema


def test_every_parameter_has_one_type_and_no_null(client: Client) -> None:
    found = parameters(client)

    assert len(found) > 40
    for label, parameter in found:
        schema = parameter["schema"]
        assert isinstance(schema.get("type"), str), label
        assert not {"oneOf", "anyOf", "allOf"} & set(schema), label
        assert None not in schema.get("enum", ()), label


def test_whole_number_bounds_are_written_as_whole_numbers(client: Client) -> None:
    bounds = {
        label: (parameter["schema"].get("minimum"), parameter["schema"].get("maximum"))
        for label, parameter in parameters(client)
        if parameter["schema"]["type"] == "integer"
    }

    assert bounds["GET /api/events after"] == (0, 2**63 - 1)
    assert bounds["GET /api/changes limit"] == (1, 5000)
    assert bounds["GET /api/checkpoints/{position} position"] == (0, 2**63 - 1)
    assert bounds["GET /api/developments limit"] == (1, 500)
    for label, (low, high) in bounds.items():
        assert type(low) is int and type(high) is int, label


def test_dates_times_and_ids_are_documented_with_their_patterns(client: Client) -> None:
    as_of = schema_of(client, "/api/developments", "as_of")
    known_at = schema_of(client, "/api/views/deliveries", "known_at")
    since = schema_of(client, "/api/changes", "since")
    development = schema_of(client, "/api/developments/{development_id}", "development_id")

    assert (as_of["format"], as_of["pattern"]) == ("date", r"^\d{4}-\d{2}-\d{2}$")
    assert since["pattern"] == known_at["pattern"] and "format" not in known_at  # or a date
    assert development["format"] == "uuid"
    for name in ("from", "to", "occurred_from", "occurred_to"):
        assert schema_of(client, "/api/developments", name)["pattern"] == as_of["pattern"]


def matches(schema: dict[str, Any], value: str) -> bool:
    """Whether the documented pattern allows `value` (as ECMA-262 reads it: ASCII digits)."""
    return re.search(schema["pattern"], value, re.ASCII) is not None


DAYS = [
    "2024-03-01",
    "2024-3-01",
    "20240301",
    "2024-03-01T00:00:00Z",
    "\u0662\u0660\u0662\u0664-\u0660\u0663-\u0660\u0661",  # Arabic-Indic digits
    " 2024-03-01",
]
MOMENTS = [
    "2024-03-01",
    "2024-03-01T12:00:00Z",
    "2024-03-01t12:00:00z",
    "2024-03-01 12:00:00+01:00",  # a space for T
    "2024-03-01T12:00:00 01:00",  # an unencoded + read as a space
    "2024-03-01T12:00:00.123456789-05:30",
    "2024-03-01T12:00Z",
    "2024-03-01T12:00:00",
    "2024-03-01T12:00:00+0100",
    "2024-03-01T12:00:00.Z",
]


@pytest.mark.parametrize("value", DAYS)
def test_an_as_of_the_pattern_refuses_is_refused_and_one_it_allows_is_read(
    client: Client, value: str
) -> None:
    schema = schema_of(client, "/api/developments", "as_of")

    answer = client.get("/api/developments", params={"as_of": value})

    if matches(schema, value):
        assert answer.status_code == 200, answer.text
    else:
        assert error_paths(problem(answer, 400)) == ["as_of"]


@pytest.mark.parametrize("value", MOMENTS)
@pytest.mark.parametrize(("path", "name"), [("/api/views/deliveries", "known_at"),
                                            ("/api/changes", "since")])  # fmt: skip
def test_a_time_the_pattern_refuses_is_refused_and_one_it_allows_is_read(
    client: Client, path: str, name: str, value: str
) -> None:
    schema = schema_of(client, path, name)

    answer = client.get(path, params={name: value})

    if matches(schema, value):
        assert answer.status_code == 200, answer.text
    else:
        assert error_paths(problem(answer, 400)) == [name]


def test_a_date_the_pattern_allows_may_still_not_be_a_real_one(client: Client) -> None:
    schema = schema_of(client, "/api/developments", "as_of")

    answer = client.get("/api/developments", params={"as_of": "2023-02-30"})

    assert matches(schema, "2023-02-30")
    assert "not a real date" in problem(answer, 400)["detail"]


@pytest.mark.parametrize("upper", [False, True])
def test_an_id_the_pattern_allows_is_read_and_one_it_refuses_is_refused(
    client: Client, upper: bool
) -> None:
    development_id = report_development(client)
    written = development_id.upper() if upper else development_id
    schema = schema_of(client, "/api/developments/{development_id}", "development_id")

    found = client.get(f"/api/developments/{written}")
    braced = client.get(f"/api/developments/{{{written}}}")

    assert matches(schema, written) and found.status_code == 200, found.text
    assert not matches(schema, f"{{{written}}}")
    assert error_paths(problem(braced, 400)) == ["development_id"]
