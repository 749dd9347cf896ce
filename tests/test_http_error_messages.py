"""Refusals say what was wrong in the caller's terms: the field's JSONPath, the values a parameter
takes, the range of an offset, a window that ends before it starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.tokens import Tokens
from tests.api import Client, error_paths, log_state, problem, report_development


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """These answers are given before the database is asked: SQLite alone tells them."""
    return f"sqlite:///{tmp_path}/timeline.db"


KINDS = "transfer, use, assessment, compensation, sanction, finding, meeting, statement, other"
STATUSES = "alleged, corroborated, confirmed, disputed, refuted, retracted, superseded, withdrawn"


@pytest.fixture
def admin(client: Client) -> Client:
    timeline = client.app.state.timeline
    client.headers["Authorization"] = f"Bearer {Tokens(timeline.store).create('root', 'admin')}"
    return client


def _only_error(document: dict[str, Any]) -> dict[str, str]:
    [error] = document["errors"]
    assert isinstance(error, dict)
    return error


# --- POST /api/verify: body errors by JSONPath --------------------------------------------------


def _checkpoint(admin: Client) -> dict[str, Any]:
    report_development(admin)
    kept: dict[str, Any] = admin.post("/api/checkpoints").json()
    return kept


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"drop": "tree_size"}, "$.tree_size"),
        ({"drop": "signature"}, "$.signature"),
        ({"set": ("position", "last")}, "$.position"),
        ({"set": ("head", "not hex")}, "$.head"),
        ({"set": ("witness", "x")}, "$.witness"),  # a field a checkpoint does not have
    ],
)
def test_verify_names_the_field_of_the_body_at_fault_by_its_json_path(
    admin: Client, change: dict[str, Any], path: str
) -> None:
    # given a checkpoint kept by the caller, altered in one field
    body = _checkpoint(admin)
    if "drop" in change:
        del body[change["drop"]]
    else:
        name, value = change["set"]
        body[name] = value
    before = log_state(admin)

    # when it is posted to be verified against
    document = problem(admin.post("/api/verify", json=body), 400)

    # then the problem is the body's, naming the field by its JSONPath, and nothing is stored
    assert document["type"] == "urn:timeline:problem:invalid-body"
    assert error_paths(document) == [path]
    assert "data" not in document["detail"]
    assert log_state(admin) == before


def test_verify_names_the_body_itself_when_it_is_not_an_object(admin: Client) -> None:
    # when a JSON array is posted in place of a checkpoint
    document = problem(admin.post("/api/verify", json=[1, 2]), 400)

    # then the path is the body's root
    assert error_paths(document) == ["$"]


# --- known_at: an offset out of range -----------------------------------------------------------


@pytest.mark.parametrize("offset", ["+25:00", "-24:00", "+05:60"])
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/developments", "known_at"),
        ("/api/views/allegations", "known_at"),
        ("/api/changes?since=2024-01-01&until=", "until"),
        ("/api/changes?since=", "since"),
    ],
)
def test_a_utc_offset_out_of_range_is_refused_in_plain_words(
    client: Client, offset: str, path: str, name: str
) -> None:
    # when a time with an offset past ±23:59 is asked for
    moment = f"2026-11-23T16:50:14{offset}".replace("+", "%2B")
    separator = "" if path.endswith("=") else "?known_at="
    response = client.get(f"{path}{separator}{moment}")

    # then it is refused naming the parameter, saying the range, without Python's internals
    error = _only_error(problem(response, 400))
    assert error["path"] == name
    assert "the UTC offset must be between -23:59 and +23:59" in error["message"]
    assert "timedelta" not in response.text


# --- /api/developments: a window that ends before it starts -------------------------------------


def test_a_timeline_window_that_ends_before_it_starts_is_refused_naming_to(client: Client) -> None:
    # given a development first reported on 2023-10-13
    report_development(client)
    path = "/api/developments?as_of=2024-03-15"

    # when the timeline is asked from 2024-01-01 to 2023-01-01
    document = problem(client.get(f"{path}&from=2024-01-01&to=2023-01-01"), 400)

    # then `to` is named, as /api/changes names `until`; a one-day window is a window
    assert error_paths(document) == ["to"]
    assert "ends" in _only_error(document)["message"]
    same_day = client.get(f"{path}&from=2023-10-13&to=2023-10-13")
    assert same_day.status_code == 200
    assert len(same_day.json()["items"]) == 1


# --- enum parameters: the values they take ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name", "allowed"),
    [
        ("/api/developments?kind=USE", "kind", KINDS),
        ("/api/developments?status=open", "status", STATUSES),
        ("/api/views/deliveries?status=x", "status", STATUSES),
        ("/api/developments?format=CSV", "format", "json, csv"),
        ("/api/views/allegations?format=xlsx", "format", "json, csv"),
        ("/api/changes?since=2024-01-01&format=tsv", "format", "json, csv"),
        ("/api/stream?kind=drone", "kind", KINDS),
    ],
)
def test_an_enum_parameter_out_of_its_values_is_refused_listing_them(
    client: Client, url: str, name: str, allowed: str
) -> None:
    # when a parameter that takes a fixed set of values is given another
    document = problem(client.get(url), 400)

    # then it is named, and the message lists the values it takes
    error = _only_error(document)
    assert error["path"] == name
    assert error["message"].startswith(f"{name} must be one of {allowed}, not '")
    assert "regex" not in document["detail"] and "Invalid enum" not in document["detail"]


def test_the_history_format_lists_its_values(client: Client) -> None:
    # given a development
    development_id = report_development(client)

    # when its history is asked in a format it has not
    response = client.get(f"/api/developments/{development_id}/history?format=CSV")

    # then the values it takes are listed
    assert _only_error(problem(response, 400)) == {
        "path": "format",
        "message": "format must be one of json, csv, not 'CSV'",
    }


def test_a_projection_to_rebuild_that_does_not_exist_is_refused_listing_them(
    admin: Client,
) -> None:
    # when an admin asks to rebuild a projection by a name it has not
    document = problem(admin.post("/api/projections/rebuild", params={"name": "views"}), 400)

    # then the names it has are listed
    assert _only_error(document) == {
        "path": "name",
        "message": "name must be one of developments, deliveries, not 'views'",
    }


# --- ids in paths: one spelling, and a 400 naming the parameter ----------------------------------

NIL = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    "written",
    ["not-a-uuid", "{" + NIL + "}", "urn:uuid:" + NIL, NIL[:-1] + "\u0660", NIL.replace("-", "")],
)
@pytest.mark.parametrize(
    ("route", "name"),
    [
        ("/api/developments/{}", "development_id"),
        ("/api/developments/{}/history", "development_id"),
        ("/api/events/{}/proof", "event_id"),
    ],
)
def test_an_id_in_a_path_written_other_than_8_4_4_4_12_hex_is_a_400_naming_it(
    client: Client, route: str, name: str, written: str
) -> None:
    document = problem(client.get(route.format(written)), 400)
    assert _only_error(document)["path"] == name
    assert "8-4-4-4-12" in _only_error(document)["message"]


def test_the_web_page_of_a_development_with_a_malformed_id_is_a_400_page(client: Client) -> None:
    for path in ("/developments/not-a-uuid", "/parts/developments/{" + NIL + "}"):
        response = client.get(path)
        assert response.status_code == 400
        assert "8-4-4-4-12" in response.text
    assert client.get(f"/developments/{NIL}").status_code == 404
