"""The reference views (tests/reference.py) on small hand-built logs, with exact numbers.

The reference is the oracle for the read models, so it is pinned down here by hand first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from events import (
    Actors,
    AnyEvent,
    DevelopmentChanges,
    DevelopmentCorrected,
    DevelopmentReported,
    Figure,
    Item,
    Recorded,
    Report,
    ReportAdded,
    ReportChanges,
    ReportCorrected,
    ReportRetracted,
    Source,
    StatusChanged,
    decode_event,
)
from events.figures import Basis, Qualifier
from events.values import Kind, Stage, Stance, Status
from service.store.records import to_micros
from tests import reference
from tests.reference import RefDevelopment, RefSeries, RefTotal

START = datetime(2024, 6, 1, tzinfo=UTC)
CORPUS = Path(__file__).resolve().parent.parent / "service" / "seed" / "corpus.ndjson"


# --- building logs ----------------------------------------------------------------------------


def figure(
    unit: str = "container",
    qualifier: Qualifier = "exact",
    value: int | None = None,
    *,
    low: int | None = None,
    high: int | None = None,
    basis: Basis = "increment",
) -> Figure:
    return Figure(unit=unit, qualifier=qualifier, value=value, low=low, high=high, basis=basis)


def said(
    originator: str,
    asserted_on: date,
    fig: Figure | None = None,
    *,
    stance: Stance = "supports",
) -> Report:
    return Report(
        source=Source(originator=originator, channel="briefing"),
        asserted_on=asserted_on,
        stance=stance,
        figure=fig,
    )


class Log:
    """A log built by hand: positions 1, 2, …, versions per development, one second apart."""

    def __init__(self) -> None:
        self.records: list[Recorded] = []
        self._versions: dict[UUID, int] = {}

    def append(self, development_id: UUID, event: AnyEvent) -> Recorded:
        position = len(self.records) + 1
        version = self._versions.get(development_id, 0) + 1
        self._versions[development_id] = version
        recorded = Recorded(
            position=position,
            development_id=development_id,
            version=version,
            event_id=event.event_id or uuid4(),
            recorded_at=START + timedelta(seconds=position - 1),
            recorded_by="test",
            event=event,
        )
        self.records.append(recorded)
        return recorded

    def develop(
        self,
        first: Report,
        *,
        kind: Kind = "transfer",
        stage: Stage | None = "delivered",
        supplier: str | None = "PRK",
        recipient: str | None = "RUS",
        targets: tuple[str, ...] = (),
        category: str | None = "munitions_unspecified",
        status: Status = "alleged",
        title: str = "DPRK delivered munitions to Russia",
    ) -> UUID:
        development_id = uuid4()
        event = DevelopmentReported(
            development_id=development_id,
            kind=kind,
            title=title,
            stage=stage,
            actors=Actors(supplier=supplier, recipient=recipient, targets=targets),
            item=Item(category=category) if category is not None else None,
            status=status,
            report=first,
        )
        self.append(development_id, event)
        return development_id

    def add(self, development_id: UUID, report: Report) -> None:
        self.append(development_id, ReportAdded(development_id=development_id, report=report))

    def correct(self, development_id: UUID, number: int, **changes: Any) -> None:
        event = ReportCorrected(
            development_id=development_id,
            report=number,
            changes=ReportChanges(**changes),
            reason="coding fixed",
        )
        self.append(development_id, event)

    def correct_development(self, development_id: UUID, **changes: Any) -> None:
        event = DevelopmentCorrected(
            development_id=development_id,
            changes=DevelopmentChanges(**changes),
            reason="coding fixed",
        )
        self.append(development_id, event)

    def retract(self, development_id: UUID, number: int, effective_on: date) -> None:
        event = ReportRetracted(
            development_id=development_id,
            report=number,
            effective_on=effective_on,
            reason="originator withdrew it",
        )
        self.append(development_id, event)

    def judge(self, development_id: UUID, status: Status, effective_on: date) -> None:
        event = StatusChanged(
            development_id=development_id,
            status=status,
            effective_on=effective_on,
            reason="assessment",
        )
        self.append(development_id, event)

    def known_at(self, position: int) -> int:
        """System time T at which exactly the first `position` events were recorded."""
        return to_micros(self.records[position - 1].recorded_at)

    @property
    def now(self) -> int:
        return to_micros(self.records[-1].recorded_at)


def only_series(log: Log, as_of: date, **filters: Any) -> RefSeries:
    found = reference.deliveries(log.records, as_of, log.now, **filters).series
    assert len(found) == 1, found
    return found[0]


def only_total(log: Log, as_of: date, **filters: Any) -> RefTotal:
    found = reference.deliveries(log.records, as_of, log.now, **filters).totals
    assert len(found) == 1, found
    return found[0]


def row(log: Log, development_id: UUID, as_of: date, known_at: int | None = None) -> RefDevelopment:
    rows = reference.developments(log.records, as_of, log.now if known_at is None else known_at)
    (found,) = (r for r in rows if r.development_id == development_id)
    return found


US, NIS = "US Department of State", "South Korea NIS"
D = date


# --- deliveries: series arithmetic ------------------------------------------------------------


def test_cumulative_figure_replaces_an_earlier_increment_of_the_same_originator() -> None:
    # given "more than 1,000 containers" (increment) then "more than 10,000 since September" (total)
    log = Log()
    dev = log.develop(said(US, D(2023, 10, 13), figure(qualifier="more_than", value=1000)))
    log.add(
        dev,
        said(US, D(2024, 2, 23), figure(qualifier="more_than", value=10_000, basis="cumulative")),
    )

    # then before the running total the series is the increment alone
    before = only_series(log, D(2024, 2, 22))
    assert (before.low, before.high, before.reports) == (1000.0, None, 1)
    # and from it the running total replaces the increment, never adds to it
    after = only_series(log, D(2024, 3, 1))
    assert (after.low, after.high, after.reports) == (10_000.0, None, 2)
    assert after.last_asserted_on == D(2024, 2, 23)


def test_cumulative_figure_sets_both_bounds_and_later_increments_add_to_it() -> None:
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 1), figure(value=1000)))
    log.add(
        dev,
        said(US, D(2024, 2, 1), figure(qualifier="range", low=5000, high=6000, basis="cumulative")),
    )
    log.add(dev, said(US, D(2024, 3, 1), figure(value=500)))

    series = only_series(log, D(2024, 12, 31))
    assert (series.low, series.high, series.reports) == (5500.0, 6500.0, 3)


def test_increments_add_up_within_a_series() -> None:
    # given three increments: exactly 100, between 10 and 20, up to 5
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 1), figure(value=100)))
    log.add(dev, said(US, D(2024, 1, 2), figure(qualifier="range", low=10, high=20)))
    log.add(dev, said(US, D(2024, 1, 3), figure(qualifier="up_to", value=5)))

    series = only_series(log, D(2024, 1, 31))
    assert (series.low, series.high, series.reports) == (110.0, 125.0, 3)
    assert series.last_asserted_on == D(2024, 1, 3)
    # and the total of one series is that series
    total = only_total(log, D(2024, 1, 31))
    assert (total.low, total.high) == (110.0, 125.0)


def test_increments_of_separate_developments_add_up_in_one_series() -> None:
    # given two delivery developments from the same originator, same actors, item and unit
    log = Log()
    log.develop(said(US, D(2023, 10, 13), figure(value=1000)))
    log.develop(said(US, D(2023, 12, 1), figure(qualifier="about", value=300)))

    series = only_series(log, D(2024, 1, 1))
    assert (series.low, series.high, series.reports) == (1300.0, 1300.0, 2)


def test_originators_are_separate_series_and_the_total_takes_the_largest_never_the_sum() -> None:
    # given the US says 10,000 containers and South Korea between 6,700 and 12,000
    log = Log()
    dev = log.develop(said(US, D(2024, 2, 23), figure(value=10_000, basis="cumulative")))
    log.add(
        dev,
        said(
            NIS,
            D(2024, 2, 27),
            figure(qualifier="range", low=6700, high=12_000, basis="cumulative"),
        ),
    )

    view = reference.deliveries(log.records, D(2024, 3, 1), log.now)
    assert [(s.originator, s.low, s.high) for s in view.series] == [
        (NIS, 6700.0, 12_000.0),
        (US, 10_000.0, 10_000.0),
    ]
    assert view.totals == (
        RefTotal(
            supplier="PRK",
            recipient="RUS",
            category="munitions_unspecified",
            unit="container",
            low=10_000.0,
            high=12_000.0,
        ),
    )


def test_units_and_categories_are_separate_series_and_totals() -> None:
    # given containers and rounds in one development, and missiles of another category
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 1), figure(value=1000)))
    log.add(dev, said(US, D(2024, 1, 2), figure(unit="round", value=3_000_000)))
    log.develop(
        said(US, D(2024, 1, 3), figure(unit="missile", value=50)), category="ballistic_missile"
    )
    log.develop(said(US, D(2024, 1, 4), figure(value=7)), category="ballistic_missile")

    view = reference.deliveries(log.records, D(2024, 2, 1), log.now)
    assert [(t.category, t.unit, t.low, t.high) for t in view.totals] == [
        ("ballistic_missile", "container", 7.0, 7.0),
        ("ballistic_missile", "missile", 50.0, 50.0),
        ("munitions_unspecified", "container", 1000.0, 1000.0),
        ("munitions_unspecified", "round", 3_000_000.0, 3_000_000.0),
    ]
    # and the filters select by unit and category
    assert only_total(log, D(2024, 2, 1), unit="container", category="ballistic_missile").low == 7.0
    assert [
        s.unit
        for s in reference.deliveries(log.records, D(2024, 2, 1), log.now, unit="round").series
    ] == ["round"]


def test_an_unbounded_high_stays_unbounded_and_makes_the_total_high_unbounded() -> None:
    # given "at least 24 missiles" then "3 more"
    log = Log()
    dev = log.develop(
        said(US, D(2024, 2, 16), figure(unit="missile", qualifier="at_least", value=24))
    )
    log.add(dev, said(US, D(2024, 3, 1), figure(unit="missile", value=3)))
    log.add(dev, said(NIS, D(2024, 3, 2), figure(unit="missile", value=40)))

    view = reference.deliveries(log.records, D(2024, 4, 1), log.now)
    assert [(s.originator, s.low, s.high) for s in view.series] == [
        (NIS, 40.0, 40.0),
        (US, 27.0, None),
    ]
    # the total low is the largest low; the high is unknown as one series is unbounded
    total = only_total(log, D(2024, 4, 1))
    assert (total.low, total.high) == (40.0, None)


def test_a_bounded_cumulative_after_an_unbounded_one_bounds_the_series_again() -> None:
    log = Log()
    dev = log.develop(
        said(US, D(2024, 1, 1), figure(qualifier="more_than", value=10, basis="cumulative"))
    )
    log.add(dev, said(US, D(2024, 2, 1), figure(value=30, basis="cumulative")))

    assert (only_series(log, D(2024, 1, 31)).high, only_series(log, D(2024, 2, 1)).high) == (
        None,
        30.0,
    )


def test_an_unspecified_figure_counts_as_a_report_and_adds_nothing() -> None:
    log = Log()
    dev = log.develop(said(US, D(2022, 11, 2), figure(unit="round", qualifier="unspecified")))

    # alone, the series counts it, and nothing bounds the series above
    alone = only_series(log, D(2022, 12, 1))
    assert (alone.low, alone.high, alone.reports) == (0.0, None, 1)

    log.add(dev, said(US, D(2022, 12, 1), figure(unit="round", qualifier="about", value=500)))
    log.add(
        dev,
        said(US, D(2022, 12, 2), figure(unit="round", qualifier="unspecified", basis="cumulative")),
    )
    # an unspecified cumulative does not reset the running total either
    series = only_series(log, D(2023, 1, 1))
    assert (series.low, series.high, series.reports) == (500.0, 500.0, 3)
    assert series.last_asserted_on == D(2022, 12, 2)


def test_same_day_figures_go_in_order_of_the_reports_first_recording_not_their_corrections() -> (
    None
):
    # given on one day a total of 100 (recorded first) and an increment of 10
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 1), figure(value=100, basis="cumulative")))
    log.add(dev, said(US, D(2024, 1, 1), figure(value=10)))
    assert only_series(log, D(2024, 1, 1)).low == 110.0

    # when the total is corrected later (its correction has the highest position)
    log.correct(dev, 1, figure=figure(value=200, basis="cumulative"))

    # then it still comes first: 200 + 10, not 200
    series = only_series(log, D(2024, 1, 1))
    assert (series.low, series.high) == (210.0, 210.0)


def test_series_keys_keep_a_missing_supplier_as_none() -> None:
    log = Log()
    log.develop(said(US, D(2024, 1, 1), figure(value=5)), supplier=None, category=None)

    series = only_series(log, D(2024, 1, 1))
    assert (series.supplier, series.recipient, series.category) == (None, "RUS", None)
    assert reference.deliveries(log.records, D(2024, 1, 1), log.now, supplier="PRK").series == ()


def test_only_delivered_transfers_count_in_deliveries() -> None:
    log = Log()
    log.develop(said(US, D(2024, 1, 1), figure(value=5)), stage="shipped")
    log.develop(said(US, D(2024, 1, 1), figure(value=6)), kind="use")
    log.develop(said(US, D(2024, 1, 1), figure(value=7)))

    assert only_series(log, D(2024, 1, 1)).low == 7.0


def test_a_development_corrected_to_delivered_counts_at_every_date() -> None:
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 1), figure(value=5)), stage="shipped")
    assert reference.deliveries(log.records, D(2024, 1, 1), log.now).series == ()

    log.correct_development(dev, stage="delivered", actors=Actors(supplier="IRN", recipient="RUS"))

    series = only_series(log, D(2024, 1, 1))
    assert (series.supplier, series.low) == ("IRN", 5.0)


def test_supplier_and_recipient_filters_are_case_insensitive() -> None:
    log = Log()
    log.develop(said(US, D(2024, 1, 1), figure(value=5)))
    log.develop(said(US, D(2024, 1, 1), figure(value=9)), supplier="IRN")

    assert only_series(log, D(2024, 1, 1), supplier="prk", recipient="Rus").low == 5.0


# --- retractions, corrections and system time ------------------------------------------------


def test_a_retraction_takes_effect_from_its_effective_date_not_before() -> None:
    # given a report asserted on 10 January, retracted effective 1 March
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 10), figure(value=1000)))
    log.retract(dev, 1, D(2024, 3, 1))

    # then on 29 February it is active: the development is visible and counts in deliveries
    before = row(log, dev, D(2024, 2, 29))
    assert (before.visible, before.reports, before.first_reported_on) == (True, 1, D(2024, 1, 10))
    assert only_series(log, D(2024, 2, 29)).low == 1000.0
    # and from 1 March it is not: nothing is visible and nothing counts
    after = row(log, dev, D(2024, 3, 1))
    assert (after.visible, after.reports, after.total_reports) == (False, 0, 1)
    assert after.first_reported_on is None
    assert reference.deliveries(log.records, D(2024, 3, 1), log.now).series == ()
    assert reference.timeline(log.records, D(2024, 3, 1), log.now) == []


def test_detail_shows_a_known_retraction_and_whether_it_applies_on_the_date() -> None:
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 10)))
    log.add(dev, said(NIS, D(2024, 1, 20)))
    log.retract(dev, 1, D(2024, 3, 1))

    early = reference.development_detail(log.records, dev, D(2024, 2, 1), log.now)
    assert early is not None
    first, second = early.reports
    assert (first.number, first.active, second.number, second.active) == (1, True, 2, True)
    assert first.retraction is not None
    assert (first.retraction.effective_on, first.retraction.position) == (D(2024, 3, 1), 3)
    assert second.retraction is None

    late = reference.development_detail(log.records, dev, D(2024, 3, 1), log.now)
    assert late is not None
    assert [r.active for r in late.reports] == [False, True]
    # the first report is retracted: the development is now first reported by the second one
    assert (late.visible, late.development.first_reported_on) == (True, D(2024, 1, 20))


def test_a_report_correction_is_invisible_at_a_known_at_before_it() -> None:
    # given a figure of 100 corrected to 150 (recorded at position 2)
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 1), figure(value=100)))
    log.correct(dev, 1, figure=figure(value=150))

    # then known at position 1 the service said 100, with no correction
    before = reference.deliveries(log.records, D(2024, 1, 1), log.known_at(1)).series
    assert [(s.low, s.high) for s in before] == [(100.0, 100.0)]
    detail = reference.development_detail(log.records, dev, D(2024, 1, 1), log.known_at(1))
    assert detail is not None
    assert (detail.reports[0].corrections, detail.development.version) == (0, 1)
    # and known at position 2 it says 150, corrected once, whatever the date
    assert only_series(log, D(2024, 1, 1)).low == 150.0
    detail = reference.development_detail(log.records, dev, D(2024, 1, 1), log.now)
    assert detail is not None
    assert (detail.reports[0].corrections, detail.development.version) == (1, 2)
    assert detail.reports[0].position == 1


def test_correcting_asserted_on_moves_the_report_in_valid_time() -> None:
    log = Log()
    dev = log.develop(said(US, D(2022, 9, 21)))
    log.correct(dev, 1, asserted_on=D(2022, 9, 22))

    assert row(log, dev, D(2022, 9, 21), log.known_at(1)).visible is True
    assert row(log, dev, D(2022, 9, 21)).visible is False
    assert row(log, dev, D(2022, 9, 22)).first_reported_on == D(2022, 9, 22)


def test_nothing_exists_before_it_was_recorded() -> None:
    log = Log()
    log.develop(said(US, D(2024, 1, 1)))
    dev = log.develop(said(US, D(2024, 1, 1)))

    assert reference.development_detail(log.records, dev, D(2024, 1, 1), log.known_at(1)) is None
    assert len(reference.developments(log.records, D(2024, 1, 1), log.known_at(1))) == 1
    assert len(reference.developments(log.records, D(2024, 1, 1), log.known_at(1) - 1)) == 0
    assert reference.development_detail(log.records, dev, D(2024, 1, 1), log.now) is not None


# --- status and visibility --------------------------------------------------------------------


def test_status_as_of_a_date_is_the_latest_effective_change_and_ties_go_to_the_later_position() -> (
    None
):
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 1)))
    log.judge(dev, "corroborated", D(2024, 2, 1))
    log.judge(dev, "disputed", D(2024, 3, 1))
    log.judge(dev, "confirmed", D(2024, 2, 1))  # recorded later, same effective date

    statuses = [row(log, dev, day).status for day in (D(2024, 1, 31), D(2024, 2, 1), D(2024, 3, 1))]
    assert statuses == ["alleged", "confirmed", "disputed"]
    # known before the tie-breaking change, the first change of that date held
    assert row(log, dev, D(2024, 2, 1), log.known_at(3)).status == "corroborated"


def test_a_change_effective_before_a_later_one_does_not_override_it() -> None:
    # a status change recorded later but effective earlier is not the latest as of the later date
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 1)), status="corroborated")
    log.judge(dev, "confirmed", D(2024, 3, 1))
    log.judge(dev, "disputed", D(2024, 2, 1))

    assert [row(log, dev, day).status for day in (D(2024, 1, 1), D(2024, 2, 1), D(2024, 3, 1))] == [
        "corroborated",
        "disputed",
        "confirmed",
    ]


def test_a_development_is_invisible_before_its_first_reports_asserted_on() -> None:
    log = Log()
    dev = log.develop(said(US, D(2024, 2, 23)))
    log.add(dev, said(NIS, D(2024, 3, 5)))

    before = row(log, dev, D(2024, 2, 22))
    assert (before.visible, before.reports, before.total_reports, before.version) == (
        False,
        0,
        2,
        2,
    )
    assert reference.timeline(log.records, D(2024, 2, 22), log.now) == []
    detail = reference.development_detail(log.records, dev, D(2024, 2, 22), log.now)
    assert detail is not None
    assert (detail.visible, [r.active for r in detail.reports]) == (False, [False, False])

    on = row(log, dev, D(2024, 2, 23))
    assert (on.visible, on.reports, on.first_reported_on, on.last_reported_on) == (
        True,
        1,
        D(2024, 2, 23),
        D(2024, 2, 23),
    )
    later = row(log, dev, D(2024, 4, 1))
    assert (later.reports, later.first_reported_on, later.last_reported_on) == (
        2,
        D(2024, 2, 23),
        D(2024, 3, 5),
    )


def test_a_refuted_development_drops_out_of_deliveries_from_its_effective_date_only() -> None:
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 1), figure(value=1000)))
    log.judge(dev, "refuted", D(2024, 3, 1))

    assert only_series(log, D(2024, 2, 29)).low == 1000.0
    assert reference.deliveries(log.records, D(2024, 3, 1), log.now).series == ()
    # still on the timeline, as refuted
    assert [r.status for r in reference.timeline(log.records, D(2024, 3, 1), log.now)] == [
        "refuted"
    ]


def test_the_deliveries_status_filter_uses_the_status_as_of_the_date() -> None:
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 1), figure(value=10)))
    log.develop(said(US, D(2024, 1, 1), figure(value=20)), status="confirmed")
    log.judge(dev, "confirmed", D(2024, 2, 1))

    assert only_series(log, D(2024, 1, 31), status="confirmed").low == 20.0
    assert only_series(log, D(2024, 2, 1), status="confirmed").low == 30.0
    assert reference.deliveries(log.records, D(2024, 2, 1), log.now, status="refuted").series == ()


# --- denials and allegations ------------------------------------------------------------------


def test_denials_do_not_count_in_deliveries_and_count_under_their_stance_in_allegations() -> None:
    log = Log()
    dev = log.develop(said(US, D(2022, 11, 2), figure(unit="round", qualifier="about", value=1000)))
    log.add(
        dev,
        said(
            "DPRK defence ministry", D(2022, 11, 8), figure(unit="round", value=0), stance="denies"
        ),
    )
    log.add(dev, said(US, D(2022, 12, 1), stance="not_observed"))

    series = only_series(log, D(2023, 1, 1))
    assert (series.originator, series.low, series.reports) == (US, 1000.0, 1)
    (claim,) = reference.allegations(log.records, D(2023, 1, 1), log.now)
    assert claim.stances == {
        "supports": 1,
        "contradicts": 0,
        "denies": 1,
        "not_observed": 1,
        "qualifies": 0,
    }
    # only active reports count: on 10 November the absence statement was not made yet
    (early,) = reference.allegations(log.records, D(2022, 11, 10), log.now)
    assert (early.stances["denies"], early.stances["not_observed"]) == (1, 0)


def test_allegations_age_and_status_since() -> None:
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 4)), title="launcher and missiles")
    log.judge(dev, "corroborated", D(2024, 1, 9))
    other = log.develop(said(US, D(2023, 10, 13)), title="containers")
    log.judge(other, "confirmed", D(2024, 2, 23))

    on_jan_6 = reference.allegations(log.records, D(2024, 1, 6), log.now)
    assert [
        (a.title, a.status, a.status_since, a.first_reported_on, a.age_days) for a in on_jan_6
    ] == [
        ("containers", "alleged", D(2023, 10, 13), D(2023, 10, 13), 85),
        ("launcher and missiles", "alleged", D(2024, 1, 4), D(2024, 1, 4), 2),
    ]
    # once confirmed, a development is no longer an allegation; a corroboration dates its status
    on_mar_1 = reference.allegations(log.records, D(2024, 3, 1), log.now)
    assert [(a.title, a.status, a.status_since, a.age_days) for a in on_mar_1] == [
        ("launcher and missiles", "corroborated", D(2024, 1, 9), 57),
    ]


def test_allegations_leave_out_developments_not_yet_reported() -> None:
    log = Log()
    log.develop(said(US, D(2024, 5, 1)))

    assert reference.allegations(log.records, D(2024, 4, 30), log.now) == []
    assert [a.age_days for a in reference.allegations(log.records, D(2024, 5, 1), log.now)] == [0]


# --- timeline ---------------------------------------------------------------------------------


def test_timeline_orders_by_first_reported_on_then_position_and_filters() -> None:
    log = Log()
    late = log.develop(
        said(US, D(2024, 2, 1)), kind="use", supplier=None, recipient=None, targets=("UKR",)
    )
    early = log.develop(said(US, D(2024, 1, 1)))
    tie = log.develop(said(US, D(2024, 1, 1)), supplier="IRN")
    log.judge(tie, "disputed", D(2024, 1, 15))

    def ids(**filters: Any) -> list[UUID]:
        rows = reference.timeline(log.records, D(2024, 3, 1), log.now, **filters)
        return [r.development_id for r in rows]

    assert ids() == [early, tie, late]
    assert ids(kind="use") == [late]
    assert ids(actor="ukr") == [late]
    assert ids(actor="Rus") == [early, tie]
    assert ids(actor="RU") == []
    assert ids(status="disputed") == [tie]
    assert ids(from_=D(2024, 1, 2)) == [late]
    assert ids(to=D(2024, 1, 1)) == [early, tie]
    assert ids(from_=D(2024, 1, 1), to=D(2024, 2, 1)) == [early, tie, late]


def test_development_fields_apply_every_correction_at_every_date() -> None:
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 1)), title="first wording")
    log.correct_development(dev, title="second wording")
    log.correct_development(dev, title="third wording", item=None)

    at_first = row(log, dev, D(2024, 1, 1))
    assert (at_first.title, at_first.item, at_first.version) == ("third wording", None, 3)
    assert row(log, dev, D(2024, 1, 1), log.known_at(2)).title == "second wording"


def test_the_log_is_replayed_in_position_order_whatever_order_it_is_given_in() -> None:
    log = Log()
    dev = log.develop(said(US, D(2024, 1, 1), figure(value=1)))
    log.correct(dev, 1, figure=figure(value=2))

    shuffled = list(reversed(log.records))
    assert reference.deliveries(shuffled, D(2024, 1, 1), log.now).series[0].low == 2.0


def test_a_stream_event_without_its_development_is_refused() -> None:
    log = Log()
    log.add(uuid4(), said(US, D(2024, 1, 1)))

    with pytest.raises(ValueError, match="before its report"):
        reference.developments(log.records, D(2024, 1, 1), log.now)


# --- the bundled seed corpus ------------------------------------------------------------------


def corpus_log(path: Path) -> Log:
    """The corpus as the brief stores it: positions 1..n, one second apart from 2024-06-01."""
    log = Log()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        event = decode_event(line)
        development_id = event.development_id
        assert development_id is not None, f"corpus line without development_id: {line[:80]}"
        log.append(development_id, event)
    return log


def test_seed_corpus_deliveries_as_of_march_2024() -> None:
    log = corpus_log(CORPUS)
    view = reference.deliveries(
        log.records, D(2024, 3, 1), log.now, supplier="PRK", recipient="RUS"
    )

    # the US "more than 10,000 containers since September 2023" running total is the total
    containers = [t for t in view.totals if t.unit == "container"]
    assert [(t.category, t.low, t.high) for t in containers] == [
        ("munitions_unspecified", 10_000.0, None)
    ]
    (us_containers,) = (s for s in view.series if s.unit == "container")
    assert (us_containers.originator, us_containers.reports) == ("US Government", 2)
    assert us_containers.last_asserted_on == D(2024, 2, 23)
    # and South Korea's NIS count of rounds is its own series, never added to the containers
    nis = [s for s in view.series if s.originator == "South Korea NIS"]
    assert nis == [
        RefSeries(
            supplier="PRK",
            recipient="RUS",
            category="artillery_ammunition",
            unit="round",
            originator="South Korea NIS",
            low=1_000_000.0,
            high=None,
            reports=1,
            last_asserted_on=D(2023, 11, 1),
        )
    ]


def test_seed_corpus_containers_before_the_running_total_are_the_october_increment() -> None:
    log = corpus_log(CORPUS)
    view = reference.deliveries(log.records, D(2024, 2, 22), log.now, unit="container")

    assert [(t.supplier, t.recipient, t.low, t.high) for t in view.totals] == [
        ("PRK", "RUS", 1000.0, None)
    ]


def test_seed_corpus_replays_at_every_known_at() -> None:
    log = corpus_log(CORPUS)

    for position in range(1, len(log.records) + 1):
        rows = reference.developments(log.records, D(2024, 6, 1), log.known_at(position))
        assert sum(r.version for r in rows) == position
    assert all(r.visible for r in reference.developments(log.records, D(2024, 6, 1), log.now))
