"""The views over HTTP, on the real app: shapes, CSV, parameters, read-your-writes."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from events import decode_event
from service.application import Timeline
from service.http import view_shapes
from tests import bodies
from tests.api import Client, next_link, post_event, problem, report_development, serve

AS_OF = {"as_of": "2024-03-15"}


def _get(client: Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def test_a_read_right_after_a_write_returns_it(database_url: str) -> None:
    with serve(database_url) as client:
        for _ in range(3):
            development_id = report_development(client)
            page = _get(client, "/api/developments", **AS_OF)
            assert development_id in [item["development_id"] for item in page["items"]]
            detail = _get(client, f"/api/developments/{development_id}", **AS_OF)
            assert detail["version"] == 1 and detail["visible"] is True


def test_every_view_carries_the_as_of_and_known_at_it_used(database_url: str) -> None:
    with serve(database_url) as client:
        receipt = post_event(client, bodies.development_reported()).json()
        development_id, recorded_at = receipt["development_id"], receipt["recorded_at"]
        time.sleep(0.002)  # so that a known_at 1 ms past it is past
        known_at = (datetime.fromisoformat(recorded_at) + timedelta(milliseconds=1)).isoformat()
        for path in (
            "/api/developments",
            f"/api/developments/{development_id}",
            "/api/views/deliveries",
            "/api/views/allegations",
        ):
            document = _get(client, path, as_of="2024-03-15", known_at=known_at)
            assert (document["as_of"], _micros(document["known_at"])) == (
                "2024-03-15",
                _micros(recorded_at) + 1000,
            )
        assert _get(client, "/api/developments")["as_of"]  # defaults: today and now


def test_a_known_at_to_come_is_answered_as_now_and_says_so(database_url: str) -> None:
    # Known by 2100 (or by the end of today, as a date says) is not recorded yet: the answer
    # would change as it is, so it is the answer of now, and says the time it is settled at
    with serve(database_url) as client:
        receipt = post_event(client, bodies.development_reported()).json()
        paths = ("/api/views/allegations", f"/api/developments/{receipt['development_id']}")
        for path in paths:
            for known_at in ("2100-01-01T00:00:00Z", "9999-12-31"):
                document = _get(client, path, known_at=known_at)
                assert document["known_at"] == receipt["recorded_at"]
        changes = _get(client, "/api/changes", since="2000-01-01", until="2100-01-01")
        assert changes["until"] == receipt["recorded_at"]


def test_an_answer_without_known_at_says_the_time_of_the_last_event_and_answers_so_again(
    database_url: str,
) -> None:
    # "now" would not do: a commit under way may have read the clock before now, and asked
    # again at that `known_at` once it commits, the answer would take it in
    with serve(database_url) as client:
        receipt = post_event(client, bodies.development_reported()).json()
        development_id = receipt["development_id"]
        paths = (
            "/api/developments",
            f"/api/developments/{development_id}",
            "/api/views/deliveries",
            "/api/views/allegations",
            f"/api/developments/{development_id}/history",
        )
        first = {path: _get(client, path) for path in paths}
        changes = _get(client, "/api/changes", since="2000-01-01")
        # When more is recorded, also in the development asked about
        later = post_event(client, bodies.report_added(development_id)).json()
        again = {path: _get(client, path, known_at=first[path]["known_at"]) for path in paths}
        changes_again = _get(client, "/api/changes", since="2000-01-01", until=changes["until"])
    # Then each answer said the time of the last event recorded then, and says the same again
    recorded = _micros(receipt["recorded_at"])
    assert {_micros(first[path]["known_at"]) for path in paths} == {recorded}
    assert _micros(changes["until"]) == recorded < _micros(later["recorded_at"])
    assert again == first and changes_again == changes


def _micros(moment: str) -> int:
    return round(datetime.fromisoformat(moment).timestamp() * 1_000_000)


def test_the_timeline_item_and_the_detail_have_their_documented_shape(database_url: str) -> None:
    with serve(database_url) as client:
        development_id = report_development(client)
        assert post_event(client, bodies.report_added(development_id)).status_code == 201
        assert post_event(client, bodies.report_retracted(development_id, 2)).status_code == 201

        [item] = _get(client, "/api/developments", **AS_OF)["items"]
        detail = _get(client, f"/api/developments/{development_id}", **AS_OF)

    assert item["occurred"]["lower"] == "2023-09-01" and item["occurred"]["upper"] == "2023-10-31"
    assert (item["reports"], item["total_reports"], item["version"]) == (1, 2, 3)
    assert (item["first_reported_on"], item["last_reported_on"]) == ("2023-10-13", "2023-10-13")
    second = detail["reports"][1]
    assert second["active"] is False and second["retraction"]["effective_on"] == "2024-03-01"
    assert second["figure"] == {
        "unit": "container",
        "qualifier": "more_than",
        "value": 10000,
        "basis": "increment",
    }
    assert (detail["active_reports"], detail["status"], detail["visible"]) == (1, "alleged", True)


def test_a_report_posted_without_its_defaulted_fields_answers_them_outright(
    database_url: str,
) -> None:
    # Given a report that leaves stance, grading, qualifier and basis to their defaults
    report = bodies.report(figure={"unit": "shell", "value": 10})
    with serve(database_url) as client:
        created = post_event(client, bodies.development_reported(report=report))
        path = f"/api/developments/{created.json()['development_id']}"
        [answered] = _get(client, path, **AS_OF)["reports"]
        table = client.get(path, params={**AS_OF, "format": "csv"}).text
    # Then the detail says what they are, in JSON and in CSV
    assert (answered["stance"], answered["reliability"], answered["credibility"]) == (
        "supports",
        "F",
        6,
    )
    assert answered["figure"] == {
        "unit": "shell",
        "qualifier": "exact",
        "value": 10,
        "basis": "increment",
    }
    [row] = csv.DictReader(io.StringIO(table))
    assert (row["stance"], row["reliability"], row["credibility"]) == ("supports", "F", "6")


def test_deliveries_answer_series_and_totals(database_url: str) -> None:
    with serve(database_url) as client:
        development_id = report_development(client)
        post_event(client, bodies.report_added(development_id))
        view = _get(client, "/api/views/deliveries", supplier="prk", **AS_OF)
        empty = _get(client, "/api/views/deliveries", supplier="irn", **AS_OF)

    assert [(s["originator"], s["low"], s["high"]) for s in view["series"]] == [
        ("John Kirby", 1000.0, None),
        ("US State Department", 10000.0, None),
    ]
    assert [(t["low"], t["high"]) for t in view["totals"]] == [(10000.0, None)]
    assert empty["series"] == empty["totals"] == []


def test_a_unit_filter_in_the_plural_finds_the_series_of_its_singular(database_url: str) -> None:
    # new events write `container`; one stored before that rule wrote `containers`
    plural = {"unit": "containers", "qualifier": "exact", "value": 3}
    stored = bodies.development_reported(report=bodies.report(figure=plural), title="Old")
    with serve(database_url) as client:
        report_development(client)
        timeline: Timeline = client.app.state.timeline
        timeline.append([decode_event(json.dumps(stored))], "alice", plural_units=True)
        units = {
            wanted: sorted(s["unit"] for s in _get(client, "/api/views/deliveries", unit=wanted,
                                                   **AS_OF)["series"])
            for wanted in ("containers", "Container", "container", "missiles")
        }  # fmt: skip

    both = ["container", "containers"]
    assert units == {"containers": both, "Container": both, "container": both, "missiles": []}


def test_deliveries_filter_by_originator_and_total_its_figures_alone(database_url: str) -> None:
    with serve(database_url) as client:
        development_id = report_development(client)  # John Kirby: more than 1,000
        post_event(client, bodies.report_added(development_id))  # the State Department: 10,000
        view = _get(client, "/api/views/deliveries", originator="  john KIRBY ", **AS_OF)
        nobody = _get(client, "/api/views/deliveries", originator="KCNA", **AS_OF)

    assert [(s["originator"], s["low"]) for s in view["series"]] == [("John Kirby", 1000)]
    assert [(t["low"], t["high"]) for t in view["totals"]] == [(1000, None)]
    assert nobody["series"] == nobody["totals"] == []


def test_pages_follow_the_next_cursor_to_the_end(database_url: str) -> None:
    with serve(database_url) as client:
        for day in (3, 1, 2):
            report = bodies.report(asserted_on=f"2024-01-0{day}")
            assert post_event(client, bodies.development_reported(report=report)).status_code == 201
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params = {**AS_OF, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = _get(client, "/api/views/allegations", **params)
            seen += [item["first_reported_on"] for item in page["items"]]
            cursor = page["next"]
            if cursor is None:
                break
    assert seen == ["2024-01-01", "2024-01-02", "2024-01-03"]


@pytest.mark.parametrize("path", ["/api/developments", "/api/views/allegations"])
def test_a_page_that_exactly_fills_its_limit_is_the_last_when_nothing_follows(
    database_url: str, path: str
) -> None:
    with serve(database_url) as client:
        # Given two developments
        for day in (1, 2):
            report = bodies.report(asserted_on=f"2024-01-0{day}")
            assert post_event(client, bodies.development_reported(report=report)).status_code == 201
        # When a page of two is asked, as JSON and as CSV, and a page of one
        full = _get(client, path, **AS_OF, limit=2)
        table = client.get(path, params={**AS_OF, "limit": 2, "format": "csv"})
        partial = _get(client, path, **AS_OF, limit=1)
        partial_table = client.get(path, params={**AS_OF, "limit": 1, "format": "csv"})

    # Then the full page has both and points nowhere further: no empty page to follow
    assert len(full["items"]) == 2 and full["next"] is None
    assert table.status_code == 200 and next_link(table) is None
    assert len(partial["items"]) == 1 and partial["next"] is not None
    assert next_link(partial_table) is not None


def test_following_next_alone_goes_on_with_the_first_page_s_as_of_and_known_at(
    database_url: str,
) -> None:
    with serve(database_url) as client:
        # Given three developments first reported on 1, 2 and 3 June, and their first page
        ids = [report_development(client, report=bodies.report(asserted_on=f"2024-06-0{day}"))
               for day in (1, 2, 3)]  # fmt: skip
        first = _get(client, "/api/developments", as_of="2024-07-01", limit=1)
        # When the third is reported earlier before the next page is asked, by its cursor alone
        earlier = bodies.report_added(ids[2], report=bodies.report(asserted_on="2024-05-01"))
        assert post_event(client, earlier).status_code == 201
        seen, cursor = [item["development_id"] for item in first["items"]], first["next"]
        while cursor is not None:
            page = _get(client, "/api/developments", cursor=cursor, limit=1)
            assert (page["as_of"], page["known_at"]) == ("2024-07-01", first["known_at"])
            seen += [item["development_id"] for item in page["items"]]
            cursor = page["next"]
        now = _get(client, "/api/developments", known_at="2100-01-01", cursor=first["next"])
        # the read models' own cursor, the as_of, the known_at, filters, limit and a check
        parts = first["next"].split("~")
        told = "~".join([*parts[:3], "999999999999999999", *parts[4:6]])  # in year 33658
        forged = _get(client, "/api/developments", cursor=f"{told}~{view_shapes._check(told)}")
        # cursors of earlier versions: the read models' own, and one without limit or check
        unpinned = "~".join(parts[:2])
        older = "~".join(parts[:4])
        refused = [client.get("/api/developments", params={"cursor": c}) for c in (unpinned, older)]
    # Then the pages are those of one answer: none skipped, none twice
    assert seen == ids
    # and a request that gives its own known_at is answered at it
    assert now["known_at"] != first["known_at"]
    assert forged["known_at"] == now["known_at"]  # a known_at to come is now's, settled
    # and a cursor of an earlier version (a cursor cut short at a `~` reads as one) is a 400
    # that says what to do: ask the first page again
    assert [problem(r, 400)["errors"][0]["path"] for r in refused] == ["cursor", "cursor"]
    assert all("ask for the first page again" in r.json()["detail"] for r in refused)


def test_following_next_alone_keeps_the_first_page_s_limit_and_a_cursor_cut_short_is_refused(
    database_url: str,
) -> None:
    with serve(database_url) as client:
        # Given five developments and a first page of two, of the timeline and the allegations
        ids = [report_development(client, report=bodies.report(asserted_on=f"2024-06-0{day}"))
               for day in range(1, 6)]  # fmt: skip
        for path in ("/api/developments", "/api/views/allegations"):
            first = _get(client, path, as_of="2024-07-01", limit=2)
            # When the next pages are asked by their cursors alone
            seen, cursor, sizes = (
                [item["development_id"] for item in first["items"]],
                first["next"],
                [],
            )
            while cursor is not None:
                page = _get(client, path, cursor=cursor)
                sizes.append(len(page["items"]))
                seen += [item["development_id"] for item in page["items"]]
                cursor = page["next"]
            # Then they are pages of two, as the first, and a limit given is the one used
            assert seen == ids and sizes == [2, 1]
            assert len(_get(client, path, cursor=first["next"], limit=3)["items"]) == 3
            # and a cursor missing its last character, or mistyped, is a 400 naming it, not
            # an empty page read at another known_at
            cut = first["next"].split("~")
            for broken in (
                first["next"][:-1],
                first["next"].replace("~2~", "~3~"),
                "~".join(cut[:5]),  # cut after the filters: read as a cursor without a limit
                "~".join(cut[:3]) + "~" + cut[3][:10],  # cut in the known_at: 1970
            ):
                response = client.get(path, params={"cursor": broken})
                assert response.status_code == 400, broken
                assert response.json()["errors"][0]["path"] == "cursor"


def test_following_next_alone_keeps_the_first_page_s_filters(database_url: str) -> None:
    with serve(database_url) as client:
        # Given developments from Iran and from North Korea, reported on alternate days
        suppliers = ["IRN", "PRK", "IRN", "PRK", "IRN"]
        ids = [
            report_development(
                client,
                actors={"supplier": supplier, "recipient": "RUS"},
                report=bodies.report(asserted_on=f"2024-06-0{day}"),
            )
            for day, supplier in enumerate(suppliers, start=1)
        ]
        # When the Iranian ones from 2 June are paged one at a time, by each `next` alone
        first = _get(client, "/api/developments", actor="irn", **{"from": "2024-06-02"}, limit=1)
        seen, cursor = [item["development_id"] for item in first["items"]], first["next"]
        while cursor is not None:
            page = _get(client, "/api/developments", cursor=cursor, limit=1)
            seen += [item["development_id"] for item in page["items"]]
            cursor = page["next"]
        # and a request that gives a filter of its own with the first cursor
        other = _get(client, "/api/developments", cursor=first["next"], actor="prk")
        forged = client.get("/api/developments", params={"cursor": first["next"][:-2] + "xx"})
    # Then every page answers for the first page's filters
    assert seen == [ids[2], ids[4]]
    # and a filter given is the request's, the others still the cursor's
    assert [item["development_id"] for item in other["items"]] == [ids[3]]
    assert problem(forged, 400)["errors"][0]["path"] == "cursor"


def test_the_timeline_filters_on_when_developments_occurred_page_after_page(
    database_url: str,
) -> None:
    with serve(database_url) as client:
        # Given developments that occurred in August, September, over both, from October on
        # (its end unknown), and one whose `occurred` is not known
        periods = ["2023-08", "2023-09-10", "2023-08-20/2023-09-02", "2023-10/", None]
        ids = [
            report_development(
                client,
                occurred=period,
                report=bodies.report(asserted_on=f"2024-06-0{day}"),
            )
            for day, period in enumerate(periods, start=1)
        ]
        # When the timeline is asked for what occurred in September, a page at a time
        window = {"occurred_from": "2023-09-01", "occurred_to": "2023-09-30"}
        first = _get(client, "/api/developments", **window, limit=1)
        seen, cursor = [item["development_id"] for item in first["items"]], first["next"]
        while cursor is not None:
            page = _get(client, "/api/developments", cursor=cursor, limit=1)
            seen += [item["development_id"] for item in page["items"]]
            cursor = page["next"]
        # and for what occurred from 1 October on, and until 31 August, as CSV
        later = _get(client, "/api/developments", occurred_from="2023-10-01")
        table = client.get("/api/developments", params={"occurred_to": "2023-08-31",
                                                        "format": "csv"}).text  # fmt: skip
    # Then each answer holds the developments whose period meets the window's days
    assert seen == [ids[1], ids[2]]
    assert [item["development_id"] for item in later["items"]] == [ids[3]]
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [row["development_id"] for row in rows] == [ids[0], ids[2]]


def test_the_allegations_filter_by_actor_and_kind_as_the_timeline_does(database_url: str) -> None:
    with serve(database_url) as client:
        # Given alleged transfers from Iran and North Korea and an alleged use by Russia
        irn = [
            report_development(
                client,
                actors={"supplier": "IRN", "recipient": "RUS"},
                report=bodies.report(asserted_on=f"2024-06-0{day}"),
            )
            for day in (1, 2, 3)
        ]
        report_development(client, report=bodies.report(asserted_on="2024-06-04"))
        use = report_development(
            client,
            kind="use",
            stage=None,
            actors={"user": "RUS", "targets": ["UKR"]},
            report=bodies.report(asserted_on="2024-06-05"),
        )
        # When the board is asked for Iran, a page at a time by `next` alone, and for uses
        first = _get(client, "/api/views/allegations", as_of="2024-07-01", actor="irn", limit=2)
        second = _get(client, "/api/views/allegations", cursor=first["next"])
        uses = _get(client, "/api/views/allegations", as_of="2024-07-01", kind="use")
        everything = _get(client, "/api/views/allegations", as_of="2024-07-01")
    # Then each answers for its filters, on every page
    assert [a["development_id"] for a in first["items"] + second["items"]] == irn
    assert second["next"] is None
    assert [a["development_id"] for a in uses["items"]] == [use]
    assert len(everything["items"]) == 5


@pytest.mark.parametrize("path", ["/api/developments", "/api/views/allegations"])
def test_csv_pages_link_to_the_next_one_at_the_same_as_of_and_known_at(
    database_url: str, path: str
) -> None:
    with serve(database_url) as client:
        for day in (3, 1, 2):
            report = bodies.report(asserted_on=f"2024-01-0{day}")
            assert post_event(client, bodies.development_reported(report=report)).status_code == 201
        seen: list[str] = []
        known_at: set[str] = set()
        url: str | None = f"{path}?as_of=2024-03-15&limit=2&format=csv"
        while url is not None:
            response = client.get(url)
            assert response.status_code == 200 and response.headers["x-as-of"] == "2024-03-15"
            seen += [row["first_reported_on"] for row in csv.DictReader(io.StringIO(response.text))]
            known_at.add(response.headers["x-known-at"])
            url = next_link(response)
            if len(seen) == 2:  # a development recorded after the first page is not on the next
                report = bodies.report(asserted_on="2024-01-04")
                created = post_event(client, bodies.development_reported(report=report))
                assert created.status_code == 201
    assert seen == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert len(known_at) == 1


def test_csv_counts_are_whole_numbers_however_large(database_url: str) -> None:
    figure = {"unit": "round", "qualifier": "order_of_magnitude", "value": 10**15}
    with serve(database_url) as client:
        report_development(client, report=bodies.report(figure=figure))
        table = client.get("/api/views/deliveries", params={**AS_OF, "format": "csv"}).text
    series = next(csv.DictReader(io.StringIO(table)))
    assert (series["low"], series["high"]) == (str(10**15), str(10**16))  # not 1e+16


def test_decimal_figures_add_up_as_written_in_json_and_csv(database_url: str) -> None:
    # binary floats make 1.1 + 2.2 + 0.1 read 3.4000000000000004, and 10 x 0.3 read
    # 3.0000000000000004: the figures are decimals as the sources wrote them
    tonnes = [{"unit": "tonne", "value": value} for value in (1.1, 2.2)]
    tonnes.append({"unit": "tonne", "qualifier": "range", "low": 0.1, "high": 0.2})
    with serve(database_url) as client:
        development_id = report_development(client, report=bodies.report(figure=tonnes[0]))
        for figure in tonnes[1:]:
            post_event(
                client, bodies.report_added(development_id, report=bodies.report(figure=figure))
            )
        magnitude = {"unit": "missile", "qualifier": "order_of_magnitude", "value": 0.3}
        report_development(client, report=bodies.report(figure=magnitude))
        view = client.get("/api/views/deliveries", params=AS_OF)
        table = client.get("/api/views/deliveries", params={**AS_OF, "format": "csv"}).text

    assert '"low":3.4,"high":3.5' in view.text and '"low":0.3,"high":3' in view.text
    rows = {row["unit"]: (row["low"], row["high"]) for row in csv.DictReader(io.StringIO(table))}
    assert rows == {"tonne": ("3.4", "3.5"), "missile": ("0.3", "3")}


def test_the_csv_of_the_timeline_and_a_development_says_how_precise_occurred_is(
    database_url: str,
) -> None:
    # a month-only start reads 2023-08-01 in `occurred.lower`: the precision tells it apart
    with serve(database_url) as client:
        development_id = report_development(client, occurred="2023-08~/2023-11-01")
        answers = [
            client.get(path, params={**AS_OF, "format": "csv"}).text
            for path in ("/api/developments", f"/api/developments/{development_id}")
        ]
        occurred = _get(client, f"/api/developments/{development_id}", **AS_OF)["occurred"]

    for table in answers:
        row = next(csv.DictReader(io.StringIO(table)))
        assert {name: row[f"occurred.{name}"] for name in occurred} == {
            "text": "2023-08~/2023-11-01",
            "lower": "2023-08-01",
            "upper": "2023-11-01",
            "precision": "day",  # the finer of its ends'
            "approximate": "true",
            "uncertain": "false",
        }


@pytest.mark.parametrize("how", ["query", "accept"])
def test_views_answer_csv(database_url: str, how: str) -> None:
    with serve(database_url) as client:
        development_id = report_development(client)
        params, headers = dict(AS_OF), {}
        if how == "query":
            params["format"] = "csv"
        else:
            headers["Accept"] = "text/csv"
        answers = {
            path: client.get(path, params=params, headers=headers)
            for path in (
                "/api/developments",
                f"/api/developments/{development_id}",
                "/api/views/deliveries",
                "/api/views/allegations",
            )
        }
    tables = {}
    for path, response in answers.items():
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["x-as-of"] == "2024-03-15"
        tables[path] = list(csv.DictReader(io.StringIO(response.text)))
    assert tables["/api/developments"][0]["development_id"] == development_id
    assert tables[f"/api/developments/{development_id}"][0]["asserted_on"] == "2023-10-13"
    assert [row["row"] for row in tables["/api/views/deliveries"]] == ["series", "total"]
    assert tables["/api/views/deliveries"][0]["low"] == "1000"  # a count, not 1000.0
    assert tables["/api/views/allegations"][0]["stances.supports"] == "1"


def test_csv_cells_hold_one_value_each_under_the_json_path_they_come_from(
    database_url: str,
) -> None:
    # Given a development with actors, an item, a period, and a retracted report with a figure
    actors = {"supplier": "PRK", "recipient": "RUS", "targets": ["UKR", "Kharkiv"]}
    with serve(database_url) as client:
        development_id = report_development(
            client, actors=actors, item={"category": "uav", "designation": "Geran-2"}
        )
        assert post_event(client, bodies.report_added(development_id)).status_code == 201
        assert post_event(client, bodies.report_retracted(development_id, 2)).status_code == 201
        [timeline] = csv.DictReader(
            io.StringIO(client.get("/api/developments", params={**AS_OF, "format": "csv"}).text)
        )
        path = f"/api/developments/{development_id}"
        first, second = csv.DictReader(
            io.StringIO(client.get(path, params={**AS_OF, "format": "csv"}).text)
        )
    # Then objects are spread over columns a spreadsheet can sort and filter on
    assert (timeline["actors.supplier"], timeline["actors.recipient"]) == ("PRK", "RUS")
    assert timeline["actors.user"] == "" and timeline["actors.targets"] == '["UKR","Kharkiv"]'
    assert (timeline["item.category"], timeline["item.designation"]) == ("uav", "Geran-2")
    assert (timeline["occurred.text"], timeline["occurred.lower"], timeline["occurred.upper"]) == (
        "2023-09/2023-10",
        "2023-09-01",
        "2023-10-31",
    )
    assert (first["source.originator"], first["source.channel"]) == ("John Kirby", "briefing")
    assert (first["figure.qualifier"], first["figure.value"], first["figure.basis"]) == (
        "more_than",
        "1000",
        "increment",
    )
    assert first["retraction.effective_on"] == "" and first["active"] == "true"
    assert (second["retraction.effective_on"], second["active"]) == ("2024-03-01", "false")
    assert second["retraction.reason"] == "The originator withdrew the figure"
    cells = [cell for row in (timeline, first, second) for cell in row.values()]
    assert not any(cell.startswith("{") for cell in cells)


def test_a_development_as_csv_carries_its_own_fields_on_every_report_row(
    database_url: str,
) -> None:
    # Given a development judged corroborated, with a second report
    with serve(database_url) as client:
        development_id = report_development(client, title="Containers by rail")
        assert post_event(client, bodies.report_added(development_id)).status_code == 201
        assert post_event(client, bodies.status_changed(development_id)).status_code == 201
        path = f"/api/developments/{development_id}"
        detail = _get(client, path, **AS_OF)
        rows = list(
            csv.DictReader(io.StringIO(client.get(path, params={**AS_OF, "format": "csv"}).text))
        )
    # Then each report's row says the development's title, status and dates, as the JSON does
    assert [row["number"] for row in rows] == ["1", "2"]
    for row in rows:
        assert row["development_id"] == development_id
        assert (row["title"], row["status"]) == ("Containers by rail", detail["status"])
        assert row["status_since"] == detail["status_since"]
        assert (row["visible"], row["version"]) == ("true", "3")
        assert row["first_reported_on"] == detail["first_reported_on"]
        assert (row["active_reports"], row["total_reports"]) == ("2", "2")
        assert (row["actors.supplier"], row["occurred.text"]) == ("PRK", "2023-09/2023-10")
    # and `position` stays the report's, as before these columns came
    assert [row["position"] for row in rows] == [str(r["position"]) for r in detail["reports"]]


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/api/developments", {"as_of": "2024-02-30"}, "as_of"),
        ("/api/developments", {"known_at": "yesterday"}, "known_at"),
        # real RFC 3339 times whose offset takes them out of years 1-9999 in UTC
        ("/api/developments", {"known_at": "9999-12-31T23:59:59-01:00"}, "known_at"),
        ("/api/views/allegations", {"known_at": "0001-01-01T00:30:00+01:00"}, "known_at"),
        ("/api/views/deliveries", {"known_at": "0001-01-01T00:30:00+01:00"}, "known_at"),
        ("/api/developments", {"limit": "501"}, "limit"),
        # whole numbers only: Litestar alone read these as 1 and 10
        ("/api/developments", {"limit": "1.0"}, "limit"),
        ("/api/views/allegations", {"limit": "1e1"}, "limit"),
        ("/api/events", {"after": "2.0"}, "after"),
        ("/api/developments", {"kind": "rumour"}, "kind"),
        ("/api/developments", {"status": "maybe"}, "status"),
        ("/api/developments", {"from": "2024-1-1"}, "from"),
        ("/api/developments", {"occurred_from": "2023-09"}, "occurred_from"),
        (
            "/api/developments",
            {"occurred_from": "2024-01-02", "occurred_to": "2024-01-01"},
            "occurred_to",
        ),
        ("/api/developments", {"cursor": "2024-01-01"}, "cursor"),
        ("/api/developments", {"cursor": "2024-01-01~99999999999999999999999"}, "cursor"),
        # forms `date.fromisoformat` and `int` take but the service never hands out
        ("/api/developments", {"cursor": "20240101~2"}, "cursor"),
        ("/api/views/allegations", {"cursor": "2024-W01-1~2"}, "cursor"),
        ("/api/views/allegations", {"cursor": "2024-01-01~ 2"}, "cursor"),
        ("/api/developments", {"cursor": "2024-01-01~2_0"}, "cursor"),
        ("/api/developments", {"cursor": "2024-01-01~\uff10"}, "cursor"),
        # a cursor's own date, which the request does not give as `as_of`
        ("/api/developments", {"cursor": "2024-01-01~1~2024-13-01~5"}, "cursor"),
        ("/api/views/allegations", {"cursor": "2024-01-01~1~2024-02-30~5"}, "cursor"),
        ("/api/views/allegations", {"format": "xml"}, "format"),
        ("/api/views/deliveries", {"status": "maybe"}, "status"),
    ],
)
def test_an_invalid_parameter_is_a_400_naming_it(
    database_url: str, path: str, params: dict[str, str], named: str
) -> None:
    with serve(database_url) as client:
        document = problem(client.get(path, params=params), 400)
    assert named in [error["path"] for error in document["errors"]]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/events", "after"),
        ("/api/developments", "limit"),
        ("/api/changes?since=2024-01-01", "limit"),
    ],
)
def test_a_whole_number_with_leading_zeros_is_refused_in_words(
    database_url: str, path: str, name: str
) -> None:
    with serve(database_url) as client:
        joiner = "&" if "?" in path else "?"
        document = problem(client.get(f"{path}{joiner}{name}=010"), 400)
    # Litestar's own words were "Expected `int`, got `str`"
    assert (
        document["detail"]
        == f"invalid value for {name}: '010' is a whole number with leading zeros"
    )


@pytest.mark.parametrize(
    ("path", "name"),
    [("/api/developments", "actor"), ("/api/views/allegations", "actor"),
     ("/api/views/deliveries", "supplier"), ("/api/views/deliveries", "unit")],
)  # fmt: skip
def test_a_filter_that_is_not_one_line_of_text_is_refused_in_words(
    tmp_path: Path, path: str, name: str
) -> None:
    with serve(f"sqlite:///{tmp_path}/t.db") as client:
        document = problem(client.get(path, params={name: "\x01"}), 400)
    expected = "must be one line of text: not blank, no control characters"
    assert document["errors"] == [{"path": name, "message": expected}]
    assert document["detail"] == f"invalid value for {name}: {expected}"


@pytest.mark.parametrize(
    "path", ["/api/developments", "/api/views/allegations", "/api/views/deliveries", "/api/events"]
)
def test_an_accept_header_with_an_infinite_q_is_a_400_naming_it(
    database_url: str, path: str
) -> None:
    with serve(database_url) as client:
        response = client.get(path, headers={"Accept": "text/csv;q=inf, application/json"})
    assert [error["path"] for error in problem(response, 400)["errors"]] == ["Accept"]


def test_the_last_day_of_the_calendar_answers_as_the_day_before(database_url: str) -> None:
    # "No end" of valid time is stored as 9999-12-31, so a row open to the end covers every day
    # but that one: the views read 9999-12-31 as 9999-12-30 instead of answering nothing
    with serve(database_url) as client:
        report_development(client)
        for path, key in [
            ("/api/developments", "items"),
            ("/api/views/allegations", "items"),
            ("/api/views/deliveries", "series"),
        ]:
            last = _get(client, path, as_of="9999-12-31")[key]
            before = _get(client, path, as_of="9999-12-30")[key]
            for item in last + before:
                item.pop("age_days", None)  # D - first_reported_on: one day apart
            assert len(last) == 1 and last == before, path
        allegation = _get(client, "/api/views/allegations", as_of="9999-12-31")["items"][0]
        assert (
            allegation["age_days"]
            == (date(9999, 12, 31) - date.fromisoformat(allegation["first_reported_on"])).days
        )


def test_a_development_unknown_at_known_at_is_a_404(database_url: str) -> None:
    with serve(database_url) as client:
        development_id = report_development(client)
        problem(
            client.get(f"/api/developments/{development_id}", params={"known_at": "2000-01-01"}),
            404,
        )
        problem(client.get("/api/developments/4b7b0d3e-1f0a-4c53-9d62-2a8c1b0f7e11"), 404)


def test_serve_folds_new_events_in_the_background_without_a_read(database_url: str) -> None:
    with serve(database_url) as client:
        report_development(client)
        runner = client.app.state.read_models.runner
        deadline = time.monotonic() + 10
        while runner.tracking()["deliveries"][0] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runner.tracking()["deliveries"][0] == 1


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/developments", "actor"),
        ("/api/views/deliveries", "supplier"),
        ("/api/views/deliveries", "unit"),
    ],
)
def test_a_filter_holding_a_control_character_is_a_400_naming_it(
    database_url: str, path: str, name: str
) -> None:
    # PostgreSQL refuses NUL in a text parameter: it must never get that far
    with serve(database_url) as client:
        report_development(client)
        for value in ("\x00", "IRN\x00", "a\x1fb"):
            document = problem(client.get(path, params={name: value}), 400)
            assert name in str(document)


@pytest.mark.parametrize(
    ("accept", "answered"),
    [
        ("text/csv;q=0", "application/json"),  # not acceptable: JSON, the first offered
        ("text/csv;q=0, */*", "application/json"),
        ("text/*;q=0.5, application/json;q=0.4", "text/csv"),
        ("text/*, text/csv;q=0", "application/json"),  # the most specific range counts
        ("application/json;q=0.9, text/csv", "text/csv"),
        ("text/csv;q=0.500, application/json;q=0.5", "text/csv"),  # a tie: the first listed
        ("application/json, text/csv", "application/json"),
        ("text/csv, */*", "text/csv"),  # a tie: the type named more specifically
        ("*/*", "application/json"),  # a tie of every kind: the first offered
        ("image/png", "application/json"),  # none acceptable: the header is disregarded
        ("", "application/json"),
    ],
)
def test_an_accept_header_is_weighed_by_its_q_values(
    database_url: str, accept: str, answered: str
) -> None:
    with serve(database_url) as client:
        response = client.get("/api/views/deliveries", headers={"Accept": accept})
    assert response.status_code == 200 and response.headers["content-type"].startswith(answered)


@pytest.mark.parametrize("q", ["-1", "nan", "abc", "", "1.5", "0.1234", "inf"])
def test_an_accept_header_with_a_q_that_is_not_from_0_to_1_is_a_400_naming_it(
    database_url: str, q: str
) -> None:
    with serve(database_url) as client:
        response = client.get("/api/events", headers={"Accept": f"application/x-ndjson;q={q}"})
    [error] = problem(response, 400)["errors"]
    assert error["path"] == "Accept" and "from 0 to 1" in error["message"]


def test_delivery_bounds_that_are_whole_numbers_are_written_as_such(database_url: str) -> None:
    with serve(database_url) as client:
        report_development(client)
        text = client.get("/api/views/deliveries", params={"as_of": "2100-01-01"}).text
    view = json.loads(text)
    [series], [total] = view["series"], view["totals"]
    # a count of containers reads 1000, as in the CSV, not 1000.0
    assert '"low":1000,' in text and '"low":1000.0' not in text
    assert isinstance(series["low"], int) and isinstance(total["low"], int)
