"""Several events of one request on a development already stored (found by mutation testing):
each is decided on the state the events before it in the request left, not on the stored one."""

from __future__ import annotations

from datetime import date

from events import ReportAdded, ReportRetracted
from service.application import Timeline
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
