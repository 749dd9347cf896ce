"""Several events of one request on a development already stored (found by mutation testing):
each is decided on the state the events before it in the request left, not on the stored one;
and the stored events of every development a request names are read together."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from msgspec.structs import replace

from events import ReportAdded, ReportRetracted
from service.application import Timeline
from service.store.log import LogRecorder
from tests.structs import a_development, a_report


def test_a_batch_of_events_on_a_stored_development_takes_consecutive_versions(
    timeline: Timeline,
) -> None:
    # Given a development stored at version 1
    [reported] = timeline.append([a_development()], "t")
    development = reported.receipt.development_id
    # When one request adds two reports, the second expecting the version the first makes
    outcomes = timeline.append(
        [
            ReportAdded(development_id=development, report=a_report("KOR")),
            ReportAdded(development_id=development, report=a_report("UKR"), expected_version=2),
        ],
        "t",
    )
    # Then both are stored, at versions 2 and 3, and the development holds three reports
    assert [outcome.receipt.version for outcome in outcomes] == [2, 3]
    state = timeline.development(development)
    assert state is not None and state.version == 3
    assert [r.report.source.originator for r in state.reports] == ["US Government", "KOR", "UKR"]


def test_a_later_event_of_a_request_may_retract_a_report_an_earlier_one_added(
    timeline: Timeline,
) -> None:
    # Given a development stored with one report
    [reported] = timeline.append([a_development()], "t")
    development = reported.receipt.development_id
    # When one request adds a second report and then retracts it
    added = ReportAdded(development_id=development, report=a_report("KOR"))
    retracted = ReportRetracted(
        development_id=development, report=2, effective_on=date(2024, 3, 1), reason="withdrawn"
    )
    outcomes = timeline.append([added, retracted], "t")
    # Then both are stored, in order: report #2 existed for the retraction
    assert [outcome.receipt.version for outcome in outcomes] == [2, 3]
    state = timeline.development(development)
    assert state is not None and state.reports[1].retracted_on == date(2024, 3, 1)


def test_a_batch_on_many_stored_developments_reads_their_events_together(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 600 developments stored under ids the client chose
    developments = [uuid4() for _ in range(600)]
    timeline.append([replace(a_development(), development_id=d) for d in developments], "t")
    reads: list[int] = []  # developments asked per read of stored events
    streams, stream = LogRecorder.select_streams, LogRecorder.select_stream

    def counted_streams(self: LogRecorder, ids: Sequence[UUID], **options: Any) -> Any:
        reads.append(len(ids))
        return streams(self, ids, **options)

    def counted_stream(self: LogRecorder, development: UUID, **options: Any) -> Any:
        reads.append(1)
        return stream(self, development, **options)

    monkeypatch.setattr(LogRecorder, "select_streams", counted_streams)
    monkeypatch.setattr(LogRecorder, "select_stream", counted_stream)
    # When one request adds a report to each, and a second one to the first
    events = [ReportAdded(development_id=d, report=a_report("KOR")) for d in developments]
    events.append(ReportAdded(development_id=developments[0], report=a_report("UKR")))
    outcomes = timeline.append(events, "t")
    # Then their stored events were read in one go (500 developments a query), each named
    # once, not one development at a time
    assert reads == [600]
    # and each report was decided on its own development's stored state
    assert [o.receipt.version for o in outcomes] == [2] * 600 + [3]
    assert [o.receipt.development_id for o in outcomes] == [*developments, developments[0]]
    first, last = timeline.development(developments[0]), timeline.development(developments[-1])
    assert first is not None and [r.number for r in first.reports] == [1, 2, 3]
    assert last is not None and [r.number for r in last.reports] == [1, 2]
