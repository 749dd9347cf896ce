"""The deliveries projection: per-series bounds by valid time and system time.

A commit changes the pieces of the developments it touches; each track whose pieces changed is
recomputed from the first day that may differ (usually its last day: reports arrive roughly in
date order), and only rows that differ are closed and inserted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from projections.buffer import RowBuffer
from projections.developments import DevelopmentsProjection
from projections.dialect import rows_of
from projections.entries import Entry
from projections.projection import Disagree, Projection
from projections.schema import DELIVERY_ROWS, DELIVERY_STATES, PIECES, SERIES, Table
from projections.state import POS_MAX, DevState, evolve, name_key, start
from projections.tracks import TRACKS_PER_SERIES, Piece, SeriesKey, Track, contributions
from service.store.log import Cursor


class KeptDelivery(msgspec.Struct, array_like=True, gc=False):
    """A development's state and the pieces it contributes, by track id."""

    state: DevState
    pieces: list[tuple[int, Piece]] = msgspec.field(default_factory=list)


class DeliveriesProjection(Projection[KeptDelivery]):
    """Rows of `tl_delivery_rows` (and its R-tree on SQLite), with series keys and pieces."""

    name = "deliveries"
    kept_type = KeptDelivery
    state_table = DELIVERY_STATES
    versioned: tuple[Table, ...] = (DELIVERY_ROWS,)
    tables = (DELIVERY_ROWS.name, SERIES.name, PIECES.name, DELIVERY_STATES.name)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.series: dict[SeriesKey, int] = {}  # by key as spelt in events
        self.identities: dict[SeriesKey, int] = {}  # by key with actors casefolded
        self.spellings: dict[str, str] = {}  # an actor's first spelling, by its casefold
        self.voices: dict[str, str] = {}  # an originator's first spelling, by its casefold
        self.last_series = 0  # the largest series id handed out
        self.tracks: dict[int, Track] = {}
        self.piece_changes: dict[tuple[int, int, int], Piece | None] = {}
        # A rebuild of both projections folds each development once: the developments
        # projection applies a commit first, and this one reads the states it folded.
        self.folded_by: DevelopmentsProjection | None = None

    def forget(self) -> None:
        """Drop what is held in memory, tracks and series keys too."""
        super().forget()
        self.series = {}
        self.identities = {}
        self.spellings = {}
        self.voices = {}
        self.last_series = 0
        self.tracks = {}
        self.piece_changes = {}

    def _prepare(self, cursor: Cursor, entries: Sequence[Entry]) -> None:
        if not self.series and not self.complete:
            cursor.execute(
                "SELECT series_id, supplier, recipient, category, unit, originator "
                f"FROM {SERIES.name} ORDER BY series_id"
            )
            for series_id, *key in rows_of(cursor):
                self.series[tuple(key)] = self.identities[series_identity(tuple(key))] = series_id
                self.last_series = max(self.last_series, series_id)
                for actor in key[:2]:
                    if actor is not None:
                        self.spellings.setdefault(name_key(actor), actor)
                self.voices.setdefault(name_key(key[4]), key[4])
        super()._prepare(cursor, entries)

    def _restore(self, cursor: Cursor, states: dict[Any, DevState]) -> None:
        for key, state in states.items():
            try:  # a state folded again contributes to series already written
                pieces = self._pieces(state, None)
            except LookupError:
                raise Disagree(self.name, key, "a delivery series not in the tables") from None
            self.kept[key] = KeptDelivery(state, pieces)

    def _series_id(self, key: SeriesKey, buffer: RowBuffer | None) -> int:
        """The series of `key`. Actors are identifiers that differ in case alone for the
        same actor (DESIGN: filters match them case-insensitively), so `PRK`, `prk` and
        `PRK ` are one series (`name_key`), shown as the actor was first spelt, without the
        spaces around; and so are originators (`US Government`, `US government`), or a typo
        would start a series whose cumulative figures never replace the originator's earlier
        ones."""
        found = self.series.get(key)
        if found is None:
            identity = series_identity(key)
            found = self.identities.get(identity)
            if found is None:
                if buffer is None:
                    raise LookupError(key)
                found = self.identities[identity] = self.last_series = self.last_series + 1
                originator = self.voices.setdefault(name_key(key[4]), key[4].strip())
                spelt = (self._spelt(key[0]), self._spelt(key[1]), key[2], key[3], originator)
                buffer.execute(SERIES.insert_sql(), [(found, *spelt)])
            self.series[key] = found
        return found

    def _spelt(self, actor: str | None) -> str | None:
        return None if actor is None else self.spellings.setdefault(name_key(actor), actor.strip())

    def _pieces(self, state: DevState, buffer: RowBuffer | None) -> list[tuple[int, Piece]]:
        """The pieces the development contributes, by track id."""
        series_ids = self.series
        return [
            (
                (series_ids.get(series) or self._series_id(series, buffer)) * TRACKS_PER_SERIES
                + variant,
                piece,
            )
            for series, variant, piece in contributions(state)
        ]

    def _track(self, track_id: int) -> Track:
        track = self.tracks.get(track_id)
        if track is not None:
            return track
        pieces: list[Piece] = []
        rows: list[list[Any]] = []
        if not self.complete:
            sql = self.dialect.sql
            with self.reading() as cursor:
                cursor.execute(
                    sql(
                        "SELECT valid_from, asserted_on, position, valid_to, cumulative, low, "
                        f"high, bounded FROM {PIECES.name} WHERE track_id = %s"
                    ),
                    (track_id,),
                )
                pieces = [
                    Piece(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], bool(r[7]))
                    for r in rows_of(cursor)
                ]
                cursor.execute(
                    sql(
                        "SELECT id, valid_from, valid_to, low, high, reports, last_asserted_on "
                        f"FROM {DELIVERY_ROWS.name} WHERE track_id = %s AND pos_to = %s "
                        "ORDER BY valid_from"
                    ),
                    (track_id, POS_MAX),
                )
                rows = [[r[0], r[1], r[2], (r[3], r[4], r[5], r[6])] for r in rows_of(cursor)]
        track = self.tracks[track_id] = Track(pieces, rows)
        return track

    def apply(self, commit: Sequence[Entry], buffer: RowBuffer) -> None:
        """Fold the commit, then recompute every track whose pieces changed."""
        before: dict[Any, list[tuple[int, Piece]]] = {}
        folded = self.folded_by.kept if self.folded_by is not None else None
        for entry in commit:
            key = entry.development
            kept = self.kept.get(key)
            if kept is None:
                state = start(entry) if folded is None else folded[key].state
                kept = self.kept[key] = KeptDelivery(state)
                before[key] = []
                continue
            if key not in before:
                before[key] = kept.pieces
            if folded is None:
                evolve(kept.state, entry)
        changes: dict[int, tuple[list[Piece], list[Piece]]] = {}
        kept_all, dirty = self.kept, self.dirty
        for key, old in before.items():
            kept = kept_all[key]
            dirty[key] = None
            new = self._pieces(kept.state, buffer)
            if new == old:  # the common case: no delivery, then or now
                continue
            kept.pieces = new
            old_set, new_set = set(old), set(new)
            for track_id, piece in old:
                if (track_id, piece) not in new_set:
                    changes.setdefault(track_id, ([], []))[0].append(piece)
                    self.piece_changes[(track_id, piece.position, piece.valid_from)] = None
            for track_id, piece in new:
                if (track_id, piece) not in old_set:
                    changes.setdefault(track_id, ([], []))[1].append(piece)
                    self.piece_changes[(track_id, piece.position, piece.valid_from)] = piece
        position = commit[0].position
        for track_id in sorted(changes):
            removed, added = changes[track_id]
            self._recompute(track_id, removed, added, position, buffer)

    def _recompute(
        self,
        track_id: int,
        removed: list[Piece],
        added: list[Piece],
        position: int,
        buffer: RowBuffer,
    ) -> None:
        track = self._track(track_id)
        first = track.change(removed, added)
        index, new = track.recompute(first, None if removed else added)
        old = track.rows[index:]
        unchanged = {(row[1], row[2], row[3]): row for row in old}
        rows: list[list[Any]] = []
        for valid_from, valid_to, payload in new:
            row = unchanged.pop((valid_from, valid_to, payload), None)
            if row is None:
                row = [self.next_id(DELIVERY_ROWS), valid_from, valid_to, payload]
                low, high, reports, last = payload
                buffer.insert(
                    DELIVERY_ROWS,
                    [
                        row[0],
                        track_id,
                        valid_from,
                        valid_to,
                        position,
                        POS_MAX,
                        low,
                        high,
                        reports,
                        last,
                    ],
                )
            rows.append(row)
        for row in unchanged.values():
            buffer.close(DELIVERY_ROWS, row[0], position)
        track.rows[index:] = rows

    def save(self, buffer: RowBuffer) -> None:
        """Queue states and the net changes of pieces."""
        super().save(buffer)
        changes, self.piece_changes = self.piece_changes, {}
        if not changes:
            return
        keys = list(changes)
        if self.dialect.sqlite:
            buffer.execute(
                f"DELETE FROM {PIECES.name} WHERE track_id = %s AND position = %s "
                "AND valid_from = %s",
                keys,
            )
        else:  # one statement over arrays, not one per piece
            buffer.execute(
                f"DELETE FROM {PIECES.name} p USING unnest(%b::bigint[], %b::bigint[], "
                "%b::bigint[]) AS k(track_id, position, valid_from) WHERE p.track_id = "
                "k.track_id AND p.position = k.position AND p.valid_from = k.valid_from",
                [tuple(list(column) for column in zip(*keys, strict=True))],
            )
        buffer.add(PIECES, [_piece_row(key[0], p) for key, p in changes.items() if p is not None])

    def finish_rebuild(self, buffer: RowBuffer) -> None:
        """Queue every piece of every track."""
        self.piece_changes = {}
        buffer.add(
            PIECES,
            [_piece_row(track_id, p) for track_id, t in self.tracks.items() for p in t.pieces],
        )


def _piece_row(track_id: int, piece: Piece) -> tuple[Any, ...]:
    return (
        track_id,
        piece.position,
        piece.valid_from,
        piece.valid_to,
        piece.asserted_on,
        int(piece.cumulative),
        piece.low,
        piece.high,
        int(piece.bounded),
    )


def series_identity(key: SeriesKey | tuple[Any, ...]) -> SeriesKey:
    """A series key with its actors and originator by `name_key`: keys equal but for their
    case, or spaces around a name, are one series."""
    supplier, recipient, category, unit, originator = key
    return (
        None if supplier is None else name_key(supplier),
        None if recipient is None else name_key(recipient),
        category,
        unit,
        name_key(originator),
    )
