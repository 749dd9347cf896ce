"""The projection runner: exactly once, resumable after a crash, rebuildable to the same rows."""

from __future__ import annotations

import fcntl
import gc
import importlib
import os
import signal
import threading
import time
from collections.abc import Collection, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from events import ReportAdded
from projections import (
    NAMES,
    LogMoved,
    ProjectionRunner,
    ReadModels,
    compare,
    rebuild,
    run_forever,
    snapshot,
    verify_rebuild,
)
from projections.buffer import RowBuffer
from projections.dialect import Dialect, rows_of
from projections.entries import LogReader
from projections.projection import Moved
from projections.schema import (
    CLOSED_BOX,
    CURRENT_BOX,
    INDEXES,
    PG_CURRENT_COVER,
    SECOND,
    complete,
    create,
)
from projections.state import POS_MAX
from projections.tracks import TRACKS_PER_SERIES
from projections.writer import REPLACED, SHADOW, ChildCursor, lock_file
from service.config import sqlite_file
from service.errors import Busy, Unavailable
from service.store.log import Cursor, created
from tests.test_views_support import Store, figure, said

D = date
US = "US Department of State"


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    """A fresh timeline and its read models on PostgreSQL only."""
    opened = Store(postgres_url)
    yield opened
    opened.close()


def grow(store: Store, developments: int = 6) -> None:
    """A small log with every kind of event, in several commits."""
    for n in range(developments):
        dev = store.develop(said(US, D(2024, 1, 1 + n), figure(value=10 * (n + 1))))
        store.add(dev, said("NIS", D(2024, 2, 1), figure(value=5, basis="cumulative")))
        store.correct(dev, 2, asserted_on=D(2024, 1, 20 + n))
        store.judge(dev, "corroborated" if n % 2 else "refuted", D(2024, 3, 1))
        if n % 3 == 0:
            store.retract(dev, 1, D(2024, 4, 1))
            store.correct_development(dev, title=f"Recoded {n}")


def tracking(store: Store) -> dict[str, tuple[int, int]]:
    """Each projection's (position, generation)."""
    return store.read.runner.tracking()


def test_the_runner_folds_every_event_once_and_records_its_position(store: Store) -> None:
    grow(store)
    runner = store.read.runner
    head = store.timeline.store.last_position()

    runner.catch_up()
    rows = snapshot(store.timeline.store)
    assert runner.step() == 0  # nothing new: nothing folded again
    assert snapshot(store.timeline.store) == rows
    assert {name: position for name, (position, _) in tracking(store).items()} == dict.fromkeys(
        NAMES, head
    )


def test_small_batches_never_split_a_commit_and_give_the_same_rows(store: Store) -> None:
    grow(store, 3)
    dev = store.develop(said(US, D(2024, 5, 1)))
    store.append(*_reports(dev, 7))  # one commit of seven events
    runner = ProjectionRunner(store.timeline.store, batch_size=2)

    runner.catch_up()

    positions = [page[-1].position for page in LogReader(store.timeline.store).pages(0, 2)]
    assert store.timeline.store.last_position() in positions
    assert verify_rebuild(store.timeline.store) == {}


def _reports(dev: UUID, count: int) -> list[ReportAdded]:
    return [
        ReportAdded(development_id=dev, report=said(US, D(2024, 5, 2 + i), figure(value=i + 1)))
        for i in range(count)
    ]


def test_a_runner_started_afresh_corrects_and_retracts_reports_it_reads_back(store: Store) -> None:
    # Given developments folded by one runner, whose stored states hold no report JSON
    devs = [store.develop(said(US, D(2024, 1, 1 + n), figure(value=10))) for n in range(3)]
    for dev in devs:
        store.add(dev, said("NIS", D(2024, 2, 1), figure(value=5, basis="cumulative")))
    ProjectionRunner(store.timeline.store).catch_up()
    # When a runner of a new process folds corrections and a retraction of those reports, and
    # one that reads the states back once more folds a report added then corrected
    store.correct(devs[0], 1, asserted_on=D(2024, 1, 20))
    store.correct(devs[1], 2, quote="Corrected quote")
    store.retract(devs[2], 2, D(2024, 3, 1))
    ProjectionRunner(store.timeline.store).catch_up()
    store.add(devs[0], said(US, D(2024, 4, 1), figure(value=30)))
    ProjectionRunner(store.timeline.store).catch_up()
    store.correct(devs[0], 3, quote="Third, corrected")
    ProjectionRunner(store.timeline.store).catch_up()
    # Then every row is the one a rebuild writes: the JSON of each report with its corrections
    rows = snapshot(store.timeline.store)["tl_reports"]
    assert any("Corrected quote" in str(row) for row in rows)
    assert any("Third, corrected" in str(row) for row in rows)
    assert verify_rebuild(store.timeline.store) == {}


def test_a_crash_before_the_commit_leaves_nothing_and_the_runner_resumes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    grow(store, 2)
    runner = ProjectionRunner(store.timeline.store)
    before = snapshot(store.timeline.store)
    flush = RowBuffer.flush

    def write_then_die(self: RowBuffer, cursor: Cursor, **kwargs: Any) -> None:
        flush(self, cursor, **kwargs)  # the rows are written inside the transaction…
        raise RuntimeError("power cut")  # …and the process dies before the commit

    monkeypatch.setattr(RowBuffer, "flush", write_then_die)
    with pytest.raises(RuntimeError, match="power cut"):
        runner.step()
    assert snapshot(store.timeline.store) == before
    assert {position for position, _ in tracking(store).values()} == {0}

    monkeypatch.undo()
    restarted = ProjectionRunner(store.timeline.store)
    restarted.catch_up()
    assert restarted.position == store.timeline.store.last_position()
    assert verify_rebuild(store.timeline.store) == {}


def test_a_runner_whose_position_moved_drops_its_batch(store: Store) -> None:
    grow(store, 2)
    first, second = ProjectionRunner(store.timeline.store), ProjectionRunner(store.timeline.store)
    projection = first.projections[0]
    entries = first.reader.page(0, 100)

    second.catch_up()  # another process folds the same events first
    with pytest.raises(Moved):
        first._advance(projection, 0, 0, entries)

    first.catch_up()
    assert verify_rebuild(store.timeline.store) == {}


def race(store: Store, *, batch_size: int) -> list[BaseException]:
    """Two fresh runners catching up at once, in threads; once both are done, what either
    raised. Each that raised nothing must have reached the head of the log, and with it every
    projection's committed position."""
    runners = [ProjectionRunner(store.timeline.store, batch_size=batch_size) for _ in range(2)]
    failures: list[BaseException] = []
    threads = [threading.Thread(target=_catching, args=(r, failures)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if not failures:
        head = store.timeline.store.last_position()
        assert [runner.position for runner in runners] == [head, head]
        committed = {name: position for name, (position, _) in tracking(store).items()}
        assert committed == dict.fromkeys(NAMES, head)
    return failures


def test_two_runners_racing_on_one_database_fold_each_event_once(store: Store) -> None:
    # Given a log no runner has folded
    grow(store, 4)

    # When two runners race through it
    failures = race(store, batch_size=7)

    # Then neither failed (a batch the other folded first is dropped, not raised), both
    # reached the head, and the rows they left are those of a rebuild
    assert failures == []
    assert verify_rebuild(store.timeline.store) == {}


def test_a_rebuild_from_position_zero_gives_the_live_rows(store: Store) -> None:
    grow(store)
    store.read.runner.catch_up()

    assert verify_rebuild(store.timeline.store) == {}
    assert {generation for _, generation in tracking(store).values()} == {1}


def test_a_rebuild_in_a_server_process_leaves_its_garbage_collector_as_it_found_it(
    store: Store,
) -> None:
    # Given a process that froze what it built at start, as each server worker does
    grow(store)
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        # When a rebuild runs in it (POST /api/projections/rebuild)
        rebuild(store.timeline.store)
        # Then the collector runs again and what was frozen stays frozen
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen > 0
    finally:
        gc.unfreeze()


def test_a_view_after_a_rebuild_that_ended_short_of_a_runner_folds_what_it_left_out(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the views' runner folded both developments, and remembers where it got to
    store.develop(said("US", date(2024, 1, 1)))
    store.develop(said("NIS", date(2024, 1, 2)))
    assert len(store.timeline_at(date(2024, 2, 1))) == 2
    # When a rebuild ends one event short of it: that event committed, and a runner folded it,
    # between the rebuild reading the head of the log and taking its lock
    recorder = type(store.timeline.store)
    head = recorder.last_position
    monkeypatch.setattr(recorder, "last_position", lambda self, **at: head(self, **at) - 1)
    monkeypatch.setattr(importlib.import_module("projections.rebuild"), "PAGE", 1)
    rebuild(store.timeline.store)
    monkeypatch.undo()
    # Then a view asked after it folds that event again rather than trust where it had got to
    assert len(store.timeline_at(date(2024, 2, 1))) == 2


def test_a_runner_on_series_an_earlier_fold_split_by_case_hands_out_new_ids_past_them(
    store: Store,
) -> None:
    # Given series rows as a fold that told `PRK` from `prk` left them: ids 1 and 2, one actor
    store.develop(said(US, D(2024, 1, 1), figure(value=10)))
    store.develop(said(US, D(2024, 1, 2), figure(value=20)), supplier="prk")
    store.read.runner.catch_up()
    with store.timeline.store.write_transaction() as cursor:
        cursor.execute(
            "INSERT INTO tl_delivery_series SELECT 2, 'prk', recipient, category, unit, "
            "originator FROM tl_delivery_series WHERE series_id = 1"
        )
    # When a runner that starts afresh folds a development of a new series
    runner = ProjectionRunner(store.timeline.store)
    store.develop(said("NIS", D(2024, 1, 3), figure(value=30)))
    runner.catch_up()
    # Then the new series takes the next id after the largest, not one already taken
    with store.timeline.store.read_transaction() as cursor:
        cursor.execute("SELECT series_id, originator FROM tl_delivery_series ORDER BY series_id")
        assert [tuple(row) for row in rows_of(cursor)] == [(1, US), (2, US), (3, "NIS")]


def test_a_rebuild_that_writes_as_it_folds_gives_the_live_rows(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a log whose first development changes again at the end
    first = store.develop(said(US, D(2023, 12, 1), figure(value=7)))
    grow(store)
    store.add(first, said("NIS", D(2024, 5, 1), figure(value=9)))
    store.judge(first, "corroborated", D(2024, 5, 2))
    store.read.runner.catch_up()
    # and a rebuild that writes what has settled every few events, so rows and states written
    # early are updated when that development changes again
    rebuilding = importlib.import_module("projections.rebuild")
    monkeypatch.setattr(rebuilding, "PAGE", 3)
    monkeypatch.setattr(rebuilding, "FLUSH_ROWS", 1)

    # when it rebuilds, then its rows are the live ones
    assert verify_rebuild(store.timeline.store) == {}

    # and a runner folds the states it lacks from the log and goes on to the rows of a rebuild
    store.add(first, said(US, D(2024, 6, 1), figure(value=11)))
    assert verify_rebuild(store.timeline.store) == {}


def test_a_rebuild_writes_no_states_and_a_runner_folds_those_it_lacks_from_the_log(
    store: Store,
) -> None:
    # given a history whose read models were rebuilt: no stored states
    grow(store)
    devs = list(dict.fromkeys(recorded.development_id for recorded in store.log()))
    rebuild(store.timeline.store)
    assert stored_states(store) == {"tl_dev_state": 0, "tl_delivery_dev_state": 0}

    # when the runner (which dropped what it held when the rebuild bumped the generation)
    # folds events of old developments, of every kind
    store.correct(devs[0], 2, asserted_on=D(2024, 2, 3))
    store.retract(devs[1], 2, D(2024, 5, 1))
    store.judge(devs[2], "disputed", D(2024, 5, 2))
    store.add(devs[3], said(US, D(2024, 5, 3), figure(value=99, basis="cumulative")))
    store.correct_development(devs[4], title="Recoded again")
    store.read.runner.catch_up()

    # then its rows are those of a rebuild, and it stored the states of what it touched
    assert stored_states(store) == {"tl_dev_state": 5, "tl_delivery_dev_state": 5}
    assert verify_rebuild(store.timeline.store) == {}


def test_two_runners_racing_after_a_rebuild_fold_the_states_they_lack_once(
    store: Store,
) -> None:
    # given rebuilt read models (no stored states) and events of old developments after them
    grow(store, 4)
    devs = list(dict.fromkeys(recorded.development_id for recorded in store.log()))
    rebuild(store.timeline.store)
    store.read.runner.stop()
    for number, dev in enumerate(devs):
        store.add(dev, said(US, D(2024, 6, 1 + number), figure(value=number + 1)))
        store.judge(dev, "disputed", D(2024, 6, 10))

    # when two runners race through them in small batches
    failures = race(store, batch_size=3)

    # then neither failed, both reached the head, and the rows are those of a rebuild
    assert failures == []
    assert verify_rebuild(store.timeline.store) == {}


def stored_states(store: Store) -> dict[str, int]:
    """How many states each projection holds in its table."""
    found = {}
    with store.timeline.store.read_transaction() as cursor:
        for table in ("tl_dev_state", "tl_delivery_dev_state"):
            cursor.execute(f"SELECT count(*) AS n FROM {table}")
            found[table] = rows_of(cursor)[0][0]
    return found


@pytest.mark.postgres
def test_a_rebuild_on_postgresql_leaves_its_tables_vacuumed_and_the_log_analyzed(
    pg_store: Store,
) -> None:
    grow(pg_store)
    rebuild(pg_store.timeline.store)
    log = (pg_store.timeline.store.events_table_name, "event_records")
    with pg_store.timeline.store.read_transaction() as cursor:
        cursor.execute(
            "SELECT relname, last_vacuum, last_analyze FROM pg_stat_user_tables "
            "WHERE relname IN ('tl_segments', 'tl_delivery_rows', %s, %s)",
            log,
        )
        rows = {row["relname"]: row for row in cursor.fetchall()}
    assert set(rows) == {"tl_segments", "tl_delivery_rows", *log}
    assert all(rows[name]["last_vacuum"] for name in ("tl_segments", "tl_delivery_rows"))
    assert all(row["last_analyze"] for row in rows.values())


@pytest.mark.postgres
def test_appends_on_postgresql_go_on_during_a_rebuild_and_a_runner_waits_for_it(
    pg_store: Store,
) -> None:
    # given a history whose read models are current
    grow(pg_store, 3)
    dev = pg_store.log()[0].development_id
    pg_store.read.runner.catch_up()
    follower = ProjectionRunner(pg_store.timeline.store)
    failures: list[BaseException] = []
    threads: list[threading.Thread] = []

    def during(done: int, total: int) -> None:
        if threads:
            return
        # when, once the rebuild's transaction is open, an event is appended
        adding = threading.Thread(
            target=pg_store.add, args=(dev, said(US, D(2024, 7, 1), figure(value=7)))
        )
        adding.start()
        adding.join(timeout=30)
        # then it is stored without waiting for the rebuild to commit
        assert not adding.is_alive(), "the append waited for the rebuild"
        # and a runner folding it meanwhile neither deadlocks with the rebuild nor loses it
        threads.append(threading.Thread(target=_catching, args=(follower, failures)))
        threads[0].start()

    rebuild(pg_store.timeline.store, progress=during)
    threads[0].join(timeout=60)

    assert not threads[0].is_alive() and failures == []
    assert follower.position == pg_store.timeline.store.last_position()
    assert verify_rebuild(pg_store.timeline.store) == {}


@pytest.mark.postgres
def test_a_rebuild_on_postgresql_ends_at_the_head_it_began_at_while_appends_go_on(
    pg_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    grow(pg_store, 2)
    dev = pg_store.log()[0].development_id
    head = pg_store.timeline.store.last_position()
    monkeypatch.setattr(importlib.import_module("projections.rebuild"), "PAGE", 3)

    def append_one(done: int, total: int) -> None:  # after every page, one more event
        pg_store.add(dev, said(US, D(2024, 7, 1 + done % 20), figure(value=done)))

    done = rebuild(pg_store.timeline.store, progress=append_one)

    # it stopped at the first page holding the head it began at, not chasing the appends
    assert head <= done.position < head + 3
    assert tracking(pg_store)["developments"] == (done.position, 1)
    assert pg_store.timeline.store.last_position() > done.position
    assert verify_rebuild(pg_store.timeline.store) == {}  # the runner folded the rest


def _catching(runner: ProjectionRunner, failures: list[BaseException]) -> None:
    try:
        runner.catch_up()
    except BaseException as error:  # the test asserts there was none
        failures.append(error)


def test_rebuilding_one_projection_leaves_the_other_alone(store: Store) -> None:
    grow(store, 3)
    store.read.runner.catch_up()
    deliveries = snapshot(store.timeline.store, ["deliveries"])
    progress: list[tuple[int, int]] = []

    done = rebuild(
        store.timeline.store, ["developments"], progress=lambda n, of: progress.append((n, of))
    )

    assert done.names == ("developments",) and done.events == progress[-1][0] == progress[-1][1]
    assert snapshot(store.timeline.store, ["deliveries"]) == deliveries
    assert tracking(store)["deliveries"][1] == 0 and tracking(store)["developments"][1] == 1
    with pytest.raises(ValueError, match="unknown projection"):
        rebuild(store.timeline.store, ["timeline"])


def test_a_running_runner_goes_on_correctly_after_a_rebuild(store: Store) -> None:
    grow(store, 2)
    read = store.read
    read.runner.catch_up()
    rebuild(store.timeline.store)
    dev = store.develop(said("Fresh", D(2024, 6, 1), figure(value=1)))
    store.add(dev, said("Fresh", D(2024, 6, 2), figure(value=2)))

    view = read.deliveries(as_of=D(2024, 6, 3), known_at_us=store.now())
    assert [s.low for s in view.series if s.originator == "Fresh"] == [3.0]
    assert verify_rebuild(store.timeline.store) == {}


def test_the_background_runner_follows_the_log_and_stops(store: Store) -> None:
    runner = ProjectionRunner(store.timeline.store, poll_seconds=0.01)
    runner.start()
    try:
        store.develop(said(US, D(2024, 1, 1)))
        deadline = time.monotonic() + 10
        while (
            runner.position < store.timeline.store.last_position() and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        assert runner.position == store.timeline.store.last_position()
    finally:
        stopped = runner.stop(timeout=30)
    assert stopped
    assert not [t for t in threading.enumerate() if t.name == "projection-runner"]


def test_run_forever_follows_the_log_until_told_to_stop(store: Store, database_url: str) -> None:
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(database_url, stop), kwargs={"poll_seconds": 0.01}
    )
    thread.start()
    try:
        store.develop(said(US, D(2024, 1, 1)))
        deadline = time.monotonic() + 10
        while tracking(store)["developments"][0] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert tracking(store)["developments"][0] == store.timeline.store.last_position()


def test_a_comparison_with_a_rebuild_says_when_the_log_grew_meanwhile(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given read models caught up, and an event recorded after they were read, before the rebuild
    store.develop(said("US", date(2024, 1, 1)))
    real = rebuild

    def rebuild_after_one_more(*args: Any, **kwargs: Any) -> Any:
        store.develop(said("NIS", date(2024, 1, 2)))
        return real(*args, **kwargs)

    monkeypatch.setattr(compare, "rebuild", rebuild_after_one_more)
    # When they are compared with a rebuild, then it says the log moved, not that rows differ
    with pytest.raises(LogMoved, match="the log grew while the read models were compared"):
        verify_rebuild(store.timeline.store)
    # and once it is quiet they agree
    monkeypatch.setattr(compare, "rebuild", real)
    assert verify_rebuild(store.timeline.store) == {}


# --- a rebuild of a SQLite file writes shadow tables and swaps them in ---------------------


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[Store]:
    """A timeline on a SQLite file, its read models current after a small log."""
    opened = Store(f"sqlite:///{tmp_path}/timeline.db")
    grow(opened, 3)
    opened.read.runner.catch_up()
    yield opened
    opened.close()


def shadows(store: Store) -> dict[str, int]:
    """The rebuild's shadow tables, and tables it replaced, left in the database, with their
    rows."""
    with store.timeline.store.read_transaction() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        names = [row[0] for row in rows_of(cursor) if row[0].endswith((SHADOW, REPLACED))]
        found = {}
        for name in names:
            cursor.execute(f"SELECT count(*) FROM {name}")
            found[name] = rows_of(cursor)[0][0]
        return found


def without_states(rows: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The read models' rows, without the runner's cache of states a rebuild empties."""
    return {table: found for table, found in rows.items() if not table.endswith("_state")}


def test_appends_and_views_go_on_while_a_rebuild_writes_a_sqlite_file(
    file_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a second process's timeline on the file, whose writes wait a second for the lock
    other = Store(file_store.timeline.database + "?lock_timeout=1")
    before = {row.development_id for row in file_store.timeline_at(D(2024, 5, 1))}
    head = file_store.timeline.store.last_position()
    rebuilding = importlib.import_module("projections.rebuild")
    monkeypatch.setattr(rebuilding, "PAGE", 4)  # several pages, each written as it is folded
    monkeypatch.setattr(rebuilding, "FLUSH_ROWS", 0)
    added: list[UUID] = []
    seen: list[set[UUID]] = []

    def during(done: int, total: int) -> None:
        # When, once the rebuild's writer has begun, after each page the rebuild folded and
        # sent to it, the other appends (Busy when a rebuild held the write lock throughout)
        # and reads the timeline
        began = time.monotonic()
        while not shadows(other) and time.monotonic() - began < 10:
            time.sleep(0.01)
        assert shadows(other), "the rebuild's writer made no tables to write"
        added.append(other.develop(said("NIS", D(2024, 1, 5 + len(added)))))
        seen.append({row.development_id for row in other.timeline_at(D(2024, 5, 1))})

    try:
        rebuilt = rebuild(file_store.timeline.store, progress=during)
    finally:
        other.close()

    # Then every append was stored, and each read answered from the live rows with it
    assert len(added) >= 3
    assert seen == [before | set(added[: n + 1]) for n in range(len(added))]
    # and the rebuild ended at the page holding the head it began at, not chasing the appends;
    # the runner folds what came since
    assert head <= rebuilt.position < head + 4 < file_store.timeline.store.last_position()
    after = {row.development_id for row in file_store.timeline_at(D(2024, 5, 1))}
    assert after == before | set(added)
    assert verify_rebuild(file_store.timeline.store) == {}
    assert shadows(file_store) == {}


def test_a_rebuild_stopped_midway_leaves_the_live_rows_and_the_next_starts_afresh(
    file_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = snapshot(file_store.timeline.store)
    rebuilding = importlib.import_module("projections.rebuild")
    monkeypatch.setattr(rebuilding, "PAGE", 4)
    monkeypatch.setattr(rebuilding, "FLUSH_ROWS", 0)

    def stop(done: int, total: int) -> None:
        if done > total // 2:
            raise KeyboardInterrupt  # an operator's Ctrl-C, half-way

    # When a rebuild is stopped after writing some of its rows
    with pytest.raises(KeyboardInterrupt):
        rebuild(file_store.timeline.store, progress=stop)
    # Then the views' rows are as they were, its shadows left beside them
    assert snapshot(file_store.timeline.store) == rows
    assert f"tl_segments{SHADOW}" in shadows(file_store)
    # and, rows in them (as a killed rebuild's committed writes leave), the next rebuild
    # starts from empty shadows and ends with the same rows, none left
    with file_store.timeline.store.write_transaction() as cursor:
        cursor.execute(f"INSERT INTO tl_segments{SHADOW} SELECT * FROM tl_segments")
    monkeypatch.undo()
    rebuild(file_store.timeline.store)
    assert without_states(snapshot(file_store.timeline.store)) == without_states(rows)
    assert shadows(file_store) == {}


def held(path: str) -> bool:
    """Whether another open file holds the lock (`flock`) of the file at `path`."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # and with it the lock, if this took it
    return False


def test_a_second_rebuild_of_a_sqlite_file_beside_a_running_one_is_busy(
    file_store: Store,
) -> None:
    # Given a second process's timeline on the file, whose rebuild waits a second for the lock
    rows = snapshot(file_store.timeline.store)
    other = Store(file_store.timeline.database + "?lock_timeout=1")
    database = sqlite_file(file_store.timeline.database)
    assert database is not None
    lock = lock_file(str(database))
    refused: list[BaseException] = []

    def second(done: int, total: int) -> None:
        # When, once the first rebuild's writer holds the lock (the writer is a process of its
        # own, which may not have taken it yet when the first page is folded), it rebuilds too
        deadline = time.monotonic() + 30
        while not held(lock) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert held(lock), "the first rebuild's writer never took its lock"
        try:
            rebuild(other.timeline.store)
        except Busy as error:
            refused.append(error)

    try:
        rebuild(file_store.timeline.store, progress=second)
    finally:
        other.close()

    # Then the second was refused as busy, and the first rebuilt the rows as they were
    assert len(refused) == 1 and "another rebuild" in str(refused[0])
    assert without_states(snapshot(file_store.timeline.store)) == without_states(rows)


def test_a_rebuild_of_a_sqlite_file_builds_each_index_once_under_the_name_it_does_not_have(
    file_store: Store,
) -> None:
    store = file_store.timeline.store

    def indexes() -> set[str]:
        with store.read_transaction() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            return {row[0] for row in rows_of(cursor) if not row[0].startswith("sqlite_")}

    first = indexes()
    expected = {name for statements in INDEXES.values() for name in map(created, statements)}
    assert expected <= first
    # Each rebuild builds the swapped-in tables' indexes under the other name, and only those
    rebuild(store)
    second = indexes()
    assert second == (first - expected) | {name + SECOND for name in expected}
    assert complete(Dialect(store))
    # and making the schema again (a process starting) adds no index under the first name
    with store.write_transaction() as cursor:
        create(Dialect(store), cursor)
    assert indexes() == second
    rebuild(store)
    assert indexes() == first
    assert verify_rebuild(store) == {}  # a rebuild too
    assert indexes() == second
    # and where a table has its index under both names (an older version, started on tables
    # whose indexes had the second, made the first beside it), one is kept, under one name
    with store.write_transaction() as cursor:
        for statement in (s for statements in INDEXES.values() for s in statements):
            cursor.execute(statement)
    assert indexes() == first | second
    rebuild(store)
    assert indexes() == second
    assert verify_rebuild(store) == {}


def test_a_view_whose_rows_a_rebuild_swapped_back_before_it_read_them_catches_up_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given read models current with a development recorded last
    grow(store, 2)
    last = store.develop(said("NIS", D(2024, 1, 3)))
    known = store.now()
    # When, after a view caught the read models up to it and before it read them, a rebuild
    # swaps in rows that end one event short (it began before that event was recorded, and
    # the runner had folded it into the rows it replaced)
    catch_up = ReadModels.position_at
    swapped: list[int] = []

    def then_a_swap(self: ReadModels, known_at_us: int, names: Collection[str] = NAMES) -> int:
        position = catch_up(self, known_at_us, names)
        if not swapped:
            swapped.append(position)
            with monkeypatch.context() as short:
                head = type(self.store).last_position
                short.setattr(type(self.store), "last_position", lambda s, **at: head(s, **at) - 1)
                short.setattr(importlib.import_module("projections.rebuild"), "PAGE", 1)
                rebuild(self.store)
        return position

    monkeypatch.setattr(ReadModels, "position_at", then_a_swap)
    found = {row.development_id for row in store.timeline_at(D(2024, 5, 1), known)}
    # Then it read them once caught up again: the last development is there
    assert swapped and last in found


def test_a_rebuild_whose_writer_is_killed_is_unavailable_and_leaves_the_rows(
    file_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = without_states(snapshot(file_store.timeline.store))
    writers: list[ChildCursor] = []
    starting = ChildCursor.__init__

    def kept(self: ChildCursor, *args: Any) -> None:
        starting(self, *args)
        writers.append(self)

    monkeypatch.setattr(ChildCursor, "__init__", kept)

    def killed(done: int, total: int) -> None:  # the out-of-memory killer, say
        os.kill(writers[0].process.pid, signal.SIGKILL)
        writers[0].process.wait()

    with pytest.raises(Unavailable, match=r"writer was killed \(signal 9\).*run it again"):
        rebuild(file_store.timeline.store, progress=killed)
    assert without_states(snapshot(file_store.timeline.store)) == rows


def _rectangles(store: Store) -> tuple[dict[str, set[Any]], dict[str, set[Any]]]:
    """Each R-tree's rectangles, and those the delivery rows say it holds: a closed row's in the
    closed tree, a current row's in the current one, the track's variant a third dimension."""
    found: dict[str, set[Any]] = {}
    wanted: dict[str, set[Any]] = {CLOSED_BOX: set(), CURRENT_BOX: set()}
    with store.timeline.store.read_transaction() as cursor:
        for box in (CLOSED_BOX, CURRENT_BOX):
            cursor.execute(f"SELECT * FROM {box}")
            found[box] = set(rows_of(cursor))
        cursor.execute(
            "SELECT id, track_id, valid_from, valid_to, pos_from, pos_to FROM tl_delivery_rows"
        )
        for row_id, track, valid_from, valid_to, pos_from, pos_to in rows_of(cursor):
            variant = track % TRACKS_PER_SERIES
            box = CURRENT_BOX if pos_to == POS_MAX else CLOSED_BOX
            wanted[box].add(
                (row_id, valid_from, valid_to - 1, pos_from, pos_to - 1, variant, variant)
            )
    return found, wanted


def test_each_delivery_row_s_rectangle_is_in_the_r_tree_of_its_system_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(f"sqlite:///{tmp_path}/timeline.db")
    try:
        # given rows folded an event at a time, so that rows written current close later
        for n in range(4):
            dev = store.develop(said(US, D(2024, 1, 1 + n), figure(value=10 * (n + 1))))
            store.read.runner.catch_up()
            store.add(dev, said("NIS", D(2024, 2, 1), figure(value=5, basis="cumulative")))
            store.read.runner.catch_up()
            store.correct(dev, 2, asserted_on=D(2024, 1, 20 + n))
            store.read.runner.catch_up()
            store.judge(dev, "corroborated" if n % 2 else "refuted", D(2024, 3, 1))
            store.read.runner.catch_up()
        found, wanted = _rectangles(store)
        assert found == wanted
        assert wanted[CLOSED_BOX] and wanted[CURRENT_BOX]
        # when a rebuild writes rows current early and closes some of them later
        rebuilding = importlib.import_module("projections.rebuild")
        monkeypatch.setattr(rebuilding, "PAGE", 3)
        monkeypatch.setattr(rebuilding, "FLUSH_ROWS", 1)
        rebuild(store.timeline.store)
        # then each rectangle is in its tree again
        assert _rectangles(store) == (wanted, wanted)
    finally:
        store.close()


def test_a_rebuild_on_postgresql_leaves_the_current_rows_index_built_afresh_and_valid(
    pg_store: Store,
) -> None:
    # Given deliveries, and the copy an interrupted REINDEX CONCURRENTLY left of their index
    grow(pg_store)
    pg_store.read.runner.catch_up()
    with pg_store.timeline.store.transaction() as cursor:
        cursor.execute(
            f"CREATE INDEX {PG_CURRENT_COVER}_ccnew ON tl_delivery_rows (track_id) "
            f"WHERE pos_to = {POS_MAX}"
        )
    # When the deliveries are rebuilt
    rebuild(pg_store.timeline.store, "deliveries")
    # Then the index is there, valid, and the copy is gone
    with pg_store.timeline.store.read_transaction() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indexrelid WHERE c.relname LIKE %s",
            (f"{PG_CURRENT_COVER}%",),
        )
        assert rows_of(cursor) == [(PG_CURRENT_COVER, True)]
    assert verify_rebuild(pg_store.timeline.store) == {}


def test_a_sqlite_database_in_memory_is_rebuilt_to_the_live_rows() -> None:
    # Given a database in memory, whose one connection the rebuild's transaction holds
    store = Store("sqlite:///:memory:")
    try:
        grow(store)
        store.read.runner.catch_up()
        # When it is rebuilt (in its one transaction), then its rows are the live ones
        assert verify_rebuild(store.timeline.store) == {}
        found, wanted = _rectangles(store)
        assert found == wanted and wanted[CLOSED_BOX] and wanted[CURRENT_BOX]
    finally:
        store.close()


def test_two_rebuilds_at_once_on_postgresql_both_finish(pg_store: Store) -> None:
    # Given read models, and two rebuilds started together (all, and the deliveries), thrice:
    # the tidy of one rebuilds an index concurrently while the other's transaction runs
    grow(pg_store)
    pg_store.read.runner.catch_up()
    failures: list[BaseException] = []

    def rebuilding(names: str | None) -> None:
        try:
            rebuild(pg_store.timeline.store, names)
        except BaseException as error:
            failures.append(error)

    for _ in range(3):
        threads = [threading.Thread(target=rebuilding, args=(n,)) for n in (None, "deliveries")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # Then neither failed (they deadlocked), and the rows are the log's
    assert failures == []
    assert verify_rebuild(pg_store.timeline.store) == {}


def test_a_sqlite_database_in_memory_is_one_database_for_every_thread() -> None:
    # Given a database in memory, and a thread reading its log while it is rebuilt
    store = Store("sqlite:///:memory:")
    try:
        grow(store)
        head = store.timeline.store.last_position()
        stop, errors = threading.Event(), []
        reads = [0]
        read = threading.Condition()

        def reading() -> None:
            while not stop.is_set():
                try:
                    assert store.timeline.store.last_position() == head
                except BaseException as error:
                    errors.append(error)
                with read:
                    reads[0] += 1
                    read.notify_all()

        def read_more_than(count: int) -> bool:
            with read:
                return read.wait_for(lambda: reads[0] > count, timeout=30)

        reader = threading.Thread(target=reading)
        reader.start()
        try:
            # (the reader has read once before the rebuild begins, and again once it ended)
            assert read_more_than(0), "the reader never read"
            rebuild(store.timeline.store)
            with read:
                rebuilt = reads[0]
            assert read_more_than(rebuilt), "the reader never read after the rebuild"
        finally:
            stop.set()
            reader.join()
        # Then every read saw the log (each connection of `:memory:` used to open a database
        # of its own, empty), and it is still there
        assert reads[0] >= 2 and errors == []
        assert store.timeline.store.last_position() == head
    finally:
        store.close()
