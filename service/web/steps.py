"""How each delivery series grew: its bounds from every date where they changed.

Each development is folded as the projections fold it: its pieces
(`projections.tracks.contributions`: asserted, not retracted, its status not refuted, retracted
or withdrawn) say the days each report's figure counts in which series, and a series' bounds
by day are those the deliveries projection writes from its pieces (`Track.recompute`), so the
step lines are the view's answers on every day, at the days they change, exactly. Series whose
actors differ in case alone are one, as the view shows them. The words of each step are those
of the figure that set it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from operator import itemgetter
from typing import NamedTuple

import msgspec

from events import Figure
from projections import ReadModels
from projections.deliveries import series_identity
from projections.query_deliveries import actor_in, involving
from projections.results import Series, Total
from projections.state import DAY_MIN, DevState, valid_day
from projections.tracks import Piece, Track, contributions, fold_order
from projections.tracks import SeriesKey as Identity

# A series that changed more often is drawn, and tabled, through this many of its changes,
# evenly spread, each on its own day and with its own figures (the first and last kept): a page
# of every change of every series grew with the log (3.8 MB at 100k events, where 1.1 MB).
MAX_STEPS = 60


class SeriesKey(NamedTuple):
    """What one series counts: a unit of a category from supplier to recipient, by one source."""

    supplier: str | None
    recipient: str | None
    category: str | None
    unit: str
    originator: str


class Step(msgspec.Struct, frozen=True):
    """From `on`, the series' bounds; `counted` is false when the series had no figure then."""

    on: date
    low: float
    high: float | None
    counted: bool = True


class Line(msgspec.Struct, frozen=True, kw_only=True):
    """One series over time, its bounds as of D and the last figure that set them."""

    key: SeriesKey
    steps: list[Step]
    changes: int = 0  # the steps there were, when `steps` is a sample of them (else 0)
    current: Series | None
    last_figure: Figure | None
    # every supporting report of the series recorded by T with a figure, as (asserted_on,
    # position), in that order
    figures: list[tuple[date, int]] = []
    # the days `[from, to)` on which each figure counts in the series, by position (see
    # `counted_figures`); a figure not in it counts from its `asserted_on` on
    counts: dict[int, list[tuple[date, date]]] = {}
    # the figures themselves, by position: those that say a step or the line's last figure
    words: dict[int, Figure] = {}

    def said_by(self, day: date) -> Figure | None:
        """The figure of the latest report counted on `day`, whose words may say a step (a
        step's day, or the line's as-of: `words` holds the figures of those)."""
        position = said_by(self.figures, self.counts, day)
        return None if position is None else self.words[position]

    def stops(self) -> dict[date, list[date]]:
        """By day, the `asserted_on` of each report whose figure counted until that day and
        does not from it (retracted, or its development's status no longer counts), so a step
        down says why; in the order of `figures`. One pass over the figures: a line is asked
        this at each of its steps."""
        found: dict[date, list[date]] = {}
        for asserted_on, position in self.figures:
            days = self.counts.get(position, ())
            for end in sorted({end for _, end in days}):
                if not any(start <= end < stop for start, stop in days):
                    found.setdefault(end, []).append(asserted_on)
        return found


class Counted(NamedTuple):
    """A supporting report's figure in a series, and the days `[start, end)` it counts there:
    its piece of the series' track, and the series' key as this development spells it."""

    asserted_on: date
    position: int  # of the event that created the report: orders reports of one day
    figure: Figure
    start: date
    end: date
    piece: Piece
    key: Identity


class DeliveryHistory(msgspec.Struct, frozen=True, kw_only=True):
    """Every series up to `as_of`, and the totals as of `as_of`."""

    as_of: date
    lines: list[Line]
    totals: list[Total]


def key_of(series: Series) -> SeriesKey:
    """The key of a row of the deliveries view."""
    return SeriesKey(series.supplier, series.recipient, series.category, series.unit,
                     series.originator)  # fmt: skip


def counted_figures(states: Iterable[DevState]) -> dict[Identity, list[Counted]]:
    """Per series identity (its key with actors casefolded: `projections.deliveries`), every
    supporting figure that counts in it on some day, by (asserted_on, position), with the days
    it does: the pieces the deliveries projection folds for the series over every status."""
    found: dict[Identity, list[Counted]] = {}
    used: dict[int, _Counted] = {}
    for state in states:
        used[id(state)] = kept = _counted(state)
        for identity, item in kept[1]:
            found.setdefault(identity, []).append(item)
    if len(_COUNTED) > 2 * len(used) + 1_000:  # keep those of this overview, not every one's
        _COUNTED.clear()
        _COUNTED.update(used)
    for counted in found.values():
        counted.sort(key=lambda item: (item.asserted_on, item.position, item.start))
    return found


_Counted = tuple[DevState, list[tuple[Identity, Counted]]]
# What `_counted` found, by state: the read models keep the states of delivered transfers
# between positions (`DeliveredStates`), so most states of an overview are those of the last.
_COUNTED: dict[int, _Counted] = {}


def _counted(state: DevState) -> _Counted:
    """`_count`, found once per state."""
    kept = _COUNTED.get(id(state))
    if kept is not None and kept[0] is state:
        return kept
    kept = _COUNTED[id(state)] = (state, _count(state))
    return kept


def _count(state: DevState) -> list[tuple[Identity, Counted]]:
    """One development's figures that count in a series on some day (variant 0: under every
    status that does not exclude it), with the series' identity."""
    figures = {r.position: r.figure for r in state.reports if r.figure is not None}
    return [
        (series_identity(key), Counted(
            date.fromordinal(piece.asserted_on), piece.position, figures[piece.position],
            date.fromordinal(piece.valid_from), date.fromordinal(piece.valid_to), piece, key))
        for key, variant, piece in contributions(state)
        if variant == 0
    ]  # fmt: skip


class Counting(NamedTuple):
    """What the step lines are drawn from: every series' pieces over the statuses that count,
    by identity; and `reports`, which finds the reports created at some positions, with their
    figures and their series' key as their development spells it."""

    pieces: dict[Identity, list[Piece]]
    reports: Callable[[set[int]], dict[int, Counted]]


def _folded(states: Iterable[DevState]) -> Counting:
    """From delivered transfers folded from their events."""
    found = counted_figures(states)
    by_position = {item.position: item for items in found.values() for item in items}
    pieces = {identity: [item.piece for item in items] for identity, items in found.items()}
    return Counting(pieces, lambda positions: by_position)


def _kept(read_models: ReadModels, position: int, series: dict[Identity, list[Piece]]) -> Counting:
    """From the pieces the deliveries projection keeps, as of P: only the developments of the
    reports asked for are folded from their events."""

    def reports(positions: set[int]) -> dict[int, Counted]:
        found: dict[int, Counted] = {}
        for state in read_models.reporting(position, positions) if positions else []:
            for _, item in _count(state):
                if item.position in positions:
                    found[item.position] = item
        return found

    return Counting(series, reports)


def _counting(read_models: ReadModels, known_at_us: int, actor: str | None,
              kept: bool) -> Counting:  # fmt: skip
    """The pieces of every series recorded by T (with `actor`, of those it supplies or
    receives): those the deliveries projection keeps, as of P (`ReadModels.series_pieces`),
    else the pieces of every delivered transfer folded from its events (their cost grows
    with them)."""
    at_head = read_models.series_pieces(known_at_us=known_at_us) if kept else None
    if at_head is None:
        states = read_models.delivered_states(known_at_us=known_at_us)
        if actor is not None:
            states = [state for state in states if _involves(state, actor)]
        return _folded(states)
    position, series = at_head
    return _kept(read_models, position, {
        series_identity(key): pieces for key, pieces in series.items()
        if actor is None or actor_in(actor, key[0], key[1])
    })  # fmt: skip


_LAST_DAY = date.fromordinal(valid_day(date.max))


def said_by(figures: Sequence[tuple[date, int]],
            counts: dict[int, list[tuple[date, date]]], day: date) -> int | None:  # fmt: skip
    """Of the reports `figures` (asserted_on, position) in fold order, the position of the last
    one counted on `day`: asserted by then and, when `counts` gives its days, counted on one of
    them."""
    day = min(day, _LAST_DAY)  # as the views read the last day of the calendar
    for index in range(bisect_right(figures, day, key=itemgetter(0)) - 1, -1, -1):
        position = figures[index][1]
        days = counts.get(position)
        if days is None or any(start <= day < end for start, end in days):
            return position
    return None


def bounds_of(series: Series) -> tuple[float, float | None, bool]:
    """A counted series' bounds, comparable with a step's."""
    return series.low, series.high, True


def steps_of(pieces: list[Piece], as_of: date) -> list[Step]:
    """A series' steps up to `as_of` from its pieces: a step where its bounds change, and one
    where it stops being counted, on their days."""
    last = valid_day(as_of)  # as the views read the last day of the calendar
    found: list[Step] = []
    counted_to = None  # the end of the row before: a gap after it is a stop
    for since, until, (low, high, _, _) in Track(pieces, []).recompute(DAY_MIN)[1]:
        if since > last:
            break
        if counted_to is not None and counted_to < since:
            found.append(Step(date.fromordinal(counted_to), 0.0, 0.0, counted=False))
        if not found or (found[-1].low, found[-1].high, found[-1].counted) != (low, high, True):
            found.append(Step(date.fromordinal(since), low, high))
        counted_to = until
    if counted_to is not None and counted_to <= last:
        found.append(Step(date.fromordinal(counted_to), 0.0, 0.0, counted=False))
    return found


def delivery_history(
    read_models: ReadModels,
    *,
    as_of: date,
    known_at_us: int,
    actor: str | None = None,
    kept: bool = True,
) -> DeliveryHistory:
    """The step lines of every delivery series up to `as_of`, as known at `known_at_us`; with
    `actor`, of the series it supplies or receives. Drawn from the pieces the deliveries
    projection keeps, as of the position of `known_at_us` (`kept`; False folds every delivered
    transfer, as when too many developments changed since: the two agree)."""
    counting = _counting(read_models, known_at_us, actor, kept)
    view = involving(read_models.deliveries(as_of=as_of, known_at_us=known_at_us), actor)
    current = {series_identity(key_of(series)): series for series in view.series}
    drafts = []
    wanted: set[int] = set()  # the reports whose figures or spelling a line needs
    for identity, pieces in counting.pieces.items():
        steps = steps_of(pieces, as_of)
        if not steps:
            continue
        changes = len(steps) if len(steps) > MAX_STEPS else 0
        if changes:
            last = len(steps) - 1
            steps = [steps[round(i * last / (MAX_STEPS - 1))] for i in range(MAX_STEPS)]
        ordered = sorted(pieces, key=fold_order)
        figures = list({p.position: (date.fromordinal(p.asserted_on), p.position)
                        for p in ordered}.values())  # fmt: skip
        counts: dict[int, list[tuple[date, date]]] = {}
        for p in ordered:
            span = (date.fromordinal(p.valid_from), date.fromordinal(p.valid_to))
            counts.setdefault(p.position, []).append(span)
        days = [*(step.on for step in steps), as_of]
        said = {p for p in (said_by(figures, counts, day) for day in days) if p is not None}
        shown = current.get(identity)
        first = min(p.position for p in pieces)
        wanted.update(said, [] if shown is not None else [first])
        drafts.append((steps, changes, shown, first, figures, counts, said))
    found = counting.reports(wanted)
    lines = []
    for steps, changes, shown, first, figures, counts, said in drafts:
        key = key_of(shown) if shown is not None else _spelt(found[first].key)
        words = {position: found[position].figure for position in said}
        last_said = said_by(figures, counts, as_of)
        lines.append(Line(key=key, steps=steps, changes=changes, current=shown,
                          last_figure=None if last_said is None else words[last_said],
                          figures=figures, counts=counts, words=words))  # fmt: skip
    lines.sort(key=lambda line: _order(line.key))
    return DeliveryHistory(as_of=as_of, lines=lines, totals=view.totals)


def _spelt(key: Identity) -> SeriesKey:
    """A series no longer in the view, as the development that first counted in it spelt it."""
    supplier, recipient, category, unit, originator = key
    return SeriesKey(None if supplier is None else supplier.strip(),
                     None if recipient is None else recipient.strip(), category, unit,
                     originator.strip())  # fmt: skip


def _involves(state: DevState, actor: str) -> bool:
    actors = state.fields["actors"]
    return actor_in(actor, actors.get("supplier"), actors.get("recipient"))


def _order(key: SeriesKey) -> tuple[str, ...]:
    return tuple(part or "" for part in (key.unit, key.supplier, key.recipient, key.category,
                                          key.originator))  # fmt: skip
