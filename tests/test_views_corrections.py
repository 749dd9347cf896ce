"""Corrections meet the other events of a development: a retracted report corrected, and coded
actors corrected, as the views answer them on SQLite and PostgreSQL (DESIGN §4)."""

from __future__ import annotations

from datetime import date

from events import Actors, ReportRetracted
from service.store.records import to_micros
from tests import reference
from tests.test_views_support import Store, figure, folded, plain, said

D = date
US = "US Department of State"


def test_a_retracted_report_stays_retracted_when_it_is_corrected_afterwards(store: Store) -> None:
    # Given a delivery reported twice, the second report retracted from 1 March
    dev = store.develop(said(US, D(2024, 1, 10), figure(value=100)))
    store.add(dev, said(US, D(2024, 2, 1), figure(value=50)))
    store.retract(dev, 2, D(2024, 3, 1))
    # When the retracted report's figure is corrected (a correction fixes our coding only)
    store.correct(dev, 2, figure=figure(value=60))

    # Then the report is still retracted from 1 March, with the corrected figure
    detail = store.detail_at(dev, D(2024, 3, 15))
    assert detail is not None
    second = detail.reports[1]
    assert second.corrections == 1
    assert second.retraction is not None
    assert second.retraction.effective_on == D(2024, 3, 1)
    retracted = next(r for r in store.log() if isinstance(r.event, ReportRetracted))
    assert second.retraction.position == retracted.position  # the retraction's, not the fix's
    assert not second.active
    assert detail.development.reports == 1
    # And the deliveries count only the first report from that day on, and both before it
    (after,) = store.deliveries_at(D(2024, 3, 15)).series
    assert (after.low, after.high, after.reports) == (100, 100, 1)
    (before,) = store.deliveries_at(D(2024, 2, 15)).series
    assert (before.low, before.high, before.reports) == (160, 160, 2)
    # And every view agrees with the replay reference on both sides of the retraction
    log, now = store.log(), store.now()
    for as_of in (D(2024, 2, 15), D(2024, 3, 1), D(2024, 3, 15)):
        assert plain(store.timeline_at(as_of)) == plain(reference.timeline(log, as_of, now))
        assert folded(store.deliveries_at(as_of)) == folded(reference.deliveries(log, as_of, now))


def test_a_retracted_first_report_corrected_afterwards_leaves_first_reported_on_moved(
    store: Store,
) -> None:
    # Given a development whose first report is retracted from 1 April, a later one standing
    dev = store.develop(said(US, D(2024, 1, 10)))
    store.add(dev, said("UA", D(2024, 3, 1)))
    store.retract(dev, 1, D(2024, 4, 1))
    # When the retracted report's quote is corrected
    store.correct(dev, 1, quote="corrected wording")

    # Then the timeline still shows it first reported on the day of the standing report
    (row,) = store.timeline_at(D(2024, 5, 1))
    assert row.first_reported_on == D(2024, 3, 1)
    assert row.reports == 1
    # And before the retraction took effect, the first report still counts
    (earlier,) = store.timeline_at(D(2024, 3, 15))
    assert earlier.first_reported_on == D(2024, 1, 10)
    assert earlier.reports == 2


def test_a_correction_of_the_actors_moves_the_development_between_actor_filters(
    store: Store,
) -> None:
    # Given a development coded as a transfer from PRK to RUS
    dev = store.develop(said(US, D(2024, 1, 10)), supplier="PRK", recipient="RUS")
    assert [r.development_id for r in store.timeline_at(D(2024, 2, 1), actor="PRK")] == [dev]
    # When the coding is corrected: the supplier was IRN, and a target is named
    store.correct_development(dev, actors=Actors(supplier="IRN", recipient="RUS", targets=("UKR",)))

    # Then the actor filter finds it by its corrected actors only, at every as_of
    for as_of in (D(2024, 1, 10), D(2024, 2, 1)):
        assert store.timeline_at(as_of, actor="PRK") == []
        assert [r.development_id for r in store.timeline_at(as_of, actor="irn")] == [dev]
        assert [r.development_id for r in store.timeline_at(as_of, actor="UKR")] == [dev]
        assert [r.development_id for r in store.timeline_at(as_of, actor="RUS")] == [dev]
    # And a known_at before the correction still finds it by the actors it had then
    reported = next(r for r in store.log() if r.development_id == dev)
    known = to_micros(reported.recorded_at)
    found = store.timeline_at(D(2024, 2, 1), known, actor="PRK")
    assert [r.development_id for r in found] == [dev]
    assert store.timeline_at(D(2024, 2, 1), known, actor="IRN") == []
