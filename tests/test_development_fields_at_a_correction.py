"""The coded fields of a development by system time (DESIGN §4, §7): at the instant a
`development_corrected` was recorded the views show the corrected fields, never the row it
closed, on SQLite and PostgreSQL, whatever plan the database reads the rows with."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from tests.test_views_support import Store, said

D = date
US = "US Department of State"


def fields_known_around_corrections(store: Store) -> None:
    """Correct a development's title twice; each view shows, at the instant each correction
    was recorded, the corrected title, and one microsecond earlier the one it replaced."""
    # Given a development whose title is corrected twice
    # (each folded by the runner before the next is recorded, so that a correction's batch
    # closes a row written by an earlier one)
    dev = store.develop(said(US, D(2024, 1, 10)), title="First coding")
    reported = store.now()
    assert [row.title for row in store.timeline_at(D(2024, 2, 1))] == ["First coding"]
    once = store.correct_development(dev, title="Second coding")
    assert [row.title for row in store.timeline_at(D(2024, 2, 1))] == ["Second coding"]
    twice = store.correct_development(dev, title="Third coding")

    # Then at the very instant each correction was recorded the view shows it, and one
    # microsecond earlier the coding it replaced, in the timeline and in the detail
    for known_at, title in [
        (reported, "First coding"),
        (once - 1, "First coding"),
        (once, "Second coding"),
        (twice - 1, "Second coding"),
        (twice, "Third coding"),
    ]:
        (row,) = store.timeline_at(D(2024, 2, 1), known_at)
        assert row.title == title, known_at
        detail = store.detail_at(dev, D(2024, 2, 1), known_at)
        assert detail is not None
        assert detail.development.title == title


def test_the_fields_known_at_the_instant_of_a_correction_are_the_corrected_ones(
    store: Store,
) -> None:
    # Given / Then: on each database as it plans its reads
    fields_known_around_corrections(store)


@pytest.mark.postgres
def test_the_fields_known_at_a_correction_do_not_depend_on_the_order_rows_are_read_in(
    postgres_url: str,
) -> None:
    # Given a PostgreSQL database that reads every table in its physical order (no index
    # scans), where the row a correction closed lies after the row that replaced it
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        database = connection.info.dbname
        for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
            connection.execute(f'ALTER DATABASE "{database}" SET {setting} = off')
    store = Store(postgres_url)
    try:
        # When the views are asked around each correction / Then they show the coding in force
        fields_known_around_corrections(store)
    finally:
        store.close()
