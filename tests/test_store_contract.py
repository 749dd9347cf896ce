"""The same contract on SQLite and PostgreSQL: order, idempotency, atomicity, concurrency."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from uuid import UUID, uuid4

import msgspec
import pytest

from events import (
    AnyEvent,
    ReportAdded,
    ReportRetracted,
)
from service.application import Timeline
from service.errors import IdempotencyMismatch, UnknownReport, VersionConflict
from service.store.records import GENESIS, chain_link, now_micros
from tests.structs import a_development, a_report


def test_positions_increase_and_versions_count_within_each_development(
    timeline: Timeline,
) -> None:
    # Given two developments with interleaved reports
    first = timeline.append([a_development()], "t")[0].receipt.development_id
    second = timeline.append([a_development()], "t")[0].receipt.development_id
    for development in (first, second, first, second, first):
        timeline.append([ReportAdded(development_id=development, report=a_report())], "t")
    # Then positions strictly increase, versions count 1, 2, … and system time never decreases
    rows = timeline.store.select_records()
    positions = [row.position for row in rows]
    assert positions == sorted(set(positions)) and len(rows) == 7
    assert [row.version for row in rows if row.development_id == first] == [1, 2, 3, 4]
    assert [row.version for row in rows if row.development_id == second] == [1, 2, 3]
    times = [row.recorded_at_us for row in rows]
    assert times == sorted(times)


def test_several_streams_read_at_once_are_each_read_alone_in_version_order(
    timeline: Timeline,
) -> None:
    # Given three developments with interleaved reports, the last one recorded after a time
    developments = [timeline.append([a_development()], "t")[0].receipt.development_id
                    for _ in range(3)]  # fmt: skip
    for development in (*developments, developments[0], developments[2]):
        timeline.append([ReportAdded(development_id=development, report=a_report())], "t")
    until = timeline.store.select_records()[-2].recorded_at_us
    # When they are read together, two at a time, up to that time
    found = timeline.store.select_streams([*developments, uuid4()], until_us=until, chunk=2)
    # Then each is what reading it alone gives, and a development without events is left out
    assert found == {d: timeline.store.select_stream(d, until_us=until) for d in developments}
    assert [row.version for row in found[developments[0]]] == [1, 2, 3]
    assert [row.version for row in found[developments[2]]] == [1, 2]


def test_hash_chain_links_every_row_to_the_previous_one(timeline: Timeline) -> None:
    timeline.append([a_development(), a_development()], "alice")
    link = GENESIS
    for row in timeline.store.select_records():
        link = chain_link(
            link,
            position=row.position,
            development_id=row.development_id,
            version=row.version,
            topic=row.topic,
            recorded_at_us=row.recorded_at_us,
            recorded_by=row.recorded_by,
            event_id=row.event_id,
            state=row.state,
        )
        assert row.link == link


def test_a_link_is_the_sha256_of_the_previous_link_the_row_s_header_and_its_payload_hash() -> None:
    # Given one row's stored values
    development, event = UUID("0b0f7c1e-3c7a-4d2e-9a51-6f0e8e3b2a10"), UUID(int=0x5D1E)
    state = b'{"type":"report_added"}'
    # When it is linked to the genesis link
    link = chain_link(GENESIS, position=7, development_id=development, version=2,
                      topic="report_added", recorded_at_us=1_700_000_000_123_456,
                      recorded_by="alice", event_id=event, state=state)  # fmt: skip
    # Then the link is the documented hash, and stays the value every stored chain was built
    # with: a change here would make every stored log fail its verification
    header = f"7\n{development}\n2\nreport_added\n1700000000123456\n{event}\nalice\n".encode()
    assert link == hashlib.sha256(bytes(32) + header + hashlib.sha256(state).digest()).digest()
    assert link.hex() == "76f8d79d5231ea6afa892e85b742df31f2857be6dcc04d5199b9a1dd67547c74"


def test_the_same_event_id_and_body_returns_the_original_receipt_after_reopening(
    database_url: str,
) -> None:
    event = msgspec.structs.replace(a_development(), event_id=uuid4())
    first = Timeline(database_url)
    original = first.append([event], "t")[0]
    first.close()
    # When the same event is posted to a reopened store
    again = Timeline(database_url)
    replay = again.append([event], "t")[0]
    # Then it is acknowledged with the original receipt and stored once
    assert original.created and not replay.created
    assert replay.receipt == original.receipt
    assert len(again.store.select_records()) == 1
    # And the same id with another body is refused
    other = msgspec.structs.replace(event, title="Something else")
    with pytest.raises(IdempotencyMismatch):
        again.append([other], "t")
    again.close()


def test_a_batch_with_one_refused_event_stores_nothing(timeline: Timeline) -> None:
    development = timeline.append([a_development()], "t")[0].receipt.development_id
    batch: list[AnyEvent] = [
        ReportAdded(development_id=development, report=a_report()),
        ReportRetracted(
            development_id=development, report=9, effective_on=date(2024, 3, 1), reason="x"
        ),
    ]
    with pytest.raises(UnknownReport) as refused:
        timeline.append(batch, "t")
    assert refused.value.index == 1
    assert len(timeline.store.select_records()) == 1


def test_events_of_one_batch_see_each_other(timeline: Timeline) -> None:
    development = uuid4()
    outcomes = timeline.append(
        [
            a_development(development),
            ReportAdded(development_id=development, report=a_report("KOR"), expected_version=1),
            ReportRetracted(
                development_id=development, report=2, effective_on=date(2024, 3, 1), reason="x"
            ),
        ],
        "t",
    )
    assert [o.receipt.version for o in outcomes] == [1, 2, 3]
    assert len({o.receipt.recorded_at for o in outcomes}) == 1


def test_known_at_is_a_prefix_of_the_log(timeline: Timeline) -> None:
    timeline.append([a_development()], "t")
    cut = now_micros()
    timeline.append([a_development()], "t")
    known = timeline.store.select_records(until_us=cut)
    assert [row.position for row in known] == [1]
    assert timeline.store.last_position(until_us=cut) == 1
    assert timeline.store.last_position() == 2


def test_commits_never_share_a_system_time_even_when_the_clock_stands_still(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a clock that returns the same microsecond (or one behind the head) every time
    frozen = now_micros()
    for module in ("service.store.sqlite", "service.store.postgres"):
        monkeypatch.setattr(f"{module}.now_micros", lambda: frozen)
    # When three commits are made, the last one a batch of two
    timeline.append([a_development()], "t")
    timeline.append([a_development()], "t")
    timeline.append([a_development(), a_development()], "t")
    # Then each commit has its own time, later than the one before; a batch shares one (on
    # PostgreSQL the server's clock, read under the lock, moves on where this one stood still)
    times = [record.recorded_at_us for record in timeline.store.select_records()]
    assert frozen <= times[0] < times[1] < times[2] == times[3]


def test_concurrent_appends_from_two_applications_are_all_stored_once(
    database_url: str,
) -> None:
    # Given two applications on one database (as two processes would be) and one development
    left, right = Timeline(database_url), Timeline(database_url)
    development = left.append([a_development()], "t")[0].receipt.development_id

    def add(app: Timeline) -> int:
        return app.append([ReportAdded(development_id=development, report=a_report())], "t")[
            0
        ].receipt.version

    # When both append to it at once, 20 times each
    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = list(pool.map(add, [left, right] * 20))
    # Then every append got its own version and the stream has no gap
    assert sorted(versions) == list(range(2, 42))
    rows = left.store.select_stream(development)
    assert [row.version for row in rows] == list(range(1, 42))
    left.close()
    right.close()


def test_concurrent_appends_with_the_same_expected_version_let_exactly_one_win(
    database_url: str,
) -> None:
    left, right = Timeline(database_url), Timeline(database_url)
    development = left.append([a_development()], "t")[0].receipt.development_id

    def add(app: Timeline) -> str:
        event = ReportAdded(development_id=development, report=a_report(), expected_version=1)
        try:
            app.append([event], "t")
        except VersionConflict:
            return "conflict"
        return "stored"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(add, [left, right] * 4))
    assert sorted(results) == ["conflict"] * 7 + ["stored"]
    left.close()
    right.close()


def test_the_write_side_state_is_rebuilt_through_the_librarys_repository(
    timeline: Timeline,
) -> None:
    development = timeline.append([a_development()], "t")[0].receipt.development_id
    timeline.append([ReportAdded(development_id=development, report=a_report("KOR"))], "t")
    state = timeline.development(development)
    assert state is not None and state.version == 2
    assert [r.report.source.originator for r in state.reports] == ["US Government", "KOR"]
    assert timeline.development(uuid4()) is None


def test_a_read_transaction_sees_one_snapshot_across_its_statements(database_url: str) -> None:
    # Given a reader in the middle of a read of several statements (a view reads its rows, then
    # their titles), and another process appending meanwhile
    reader, writer = Timeline(database_url), Timeline(database_url)
    try:
        writer.append([a_development()], "t")
        table = reader.store.events_table_name
        with reader.store.snapshot() as cursor:
            cursor.execute(f"SELECT count(*) AS n FROM {table}")
            before = cursor.fetchone()["n"]
            writer.append([a_development()], "t")
            cursor.execute(f"SELECT count(*) AS n FROM {table}")
            during = cursor.fetchone()["n"]
        # Then every statement of the read sees the log as its first did, and the next read
        # sees the append
        assert (before, during) == (1, 1)
        assert len(reader.store.select_records()) == 2
    finally:
        reader.close()
        writer.close()


def test_a_read_that_fails_leaves_its_connection_fit_for_the_next(timeline: Timeline) -> None:
    # Given a read whose statement fails
    timeline.append([a_development()], "t")
    for _ in range(2):  # whatever connection of the pool it took
        with pytest.raises(Exception, match="no_such_column"), timeline.store.snapshot() as cursor:
            cursor.execute("SELECT no_such_column FROM event_records")
    # Then the next reads are answered
    with timeline.store.snapshot() as cursor:
        cursor.execute("SELECT count(*) AS n FROM event_records")
        assert cursor.fetchone()["n"] == 1
    assert len(timeline.store.select_records()) == 1
