"""The log and a development's history through HTTP: order, paging, NDJSON export, known_at."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from events import decode_event
from service.application import Timeline
from tests import bodies
from tests.api import (
    RFC3339_UTC,
    Client,
    error_paths,
    post_batch,
    post_event,
    problem,
    report_development,
)

NDJSON = {"Accept": "application/x-ndjson"}
ITEM_FIELDS = {
    "position",
    "version",
    "type",
    "event_id",
    "development_id",
    "recorded_at",
    "recorded_by",
    "event",
}


def given_two_developments(client: Client) -> tuple[str, str]:
    """Two developments whose events interleave in the log: 7 events in all."""
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    post_event(client, bodies.development_reported(development_id=first))
    post_event(client, bodies.development_reported(development_id=second))
    post_batch(client, bodies.report_added(first), bodies.status_changed(second))
    for body in (bodies.report_corrected(first), bodies.report_retracted(second)):
        post_event(client, body)
    post_event(client, bodies.development_corrected(first))
    return first, second


def read_all(client: Client, limit: int) -> list[dict[str, Any]]:
    """Every item of the log, following `next` page by page."""
    items: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        page = client.get("/api/events", params={"after": after, "limit": limit}).json()
        items += page["items"]
        after = page["next"]
    return items


# --- the log -----------------------------------------------------------------------------------


def test_log_answers_every_event_in_position_order_with_versions_counting_up(
    client: Client,
) -> None:
    first, second = given_two_developments(client)

    items = client.get("/api/events").json()["items"]

    assert len(items) == 7
    assert all(set(item) == ITEM_FIELDS for item in items)
    positions = [item["position"] for item in items]
    assert positions == sorted(set(positions))
    for development_id, count in ((first, 4), (second, 3)):
        versions = [i["version"] for i in items if i["development_id"] == development_id]
        assert versions == list(range(1, count + 1))


def test_recorded_at_never_decreases_along_positions(client: Client) -> None:
    given_two_developments(client)

    items = client.get("/api/events").json()["items"]

    times = [item["recorded_at"] for item in items]
    assert all(re.fullmatch(RFC3339_UTC, t) for t in times)
    assert times == sorted(times)  # same width, UTC: text order is time order


def test_log_item_carries_the_event_as_stored(client: Client) -> None:
    body = bodies.development_reported(development_id=str(uuid.uuid4()))
    receipt = post_event(client, body).json()

    [item] = client.get("/api/events").json()["items"]

    assert item["type"] == "development_reported"
    assert item["event_id"] == receipt["event_id"]
    assert item["recorded_at"] == receipt["recorded_at"]
    assert item["event"] == {**body, "event_id": receipt["event_id"]}


def test_log_pages_follow_next_until_null(client: Client) -> None:
    given_two_developments(client)

    first_page = client.get("/api/events", params={"limit": 3}).json()
    paged = read_all(client, limit=3)

    assert first_page["next"] == first_page["items"][-1]["position"]
    assert paged == client.get("/api/events").json()["items"]


def test_a_log_page_that_ends_at_the_head_has_no_next(client: Client) -> None:
    given_two_developments(client)  # 7 events

    whole = client.get("/api/events", params={"limit": 7}).json()
    short = client.get("/api/events", params={"limit": 6}).json()

    assert len(whole["items"]) == 7 and whole["next"] is None
    assert len(short["items"]) == 6 and short["next"] == short["items"][-1]["position"]


def test_log_after_the_last_position_is_empty(client: Client) -> None:
    given_two_developments(client)
    last = client.get("/api/events").json()["items"][-1]["position"]

    page = client.get("/api/events", params={"after": last}).json()

    assert page == {"items": [], "next": None}


@pytest.mark.parametrize(
    ("query", "named"),
    [("after=abc", "after"), ("after=-1", "after"), ("limit=0", "limit"), ("limit=1001", "limit")],
)
def test_invalid_paging_is_refused_naming_the_parameter(
    client: Client, query: str, named: str
) -> None:
    document = problem(client.get(f"/api/events?{query}"), 400)

    assert error_paths(document) == [named]


def test_ndjson_export_streams_one_event_per_line(client: Client) -> None:
    given_two_developments(client)

    response = client.get("/api/events", headers=NDJSON)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    assert [json.loads(line) for line in lines] == client.get("/api/events").json()["items"]


def test_ndjson_export_honours_after_and_limit(client: Client) -> None:
    given_two_developments(client)
    items = client.get("/api/events").json()["items"]

    response = client.get(
        "/api/events", params={"after": items[1]["position"], "limit": 3}, headers=NDJSON
    )

    assert [json.loads(line) for line in response.text.splitlines()] == items[2:5]


def test_ndjson_export_ends_at_the_head_of_the_log_when_it_began(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a log of 7 events, and 3 more recorded just after an export reads the head
    given_two_developments(client)
    items = client.get("/api/events").json()["items"]
    timeline: Timeline = client.app.state.timeline
    head_of = timeline.store.last_position

    def head_then_more_events() -> int:
        head = head_of()
        for _ in range(3):
            timeline.append([decode_event(json.dumps(bodies.development_reported()))], "later")
        return head

    monkeypatch.setattr(timeline.store, "last_position", head_then_more_events)
    # When the log is exported with room for many more events than it held
    response = client.get("/api/events", params={"limit": 1000}, headers=NDJSON)
    # Then the export holds the 7 events up to that head, and none recorded after it began
    assert [json.loads(line) for line in response.text.splitlines()] == items
    assert len(client.get("/api/events").json()["items"]) == 10


def test_ndjson_export_of_an_empty_log_is_empty(client: Client) -> None:
    response = client.get("/api/events", headers=NDJSON)

    assert response.status_code == 200
    assert response.text == ""


# --- history -----------------------------------------------------------------------------------


def history(client: Client, development_id: str, **params: str) -> dict[str, Any]:
    """The history document of a development."""
    response = client.get(f"/api/developments/{development_id}/history", params=params)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def test_history_answers_the_stream_in_version_order_in_the_log_shape(client: Client) -> None:
    first, _ = given_two_developments(client)
    log = [i for i in client.get("/api/events").json()["items"] if i["development_id"] == first]

    document = history(client, first)

    assert document["development_id"] == first
    assert re.fullmatch(RFC3339_UTC, document["known_at"])
    items = document["items"]
    assert [item["version"] for item in items] == [1, 2, 3, 4]
    assert [{k: v for k, v in item.items() if k != "changes"} for item in items] == log


def a_revised_development(client: Client) -> str:
    """A development whose report, coding and status were all revised: its id."""
    development_id = report_development(client)
    for body in (
        bodies.report_corrected(development_id),
        bodies.development_corrected(development_id),
        bodies.status_changed(development_id),
        bodies.report_retracted(development_id),
        bodies.status_changed(development_id, status="disputed", effective_on="2024-03-02"),
    ):
        assert post_event(client, body).status_code == 201
    return development_id


def _figure(qualifier: str, value: int = 1000) -> dict[str, Any]:
    """A figure of containers as the history gives it: the fields at their defaults included."""
    return {"unit": "container", "qualifier": qualifier, "value": value, "basis": "increment"}


def test_a_figure_corrected_to_its_default_qualifier_says_so_in_the_history(
    client: Client,
) -> None:
    # the log leaves out `"qualifier": "exact"`, the default: the change is not a removal
    development_id = report_development(client)
    exact = {"unit": "container", "value": 1200}
    corrected = bodies.report_corrected(development_id, changes={"figure": exact})
    assert post_event(client, corrected).status_code == 201

    [change] = history(client, development_id)["items"][1]["changes"]

    assert (change["before"], change["after"]) == (_figure("more_than"), _figure("exact", 1200))


def test_history_says_what_each_correction_retraction_and_status_change_changed(
    client: Client,
) -> None:
    # given a development whose report, coding and status were all revised
    development_id = a_revised_development(client)

    # when its history is read
    items = history(client, development_id)["items"]

    # then each revision carries before and after of the fields it changed
    assert "changes" not in items[0]
    assert [item.get("changes") for item in items[1:]] == [
        [
            {
                "field": "figure",
                "before": _figure("more_than"),
                "after": _figure("about"),
            }
        ],
        [
            {
                "field": "item",
                "before": {"category": "munitions_unspecified"},
                "after": {"category": "artillery_ammunition"},
            }
        ],
        [{"field": "status", "before": "alleged", "after": "corroborated"}],
        [{"field": "retraction.effective_on", "before": None, "after": "2024-03-01"}],
        [{"field": "status", "before": "corroborated", "after": "disputed"}],
    ]


def test_history_as_csv_has_a_row_per_changed_field_with_the_dates_that_take_effect(
    client: Client,
) -> None:
    development_id = a_revised_development(client)

    response = client.get(f"/api/developments/{development_id}/history", params={"format": "csv"})

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-known-at"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    said = [(r["version"], r["type"], r["field"], r["effective_on"], r["report"]) for r in rows]
    assert said == [
        ("1", "development_reported", "report", "", "1"),  # its first report in `after`
        ("2", "report_corrected", "figure", "", "1"),
        ("3", "development_corrected", "item", "", ""),
        ("4", "status_changed", "status", "2024-02-23", ""),
        ("5", "report_retracted", "retraction.effective_on", "2024-03-01", "1"),
        ("6", "status_changed", "status", "2024-03-02", ""),
    ]
    assert (rows[3]["before"], rows[3]["after"]) == ("alleged", "corroborated")
    assert rows[4]["after"] == "2024-03-01"  # a date as a date, not a JSON string
    assert {row["development_id"] for row in rows} == {development_id}


def test_known_at_before_a_correction_hides_it(client: Client) -> None:
    # given a development recorded, then corrected later
    development_id = str(uuid.uuid4())
    reported = post_event(client, bodies.development_reported(development_id=development_id))
    corrected = post_event(client, bodies.report_corrected(development_id))
    assert corrected.json()["recorded_at"] > reported.json()["recorded_at"]

    # when the history is read as known when the development was recorded
    document = history(client, development_id, known_at=reported.json()["recorded_at"])

    # then the correction is not there yet
    assert document["known_at"] == reported.json()["recorded_at"]
    assert [item["type"] for item in document["items"]] == ["development_reported"]
    assert len(history(client, development_id)["items"]) == 2


def test_known_at_as_a_date_means_the_end_of_that_day_and_today_is_settled_now(
    client: Client,
) -> None:
    development_id = report_development(client)
    recorded_at = client.get("/api/events").json()["items"][0]["recorded_at"]
    today = recorded_at[:10]

    document = history(client, development_id, known_at=today)
    day_after_answer = datetime.now(UTC).date().isoformat()
    yesterday = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
    before = client.get(
        f"/api/developments/{development_id}/history", params={"known_at": yesterday}
    )

    # the end of today is to come: answered as now, at the time of the last event recorded
    # (unless the day ended meanwhile, and may have been answered as at its end)
    answers = {recorded_at}
    if day_after_answer != today:
        answers.add(f"{today}T23:59:59.999999Z")
    assert document["known_at"] in answers
    assert len(document["items"]) == 1
    assert f"recorded by {yesterday}T23:59:59.999999Z" in problem(before, 404)["detail"]


def test_history_known_at_before_the_development_was_recorded_is_not_found(
    client: Client,
) -> None:
    development_id = report_development(client)

    response = client.get(
        f"/api/developments/{development_id}/history", params={"known_at": "2020-01-01"}
    )

    document = problem(response, 404)
    assert document["type"] == "urn:timeline:problem:unknown-development"


def test_history_of_an_unknown_development_is_not_found(client: Client) -> None:
    problem(client.get(f"/api/developments/{uuid.uuid4()}/history"), 404)


@pytest.mark.parametrize("known_at", ["last week", "9999-12-31T23:59:59-23:59"])
def test_history_with_an_invalid_known_at_names_it(client: Client, known_at: str) -> None:
    development_id = report_development(client)

    response = client.get(
        f"/api/developments/{development_id}/history", params={"known_at": known_at}
    )

    assert error_paths(problem(response, 400)) == ["known_at"]
