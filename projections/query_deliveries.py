"""Reading the deliveries read model at (D, P): one row per series, then totals.

The rows valid at (D, P) are found by a stabbing query on their (valid, system) rectangles: an
R-tree on SQLite; on PostgreSQL two GiST indexes, one for closed rows and one for current ones.
That touches about one row per series, whatever the length of the history.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from projections.dialect import Dialect, rows_of
from projections.entries import Entry, LogReader, entries_of
from projections.results import Deliveries, Series, Total
from projections.schema import BOX, DELIVERY_ROWS, DEVELOPMENTS, PG_BOX, SERIES
from projections.state import POS_MAX, DevState, replay, valid_day
from projections.tracks import EXCLUDED, TRACKS_PER_SERIES, VARIANT_INDEX

_SQLITE = (
    "SELECT r.track_id, r.low, r.high, r.reports, r.last_asserted_on "
    f"FROM {BOX} b JOIN {DELIVERY_ROWS.name} r ON r.id = b.id "
    "WHERE b.valid_lo <= %s AND b.valid_hi >= %s AND b.pos_lo <= %s AND b.pos_hi >= %s"
)
_POSTGRES = " UNION ALL ".join(  # closed rows, then current ones: each has its own index
    "SELECT track_id, low, high, reports, last_asserted_on "
    f"FROM {DELIVERY_ROWS.name} WHERE pos_to {compare} {POS_MAX} "
    f"AND {PG_BOX} @> box(point(%s, %s), point(%s, %s))"
    for compare in ("<", "=")
)


def _none_first(value: str | None) -> tuple[bool, str]:
    return (value is not None, value or "")


def _matches(name: str | None, wanted: str | None) -> bool:
    """No filter, or equal but for case: actors, categories and units alike."""
    return wanted is None or (name is not None and name.casefold() == wanted.casefold())


def deliveries(
    dialect: Dialect,
    *,
    as_of: date,
    position: int,
    supplier: str | None = None,
    recipient: str | None = None,
    category: str | None = None,
    unit: str | None = None,
    status: str | None = None,
) -> Deliveries:
    """Series valid at (D, P) that match the filters, and their totals."""
    if status in EXCLUDED:
        return Deliveries(series=[], totals=[])
    variant = 0 if status is None else VARIANT_INDEX[status]
    day = valid_day(as_of)
    with dialect.read() as cursor:
        if dialect.sqlite:
            cursor.execute(dialect.sql(_SQLITE), (day, day, position, position))
        else:
            cursor.execute(_POSTGRES, (day, position, day, position) * 2)
        found = [row for row in rows_of(cursor) if row[0] % TRACKS_PER_SERIES == variant]
        cursor.execute(
            f"SELECT series_id, supplier, recipient, category, unit, originator FROM {SERIES.name}"
        )
        keys = {row[0]: row[1:] for row in rows_of(cursor)}
    series: list[Series] = []
    for track_id, low, high, reports, last in found:
        key = keys[track_id // TRACKS_PER_SERIES]
        if not (_matches(key[0], supplier) and _matches(key[1], recipient)):
            continue
        if not (_matches(key[2], category) and _matches(key[3], unit)):
            continue
        series.append(
            Series(
                supplier=key[0],
                recipient=key[1],
                category=key[2],
                unit=key[3],
                originator=key[4],
                low=low,
                high=high,
                reports=reports,
                last_asserted_on=date.fromordinal(last),
            )
        )
    series.sort(key=lambda s: [_none_first(part) for part in _series_key(s)])
    return Deliveries(series=series, totals=totals(series))


def delivered_states(dialect: Dialect, position: int) -> list[DevState]:
    """Every development coded a delivered transfer as recorded by P (visible or not, at any
    date), folded from its events up to P as the projections fold it: what words the steps of
    the web's charts. It reads each one's events: its cost grows with their number."""
    streams: dict[Any, list[Entry]] = {}
    query = LogReader(dialect.store).streams_query
    with dialect.read() as cursor:
        cursor.execute(
            dialect.sql(
                f"SELECT development_id FROM {DEVELOPMENTS.name} WHERE pos_from <= %s "
                "AND pos_to > %s AND kind = 'transfer' AND stage = 'delivered'"
            ),
            (position, position),
        )
        keys = [row[0] for row in rows_of(cursor)]
        rows = list(dialect.select_in(cursor, query, keys, (position,)))
    for entry in entries_of(rows):
        streams.setdefault(entry.development, []).append(entry)
    return [replay(entries) for entries in streams.values()]


def _series_key(s: Series) -> tuple[Any, ...]:
    return (s.supplier, s.recipient, s.category, s.unit, s.originator)


def totals(series: list[Series]) -> list[Total]:
    """Per (supplier, recipient, category, unit): the largest low, and the largest high when
    every series has one; originators are never summed."""
    grouped: dict[tuple[Any, ...], list[Series]] = defaultdict(list)
    for s in series:
        grouped[(s.supplier, s.recipient, s.category, s.unit)].append(s)
    found = []
    for (supplier, recipient, category, unit), members in grouped.items():
        highs = [s.high for s in members]
        bounded = [h for h in highs if h is not None]
        found.append(
            Total(
                supplier=supplier,
                recipient=recipient,
                category=category,
                unit=unit,
                low=max(s.low for s in members),
                high=max(bounded) if len(bounded) == len(highs) else None,
            )
        )
    found.sort(
        key=lambda t: [_none_first(p) for p in (t.supplier, t.recipient, t.category, t.unit)]
    )
    return found
