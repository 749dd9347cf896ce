"""Rows of the developments read model at P shared by the lists and the detail view."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import msgspec

from projections.dialect import Dialect, rows_of
from projections.results import DevelopmentRow
from projections.schema import DEVELOPMENTS, REPORTS
from service.store.log import Cursor

_json_decoder = msgspec.json.Decoder()


def rows_in(
    dialect: Dialect, cursor: Cursor, query: str, keys: Sequence[Any], *params: Any
) -> list[Any]:
    """Rows of `query`, whose `{column} IN {keys}` matches any of `keys`.

    PostgreSQL gets one array parameter (`= ANY`), so the statement and its plan are the
    same whatever the number of keys; SQLite gets a placeholder per key.
    """
    if not keys:
        return []
    if dialect.sqlite:
        marks = "(" + ", ".join(["%s"] * len(keys)) + ")"
        cursor.execute(dialect.sql(query.replace("{keys}", marks)), (*keys, *params))
    else:
        cursor.execute(
            dialect.sql(query.replace(" IN {keys}", " = ANY(%s)")), (list(keys), *params)
        )
    return rows_of(cursor)


def development_fields(
    dialect: Dialect, cursor: Cursor, keys: Sequence[Any], position: int
) -> dict[Any, Any]:
    """The coded fields of each development as recorded by P, by id as stored."""
    rows = rows_in(
        dialect,
        cursor,
        "SELECT development_id, kind, title, stage, actors, item, occurred, initial_status, "
        "position "
        f"FROM {DEVELOPMENTS.name} WHERE development_id IN {{keys}} "
        "AND pos_from <= %s AND pos_to > %s",
        keys,
        position,
        position,
    )
    return {row[0]: row for row in rows}


def recorded_counts(
    dialect: Dialect, cursor: Cursor, keys: Sequence[Any], position: int
) -> dict[Any, tuple[int, int]]:
    """(version, total_reports) of each development as recorded by P."""
    store = dialect.store
    if dialect.sqlite:
        versions = rows_in(
            dialect,
            cursor,
            "SELECT originator_id, max(originator_version) FROM {events} "
            f"WHERE originator_id IN {{keys}} AND {store.position_column} <= %s "
            "GROUP BY originator_id",
            keys,
            position,
        )
    elif keys:
        # One probe of the primary key per development. As one `= ANY` query, PostgreSQL
        # without statistics on the log (autovacuum off, or not yet run after a bulk import)
        # scanned every position up to P instead: 17.7 ms at 1M events against 6.3 at 10k.
        cursor.execute(
            store.sql(
                "SELECT k.id, (SELECT max(originator_version) FROM {events} "
                f"WHERE originator_id = k.id AND {store.position_column} <= %s) "
                "FROM unnest(%s::uuid[]) AS k(id)"
            ),
            (position, list(keys)),
        )
        versions = [row for row in rows_of(cursor) if row[1] is not None]
    else:
        versions = []
    totals = dict(
        rows_in(
            dialect,
            cursor,
            f"SELECT development_id, max(number) FROM {REPORTS.name} "
            "WHERE development_id IN {keys} AND pos_from <= %s GROUP BY development_id",
            keys,
            position,
        )
    )
    return {key: (int(version), int(totals.get(key, 0))) for key, version in versions}


def development_row(
    dialect: Dialect,
    fields: Sequence[Any],
    counts: tuple[int, int],
    *,
    status: str,
    reported: tuple[int, int, int] | None,
) -> DevelopmentRow:
    """A development as of (D, P); `reported` is (first day, last day, count) of its active
    reports, None when it has none."""
    first = date.fromordinal(reported[0]) if reported else None
    last = date.fromordinal(reported[1]) if reported else None
    return DevelopmentRow(
        development_id=dialect.store.id_value(fields[0]),
        position=fields[8],
        version=counts[0],
        kind=fields[1],
        title=fields[2],
        stage=fields[3],
        actors=_json_decoder.decode(fields[4]),
        item=None if fields[5] is None else _json_decoder.decode(fields[5]),
        occurred=fields[6],
        status=status,
        visible=reported is not None,
        first_reported_on=first,
        last_reported_on=last,
        reports=reported[2] if reported else 0,
        total_reports=counts[1],
    )
