"""Group commit: requests share a transaction, yet each succeeds or fails on its own."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import date
from functools import partial
from typing import NamedTuple
from uuid import uuid4

import msgspec
import psycopg
import pytest

from events import DevelopmentReported, ReportAdded, ReportRetracted
from service.application import Timeline
from service.audit.verify import verify
from service.committer import GroupCommitter
from service.errors import DomainError, IdempotencyMismatch, UnknownReport, VersionConflict
from service.store.log import Locked
from service.store.records import Pending
from service.writing import Group, Outcome, Request
from tests.pgserver import waits_for_a_lock_on
from tests.procs import wait_until
from tests.structs import a_development, a_report


def request(*events: ReportAdded | DevelopmentReported | ReportRetracted) -> Request:
    return Request(events=events, recorded_by="tester")


def test_a_refused_request_fails_alone_while_the_rest_of_the_group_is_stored(
    timeline: Timeline,
) -> None:
    development = timeline.append([a_development()], "t")[0].receipt.development_id
    stale = ReportAdded(development_id=development, report=a_report(), expected_version=7)
    results = timeline.append_group(
        [
            request(ReportAdded(development_id=development, report=a_report("KOR"))),
            request(stale),
            request(a_development()),
        ]
    )
    assert isinstance(results[1], VersionConflict)
    assert isinstance(results[0], list) and results[0][0].receipt.version == 2
    assert isinstance(results[2], list) and results[2][0].receipt.version == 1
    assert len(timeline.store.select_records()) == 3


def test_requests_for_one_development_in_a_group_take_consecutive_versions(
    timeline: Timeline,
) -> None:
    development = uuid4()
    results = timeline.append_group(
        [
            request(a_development(development)),
            request(ReportAdded(development_id=development, report=a_report("KOR"))),
            request(ReportAdded(development_id=development, report=a_report(), expected_version=2)),
        ]
    )
    versions = [r[0].receipt.version for r in results if isinstance(r, list)]
    assert versions == [1, 2, 3]


def test_a_refused_batch_inside_a_group_leaves_no_event_behind(timeline: Timeline) -> None:
    development = uuid4()
    bad_batch = request(
        ReportAdded(development_id=development, report=a_report()),
        ReportRetracted(
            development_id=development, report=5, effective_on=date(2024, 3, 1), reason="x"
        ),
    )
    results = timeline.append_group([request(a_development(development)), bad_batch])
    assert isinstance(results[1], UnknownReport) and results[1].index == 1
    assert [row.version for row in timeline.store.select_stream(development)] == [1]


def test_the_same_event_id_twice_in_a_group_is_stored_once(timeline: Timeline) -> None:
    event = msgspec.structs.replace(a_development(), event_id=uuid4())
    changed = msgspec.structs.replace(event, title="Another title")
    results = timeline.append_group([request(event), request(event), request(changed)])
    first, again, clash = results
    assert isinstance(first, list) and isinstance(again, list)
    assert first[0].created and not again[0].created
    assert again[0].receipt == first[0].receipt
    assert isinstance(clash, IdempotencyMismatch)
    assert len(timeline.store.select_records()) == 1


class Held(NamedTuple):
    """A committer whose first request waits for the lock another connection holds."""

    timeline: Timeline
    committer: GroupCommitter
    release: Callable[[], object]
    first: Future[list[Outcome]]


WAIT_SECONDS = 10.0  # how long the writer may take to reach the held lock before the test fails


@contextmanager
def another_writer(url: str, timeline: Timeline) -> Iterator[Callable[[], object]]:
    """Another connection holding what an append needs (on SQLite the file's write lock, on
    PostgreSQL the events table's EXCLUSIVE lock); it releases it when called."""
    if url.startswith("sqlite"):
        blocker = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            yield partial(blocker.execute, "COMMIT")
        finally:
            blocker.close()
        return
    with psycopg.connect(url) as holder:  # one transaction, ended by the release
        holder.execute(f"LOCK TABLE {timeline.store.events_table_name} IN EXCLUSIVE MODE")
        yield holder.rollback


@pytest.fixture
def held(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Held]:
    timeline = Timeline(database_url)
    formed = threading.Event()  # the writer took its first group to the database
    append_group = timeline.append_group

    def spy(requests: Sequence[Request]) -> list[list[Outcome] | DomainError]:
        formed.set()
        return append_group(requests)

    monkeypatch.setattr(timeline, "append_group", spy)
    committer = GroupCommitter(timeline)
    with another_writer(database_url, timeline) as release:
        first = committer.submit([a_development()], "t")
        # the first group is formed (what arrives from now on waits for the next one), and on
        # PostgreSQL the writer is seen waiting for the lock; a writer that never gets there
        # fails here, after a bounded wait
        assert formed.wait(WAIT_SECONDS), "the writer never took the first request"
        if not database_url.startswith("sqlite"):
            log = timeline.store.events_table_name
            waits = wait_until(lambda: waits_for_a_lock_on(database_url, log), timeout=WAIT_SECONDS)
            assert waits, "the writer never waited for the events table's lock"
        yield Held(timeline, committer, release, first)
    committer.close()
    timeline.close()


def test_requests_waiting_while_a_commit_runs_go_together_in_the_next_group(held: Held) -> None:
    # Given a committer whose first transaction is held up by another writer of the database
    # When twenty more requests arrive meanwhile
    later = [held.committer.submit([a_development()], "t") for _ in range(20)]
    held.release()
    outcomes: list[Outcome] = [held.first.result(timeout=30)[0]]
    outcomes += [future.result(timeout=30)[0] for future in later]
    # Then they were committed in two transactions, each acknowledged with its own position
    assert held.committer.groups == 2
    assert sorted(o.receipt.position for o in outcomes) == list(range(1, 22))


def test_a_request_cancelled_while_it_waits_is_not_stored_and_the_writer_goes_on(
    held: Held,
) -> None:
    # Given a committer whose first transaction is held up by another writer of the database
    # When a request queued behind it is cancelled, and another one follows
    assert held.committer.submit([a_development()], "t").cancel()
    last = held.committer.submit([a_development()], "t")
    held.release()
    # Then the first and the last are acknowledged; the cancelled one was never stored
    assert held.first.result(timeout=30)[0].receipt.position == 1
    assert last.result(timeout=30)[0].receipt.position == 2
    assert held.first.cancel() is False  # a request being committed cannot be cancelled
    assert len(held.timeline.store.select_records()) == 2


@pytest.mark.postgres
def test_a_group_that_loses_a_race_is_decided_again_under_the_lock(postgres_url: str) -> None:
    # Given a PostgreSQL group decided optimistically, and another writer that stores the next
    # version of the same development right after that decision
    timeline, other = Timeline(postgres_url), Timeline(postgres_url)
    development = timeline.append([a_development()], "t")[0].receipt.development_id
    group = Group([request(ReportAdded(development_id=development, report=a_report("KOR")))])
    decisions = 0

    def prepare(log: Locked) -> Sequence[Pending]:
        nonlocal decisions
        decisions += 1
        pending = group.decide(log)
        if decisions == 1:
            other.append([ReportAdded(development_id=development, report=a_report())], "o")
        return pending

    # When the group is recorded
    records = timeline.store.record(prepare)
    # Then its first decision lost, it was decided again under the lock, and the log is intact
    assert decisions == 2
    assert [(r.version, r.position) for r in records] == [(3, 3)]
    assert [r.version for r in timeline.store.select_stream(development)] == [1, 2, 3]
    assert verify(timeline).ok
    other.close()
    timeline.close()
