"""The pure domain: one decision per event type, and the fold that builds a development."""

from __future__ import annotations

from datetime import date
from uuid import RFC_4122, UUID, uuid4

import msgspec
import pytest

from events import (
    Actors,
    AnyEvent,
    DevelopmentChanges,
    DevelopmentCorrected,
    DevelopmentReported,
    Figure,
    Report,
    ReportAdded,
    ReportChanges,
    ReportCorrected,
    ReportRetracted,
    Source,
    StatusChanged,
)
from projections.entries import LeanReport, Reported
from service.domain import Development, decide, evolve, fold, new_id
from service.errors import (
    AlreadyRetracted,
    DevelopmentExists,
    NothingToChange,
    RetractionBeforeReport,
    UnknownDevelopment,
    UnknownReport,
    VersionConflict,
)

DEV = UUID("00000000-0000-4000-8000-000000000001")


def report(originator: str = "US Government", on: date = date(2023, 10, 13)) -> Report:
    return Report(
        source=Source(originator=originator, channel="briefing"),
        asserted_on=on,
        figure=Figure(unit="container", qualifier="more_than", value=1000),
    )


def reported(development_id: UUID | None = DEV) -> DevelopmentReported:
    return DevelopmentReported(
        development_id=development_id,
        kind="transfer",
        title="North Korea ships munitions to Russia by container",
        stage="delivered",
        actors=Actors(supplier="PRK", recipient="RUS"),
        report=report(),
    )


def history(*events: AnyEvent) -> Development:
    """The state after deciding and applying each event in turn."""
    state: Development | None = None
    for event in events:
        state = evolve(state, decide(state, event))
    assert state is not None
    return state


def test_reporting_a_development_fills_event_and_development_ids() -> None:
    # Given a new development posted without ids
    # When it is decided
    stored = decide(None, reported(development_id=None))
    # Then the stored event carries fresh ids
    assert isinstance(stored, DevelopmentReported)
    assert isinstance(stored.event_id, UUID)
    assert isinstance(stored.development_id, UUID)


def test_reporting_an_existing_development_is_a_conflict() -> None:
    state = history(reported())
    with pytest.raises(DevelopmentExists) as refused:
        decide(state, reported())
    assert refused.value.path == "$.development_id"


def test_an_event_for_an_unknown_development_is_not_found() -> None:
    with pytest.raises(UnknownDevelopment) as refused:
        decide(None, ReportAdded(development_id=DEV, report=report()))
    assert refused.value.path == "$.development_id"


def test_adding_reports_numbers_them_in_recording_order_and_counts_versions() -> None:
    state = history(
        reported(),
        ReportAdded(development_id=DEV, report=report("South Korea NIS")),
        ReportAdded(development_id=DEV, report=report("Ukraine")),
    )
    assert state.version == 3
    assert [r.number for r in state.reports] == [1, 2, 3]
    assert [r.report.source.originator for r in state.reports] == [
        "US Government",
        "South Korea NIS",
        "Ukraine",
    ]


def test_a_stale_expected_version_is_a_version_conflict() -> None:
    state = history(reported(), ReportAdded(development_id=DEV, report=report()))
    with pytest.raises(VersionConflict) as refused:
        decide(state, ReportAdded(development_id=DEV, report=report(), expected_version=1))
    assert refused.value.path == "$.expected_version"
    assert decide(state, ReportAdded(development_id=DEV, report=report(), expected_version=2))


def test_correcting_a_report_replaces_the_named_fields_whole() -> None:
    changes = ReportChanges(asserted_on=date(2022, 9, 22), figure=None)
    state = history(
        reported(),
        ReportCorrected(development_id=DEV, report=1, changes=changes, reason="source date"),
    )
    corrected = state.reports[0]
    assert corrected.report.asserted_on == date(2022, 9, 22)
    assert corrected.report.figure is None
    assert corrected.report.source.originator == "US Government"
    assert corrected.corrections == 1


def test_correcting_an_unknown_report_is_not_found() -> None:
    state = history(reported())
    changes = ReportChanges(stance="denies")
    with pytest.raises(UnknownReport) as refused:
        decide(state, ReportCorrected(development_id=DEV, report=2, changes=changes, reason="x"))
    assert refused.value.path == "$.report"


def test_a_correction_that_changes_nothing_is_refused() -> None:
    state = history(reported())
    same = ReportChanges(source=Source(originator="US Government", channel="briefing"))
    with pytest.raises(NothingToChange):
        decide(state, ReportCorrected(development_id=DEV, report=1, changes=same, reason="x"))
    with pytest.raises(NothingToChange):
        decide(
            state,
            DevelopmentCorrected(
                development_id=DEV, changes=DevelopmentChanges(stage="delivered"), reason="x"
            ),
        )


def test_correcting_a_development_applies_at_every_field_named() -> None:
    changes = DevelopmentChanges(title="Munitions by rail", occurred="2023-09/2024-02-23")
    state = history(
        reported(), DevelopmentCorrected(development_id=DEV, changes=changes, reason="wording")
    )
    assert state.title == "Munitions by rail"
    assert state.occurred == "2023-09/2024-02-23"
    assert state.kind == "transfer"


def test_retracting_a_report_twice_is_refused() -> None:
    retraction = ReportRetracted(
        development_id=DEV, report=1, effective_on=date(2023, 12, 1), reason="withdrawn"
    )
    state = history(reported(), retraction)
    assert state.reports[0].retracted_on == date(2023, 12, 1)
    with pytest.raises(AlreadyRetracted):
        decide(state, msgspec.structs.replace(retraction, event_id=uuid4()))


def test_a_report_cannot_be_retracted_before_it_was_made() -> None:
    state = history(reported())
    early = ReportRetracted(
        development_id=DEV, report=1, effective_on=date(2023, 10, 12), reason="x"
    )
    with pytest.raises(RetractionBeforeReport) as refused:
        decide(state, early)
    assert refused.value.path == "$.effective_on"


def test_a_retracted_report_cannot_be_redated_after_its_retraction() -> None:
    retraction = ReportRetracted(
        development_id=DEV, report=1, effective_on=date(2023, 12, 1), reason="withdrawn"
    )
    state = history(reported(), retraction)

    def redated(day: date) -> ReportCorrected:
        changes = ReportChanges(asserted_on=day)
        return ReportCorrected(development_id=DEV, report=1, changes=changes, reason="date")

    with pytest.raises(RetractionBeforeReport) as refused:
        decide(state, redated(date(2023, 12, 2)))
    assert refused.value.path == "$.changes.asserted_on"
    decide(state, redated(date(2023, 12, 1)))  # on the retraction's day, as a retraction may be


def test_status_changes_advance_the_version_only() -> None:
    change = StatusChanged(
        development_id=DEV, status="corroborated", effective_on=date(2024, 2, 23), reason="fact"
    )
    state = history(reported(), change)
    assert state.version == 2
    assert state.status == "alleged"  # the initial status; views compute status as of a date


def test_fold_of_no_events_is_nothing() -> None:
    assert fold([]) is None


def test_server_made_ids_are_random_version_4_uuids() -> None:
    made = [new_id() for _ in range(5000)]
    assert len(set(made)) == len(made)
    for made_id in made[:600]:  # across the end of one pool of randomness
        assert (made_id.version, made_id.variant) == (4, RFC_4122)
        assert UUID(str(made_id)) == made_id and hash(UUID(made_id.hex)) == hash(made_id)


def test_the_read_side_fills_in_the_defaults_the_events_omit_as_the_events_define_them() -> None:
    # stored events omit defaults, so the projections' lean decoders must supply the same ones
    def default(struct: type[msgspec.Struct], name: str) -> object:
        return next(f.default for f in msgspec.structs.fields(struct) if f.name == name)

    assert default(LeanReport, "stance") == default(Report, "stance")
    assert default(Reported, "status") == default(DevelopmentReported, "status")
