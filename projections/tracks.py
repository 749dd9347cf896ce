"""Deliveries: what a development contributes to each series, and a series' bounds by day.

A *piece* is one report's contribution to one *track* for the days `[valid_from, valid_to)` on
which it counts: asserted, not retracted, the development's status allowing it. A track is one
series `(supplier, recipient, category, unit, originator)` either over every allowed status
(variant 0) or over developments of one status only (the `status` filter). The bounds of a
track on a day fold its active pieces in `(asserted_on, position)` order, as DESIGN §4 says.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from operator import itemgetter
from typing import Any, NamedTuple

from events.figures import added
from projections.state import DAY_MAX, DAY_MIN, DevState

EXCLUDED = frozenset({"refuted", "retracted", "withdrawn"})
VARIANTS: tuple[str, ...] = ("*", "alleged", "corroborated", "confirmed", "disputed", "superseded")
VARIANT_INDEX = {status: index for index, status in enumerate(VARIANTS)}
TRACKS_PER_SERIES = 8  # track id = series id * 8 + variant

SeriesKey = tuple[str | None, str | None, str | None, str, str]
# low, high, reports, last_asserted_on: the row as stored. `high` is None when the fold leaves
# the series unbounded above, and also when no active report has stated a number yet (low 0).
Payload = tuple[float, float | None, int, int]


class Unsettled(Exception):
    """Folding on from `low 0, high None` with an increment that has a high: that payload is
    either "no number stated yet" (the increment starts from 0) or unbounded (it stays so), and
    only the pieces tell which. The caller folds the day from its pieces instead."""


class Piece(NamedTuple):
    """One report's contribution to a track; sorted by day, then in fold order."""

    valid_from: int
    asserted_on: int
    position: int  # of the event that created the report: orders reports of one day
    valid_to: int
    cumulative: bool
    low: float | None  # None with `bounded` False: an unspecified figure, which only counts
    high: float | None  # None with `bounded` True: unbounded
    bounded: bool


def status_windows(state: DevState) -> list[tuple[int, int, str]]:
    """The development's status on every day, as `[from, to)` windows."""
    windows: list[tuple[int, int, str]] = []
    start, status = DAY_MIN, state.initial_status
    for change in state.changes:  # sorted by (effective_on, position): the last one governs
        if change.effective_on > start:
            windows.append((start, change.effective_on, status))
            start = change.effective_on
        status = change.status
    windows.append((start, DAY_MAX, status))
    return windows


def contributions(state: DevState) -> list[tuple[SeriesKey, int, Piece]]:
    """Every piece a development contributes, with its series key and variant."""
    fields = state.fields
    if fields["kind"] != "transfer" or fields["stage"] != "delivered":
        return []
    actors, item = fields["actors"], fields["item"]
    supplier, recipient = actors.get("supplier"), actors.get("recipient")
    category = item.get("category") if item else None
    windows = [w for w in status_windows(state) if w[2] not in EXCLUDED]
    allowed: list[list[int]] = []  # the windows of variant 0, merged where they touch
    for start, end, _ in windows:
        if allowed and allowed[-1][1] == start:
            allowed[-1][1] = end
        else:
            allowed.append([start, end])
    found: list[tuple[SeriesKey, int, Piece]] = []
    for report in state.reports:
        figure = report.figure
        if report.stance != "supports" or figure is None:
            continue
        begin = report.asserted_on
        finish = DAY_MAX if report.retracted_on is None else report.retracted_on
        bounds = figure.bounds()
        cumulative = figure.basis == "cumulative"
        low, high = (bounds.low, bounds.high) if bounds is not None else (None, None)
        key: SeriesKey = (supplier, recipient, category, figure.unit, report.originator)
        for variant, spans in ((0, allowed), (1, windows)):
            for span in spans:
                lo, hi = max(begin, span[0]), min(finish, span[1])
                if lo < hi:
                    at = variant and VARIANT_INDEX[str(span[2])]
                    piece = Piece(
                        lo, begin, report.position, hi, cumulative, low, high, bounds is not None
                    )
                    found.append((key, at, piece))
    return found


def fold(pieces: Iterable[Piece], payload: Payload | None) -> Payload | None:
    """Continue the fold of a track's bounds with more pieces, in order.

    Raises `Unsettled` when `payload` cannot say whether a number was stated before and the
    answer depends on it (see there).
    """
    if payload is None:
        low, high, reports, last = 0.0, None, 0, 0
        stated: bool | None = False  # whether an active report stated a number; None: unknown
    else:
        low, high, reports, last = payload
        stated = True if high is not None or low else None
    for piece in pieces:
        reports += 1
        last = max(last, piece.asserted_on)
        if not piece.bounded:
            continue
        if piece.cumulative:
            low, high = piece.low, piece.high  # type: ignore[assignment]
        elif stated:
            low = added(low, piece.low)  # type: ignore[arg-type]
            high = None if high is None or piece.high is None else added(high, piece.high)
        elif stated is None and piece.high is not None:
            raise Unsettled
        else:  # nothing stated before (or unknown, and this one unbounded): it starts from 0
            low = added(low, piece.low)  # type: ignore[arg-type]
            high = None if piece.high is None else 0.0 + piece.high
        stated = True
    return (low, high, reports, last) if reports else None


# Sort keys, as C-level getters: they run at every step of a bisection.
_start = itemgetter(0)  # Piece.valid_from
_asserted = itemgetter(1)  # Piece.asserted_on
# (asserted_on, position), then valid_from: one report's pieces of a track tie on the first two,
# and pieces read back from the table come in no set order
fold_order = itemgetter(1, 2, 0)
_row_start = itemgetter(1)  # a row's valid_from


class Track:
    """A track's pieces by day and in fold order, the days pieces stop counting, its open rows.

    Rows are `[id, valid_from, valid_to, payload]`, disjoint, in day order.
    """

    __slots__ = ("ends", "order", "pieces", "rows")

    def __init__(self, pieces: list[Piece], rows: list[list[Any]]) -> None:
        self.pieces = sorted(pieces)
        self.order = sorted(pieces, key=fold_order)
        self.ends = sorted(p.valid_to for p in pieces if p.valid_to < DAY_MAX)
        self.rows = rows

    def change(self, removed: list[Piece], added: list[Piece]) -> int:
        """Apply a commit's changes; return the first day whose answer may differ."""
        first = DAY_MAX
        before = {(p.position, p.valid_from): p for p in removed}
        for piece in added:
            old = before.pop((piece.position, piece.valid_from), None)
            if old is not None and old._replace(valid_to=piece.valid_to) == piece:
                first = min(first, old.valid_to, piece.valid_to)  # only its end moved
            else:
                first = min(first, piece.valid_from)
        for old in removed:
            if (old.position, old.valid_from) in before:
                first = min(first, old.valid_from)
        for old in removed:
            del self.pieces[bisect_left(self.pieces, old)]
            del self.order[self._order_index(old)]
            if old.valid_to < DAY_MAX:
                del self.ends[bisect_left(self.ends, old.valid_to)]
        for piece in added:
            insort(self.pieces, piece)
            insort(self.order, piece, key=fold_order)
            if piece.valid_to < DAY_MAX:
                insort(self.ends, piece.valid_to)
        return first

    def _order_index(self, piece: Piece) -> int:
        index = bisect_left(self.order, fold_order(piece), key=fold_order)
        while self.order[index] != piece:  # pieces of one report in one track: a few at most
            index += 1
        return index

    def fold_on(self, day: int) -> Payload | None:
        """The track's payload on `day`, from its active pieces.

        Counted without a scan: pieces started by `day` less pieces stopped by it. Bounds:
        back from the last piece asserted by `day` to the last active cumulative figure, then
        forward, so the additions happen in the order (and with the rounding) of a full fold.
        No active piece stating a number: low 0 and high None, nothing bounds the series above.
        """
        started = bisect_right(self.pieces, day, key=_start)
        reports = started - bisect_right(self.ends, day)
        if not reports:
            return None
        order = self.order
        index = bisect_right(order, day, key=_asserted) - 1
        last = 0
        tail: list[Piece] = []
        low: float = 0.0
        high: float | None = 0.0
        stated = False
        while index >= 0:
            piece = order[index]
            index -= 1
            if piece.valid_from > day or piece.valid_to <= day:
                continue
            if not last:
                last = piece.asserted_on
            if not piece.bounded:
                continue
            stated = True
            if piece.cumulative:
                low, high = piece.low, piece.high  # type: ignore[assignment]
                break
            tail.append(piece)
        if not stated:
            return (low, None, reports, last)
        for piece in reversed(tail):
            low = added(low, piece.low)  # type: ignore[arg-type]
            high = None if high is None or piece.high is None else added(high, piece.high)
        return (low, high, reports, last)

    def recompute(
        self, first: int, appended: list[Piece] | None = None
    ) -> tuple[int, list[tuple[int, int, Payload]]]:
        """Rows from the one holding the day before `first` on: `(index in rows, new rows)`.

        `appended` are the pieces a commit only added: when they extend the fold of their day
        (see `_extension`), that day costs as much as they do, not as much as the whole day.
        """
        rows, pieces, ends = self.rows, self.pieces, self.ends
        index = bisect_right(rows, first - 1, key=_row_start) - 1
        current: Payload | None = None
        since = 0
        if index >= 0 and rows[index][2] > first - 1:
            since, current = rows[index][1], rows[index][3]
        else:
            index += 1
        payload = current
        extended = self._extension(first, appended) if appended else None
        new: list[tuple[int, int, Payload]] = []
        at, end_at = bisect_left(pieces, first, key=_start), bisect_left(ends, first)
        count, end_count = len(pieces), len(ends)
        while at < count or end_at < end_count:
            day = min(
                pieces[at].valid_from if at < count else DAY_MAX,
                ends[end_at] if end_at < end_count else DAY_MAX,
            )
            stop = bisect_right(pieces, day, lo=at, key=_start)
            end_stop = bisect_right(ends, day, lo=end_at)
            if extended is not None and day == first:
                payload = extended
            elif end_stop > end_at or (stop > at and pieces[at].asserted_on != day):
                # a piece stops, or starts after it was asserted (pieces of a day are sorted
                # by assertion, and none is asserted after it starts: the first tells)
                payload = self.fold_on(day)
            else:  # pieces asserted on this day come after every active one: fold on
                try:
                    payload = fold(pieces[at:stop], payload)
                except Unsettled:
                    payload = self.fold_on(day)
            if payload != current:
                if current is not None:
                    new.append((since, day, current))
                since, current = day, payload
            at, end_at = stop, end_stop
        if current is not None:
            new.append((since, DAY_MAX, current))
        return index, new

    def _extension(self, day: int, appended: list[Piece]) -> Payload | None:
        """The payload on `day` as the old one folded on with `appended`, when that is exact.

        It is when the new pieces start on `day`, were asserted on it, and come last in its fold
        (the latest positions), every piece of the day was asserted on it and none stops on it:
        the day's fold is then the old one continued with them, in the same order.
        """
        if any(p.valid_from != day or p.asserted_on != day for p in appended):
            return None
        pieces, ends = self.pieces, self.ends
        low = bisect_left(pieces, day, key=_start)
        high = bisect_right(pieces, day, lo=low, key=_start)
        last = pieces[high - len(appended) : high]
        if pieces[low].asserted_on != day or last != sorted(appended):
            return None
        stops = bisect_left(ends, day)
        if stops < len(ends) and ends[stops] == day:
            return None
        on = bisect_right(self.rows, day, key=_row_start) - 1
        old = self.rows[on][3] if on >= 0 and self.rows[on][2] > day else None
        try:
            return fold(appended, old)
        except Unsettled:
            return None
