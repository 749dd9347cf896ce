"""Verification finds each kind of tampering done directly in the database, named by position,
on SQLite and on PostgreSQL; an untouched log always verifies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from service.application import Timeline
from service.audit import summary, verify
from service.store.records import GENESIS
from tests.test_audit_support import Tamperer, record_log, tampered_log

ROWS = 12


@pytest.fixture
def tamper(database_url: str, timeline: Timeline) -> Iterator[Tamperer]:
    yield from tampered_log(database_url, timeline, ROWS)


def test_empty_log_verifies_with_the_genesis_head(timeline: Timeline) -> None:
    report = verify(timeline)
    assert report.ok and report.checked == 0 and report.position == 0
    assert report.head == GENESIS.hex()
    assert report.problem is None and report.first_bad_position is None


def test_untouched_log_verifies_up_to_its_stored_head(timeline: Timeline, tamper: Tamperer) -> None:
    # Given a log written by the service and never touched
    # When it is verified
    report = verify(timeline)
    # Then every row checks and the head is the last stored link
    [last] = timeline.store.select_records(after=ROWS - 1)
    assert report.ok and report.checked == ROWS and report.position == ROWS
    assert report.head == last.link.hex()
    assert (report.problem, report.first_bad_position, report.detail) == (None, None, None)


def test_edited_payload_byte_is_changed_at_its_position(
    timeline: Timeline, tamper: Tamperer
) -> None:
    tamper.edit_payload_byte(7)
    report = verify(timeline)
    assert not report.ok
    assert (report.problem, report.first_bad_position) == ("changed", 7)
    assert report.checked == 6 and report.position == 6


def test_edited_principal_in_the_records_table_is_changed(
    timeline: Timeline, tamper: Tamperer
) -> None:
    tamper.run("UPDATE event_records SET recorded_by = 'someone-else' WHERE position = 4")
    report = verify(timeline)
    assert (report.ok, report.problem, report.first_bad_position) == (False, "changed", 4)


def test_edited_system_time_is_changed(timeline: Timeline, tamper: Tamperer) -> None:
    tamper.run("UPDATE event_records SET recorded_at = recorded_at - 1 WHERE position = 9")
    report = verify(timeline)
    assert (report.problem, report.first_bad_position) == ("changed", 9)


def test_row_deleted_from_both_tables_in_the_middle_is_deleted_at_its_position(
    timeline: Timeline, tamper: Tamperer
) -> None:
    # Given the event at position 5 removed from both tables
    tamper.delete_row(5)
    # Then the chain stops at 6, whose link was made over position 5's, and names 5 as deleted
    report = verify(timeline)
    assert (report.ok, report.problem, report.first_bad_position) == (False, "deleted", 5)
    assert report.checked == 4
    assert report.detail is not None and "position 5 missing" in report.detail


def test_several_rows_deleted_together_are_located_at_the_first(
    timeline: Timeline, tamper: Tamperer
) -> None:
    for position in (5, 6, 7):
        tamper.delete_row(position)
    report = verify(timeline)
    assert (report.problem, report.first_bad_position) == ("deleted", 5)
    assert report.detail is not None and "positions 5-7 missing" in report.detail


def test_record_deleted_alone_is_deleted_at_its_position(
    timeline: Timeline, tamper: Tamperer
) -> None:
    tamper.delete_record(8)
    report = verify(timeline)
    assert (report.ok, report.problem, report.first_bad_position) == (False, "deleted", 8)
    assert report.detail is not None and "record of position 8 is missing" in report.detail


def test_event_deleted_alone_is_deleted_at_its_position(
    timeline: Timeline, tamper: Tamperer
) -> None:
    tamper.delete_event(3)
    report = verify(timeline)
    assert (report.problem, report.first_bad_position) == ("deleted", 3)
    assert report.detail is not None and "event of position 3 is missing" in report.detail


def test_last_record_deleted_is_located(timeline: Timeline, tamper: Tamperer) -> None:
    tamper.delete_record(ROWS)
    report = verify(timeline)
    assert (report.problem, report.first_bad_position) == ("deleted", ROWS)


def test_swapped_payloads_are_reordered_at_the_first(timeline: Timeline, tamper: Tamperer) -> None:
    tamper.swap_payloads(4, 10)
    report = verify(timeline)
    assert (report.ok, report.problem, report.first_bad_position) == (False, "reordered", 4)
    assert report.detail is not None and "now sits at position 10" in report.detail


def test_swapped_whole_rows_with_their_links_are_reordered_at_the_first(
    timeline: Timeline, tamper: Tamperer
) -> None:
    tamper.swap_rows(6, 7)
    report = verify(timeline)
    assert (report.problem, report.first_bad_position) == ("reordered", 6)


def test_forged_row_appended_is_inserted_at_its_position(
    timeline: Timeline, tamper: Tamperer
) -> None:
    # Given a valid-looking event added at the end of both tables with a made-up link
    position = tamper.forge()
    assert position == ROWS + 1
    # Then everything the service wrote verifies and the forged row is named
    report = verify(timeline)
    assert (report.ok, report.problem, report.first_bad_position) == (False, "inserted", position)
    assert report.checked == ROWS


def test_gap_left_by_a_refused_insert_is_not_a_deletion(
    timeline: Timeline, tamper: Tamperer
) -> None:
    gap = tamper.leave_gap(timeline)
    report = verify(timeline)
    assert gap == ROWS + 1
    assert report.ok and report.checked == ROWS + 1 and report.position == ROWS + 2


def test_forged_row_in_a_gap_between_real_ones_is_inserted(
    timeline: Timeline, tamper: Tamperer
) -> None:
    # Given a free position between two rows the service wrote, filled with a forged row
    gap = tamper.leave_gap(timeline)
    tamper.forge(gap)
    # Then the row after it still follows the chain, so the forged one is named as inserted
    report = verify(timeline)
    assert (report.problem, report.first_bad_position) == ("inserted", gap)


def test_events_row_without_a_record_in_a_gap_is_inserted(
    timeline: Timeline, tamper: Tamperer
) -> None:
    gap = tamper.leave_gap(timeline)
    tamper.forge(gap, record=False)
    report = verify(timeline)
    assert (report.problem, report.first_bad_position) == ("inserted", gap)


def test_edited_payload_right_after_a_gap_is_found_at_the_gap(
    timeline: Timeline, tamper: Tamperer
) -> None:
    # The chain cannot tell an edited row after a gap from a deleted row before it: either way
    # the break is named at the first position that could have held the original
    gap = tamper.leave_gap(timeline)
    tamper.edit_payload_byte(gap + 1, b"After", b"Afted")
    report = verify(timeline)
    assert (report.ok, report.first_bad_position) == (False, gap)


def test_development_id_replaced_by_another_is_changed(
    timeline: Timeline, tamper: Tamperer
) -> None:
    other = uuid4()
    tamper.run(
        "UPDATE {events} SET originator_id = %s WHERE {pos} = 2",
        [other.hex if tamper.sqlite else other],
    )
    report = verify(timeline)
    assert (report.problem, report.first_bad_position) == ("changed", 2)


def test_stored_id_that_is_no_uuid_any_more_is_changed_not_a_crash(tmp_path: Path) -> None:
    # Only SQLite lets a uuid column hold anything else
    database_url = f"sqlite:///{tmp_path}/timeline.db"
    timeline = Timeline(database_url)
    record_log(timeline, 4)
    tamper = Tamperer(database_url)
    tamper.run("UPDATE {events} SET originator_id = 'not-a-uuid' WHERE {pos} = 2")
    tamper.run("UPDATE event_records SET link = 'text, not bytes' WHERE position = 3")
    report = verify(timeline)
    tamper.close()
    timeline.close()
    assert (report.problem, report.first_bad_position) == ("changed", 2)


@pytest.mark.parametrize("page", [1, 2, 3, 5])
def test_small_pages_find_the_same_break_across_page_boundaries(
    timeline: Timeline, tamper: Tamperer, page: int
) -> None:
    tamper.delete_record(6)
    report = verify(timeline, page=page)
    assert (report.problem, report.first_bad_position, report.checked) == ("deleted", 6, 5)


def test_row_far_beyond_the_head_is_reached_across_the_empty_pages(
    timeline: Timeline, tamper: Tamperer
) -> None:
    # Given a forged row at 10,000: a last row after a gap could as well be the survivor of a
    # deletion, so the break is named where the stored log first differs, with both readings
    tamper.forge(10_000)
    report = verify(timeline, page=5)
    assert (report.problem, report.first_bad_position, report.checked) == ("deleted", 13, ROWS)
    assert report.detail is not None
    assert "positions 13-9999 missing, unless position 10000 is a forged row" in report.detail


def test_progress_is_told_every_row_verified(timeline: Timeline, tamper: Tamperer) -> None:
    seen: list[int] = []
    report = verify(timeline, progress=seen.append, page=5)
    assert report.ok and seen == [5, 5, 2]


def test_relinked_log_passes_without_a_checkpoint(timeline: Timeline, tamper: Tamperer) -> None:
    # Given someone who edits a payload AND recomputes every link after it
    tamper.edit_payload_byte(4)
    tamper.relink()
    # Then the chain alone cannot tell: only a checkpoint kept elsewhere can (see checkpoints tests)
    assert verify(timeline).ok


def test_summary_gives_the_verdict_first_then_where_and_why(
    timeline: Timeline, tamper: Tamperer
) -> None:
    intact = summary(verify(timeline)).splitlines()
    tamper.delete_row(5)
    broken = summary(verify(timeline)).splitlines()
    assert intact[0].startswith(f"intact: {ROWS} rows verified up to position {ROWS} in ")
    assert broken[0].startswith("NOT INTACT: 4 rows verified up to position 4 in ")
    assert broken[2].startswith("deleted at position 5: the link of position 6 was computed")


BELOW_THE_LOG: list[Any] = [
    pytest.param(lambda tamper: tamper.forge(0), 0, id="both-tables-at-0"),
    pytest.param(lambda tamper: tamper.forge(-3, record=False), -3, id="event-only-at-minus-3"),
    pytest.param(lambda tamper: tamper.forge_record(0), 0, id="record-only-at-0"),
]


@pytest.mark.parametrize(("forging", "position"), BELOW_THE_LOG)
def test_row_inserted_below_position_1_is_inserted_at_its_position(
    timeline: Timeline, tamper: Tamperer, forging: Callable[[Tamperer], object], position: int
) -> None:
    # Given a row inserted, in either table, at a position the service never writes: pages of
    # the chain start after 0, while history serves an events row there as a version
    forging(tamper)
    # When the log is verified
    report = verify(timeline)
    # Then the inserted row is named where it sits, before anything after it is trusted
    assert (report.ok, report.problem, report.first_bad_position) == (False, "inserted", position)
    assert report.detail is not None and f"position {position} is below 1" in report.detail
    assert report.checked == 0


@pytest.fixture
def sqlite_tamper(tmp_path: Path) -> Iterator[tuple[Timeline, Tamperer]]:
    """A log of ROWS events on SQLite, the one engine whose columns hold any type or form."""
    database_url = f"sqlite:///{tmp_path}/timeline.db"
    timeline = Timeline(database_url)
    record_log(timeline, ROWS)
    tamper = Tamperer(database_url)
    yield timeline, tamper
    tamper.close()
    timeline.close()


IN_ANOTHER_FORM = [
    pytest.param(
        "UPDATE event_records SET event_id = upper(event_id) WHERE position = 5",
        5,
        id="event-id-in-capitals",
    ),
    pytest.param(
        "UPDATE {events} SET originator_id = upper(originator_id) WHERE {pos} = 8",
        8,
        id="development-id-in-capitals",
    ),
    pytest.param(
        "UPDATE {events} SET originator_id = substr(originator_id, 1, 8) || '-' || "
        "substr(originator_id, 9, 4) || '-' || substr(originator_id, 13, 4) || '-' || "
        "substr(originator_id, 17, 4) || '-' || substr(originator_id, 21) WHERE {pos} = 3",
        3,
        id="development-id-with-dashes",
    ),
]


@pytest.mark.parametrize(("sql", "position"), IN_ANOTHER_FORM)
def test_stored_id_in_another_form_than_the_store_writes_is_changed(
    sqlite_tamper: tuple[Timeline, Tamperer], sql: str, position: int
) -> None:
    # Given an id rewritten as the same UUID in another form: the chain hashed the UUID, but
    # the store looks ids up by their exact text, so a retry stores a duplicate, a stream
    # loses the row
    timeline, tamper = sqlite_tamper
    tamper.run(sql)
    # When the log is verified
    report = verify(timeline)
    # Then the row is no longer the one the service recorded
    assert (report.ok, report.problem, report.first_bad_position) == (False, "changed", position)


def test_payload_stored_as_text_instead_of_bytes_is_changed(
    sqlite_tamper: tuple[Timeline, Tamperer],
) -> None:
    # Given a payload cast to text in place: it hashes as its bytes did, yet it is not what the
    # service wrote (every reader of the row failed on it with a 500)
    timeline, tamper = sqlite_tamper
    tamper.run("UPDATE {events} SET state = CAST(state AS TEXT) WHERE {pos} = 7")
    assert tamper.run("SELECT typeof(state) FROM {events} WHERE {pos} = 7") == [("text",)]
    # When the log is verified
    report = verify(timeline)
    # Then the row is named as changed
    assert (report.ok, report.problem, report.first_bad_position) == (False, "changed", 7)
