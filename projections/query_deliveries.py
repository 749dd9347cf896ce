"""Reading the deliveries read model at (D, P): one row per series, then totals.

The rows valid at (D, P) are found by a stabbing query on their (valid, system) rectangles, on
two indexes, one for closed rows and one for current ones: R-trees on SQLite (whose third
dimension is the track's status variant), GiST indexes on PostgreSQL. That touches about one
row per series, whatever the length of the history.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import date
from typing import Any

from events.figures import singular_of
from projections.deliveries import series_identity
from projections.dialect import Dialect, rows_of
from projections.entries import Added, Entry, LogReader, Reported, entries_of
from projections.results import Deliveries, Series, Total
from projections.schema import BOXES, DELIVERY_ROWS, DEVELOPMENTS, PG_BOX, PIECES, SERIES
from projections.state import POS_MAX, DevState, name_key, replay, valid_day
from projections.tracks import (
    EXCLUDED,
    TRACKS_PER_SERIES,
    VARIANT_INDEX,
    Piece,
    SeriesKey,
    contributions,
)

_SQLITE = " UNION ALL ".join(  # closed rows, then current ones: each has its own tree
    "SELECT r.track_id, r.low, r.high, r.reports, r.last_asserted_on "
    f"FROM {box} b JOIN {DELIVERY_ROWS.name} r ON r.id = b.id "
    "WHERE b.valid_lo <= %s AND b.valid_hi >= %s AND b.pos_lo <= %s AND b.pos_hi >= %s "
    "AND b.variant_lo <= %s AND b.variant_hi >= %s"
    for box in BOXES
)
_POSTGRES = " UNION ALL ".join(  # closed rows, then current ones: each has its own index
    "SELECT track_id, low, high, reports, last_asserted_on "
    f"FROM {DELIVERY_ROWS.name} WHERE pos_to {compare} {POS_MAX} "
    f"AND {PG_BOX} @> box(point(%s, %s), point(%s, %s)) "
    f"AND track_id %% {TRACKS_PER_SERIES} = %s"
    for compare in ("<", "=")
)


def _none_first(value: str | None) -> tuple[bool, str]:
    return (value is not None, value or "")


def _matches(name: str | None, wanted: str | None) -> bool:
    """No filter, or equal but for case and spaces around: actors, categories and units."""
    return wanted is None or (name is not None and name_key(name) == name_key(wanted))


def _unit_key(unit: str) -> str:
    """How units compare in a filter: as `name_key`, and a plural of a unit the field counts in
    as its singular, as new events must write it (`container`; `containers` in events stored
    before that rule)."""
    key = name_key(unit)
    return singular_of(key) or key


def _unit_matches(unit: str | None, wanted: str | None) -> bool:
    return wanted is None or (unit is not None and _unit_key(unit) == _unit_key(wanted))


def involving(found: Deliveries, actor: str | None) -> Deliveries:
    """The series and totals whose supplier or recipient is `actor` (case aside): the web
    page's one actor filter, where the view has one per role."""
    if actor is None:
        return found
    return Deliveries(
        series=[s for s in found.series if actor_in(actor, s.supplier, s.recipient)],
        totals=[t for t in found.totals if actor_in(actor, t.supplier, t.recipient)],
    )


def actor_in(actor: str, *names: str | None) -> bool:
    """Whether `actor` is one of `names`, case aside."""
    return any(name is not None and _matches(name, actor) for name in names)


def deliveries(
    dialect: Dialect,
    *,
    as_of: date,
    position: int,
    supplier: str | None = None,
    recipient: str | None = None,
    category: str | None = None,
    unit: str | None = None,
    originator: str | None = None,
    status: str | None = None,
) -> Deliveries:
    """Series valid at (D, P) that match the filters, and their totals (of the series kept: with
    `originator`, that originator's figures)."""
    if status in EXCLUDED:
        return Deliveries(series=[], totals=[])
    variant = 0 if status is None else VARIANT_INDEX[status]
    day = valid_day(as_of)
    with dialect.read() as cursor:
        if dialect.sqlite:
            cursor.execute(
                dialect.sql(_SQLITE), (day, day, position, position, variant, variant) * 2
            )
        else:
            cursor.execute(_POSTGRES, (day, position, day, position, variant) * 2)
        found = rows_of(cursor)
        cursor.execute(
            f"SELECT series_id, supplier, recipient, category, unit, originator FROM {SERIES.name}"
        )
        keys = {row[0]: row[1:] for row in rows_of(cursor)}
    series: list[Series] = []
    for track_id, low, high, reports, last in found:
        key = keys[track_id // TRACKS_PER_SERIES]
        if not (_matches(key[0], supplier) and _matches(key[1], recipient)):
            continue
        if not (_matches(key[2], category) and _unit_matches(key[3], unit)):
            continue
        if not _matches(key[4], originator):
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
    return list(_delivered(dialect, position).values())


_DELIVERED = "kind = 'transfer' AND stage = 'delivered' AND pos_from <= %s AND pos_to > %s"


def _delivered(
    dialect: Dialect, position: int, among: list[Any] | None = None
) -> dict[Any, DevState]:
    """`delivered_states` by development, of every development or only of those `among`."""
    coded = f"SELECT development_id FROM {DEVELOPMENTS.name} WHERE "
    with dialect.read() as cursor:
        if among is None:
            cursor.execute(dialect.sql(coded + _DELIVERED), (position, position))
            keys = [row[0] for row in rows_of(cursor)]
        else:
            query = coded + "development_id IN ({marks}) AND " + _DELIVERED
            keys = [row[0] for row in dialect.select_in(cursor, query, among, (position,) * 2)]
    return folded(dialect, position, keys)


def folded(dialect: Dialect, position: int, keys: list[Any]) -> dict[Any, DevState]:
    """The developments `keys` (as the log stores their ids) folded from their events up to
    P, by development; those with no event by then are left out."""
    return {key: replay(entries) for key, entries in _streams(dialect, position, keys).items()}


def _streams(dialect: Dialect, position: int, keys: list[Any]) -> dict[Any, list[Entry]]:
    """The events of the developments `keys` up to P, by development, in log order."""
    streams: dict[Any, list[Entry]] = {}
    with dialect.read() as cursor:
        query = LogReader(dialect.store).streams_query
        rows = list(dialect.select_in(cursor, query, keys, (position,)))
    for entry in entries_of(rows):
        streams.setdefault(entry.development, []).append(entry)
    return streams


def owners(dialect: Dialect, positions: list[int]) -> list[Any]:
    """The developments of the events at `positions`, as the log stores their ids, each once
    (the query's DISTINCT sees one chunk of the positions at a time)."""
    with dialect.read() as cursor:
        query = LogReader(dialect.store).owners_query
        return list(dict.fromkeys(row[0] for row in dialect.select_in(cursor, query, positions)))


def series_pieces(dialect: Dialect) -> dict[SeriesKey, list[Piece]]:
    """Every delivery series' pieces over the statuses that count (variant 0), by its key as
    the view spells it (a series without pieces now has none): what the deliveries projection
    keeps of them after the last position it folded (the table has no system time). Read in
    the caller's snapshot."""
    with dialect.read() as cursor:
        cursor.execute(
            f"SELECT series_id, supplier, recipient, category, unit, originator FROM {SERIES.name}"
        )
        keys: dict[int, SeriesKey] = {row[0]: tuple(row[1:]) for row in rows_of(cursor)}
        cursor.execute(  # variant 0: a track id that is a multiple of the tracks per series
            # (one pass over the table: looking each track up in its key read them slower)
            "SELECT track_id, valid_from, asserted_on, position, valid_to, cumulative, low, "
            f"high, bounded FROM {PIECES.name} WHERE track_id = track_id / "
            f"{TRACKS_PER_SERIES} * {TRACKS_PER_SERIES}"
        )
        rows = rows_of(cursor)
    found: dict[SeriesKey, list[Piece]] = {key: [] for key in keys.values()}
    for r in rows:
        piece = Piece(r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], bool(r[8]))
        found[keys[r[0] // TRACKS_PER_SERIES]].append(piece)
    return found


def pieces_back(
    dialect: Dialect,
    series: dict[SeriesKey, list[Piece]],
    changed: list[Any],
    *,
    now: int,
    then: int,
) -> dict[SeriesKey, list[Piece]]:
    """`series_pieces` read when the projection had folded up to `now`, as they were at
    `then`, before it: the pieces of the developments `changed` (those with events between
    the two) taken out, and those they contributed at `then` put back. Another development's
    pieces are the same at both. Their events are read once, up to `now`."""
    streams = _streams(dialect, now, changed)
    # a piece's position is that of the event that created its report
    gone = {
        e.position for es in streams.values() for e in es if isinstance(e.event, Reported | Added)
    }
    spelt = {series_identity(key): key for key in series}
    back = {key: [p for p in pieces if p.position not in gone] for key, pieces in series.items()}
    for entries in streams.values():
        before = [entry for entry in entries if entry.position <= then]
        if not before:  # reported after `then`
            continue
        for key, variant, piece in contributions(replay(before)):
            if variant == 0:  # its series was written by `then`, so it is in the table
                back[spelt[series_identity(key)]].append(piece)
    return back


class DeliveredStates:
    """`delivered_states` kept for the latest position asked: at another one, later or earlier,
    only the developments with events between the two are folded again. States folded from the
    log up to a position never change (the log is appended to, never altered), so what is kept
    stays true; a development without events between the two has the same state, and the same
    coding, at both."""

    REFOLD = 2_000  # more developments changed than this: fold every one again

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._lock = threading.Lock()
        self._kept: tuple[int, dict[Any, DevState]] = (-1, {})

    def at(self, position: int) -> list[DevState]:
        """`delivered_states(dialect, position)`, from what is kept where it can be."""
        with self._lock:
            kept_at, kept = self._kept
        if position == kept_at:
            return list(kept.values())
        states: dict[Any, DevState] | None = None
        if kept_at >= 0:  # an earlier known_at (the web page's) as well as a later one
            low, high = sorted((kept_at, position))
            changed = LogReader(self.dialect.store).developments_between(low, high)
            if len(changed) <= self.REFOLD:
                states = {key: state for key, state in kept.items() if key not in changed}
                states.update(_delivered(self.dialect, position, list(changed)))
        if states is None:
            states = _delivered(self.dialect, position)
        with self._lock:
            if position > self._kept[0]:  # a past known_at is answered, not kept
                self._kept = (position, states)
        return list(states.values())


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
