"""The views of DESIGN §4 answered from the read models, on SQLite and PostgreSQL.

Small logs appended through the application, exact numbers, and the same answers as the replay
reference (tests/reference.py); then the seed corpus at many (as_of, known_at) points.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from events import Actors, DevelopmentReported, Item
from projections import ReadModels
from service.ingest import read_events
from service.store.records import to_micros
from tests import reference
from tests.test_views_support import FAR_FUTURE, Store, figure, folded, plain, said

D = date
US, NIS = "US Department of State", "South Korea NIS"
CORPUS = Path(__file__).resolve().parent.parent / "service" / "seed" / "corpus.ndjson"


def same_as_reference(store: Store, as_of: date, known_at: int | None = None) -> None:
    """Every view equals the replay reference at (as_of, known_at)."""
    log, at = store.log(), known_at or store.now()
    assert plain(store.timeline_at(as_of, at)) == plain(reference.timeline(log, as_of, at))
    assert plain(store.allegations_at(as_of, at)) == plain(reference.allegations(log, as_of, at))
    assert folded(store.deliveries_at(as_of, at)) == folded(reference.deliveries(log, as_of, at))
    for development_id in {r.development_id for r in log}:
        found = store.detail_at(development_id, as_of, at)
        expected = reference.development_detail(log, development_id, as_of, at)
        if expected is None:
            assert found is None
            continue
        assert found is not None
        assert plain(found.development) == plain(expected.development)
        assert plain(found.reports) == plain(expected.reports)
        assert found.visible == expected.visible


# --- deliveries -------------------------------------------------------------------------------


def test_a_cumulative_figure_replaces_earlier_increments_of_the_same_originator(
    store: Store,
) -> None:
    dev = store.develop(said(US, D(2023, 10, 13), figure(qualifier="more_than", value=1000)))
    store.add(dev, said(US, D(2023, 12, 1), figure(value=500)))
    store.add(
        dev,
        said(US, D(2024, 2, 23), figure(qualifier="more_than", value=10_000, basis="cumulative")),
    )

    [before] = store.deliveries_at(D(2024, 1, 1)).series
    [after] = store.deliveries_at(D(2024, 3, 1)).series

    assert (before.low, before.high, before.reports) == (1500.0, None, 2)
    assert (after.low, after.high, after.reports) == (10_000.0, None, 3)
    assert after.last_asserted_on == D(2024, 2, 23)
    same_as_reference(store, D(2024, 3, 1))


def test_increments_add_and_a_bounded_cumulative_bounds_the_series_again(store: Store) -> None:
    dev = store.develop(said(US, D(2024, 1, 1), figure(qualifier="range", low=10, high=20)))
    store.add(dev, said(US, D(2024, 1, 2), figure(qualifier="at_least", value=5)))
    store.add(
        dev, said(US, D(2024, 1, 3), figure(qualifier="up_to", value=100, basis="cumulative"))
    )
    store.add(dev, said(US, D(2024, 1, 4), figure(qualifier="about", value=7)))

    lows_highs = [
        (s.low, s.high) for day in (1, 2, 3, 4) for s in store.deliveries_at(D(2024, 1, day)).series
    ]

    assert lows_highs == [(10.0, 20.0), (15.0, None), (0.0, 100.0), (7.0, 107.0)]
    same_as_reference(store, D(2024, 1, 4))


def test_originators_are_separate_series_and_the_total_is_the_largest_never_the_sum(
    store: Store,
) -> None:
    store.develop(said(US, D(2024, 2, 23), figure(value=10_000, basis="cumulative")))
    store.develop(
        said(
            NIS, D(2024, 2, 27), figure(qualifier="range", low=6700, high=7000, basis="cumulative")
        )
    )

    view = store.deliveries_at(D(2024, 3, 1))

    assert [(s.originator, s.low, s.high) for s in view.series] == [
        (NIS, 6700.0, 7000.0),
        (US, 10_000.0, 10_000.0),
    ]
    [total] = view.totals
    assert (total.low, total.high) == (10_000.0, 10_000.0)


def test_actors_that_differ_in_case_alone_are_one_series_shown_as_first_spelt(
    store: Store,
) -> None:
    # Given one coder wrote `PRK`, another `prk` and `Rus`, for the same originator and for two
    store.develop(said(US, D(2024, 1, 1), figure(value=100)))
    store.develop(said(US, D(2024, 1, 5), figure(value=40)), supplier="prk", recipient="Rus")
    store.develop(said(NIS, D(2024, 1, 9), figure(value=300)), supplier="prk")

    view = store.deliveries_at(D(2024, 2, 1))

    # Then each originator has one series, the total spans both, and each actor keeps the
    # spelling it was first folded with
    assert [(s.supplier, s.recipient, s.originator, s.low) for s in view.series] == [
        ("PRK", "RUS", NIS, 300.0),
        ("PRK", "RUS", US, 140.0),
    ]
    assert [(t.supplier, t.recipient, t.low) for t in view.totals] == [("PRK", "RUS", 300.0)]
    assert [s.originator for s in store.deliveries_at(D(2024, 2, 1), supplier="pRk").series] == [
        NIS,
        US,
    ]
    same_as_reference(store, D(2024, 2, 1))


def test_an_originator_spelt_in_another_case_is_the_same_series(store: Store) -> None:
    # Given a running total by the State Department, and a later one coded with a lower-case d
    store.develop(said(US, D(2024, 1, 1), figure(value=1000, basis="cumulative")))
    store.develop(said(US.lower(), D(2024, 2, 1), figure(value=2500, basis="cumulative")))

    view = store.deliveries_at(D(2024, 3, 1))

    # Then the later total replaces the earlier one in one series, shown as first spelt
    assert [(s.originator, s.low, s.reports) for s in view.series] == [(US, 2500.0, 2)]
    same_as_reference(store, D(2024, 3, 1))


def test_names_with_spaces_around_are_the_names_they_surround(store: Store) -> None:
    # Given a running total by the US, a later one coded `US ` (a spreadsheet's trailing
    # space), and a development naming ` PRK ` as its supplier
    store.develop(said(US, D(2024, 1, 1), figure(value=1000, basis="cumulative")))
    store.develop(
        said(f"{US} ", D(2024, 2, 1), figure(value=2500, basis="cumulative")), supplier=" PRK "
    )

    view = store.deliveries_at(D(2024, 3, 1))

    # Then the later total replaces the earlier one in one series, and the actor filters find
    # the development by `PRK`, as they find it by ` prk `
    assert [(s.supplier, s.originator, s.low, s.reports) for s in view.series] == [
        ("PRK", US, 2500.0, 2)
    ]
    assert len(store.deliveries_at(D(2024, 3, 1), supplier=" prk ").series) == 1
    assert len(store.timeline_at(D(2024, 3, 1), actor="PRK")) == 2
    assert len(store.timeline_at(D(2024, 3, 1), actor=" prk ")) == 2
    same_as_reference(store, D(2024, 3, 1))


def test_names_that_read_alike_on_screen_are_one_name(store: Store) -> None:
    # Given running totals by one monitor, coded with a no-break space, two spaces and a
    # zero-width space after it, and developments naming PRK in fullwidth letters
    for day, spelt, value in [
        (1, "Zed Monitor", 1000),
        (2, "Zed\u00a0Monitor", 2000),
        (3, "Zed  Monitor", 3000),
        (4, "Zed Monitor\u200b", 4000),
    ]:
        said_so = said(spelt, D(2024, 1, day), figure(value=value, basis="cumulative"))
        store.develop(said_so, supplier="\uff30\uff32\uff2b" if day > 2 else "PRK")

    view = store.deliveries_at(D(2024, 3, 1))

    # Then the last total replaced the others in one series, which looks as first spelt, and
    # the actor filters find the fullwidth PRK by `PRK` and the other way round
    assert [(s.supplier, s.originator, s.low, s.reports) for s in view.series] == [
        ("PRK", "Zed Monitor", 4000.0, 4)
    ]
    assert len(store.deliveries_at(D(2024, 3, 1), supplier="\uff50\uff52\uff4b").series) == 1
    assert len(store.timeline_at(D(2024, 3, 1), actor="prk")) == 4
    same_as_reference(store, D(2024, 3, 1))


def test_units_and_categories_are_never_added_together(store: Store) -> None:
    store.develop(said(US, D(2024, 1, 1), figure("container", value=1000)))
    store.develop(said(US, D(2024, 1, 1), figure("round", value=500_000)))
    store.develop(
        said(US, D(2024, 1, 1), figure("container", value=3)), category="ballistic_missile"
    )

    view = store.deliveries_at(D(2024, 1, 2))

    assert sorted((t.category, t.unit, t.low) for t in view.totals) == [
        ("ballistic_missile", "container", 3.0),
        ("munitions_unspecified", "container", 1000.0),
        ("munitions_unspecified", "round", 500_000.0),
    ]
    assert [s.unit for s in store.deliveries_at(D(2024, 1, 2), unit="round").series] == ["round"]


def test_only_supporting_reports_add_their_figures_to_deliveries(store: Store) -> None:
    # Given a delivery the US supports with 100, then reports of it with figures that only
    # qualify it or say it was not observed, by the same originator and by another
    dev = store.develop(said(US, D(2024, 1, 1), figure(value=100)))
    store.add(dev, said(US, D(2024, 1, 5), figure(value=40), stance="not_observed"))
    store.add(dev, said(US, D(2024, 1, 6), figure(value=7, basis="cumulative"), stance="qualifies"))
    store.develop(said(NIS, D(2024, 1, 7), figure(value=900), stance="qualifies"))
    store.develop(said(NIS, D(2024, 1, 8), figure(value=300), stance="not_observed"))
    # and, later, another supporting report with a figure
    store.add(dev, said(US, D(2024, 1, 20), figure(value=5)))

    # When the deliveries view is asked before and after that last report
    before = store.deliveries_at(D(2024, 1, 15))
    after = store.deliveries_at(D(2024, 2, 1))

    # Then only the supporting reports count: no series of the NIS, and the US series holds
    # the 100 alone, then the 5 added to it
    assert [
        (s.originator, s.low, s.high, s.reports, s.last_asserted_on) for s in before.series
    ] == [(US, 100.0, 100.0, 1, D(2024, 1, 1))]
    assert [(s.originator, s.low, s.high, s.reports, s.last_asserted_on) for s in after.series] == [
        (US, 105.0, 105.0, 2, D(2024, 1, 20))
    ]
    assert [(t.low, t.high) for t in after.totals] == [(105.0, 105.0)]
    same_as_reference(store, D(2024, 1, 15))
    same_as_reference(store, D(2024, 2, 1))


def test_a_corrected_report_keeps_the_place_of_its_first_recording_among_its_day_s_reports(
    store: Store,
) -> None:
    # Given, on one day, a running total of 100 recorded first and an increment of 10 recorded
    # after it: the series reads 110
    dev = store.develop(said(US, D(2024, 1, 1), figure(value=100, basis="cumulative")))
    store.add(dev, said(US, D(2024, 1, 1), figure(value=10)))
    [first] = store.deliveries_at(D(2024, 1, 2)).series

    # When the running total is corrected to 200, a correction recorded after the increment
    store.correct(dev, 1, figure=figure(value=200, basis="cumulative"))

    # Then the two still fold in the order of their first recordings (DESIGN §4: ties of
    # `asserted_on` go by the position of the report's first recording, not of a correction):
    # the total of 200, then the increment on it; not 200 alone, as if the total came last
    [corrected] = store.deliveries_at(D(2024, 1, 2)).series
    assert (first.low, first.high, first.reports) == (110.0, 110.0, 2)
    assert (corrected.low, corrected.high, corrected.reports) == (210.0, 210.0, 2)
    same_as_reference(store, D(2024, 1, 2))


def test_a_retraction_takes_effect_from_its_effective_date(store: Store) -> None:
    dev = store.develop(said(US, D(2024, 1, 1), figure(value=100)))
    store.add(dev, said(US, D(2024, 1, 10), figure(value=50)))
    store.retract(dev, 2, D(2024, 2, 1))

    assert store.deliveries_at(D(2024, 1, 31)).series[0].low == 150.0
    assert store.deliveries_at(D(2024, 2, 1)).series[0].low == 100.0
    detail = store.detail_at(dev, D(2024, 1, 31))
    assert detail is not None and detail.reports[1].active
    assert detail.reports[1].retraction is not None
    same_as_reference(store, D(2024, 2, 1))


def test_a_refuted_development_leaves_deliveries_from_its_effective_date_only(
    store: Store,
) -> None:
    dev = store.develop(said(US, D(2024, 1, 1), figure(value=100)))
    store.judge(dev, "refuted", D(2024, 3, 1))

    assert store.deliveries_at(D(2024, 2, 28)).series[0].low == 100.0
    assert store.deliveries_at(D(2024, 3, 1)).series == []


def test_the_status_filter_uses_the_status_as_of_the_date(store: Store) -> None:
    dev = store.develop(said(US, D(2024, 1, 1), figure(value=100)))
    store.develop(said(US, D(2024, 1, 2), figure(value=7)))
    store.judge(dev, "corroborated", D(2024, 2, 1))

    assert store.deliveries_at(D(2024, 1, 15), status="corroborated").series == []
    [corroborated] = store.deliveries_at(D(2024, 2, 15), status="corroborated").series
    [alleged] = store.deliveries_at(D(2024, 2, 15), status="alleged").series
    assert (corroborated.low, alleged.low) == (100.0, 7.0)
    assert store.deliveries_at(D(2024, 2, 15)).series[0].low == 107.0
    assert store.deliveries_at(D(2024, 2, 15), status="refuted").series == []


def test_a_late_report_rewrites_the_series_from_its_date_only(store: Store) -> None:
    dev = store.develop(said(US, D(2024, 1, 1), figure(value=100)))
    store.add(dev, said(US, D(2024, 3, 1), figure(value=10)))
    before = store.now()
    store.add(dev, said(US, D(2024, 2, 1), figure(value=1000, basis="cumulative")))

    assert store.deliveries_at(D(2024, 3, 2), before).series[0].low == 110.0
    assert store.deliveries_at(D(2024, 1, 15)).series[0].low == 100.0
    assert store.deliveries_at(D(2024, 2, 15)).series[0].low == 1000.0
    assert store.deliveries_at(D(2024, 3, 2)).series[0].low == 1010.0
    same_as_reference(store, D(2024, 3, 2), before)


def test_a_series_whose_reports_state_no_number_has_no_high_and_neither_has_its_total(
    store: Store,
) -> None:
    # Given Iran's drones to Russia: the US says "a limited number" twice, the NIS says 400
    dev = store.develop(
        said(US, D(2022, 10, 20), figure("uav", qualifier="unspecified")),
        supplier="IRN",
        category="uav",
    )
    store.add(dev, said(US, D(2022, 11, 1), figure("uav", qualifier="unspecified")))
    store.develop(
        said(NIS, D(2022, 11, 5), figure("uav", value=400)), supplier="IRN", category="uav"
    )

    # When the deliveries view is asked after all three
    view = store.deliveries_at(D(2022, 12, 1))

    # Then the US series counts its reports but nothing bounds it above, and so the total
    # has no high either (its low is still the largest low)
    assert [(s.originator, s.low, s.high, s.reports) for s in view.series] == [
        (NIS, 400.0, 400.0, 1),
        (US, 0.0, None, 2),
    ]
    [total] = view.totals
    assert (total.low, total.high) == (400.0, None)
    same_as_reference(store, D(2022, 12, 1))


def test_an_increment_after_reports_stating_no_number_starts_from_zero(store: Store) -> None:
    # Given a series that said "a limited number", folded and kept by the read models
    dev = store.develop(said(US, D(2024, 1, 1), figure(qualifier="unspecified")))
    [unstated] = store.deliveries_at(D(2024, 1, 2)).series
    store.read.runner.stop()
    store.read = ReadModels(store.timeline.store)  # its rows come back from the database
    # When the same originator later states increments, the first one on a later day
    store.add(dev, said(US, D(2024, 1, 5), figure(qualifier="range", low=20, high=30)))
    store.add(dev, said(US, D(2024, 1, 5), figure(value=5)))

    # Then the bounds start from 0 with the first number, the unspecified report only counts
    [stated] = store.deliveries_at(D(2024, 1, 6)).series
    assert (unstated.low, unstated.high, unstated.reports) == (0.0, None, 1)
    assert (stated.low, stated.high, stated.reports) == (25.0, 35.0, 3)
    assert store.deliveries_at(D(2024, 1, 6)).totals[0].high == 35.0
    same_as_reference(store, D(2024, 1, 2))
    same_as_reference(store, D(2024, 1, 6))


def test_an_unspecified_report_after_numbers_changes_nothing_but_the_count(store: Store) -> None:
    # Given a series that stated 100 and then up to 50 more
    dev = store.develop(said(US, D(2024, 1, 1), figure(value=100)))
    store.add(dev, said(US, D(2024, 1, 2), figure(qualifier="up_to", value=50)))
    # When the same originator then reports "more", with no number, as an increment and as a
    # running total
    store.add(dev, said(US, D(2024, 1, 3), figure(qualifier="unspecified")))
    store.add(dev, said(US, D(2024, 1, 4), figure(qualifier="unspecified", basis="cumulative")))

    # Then the bounds stay those the numbers gave; only the count and the last date move
    series = [store.deliveries_at(D(2024, 1, day)).series[0] for day in (2, 3, 4)]
    assert [(s.low, s.high, s.reports) for s in series] == [
        (100.0, 150.0, 2),
        (100.0, 150.0, 3),
        (100.0, 150.0, 4),
    ]
    assert series[-1].last_asserted_on == D(2024, 1, 4)
    [total] = store.deliveries_at(D(2024, 1, 4)).totals
    assert (total.low, total.high) == (100.0, 150.0)
    same_as_reference(store, D(2024, 1, 4))


def test_at_least_zero_reads_like_no_number_but_stays_unbounded_when_increments_follow(
    store: Store,
) -> None:
    # Given two originators: the US says "at least 0" drones, the NIS gives no number; both
    # series read low 0 and no high
    at_least = store.develop(said(US, D(2024, 1, 1), figure(qualifier="at_least", value=0)))
    unstated = store.develop(said(NIS, D(2024, 1, 1), figure(qualifier="unspecified")))
    alike = store.deliveries_at(D(2024, 1, 2)).series
    store.read.runner.stop()
    store.read = ReadModels(store.timeline.store)  # their rows come back from the database
    # When each then states an increment of 10, on a later day and on the same day
    store.add(at_least, said(US, D(2024, 1, 5), figure(value=10)))
    store.add(unstated, said(NIS, D(2024, 1, 5), figure(value=10)))
    store.add(at_least, said(US, D(2024, 1, 5), figure(value=1)))

    # Then the one that was unbounded stays so; the one that stated nothing is now bounded
    later = store.deliveries_at(D(2024, 1, 6)).series
    assert [(s.originator, s.low, s.high) for s in alike] == [(NIS, 0.0, None), (US, 0.0, None)]
    assert [(s.originator, s.low, s.high, s.reports) for s in later] == [
        (NIS, 10.0, 10.0, 2),
        (US, 11.0, None, 3),
    ]
    same_as_reference(store, D(2024, 1, 2))
    same_as_reference(store, D(2024, 1, 6))


def test_the_category_and_unit_filters_ignore_case_as_the_actor_filters_do(store: Store) -> None:
    # Given drones counted in uav and shells counted in rounds
    store.develop(said(US, D(2024, 1, 1), figure("uav", value=40)), category="uav")
    store.develop(said(US, D(2024, 1, 1), figure("round", value=9)))

    # When the filters are spelt in another case
    by_category = store.deliveries_at(D(2024, 1, 2), category="UAV")
    by_unit = store.deliveries_at(D(2024, 1, 2), unit="Round", supplier="prk")

    # Then they select the same series as the stored spelling does, and their totals
    assert [(s.category, s.unit, s.low) for s in by_category.series] == [("uav", "uav", 40.0)]
    assert [(t.category, t.low) for t in by_category.totals] == [("uav", 40.0)]
    assert [(s.category, s.unit) for s in by_unit.series] == [("munitions_unspecified", "round")]
    assert by_category == store.deliveries_at(D(2024, 1, 2), category="uav")
    log, at = store.log(), store.now()
    filters: list[dict[str, Any]] = [{"category": "UAV"}, {"unit": "ROUND"}]
    for wanted in filters:
        assert folded(store.deliveries_at(D(2024, 1, 2), at, **wanted)) == folded(
            reference.deliveries(log, D(2024, 1, 2), at, **wanted)
        )


# --- system time and corrections --------------------------------------------------------------


def test_a_correction_is_invisible_at_a_known_at_before_it(store: Store) -> None:
    dev = store.develop(said(US, D(2023, 10, 13), figure(qualifier="more_than", value=1000)))
    before = store.now()
    store.correct(dev, 1, figure=figure(qualifier="about", value=1000))

    assert store.deliveries_at(D(2024, 1, 1), before).series[0].high is None
    assert store.deliveries_at(D(2024, 1, 1)).series[0].high == 1000.0
    old = store.detail_at(dev, D(2024, 1, 1), before)
    new = store.detail_at(dev, D(2024, 1, 1))
    assert old is not None and new is not None
    assert (old.reports[0].corrections, new.reports[0].corrections) == (0, 1)
    assert (old.development.version, new.development.version) == (1, 2)
    same_as_reference(store, D(2024, 1, 1), before)


def test_a_development_correction_applies_at_every_as_of(store: Store) -> None:
    dev = store.develop(said(US, D(2024, 1, 1), figure(value=5)), stage="shipped")
    assert store.deliveries_at(D(2024, 6, 1)).series == []
    store.correct_development(dev, stage="delivered", title="Delivered after all")

    [row] = store.timeline_at(D(2024, 1, 1))
    assert (row.title, row.stage) == ("Delivered after all", "delivered")
    assert store.deliveries_at(D(2024, 1, 1)).series[0].low == 5.0


def test_nothing_is_known_before_its_first_recording(store: Store) -> None:
    store.develop(said(US, D(2024, 1, 1)))
    first = store.now()

    assert store.timeline_at(D(2024, 6, 1), first - 1) == []
    assert len(store.timeline_at(D(2024, 6, 1), first)) == 1


# --- valid time: visibility and status --------------------------------------------------------


def test_a_development_is_invisible_before_its_first_report(store: Store) -> None:
    dev = store.develop(said(US, D(2024, 2, 1)))

    assert store.timeline_at(D(2024, 1, 31)) == []
    assert store.allegations_at(D(2024, 1, 31)) == []
    detail = store.detail_at(dev, D(2024, 1, 31))
    assert detail is not None and not detail.visible and not detail.reports[0].active
    [row] = store.timeline_at(D(2024, 2, 1))
    assert row.first_reported_on == D(2024, 2, 1)


def test_a_report_retracted_effective_on_its_asserted_day_is_never_visible(store: Store) -> None:
    # Given a development whose one report was retracted with effect from the day it was
    # asserted, and one whose second report was, beside a first report that stands
    alone = store.develop(said(US, D(2024, 1, 10), figure(value=100)), title="alone")
    store.retract(alone, 1, D(2024, 1, 10))
    beside = store.develop(said(NIS, D(2024, 1, 1)), title="beside")
    store.add(beside, said(US, D(2024, 1, 10), figure(value=50)))
    store.retract(beside, 2, D(2024, 1, 10))

    # When the views are asked on that day and after it
    on_the_day = store.timeline_at(D(2024, 1, 10))
    later = store.timeline_at(D(2024, 6, 1))
    detail = store.detail_at(alone, D(2024, 1, 10))

    # Then the retracted report is active on no day: the first development is on neither the
    # timeline nor the allegations board, the second shows its first report alone
    for rows in (on_the_day, later):
        assert [(r.title, r.reports, r.last_reported_on) for r in rows] == [
            ("beside", 1, D(2024, 1, 1))
        ]
    assert [a.development_id for a in store.allegations_at(D(2024, 1, 10))] == [beside]
    assert detail is not None and not detail.visible and not detail.reports[0].active
    assert store.deliveries_at(D(2024, 6, 1)).series == []
    same_as_reference(store, D(2024, 1, 10))
    same_as_reference(store, D(2024, 6, 1))


def test_status_as_of_a_date_is_the_latest_effective_change_ties_to_the_later_one(
    store: Store,
) -> None:
    dev = store.develop(said(US, D(2024, 1, 1)))
    store.judge(dev, "disputed", D(2024, 3, 1))
    store.judge(dev, "corroborated", D(2024, 2, 1))  # recorded later, effective earlier
    store.judge(dev, "confirmed", D(2024, 3, 1))  # same day as `disputed`, later position

    statuses = [store.timeline_at(D(2024, m, 15))[0].status for m in (1, 2, 3)]

    assert statuses == ["alleged", "corroborated", "confirmed"]
    same_as_reference(store, D(2024, 3, 15))


def test_a_status_change_holds_from_its_effective_day_in_every_view(store: Store) -> None:
    # Given a development alleged from January and corroborated with effect from 1 February
    dev = store.develop(said(US, D(2024, 1, 1)))
    store.judge(dev, "corroborated", D(2024, 2, 1))

    # When each view is asked on the day before and on the effective day itself
    before, on = D(2024, 1, 31), D(2024, 2, 1)
    detail_before, detail_on = store.detail_at(dev, before), store.detail_at(dev, on)

    # Then every view turns on that day, the development's own answer too
    assert [store.timeline_at(day)[0].status for day in (before, on)] == ["alleged", "corroborated"]
    assert [store.allegations_at(day)[0].status for day in (before, on)] == [
        "alleged",
        "corroborated",
    ]
    assert detail_before is not None and detail_on is not None
    assert (detail_before.development.status, detail_before.status_since) == (
        "alleged",
        D(2024, 1, 1),
    )
    assert (detail_on.development.status, detail_on.status_since) == ("corroborated", on)
    same_as_reference(store, on)


def test_allegations_count_active_reports_by_stance_with_age_and_status_since(
    store: Store,
) -> None:
    dev = store.develop(said(US, D(2024, 1, 1)))
    store.add(dev, said("KCNA", D(2024, 1, 5), stance="denies"))
    store.add(dev, said(NIS, D(2024, 1, 20), stance="not_observed"))
    store.judge(dev, "disputed", D(2024, 1, 21))
    store.judge(dev, "refuted", D(2024, 3, 1))

    [early] = store.allegations_at(D(2024, 1, 10))
    [disputed] = store.allegations_at(D(2024, 2, 1))

    assert (early.status, early.status_since, early.age_days) == ("alleged", D(2024, 1, 1), 9)
    assert (early.stances["supports"], early.stances["denies"]) == (1, 1)
    assert (disputed.status, disputed.status_since) == ("disputed", D(2024, 1, 21))
    assert disputed.stances["not_observed"] == 1
    assert store.allegations_at(D(2024, 3, 1)) == []


def test_a_status_judged_again_has_held_since_it_was_first_set_not_since_the_reaffirmation(
    store: Store,
) -> None:
    # Given a development corroborated in February and corroborated again in March, and one
    # whose initial status (alleged) is judged alleged again
    again = store.develop(said(US, D(2024, 1, 10)))
    store.judge(again, "corroborated", D(2024, 2, 1))
    store.judge(again, "corroborated", D(2024, 3, 1))
    initial = store.develop(said(NIS, D(2024, 1, 20)))
    store.judge(initial, "alleged", D(2024, 3, 5))
    # and one that leaves its status and comes back to it
    back = store.develop(said(US, D(2024, 1, 25)))
    store.judge(back, "disputed", D(2024, 2, 10))
    store.judge(back, "alleged", D(2024, 3, 10))

    since = {a.development_id: a.status_since for a in store.allegations_at(D(2024, 4, 1))}
    detail = store.detail_at(again, D(2024, 4, 1))

    # Then each status has held since the day it was set: a re-affirmation does not restart it
    assert since == {again: D(2024, 2, 1), initial: D(2024, 1, 20), back: D(2024, 3, 10)}
    assert detail is not None and detail.status_since == D(2024, 2, 1)
    same_as_reference(store, D(2024, 4, 1))
    same_as_reference(store, D(2024, 2, 15))


def test_a_status_overridden_on_its_own_day_neither_starts_nor_breaks_a_run(
    store: Store,
) -> None:
    # Given a development disputed from February, judged corroborated and then disputed again
    # for the same day in March; and one judged confirmed, then alleged (its initial status),
    # for one day
    run = store.develop(said(US, D(2024, 1, 1)))
    store.judge(run, "disputed", D(2024, 2, 1))
    store.judge(run, "corroborated", D(2024, 3, 1))
    store.judge(run, "disputed", D(2024, 3, 1))
    initial = store.develop(said(NIS, D(2024, 1, 5)))
    store.judge(initial, "confirmed", D(2024, 3, 1))
    store.judge(initial, "alleged", D(2024, 3, 1))

    since = {a.development_id: a.status_since for a in store.allegations_at(D(2024, 4, 1))}
    detail = store.detail_at(initial, D(2024, 4, 1))

    # Then the change the later one overrode was never the status on any day: disputed has
    # held since February, and alleged since the first report
    assert since == {run: D(2024, 2, 1), initial: D(2024, 1, 5)}
    assert detail is not None and detail.status_since == D(2024, 1, 5)
    same_as_reference(store, D(2024, 4, 1))
    same_as_reference(store, D(2024, 3, 1))


# --- the timeline -----------------------------------------------------------------------------


def test_timeline_orders_by_first_reported_on_then_position_across_pages(store: Store) -> None:
    ids = [store.develop(said(US, D(2024, 1, day)), title=f"t{day}") for day in (5, 1, 5, 3, 1)]
    store.add(ids[2], said(US, D(2023, 12, 1)))  # a late report moves it to the front

    rows = store.timeline_at(D(2024, 2, 1), limit=2)

    assert [r.title for r in rows] == ["t5", "t1", "t1", "t3", "t5"]
    assert [r.development_id for r in rows] == [ids[2], ids[1], ids[4], ids[3], ids[0]]
    assert rows[0].reports == rows[0].total_reports == 2


def test_timeline_filters_on_kind_actor_status_and_first_reported_on(store: Store) -> None:
    store.develop(said(US, D(2024, 1, 1)), title="a", targets=("UKR",))
    store.develop(said(US, D(2024, 2, 1)), title="b", kind="use", supplier="IRN")
    dev = store.develop(said(US, D(2024, 3, 1)), title="c")
    store.judge(dev, "confirmed", D(2024, 3, 2))

    def titles(**filters: Any) -> list[str]:
        return [r.title for r in store.timeline_at(FAR_FUTURE, **filters)]

    assert titles(kind="use") == ["b"]
    assert titles(actor="ukr") == ["a"]
    assert titles(actor="irn") == ["b"]
    assert titles(status="confirmed") == ["c"]
    assert titles(from_=D(2024, 1, 15), to=D(2024, 2, 1)) == ["b"]
    # both bounds are inclusive: a development first reported on the bound's day is kept
    assert titles(from_=D(2024, 2, 1)) == ["b", "c"]
    assert titles(from_=D(2024, 3, 1), to=D(2024, 3, 1)) == ["c"]


def _occurred_in(store: Store, occurred: str | None, title: str) -> UUID:
    """A development of one report on 2024-01-01 that occurred in `occurred` (EDTF)."""
    development_id = uuid4()
    store.append(
        DevelopmentReported(
            development_id=development_id,
            kind="transfer",
            title=title,
            stage="delivered",
            actors=Actors(supplier="PRK", recipient="RUS"),
            item=Item(category="munitions_unspecified"),
            status="alleged",
            occurred=occurred,
            report=said(US, D(2024, 1, 1)),
        )
    )
    return development_id


def test_the_occurred_filters_keep_a_period_that_meets_a_bound_on_its_last_or_first_day(
    store: Store,
) -> None:
    # Given developments that occurred in August 2023, in September 2023, and at a time not
    # known
    _occurred_in(store, "2023-08", "august")
    _occurred_in(store, "2023-09", "september")
    _occurred_in(store, None, "unknown")

    def titles(**filters: Any) -> list[str]:
        return [r.title for r in store.timeline_at(D(2024, 2, 1), **filters)]

    # When the timeline is asked for what occurred from, or until, a day on which a period
    # ends or starts, then the bounds are inclusive: that period overlaps the window
    assert titles(occurred_from=D(2023, 8, 31)) == ["august", "september"]
    assert titles(occurred_from=D(2023, 9, 1)) == ["september"]
    assert titles(occurred_to=D(2023, 9, 1)) == ["august", "september"]
    assert titles(occurred_to=D(2023, 8, 31)) == ["august"]
    assert titles(occurred_from=D(2023, 8, 31), occurred_to=D(2023, 8, 31)) == ["august"]
    log, at = store.log(), store.now()
    first, last = D(2023, 8, 31), D(2023, 9, 1)
    assert plain(store.timeline_at(D(2024, 2, 1), occurred_from=first, occurred_to=last)) == plain(
        reference.timeline(log, D(2024, 2, 1), at, occurred_from=first, occurred_to=last)
    )


# --- the seed corpus --------------------------------------------------------------------------


def test_the_seed_corpus_answers_as_the_reference_at_many_points(store: Store) -> None:
    events = [event for _, event in read_events(CORPUS.read_bytes().splitlines())]
    assert events and not any(isinstance(e, Exception) for e in events)
    for start in range(0, len(events), 4):  # several commits, so system time has steps
        store.timeline.append(events[start : start + 4], recorded_by="seed")  # type: ignore[arg-type]
    stamps = sorted({to_micros(r.recorded_at) for r in store.log()})
    rng = random.Random(7)
    for _ in range(12):
        as_of = D(2022, 6, 1) + timedelta(days=rng.randint(0, 900))
        same_as_reference(store, as_of, rng.choice(stamps))
    containers = store.deliveries_at(D(2024, 3, 1), unit="container").totals
    assert [t.low for t in containers] == [10_000.0]
