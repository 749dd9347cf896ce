"""Read models written by another version of a projection's fold are rebuilt before they serve.

The tracking row of each projection says which version of its fold wrote its rows
(`projections.schema.FOLDS`); `timeline projections run` and `timeline serve` rebuild the
projections whose rows another version wrote, so an upgrade that reads a rule of DESIGN §4
otherwise never answers from rows folded by the old rule.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from events import decode_event
from projections import ProjectionRunner, ReadModels, ensure_schema, rebuild, snapshot, stale
from projections.projection import Outdated
from projections.schema import BOXES, DELIVERY_ROWS, SEGMENTS, TRACKING
from service.application import Timeline
from service.ingest import import_events, seed_corpus
from tests import bodies
from tests.api import problem, report_development, serve
from tests.procs import Process, Server, projection_runner, wait_until


@pytest.fixture
def seeded(database_url: str) -> Iterator[Timeline]:
    """The seed corpus, its read models folded by this version."""
    timeline = Timeline(database_url)
    with seed_corpus() as corpus:
        import_events(timeline, corpus, recorded_by="seed")
    ProjectionRunner(timeline.store).catch_up()
    yield timeline
    timeline.close()


def _read_models(timeline: Timeline) -> dict[str, list[Any]]:
    """Every row of the read models, without the runner's states (its cache, not a view)."""
    rows = snapshot(timeline.store)
    return {table: found for table, found in rows.items() if not table.endswith("_state")}


def _as_an_earlier_fold_wrote_them(timeline: Timeline) -> None:
    """The developments' rows as another version left them: other `status_since` days."""
    with timeline.store.write_transaction() as cursor:
        cursor.execute(f"UPDATE {TRACKING} SET fold = 0 WHERE name = 'developments'")
        cursor.execute(f"UPDATE {SEGMENTS.name} SET status_since = 1")


def test_a_database_folded_by_this_version_has_nothing_stale(seeded: Timeline) -> None:
    assert stale(seeded.store) == []


def test_a_rebuild_records_the_version_of_the_fold_that_wrote_the_rows(seeded: Timeline) -> None:
    _as_an_earlier_fold_wrote_them(seeded)
    assert stale(seeded.store) == ["developments"]

    rebuild(seeded.store, "developments")

    assert stale(seeded.store) == []


def test_a_tracking_table_from_before_fold_versions_marks_every_projection_stale(
    seeded: Timeline,
) -> None:
    with seeded.store.write_transaction() as cursor:
        cursor.execute(f"ALTER TABLE {TRACKING} DROP COLUMN fold")

    assert stale(seeded.store) == ["developments", "deliveries"]


def test_segments_made_before_the_occurred_columns_gain_them_and_are_rebuilt(
    seeded: Timeline,
) -> None:
    # Given the developments' rows as fold 4 left them, before the segments said when each
    # development occurred
    live = _read_models(seeded)
    with seeded.store.write_transaction() as cursor:
        cursor.execute(f"UPDATE {TRACKING} SET fold = 4 WHERE name = 'developments'")
        for column in ("occurred_lower", "occurred_upper"):
            cursor.execute(f"ALTER TABLE {SEGMENTS.name} DROP COLUMN {column}")

    # When a process of this version opens the database, and rebuilds what is stale
    ensure_schema(seeded.store)
    assert stale(seeded.store) == ["developments"]
    rebuild(seeded.store, "developments")

    # Then the segments have the columns and the rows this version folds, and the timeline
    # filters on when developments occurred
    assert stale(seeded.store) == [] and _read_models(seeded) == live
    read = ReadModels(seeded.store)
    moment = 2**62  # known at a time to come: everything recorded
    everything = read.timeline(as_of=date(2025, 1, 1), known_at_us=moment, limit=500).items
    first, last = date(2023, 1, 1), date(2023, 12, 31)
    in_2023 = read.timeline(
        as_of=date(2025, 1, 1), known_at_us=moment, limit=500, occurred_from=first, occurred_to=last
    )
    assert 0 < len(in_2023.items) < len(everything)


def _started(command: str, database: str, logs: Path) -> Process:
    """`timeline serve` (healthy) or `timeline projections run` (following the log)."""
    if command == "serve":
        server = Server(database, logs / "serve.log")
        server.wait_healthy(timeout=60)
        return server
    runner = projection_runner(database, logs)
    following = wait_until(lambda: "following the log" in runner.tail(), timeout=60)
    assert following, runner.tail()
    return runner


@pytest.mark.parametrize("command", ["serve", "projections run"])
def test_the_process_that_keeps_the_read_models_rebuilds_rows_another_fold_wrote_first(
    seeded: Timeline, database_url: str, tmp_path: Path, command: str
) -> None:
    # Given read models that an earlier version folded otherwise
    live = _read_models(seeded)
    _as_an_earlier_fold_wrote_them(seeded)
    assert _read_models(seeded) != live

    # When `timeline serve` or `timeline projections run` starts on them
    (tmp_path / "logs").mkdir()
    process = _started(command, database_url, tmp_path / "logs")
    process.stop()

    # Then it said so, rebuilt them from the log, and they are the rows this version folds
    assert "were written by another version of this service" in process.tail()
    assert stale(seeded.store) == []
    assert _read_models(seeded) == live


def test_reads_wait_for_the_rebuild_of_rows_another_fold_wrote_instead_of_answering_from_them(
    seeded: Timeline, database_url: str
) -> None:
    # Given read models an earlier version folded, and an API without a runner of its own
    # (`serve --no-projections`, as in docker-compose.yml), opened before the runner rebuilt
    _as_an_earlier_fold_wrote_them(seeded)
    with serve(database_url, role=None) as client:
        # When a view is asked for before the rebuild, and again after it
        waiting = client.get("/api/views/allegations", params={"as_of": "2024-03-01"})
        detail = client.get("/api/developments", params={"as_of": "2024-03-01"})
        download = client.get("/download/timeline.csv", params={"as_of": "2024-03-01"})
        rebuild(seeded.store, ["developments"])
        answered = client.get("/api/views/allegations", params={"as_of": "2024-03-01"})
    # Then it was a 503 to ask again, naming what is being rebuilt, and then the answer
    for response in (waiting, detail):
        document = problem(response, 503)
        assert document["type"] == "urn:timeline:problem:read-models-outdated"
        assert "developments" in document["detail"] and response.headers["retry-after"] == "5"
    assert answered.status_code == 200 and answered.json()["items"]
    assert {s["status_since"] for s in answered.json()["items"]} != {"0001-01-01"}
    # and a download (written a page at a time) was a 503 too, not the start of a file
    assert download.status_code == 503 and "content-disposition" not in download.headers


def test_a_runner_folds_nothing_onto_rows_another_version_rebuilt_while_it_ran(
    seeded: Timeline,
) -> None:
    # Given a runner of this version following the log
    runner = ProjectionRunner(seeded.store)
    runner.catch_up()
    # When another version (a newer one, started beside it) rebuilds the deliveries with its
    # fold, and more is recorded
    with seeded.store.write_transaction() as cursor:
        cursor.execute(f"UPDATE {TRACKING} SET fold = fold + 1 WHERE name = 'deliveries'")
    before = _read_models(seeded)
    seeded.append([decode_event(json.dumps(bodies.development_reported()))], recorded_by="test")
    # Then this runner folds it into the developments at its pace (a step that folds is no
    # error, which would make a runner wait longer and longer), then says so of the deliveries
    # and writes nothing on top of that version's rows
    assert runner.step() == 1
    with pytest.raises(Outdated, match="deliveries"):
        runner.step()
    after = _read_models(seeded)
    assert {t: r for t, r in after.items() if "deliver" in t} == {
        t: r for t, r in before.items() if "deliver" in t
    }


def test_serve_told_by_the_environment_not_to_keep_the_read_models_leaves_the_rebuild_alone(
    seeded: Timeline, database_url: str, tmp_path: Path
) -> None:
    # Given read models an earlier version folded
    _as_an_earlier_fold_wrote_them(seeded)
    # When `timeline serve` starts with TIMELINE_RUN_PROJECTIONS=0, as `--no-projections` does
    server = Server(database_url, tmp_path / "serve.log", env={"TIMELINE_RUN_PROJECTIONS": "0"})
    try:
        server.wait_healthy(timeout=60)
    finally:
        server.stop()
    # Then it left them to `timeline projections run`: each API replica rebuilt them otherwise
    assert "another version" not in server.tail()
    assert stale(seeded.store) == ["developments"]


def test_a_browser_waiting_for_the_rebuild_gets_a_page_saying_so(
    seeded: Timeline, database_url: str
) -> None:
    # Given read models an earlier version folded, and an API without a runner of its own
    _as_an_earlier_fold_wrote_them(seeded)
    with serve(database_url, role=None) as client:
        # When a browser asks for the overview, and a script for the same address
        page = client.get("/", headers={"Accept": "text/html,*/*;q=0.8"})
        script = client.get("/api/developments")
    # Then the browser gets an HTML page saying why and when to ask again, the script a problem
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "Read models being rebuilt" in page.text and page.headers["retry-after"] == "5"
    assert script.headers["content-type"] == "application/problem+json"


def _as_the_one_r_tree_of_earlier_versions_held_them(timeline: Timeline) -> None:
    """The deliveries as versions before fold 5 left a SQLite file: one R-tree of every row's
    rectangle (closed and current alike), without the variant, and what a killed rebuild of
    theirs left of its shadow."""
    with timeline.store.write_transaction() as cursor:
        for box in BOXES:
            cursor.execute(f"DROP TABLE {box}")
        for name in ("tl_delivery_box", "tl_delivery_box__rebuild"):
            cursor.execute(
                f"CREATE VIRTUAL TABLE {name} USING rtree_i32(id, valid_lo, valid_hi, pos_lo, "
                "pos_hi)"
            )
        cursor.execute(
            "INSERT INTO tl_delivery_box SELECT id, valid_from, valid_to - 1, pos_from, "
            f"pos_to - 1 FROM {DELIVERY_ROWS.name}"
        )
        cursor.execute(f"UPDATE {TRACKING} SET fold = 4 WHERE name = 'deliveries'")


def _deliveries(timeline: Timeline) -> list[Any]:
    read = ReadModels(timeline.store)
    now = time.time_ns() // 1000
    return [
        read.deliveries(as_of=as_of, known_at_us=now, status=status)
        for as_of in (date(2023, 6, 1), date(2024, 12, 31))
        for status in (None, "corroborated", "alleged")
    ]


def test_a_sqlite_file_of_the_one_r_tree_serves_its_deliveries_from_the_two_after_its_rebuild(
    tmp_path: Path,
) -> None:
    # Given a SQLite file whose deliveries an earlier version folded into its one R-tree
    timeline = Timeline(f"sqlite:///{tmp_path}/timeline.db")
    with seed_corpus() as corpus:
        import_events(timeline, corpus, recorded_by="seed")
    ProjectionRunner(timeline.store).catch_up()
    answers = _deliveries(timeline)
    assert any(answer.series for answer in answers)
    _as_the_one_r_tree_of_earlier_versions_held_them(timeline)

    # When this version opens it (as every command does), then the earlier tree is left for an
    # earlier version still running (or run again), to which the fold says nothing changed
    ensure_schema(timeline.store)
    assert timeline.store.existing({"tl_delivery_box"}) == {"tl_delivery_box"}
    assert stale(timeline.store) == ["deliveries"]
    # and when it rebuilds what it asks for (as `serve` and `projections run` do first)
    rebuild(timeline.store, stale(timeline.store))

    # Then the earlier tree is gone, and the views answer as before from the two trees
    assert not timeline.store.existing({"tl_delivery_box", "tl_delivery_box__rebuild"})
    assert timeline.store.existing(set(BOXES)) == set(BOXES)
    assert _deliveries(timeline) == answers
    timeline.close()


def _all_of(path: str) -> dict[str, str]:
    """A view's parameters for the whole of the seed corpus at the end of 2024."""
    paged = {} if path.endswith("deliveries") else {"limit": "500"}
    return {"as_of": "2024-12-31", **paged}


@pytest.mark.parametrize(
    ("outdated", "answering", "waiting"),
    [
        ("deliveries", ["/api/developments", "/api/views/allegations"], "/api/views/deliveries"),
        ("developments", ["/api/views/deliveries"], "/api/views/allegations"),
    ],
)
def test_the_views_of_the_other_projection_answer_and_read_their_writes_while_one_waits(
    seeded: Timeline, database_url: str, outdated: str, answering: list[str], waiting: str
) -> None:
    # Given one projection's rows an earlier version folded, waiting for the runner's rebuild
    with seeded.store.write_transaction() as cursor:
        update = f"UPDATE {TRACKING} SET fold = 0 WHERE name = %s"
        cursor.execute(seeded.store.sql(update), (outdated,))
    with serve(database_url) as client:
        before = [client.get(path, params=_all_of(path)) for path in answering]
        # When a delivery is written, and each view asked at once
        title = "A delivery written while a projection waits for its rebuild"
        written = report_development(client, title=title)
        after = [client.get(path, params=_all_of(path)) for path in answering]
        refused = client.get(waiting, params=_all_of(waiting))
        detail = client.get(f"/api/developments/{written}")
    # Then the other projection's views answer, with the write
    for earlier, response in zip(before, after, strict=True):
        assert earlier.status_code == response.status_code == 200, response.text
        assert response.json() != earlier.json()
        assert outdated == "developments" or written in response.text
    # and the waiting one's are a 503 naming it
    document = problem(refused, 503)
    assert document["type"] == "urn:timeline:problem:read-models-outdated"
    assert outdated in document["detail"]
    assert detail.status_code == (503 if outdated == "developments" else 200)
