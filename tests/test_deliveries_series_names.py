"""How a deliveries series shows names first spelt with spaces around them (DESIGN §4: a series
is keyed by supplier, recipient and originator; names equal but for their case or the spaces
around them are one), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from tests import reference
from tests.test_views_support import Store, figure, plain, said

D = date


def test_a_series_first_spelt_with_spaces_around_shows_its_names_without_them(
    store: Store,
) -> None:
    # Given the first delivery ever folded names its originator and actors with spaces around
    # them (a spreadsheet's padding), and a later one spells them plainly
    store.develop(
        said(" US State Department ", D(2024, 1, 1), figure(value=1000, basis="cumulative")),
        supplier=" PRK",
        recipient="RUS  ",
    )
    store.develop(
        said("US State Department", D(2024, 2, 1), figure(value=2500, basis="cumulative")),
        supplier="PRK",
        recipient="RUS",
    )

    # When the deliveries are asked for
    view = store.deliveries_at(D(2024, 3, 1))

    # Then one series holds both, shown without the spaces around its names
    assert [(s.supplier, s.recipient, s.originator, s.low, s.reports) for s in view.series] == [
        ("PRK", "RUS", "US State Department", 2500.0, 2)
    ]
    assert [(t.supplier, t.recipient, t.low) for t in view.totals] == [("PRK", "RUS", 2500.0)]
    # And the view reads exactly as the replay reference, spelling included
    expected = reference.deliveries(store.log(), D(2024, 3, 1), store.now())
    assert plain(view) == plain(expected)


def test_a_series_first_spelt_with_spaces_keeps_its_trimmed_names_after_a_restart(
    database_url: str,
) -> None:
    # Given a series first folded from names with spaces around them
    first = Store(database_url)
    try:
        first.develop(said("  NIS", D(2024, 1, 1), figure(value=10)), supplier="IRN ")
        assert [(s.supplier, s.originator) for s in first.deliveries_at(D(2024, 2, 1)).series] == [
            ("IRN", "NIS")
        ]
    finally:
        first.close()
    # When another process folds a later report of it from the stored series
    second = Store(database_url)
    try:
        second.develop(said("NIS ", D(2024, 1, 5), figure(value=5)), supplier=" irn")
        view = second.deliveries_at(D(2024, 2, 1))
    finally:
        second.close()

    # Then the one series still shows the trimmed names, and adds both increments
    assert [(s.supplier, s.originator, s.low, s.reports) for s in view.series] == [
        ("IRN", "NIS", 15.0, 2)
    ]
