"""Domain rules at their edges: what a rule must still let through (found by mutation testing).

Each rule of DESIGN §3 refuses something; these tests pin the neighbouring case it must accept,
so that a rule made stricter by mistake (a `<` become `<=`, an `all` become `any`) is caught.
"""

from __future__ import annotations

from datetime import date

from events import (
    DevelopmentChanges,
    DevelopmentCorrected,
    ReportChanges,
    ReportCorrected,
    ReportRetracted,
)
from service.domain import decide, evolve
from tests.test_domain import DEV, history, reported

ASSERTED = date(2023, 10, 13)  # the asserted_on of the first report of `reported()`
SOURCE = reported().report.source  # the US Government's briefing


def test_a_report_may_be_retracted_effective_on_the_day_it_was_asserted() -> None:
    # Given a development whose only report was asserted on 2023-10-13
    state = history(reported())
    # When the originator withdraws it effective that same day
    retraction = ReportRetracted(
        development_id=DEV, report=1, effective_on=ASSERTED, reason="withdrawn the same day"
    )
    stored = decide(state, retraction)
    # Then the retraction is accepted (only a day before the assertion is refused)
    assert isinstance(stored, ReportRetracted)
    assert evolve(state, stored).reports[0].retracted_on == ASSERTED


def test_a_report_correction_restating_one_field_and_changing_another_is_accepted() -> None:
    # Given a report from the US Government's briefing, not graded
    state = history(reported())
    # When a correction restates the source as it is and changes the grading
    changes = ReportChanges(source=SOURCE, reliability="A")
    stored = decide(
        state, ReportCorrected(development_id=DEV, report=1, changes=changes, reason="graded")
    )
    # Then it is accepted: one named field changes, and the report now reads A
    corrected = evolve(state, stored).reports[0]
    assert corrected.report.reliability == "A"
    assert corrected.report.source == SOURCE
    assert corrected.corrections == 1


def test_a_development_correction_restating_one_field_and_changing_another_is_accepted() -> None:
    # Given a development at the stage `delivered`, of kind `transfer`
    state = history(reported())
    # When a correction restates the kind as it is and changes the stage
    changes = DevelopmentChanges(kind="transfer", stage="shipped")
    stored = decide(
        state, DevelopmentCorrected(development_id=DEV, changes=changes, reason="coded early")
    )
    # Then it is accepted: the stage is now `shipped`, the kind the same
    corrected = evolve(state, stored)
    assert (corrected.kind, corrected.stage, corrected.version) == ("transfer", "shipped", 2)
