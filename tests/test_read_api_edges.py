"""Edges of the read side over HTTP that the other tests leave open: the times a CSV page says
and links at, the order of the CSV columns, ties in the Accept header, the log's default page,
one-day windows, and ties between status changes in a development's history."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests import bodies
from tests.api import Client, next_link, post_batch, post_event, report_development

AS_OF = {"as_of": "2024-03-15"}


def _reported(client: Client, asserted_on: str) -> dict[str, Any]:
    """Report a development first said on `asserted_on`; its receipt."""
    report = bodies.report(asserted_on=asserted_on)
    response = post_event(client, bodies.development_reported(report=report))
    assert response.status_code == 201, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


def _table(client: Client, path: str, **params: Any) -> list[list[str]]:
    response = client.get(path, params={**params, "format": "csv"})
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.text)))


def test_a_csv_page_asked_at_a_known_at_to_come_says_and_links_at_the_time_it_answered_for(
    client: Client,
) -> None:
    # Given three developments, the last recorded at `settled`
    for day in ("2024-01-01", "2024-01-02"):
        _reported(client, day)
    settled = _reported(client, "2024-01-03")["recorded_at"]
    # When the timeline's CSV is asked at a known_at to come, a page of 2
    url: str | None = "/api/developments?as_of=2024-03-15&known_at=2100-01-01&limit=2&format=csv"
    said: list[str] = []
    rows: list[dict[str, str]] = []
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, response.text
        said.append(response.headers["x-known-at"])
        rows += csv.DictReader(io.StringIO(response.text))
        url = next_link(response)
        if len(rows) == 2:  # recorded after the first page: not on the next one
            _reported(client, "2024-01-04")
    # Then every page says, and answers for, the time of the last event when it was first asked
    assert said == [settled, settled]
    assert [row["first_reported_on"] for row in rows] == ["2024-01-01", "2024-01-02", "2024-01-03"]


def test_the_views_csv_columns_come_in_their_documented_order_holding_the_json_values(
    client: Client,
) -> None:
    # Given a development first reported on 2023-10-13 and last on 2024-02-23
    development_id = report_development(client)
    assert post_event(client, bodies.report_added(development_id)).status_code == 201
    # When the timeline and the allegations are read as CSV
    timeline = _table(client, "/api/developments", **AS_OF)
    allegations = _table(client, "/api/views/allegations", **AS_OF)
    # Then their columns come in the documented order, each holding its JSON path's value
    assert timeline[0] == [
        "development_id", "position", "version", "kind", "title", "stage", "actors.supplier",
        "actors.recipient", "actors.user", "actors.end_user", "actors.authority",
        "actors.targets", "item.category", "item.designation", "occurred.text",
        "occurred.lower", "occurred.upper", "occurred.precision", "occurred.approximate",
        "occurred.uncertain", "status", "first_reported_on", "last_reported_on", "reports",
        "total_reports",
    ]  # fmt: skip
    row = dict(zip(timeline[0], timeline[1], strict=True))
    assert (row["first_reported_on"], row["last_reported_on"]) == ("2023-10-13", "2024-02-23")
    assert allegations[0] == [
        "development_id", "position", "title", "kind", "status", "status_since",
        "first_reported_on", "age_days", "stances.supports", "stances.contradicts",
        "stances.denies", "stances.not_observed", "stances.qualifies",
    ]  # fmt: skip
    assert allegations[1][allegations[0].index("age_days")] == str(
        client.get("/api/views/allegations", params=AS_OF).json()["items"][0]["age_days"]
    )


def test_format_json_is_answered_json_whatever_the_accept_header_prefers(client: Client) -> None:
    # Given a client that prefers CSV
    csv_first = {"Accept": "text/csv"}
    # When it asks a view for ?format=json, and then for no format
    asked = client.get("/api/views/deliveries", params={"format": "json"}, headers=csv_first)
    unsaid = client.get("/api/views/deliveries", headers=csv_first)
    # Then the parameter wins over the header, which counts only without it
    assert asked.status_code == 200 and asked.headers["content-type"].startswith("application/json")
    assert unsaid.headers["content-type"].startswith("text/csv")


def test_of_equal_weights_the_type_named_more_specifically_wins_wherever_it_is_listed(
    client: Client,
) -> None:
    # Given Accept headers listing a wildcard before the type they name
    _reported(client, "2024-01-01")
    # When a view and the log are asked with them
    view = client.get("/api/views/deliveries", headers={"Accept": "*/*, text/csv"})
    log = client.get("/api/events", headers={"Accept": "*/*, application/x-ndjson"})
    # Then the type named outright wins the tie, though listed after the wildcard
    assert view.headers["content-type"].startswith("text/csv")
    assert log.headers["content-type"].startswith("application/x-ndjson")


def test_a_log_page_asked_without_a_limit_holds_one_hundred_events(client: Client) -> None:
    # Given 101 events
    receipts = post_batch(client, *(bodies.development_reported() for _ in range(101)))
    assert receipts.status_code == 201, receipts.text
    # When the log is read without a limit
    page = client.get("/api/events").json()
    # Then it answers the first 100, and `next` goes on after the 100th
    assert len(page["items"]) == 100 and page["next"] == page["items"][-1]["position"]
    rest = client.get("/api/events", params={"after": page["next"]}).json()
    assert len(rest["items"]) == 1 and rest["next"] is None


def test_a_window_of_first_reported_days_that_starts_and_ends_on_one_day_answers_that_day(
    client: Client,
) -> None:
    # Given developments first reported on three days
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        _reported(client, day)
    # When the timeline is asked from and to the same day
    response = client.get(
        "/api/developments", params={**AS_OF, "from": "2024-01-02", "to": "2024-01-02"}
    )
    # Then it answers the developments of that day, both ends included
    assert response.status_code == 200, response.text
    assert [item["first_reported_on"] for item in response.json()["items"]] == ["2024-01-02"]


def test_history_says_a_status_change_replaced_the_later_recorded_of_two_effective_one_day(
    client: Client,
) -> None:
    # Given a development judged twice effective 2024-03-01, confirmed and then refuted
    development_id = report_development(client)
    for status, effective_on in (
        ("confirmed", "2024-03-01"),
        ("refuted", "2024-03-01"),
        ("disputed", "2024-04-01"),
    ):
        judged = bodies.status_changed(development_id, status=status, effective_on=effective_on)
        assert post_event(client, judged).status_code == 201
    # When its history is read
    history = client.get(f"/api/developments/{development_id}/history").json()
    # Then the change of April replaced what held then: the later recorded of the tie
    assert history["items"][-1]["changes"] == [
        {"field": "status", "before": "refuted", "after": "disputed"}
    ]


def test_a_page_of_changes_holds_no_more_events_than_its_limit(client: Client) -> None:
    # Given three events in the window
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        _reported(client, day)
    # When its changes are read in pages of 2
    page = client.get("/api/changes", params={"since": "2000-01-01", "limit": 2}).json()
    # Then the first page holds two events and goes on after the second
    positions = [item["position"] for group in page["developments"] for item in group["items"]]
    assert positions == [1, 2] and page["next"] == 2


def test_a_page_of_changes_asked_without_a_limit_holds_a_thousand_events(client: Client) -> None:
    # Given 1,001 events: a batch of the most a batch takes, and one more
    batch = post_batch(client, *(bodies.development_reported() for _ in range(1_000)))
    assert batch.status_code == 201, batch.text
    _reported(client, "2024-01-01")
    # When the changes since before them are read without a limit
    page = client.get("/api/changes", params={"since": "2000-01-01"}).json()
    # Then the page holds the first 1,000, and `next` goes on after the 1,000th
    positions = [item["position"] for group in page["developments"] for item in group["items"]]
    assert sorted(positions) == list(range(1, 1_001)) and page["next"] == 1_000


def test_deliveries_filtered_by_status_answer_the_series_of_developments_of_that_status(
    client: Client,
) -> None:
    # Given deliveries by PRK, judged corroborated, and by IRN, still alleged
    judged = report_development(client)
    assert post_event(client, bodies.status_changed(judged)).status_code == 201
    report_development(client, actors={"supplier": "IRN", "recipient": "RUS"})
    # When the deliveries are asked for with each status
    suppliers = {
        status: [
            row["supplier"]
            for row in client.get(
                "/api/views/deliveries", params={**AS_OF, "status": status}
            ).json()["series"]
        ]
        for status in ("corroborated", "alleged")
    }
    # Then each answers the series of the developments of its status alone
    assert suppliers == {"corroborated": ["PRK"], "alleged": ["IRN"]}


def test_a_timeline_item_holds_the_fields_of_a_development_as_of_the_date_and_no_others(
    client: Client,
) -> None:
    # Given a development reported
    _reported(client, "2024-01-01")
    # When the timeline is read
    (item,) = client.get("/api/developments", params=AS_OF).json()["items"]
    # Then it holds its fields, status, dates, counts and version: nothing internal (`visible`,
    # true of every item listed, is the read models' and not the answer's)
    assert set(item) == {
        "development_id", "position", "kind", "title", "stage", "actors", "item", "occurred",
        "status", "first_reported_on", "last_reported_on", "reports", "total_reports", "version",
    }  # fmt: skip
