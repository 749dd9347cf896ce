"""How each delivery series grew: its bounds at every date where a figure could change.

The deliveries view answers one date. A series changes only on a date some event of a delivered
transfer names (a report's `asserted_on`, a retraction's or status change's `effective_on`), so
asking the view at each of those dates up to `as_of` gives the exact step lines.

The words of each step are those of the figure that set it, so which figures count in a series
on a day is the projection's rule, not another one: each development is folded as the
projections fold it, its pieces (`projections.tracks.contributions`: asserted, not retracted,
its status not refuted, retracted or withdrawn) say the days each report's figure counts, and
series whose actors differ in case alone are one, as the view shows them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from operator import itemgetter
from typing import NamedTuple

import msgspec

from events import Figure
from projections import ReadModels
from projections.deliveries import series_identity
from projections.query_deliveries import actor_in, involving
from projections.results import Deliveries, Series, Total
from projections.state import DevState
from projections.tracks import SeriesKey as Identity
from projections.tracks import contributions

MAX_DATES = 60  # beyond this many change dates, the lines are drawn through a sample of them


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
    current: Series | None
    last_figure: Figure | None
    # every supporting figure of the series recorded by T, by (asserted_on, position)
    figures: list[tuple[date, int, Figure]] = []
    # the days `[from, to)` on which each figure counts in the series, by position (see
    # `counted_figures`); a figure not in it counts from its `asserted_on` on
    counts: dict[int, list[tuple[date, date]]] = {}

    def said_by(self, day: date) -> Figure | None:
        """The figure of the latest report counted on `day`, whose words may say a step."""
        return said_by(self.figures, self.counts, day)

    def stops(self) -> dict[date, list[date]]:
        """By day, the `asserted_on` of each report whose figure counted until that day and
        does not from it (retracted, or its development's status no longer counts), so a step
        down says why; in the order of `figures`. One pass over the figures: a line is asked
        this at each of its steps."""
        found: dict[date, list[date]] = {}
        for asserted_on, position, _ in self.figures:
            days = self.counts.get(position, ())
            for end in sorted({end for _, end in days}):
                if not any(start <= end < stop for start, stop in days):
                    found.setdefault(end, []).append(asserted_on)
        return found


class Counted(NamedTuple):
    """A supporting report's figure in a series, and the days `[start, end)` it counts there."""

    asserted_on: date
    position: int  # of the event that created the report: orders reports of one day
    figure: Figure
    start: date
    end: date


class DeliveryHistory(msgspec.Struct, frozen=True, kw_only=True):
    """Every series up to `as_of`, the totals as of `as_of`, and whether dates were sampled."""

    as_of: date
    lines: list[Line]
    totals: list[Total]
    dates: int
    sampled: bool


def key_of(series: Series) -> SeriesKey:
    """The key of a row of the deliveries view."""
    return SeriesKey(series.supplier, series.recipient, series.category, series.unit,
                     series.originator)  # fmt: skip


def change_dates(state: DevState) -> Iterator[date]:
    """The dates on which this development can change what it counts: its reports' asserted
    and retraction dates, its status changes' effective dates."""
    for report in state.reports:
        yield date.fromordinal(report.asserted_on)
        if report.retracted_on is not None:
            yield date.fromordinal(report.retracted_on)
    for change in state.changes:
        yield date.fromordinal(change.effective_on)


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
    """One development's figures that count in a series on some day (variant 0: under every
    status that does not exclude it), with the series' identity; found once per state."""
    kept = _COUNTED.get(id(state))
    if kept is not None and kept[0] is state:
        return kept
    figures = {r.position: r.figure for r in state.reports if r.figure is not None}
    found = [
        (series_identity(key), Counted(
            date.fromordinal(piece.asserted_on), piece.position, figures[piece.position],
            date.fromordinal(piece.valid_from), date.fromordinal(piece.valid_to)))
        for key, variant, piece in contributions(state)
        if variant == 0
    ]  # fmt: skip
    kept = _COUNTED[id(state)] = (state, found)
    return kept


def said_by(figures: Sequence[tuple[date, int, Figure]],
            counts: dict[int, list[tuple[date, date]]], day: date) -> Figure | None:  # fmt: skip
    """Of `figures` in fold order, the last one counted on `day`: asserted by then and, when
    `counts` gives its days, counted on one of them."""
    for index in range(bisect_right(figures, day, key=itemgetter(0)) - 1, -1, -1):
        _, position, figure = figures[index]
        days = counts.get(position)
        if days is None or any(start <= day < end for start, end in days):
            return figure
    return None


def bounds_of(series: Series) -> tuple[float, float | None, bool]:
    """A counted series' bounds, comparable with a step's."""
    return series.low, series.high, True


def _sample(dates: list[date], most: int) -> list[date]:
    """At most `most` of `dates`, evenly spread, the last one kept."""
    if len(dates) <= most:
        return dates
    if most < 2:
        return dates[-1:] if most else []
    stride = len(dates) / (most - 1)
    picked = {dates[round(i * stride)] for i in range(most - 1)}
    return sorted(picked | {dates[-1]})


def steps_of(snapshots: list[tuple[date, Deliveries]]) -> dict[SeriesKey, list[Step]]:
    """Per series, a step where its bounds change (or it stops being counted), date by date."""
    steps: dict[SeriesKey, list[Step]] = {}
    for day, deliveries in snapshots:
        seen = set()
        for series in deliveries.series:
            key = key_of(series)
            seen.add(key)
            line = steps.setdefault(key, [])
            if not line or (line[-1].low, line[-1].high, line[-1].counted) != bounds_of(series):
                line.append(Step(day, series.low, series.high))
        for key, line in steps.items():
            if key not in seen and line[-1].counted:
                line.append(Step(day, 0.0, 0.0, counted=False))
    return steps


def delivery_history(
    read_models: ReadModels, *, as_of: date, known_at_us: int, actor: str | None = None
) -> DeliveryHistory:
    """The step lines of every delivery series up to `as_of`, as known at `known_at_us`; with
    `actor`, of the series it supplies or receives."""
    days: set[date] = {as_of}
    states = read_models.delivered_states(known_at_us=known_at_us)
    if actor is not None:
        states = [state for state in states if _involves(state, actor)]
    for state in states:
        days.update(change_dates(state))
    all_dates = sorted(day for day in days if day <= as_of)
    counted = counted_figures(states)
    # A sample keeps the day each series is first counted, so no line starts late, within half
    # the budget: the view is asked once per date, and each answer grows with the series
    firsts = sorted({min(c.start for c in items) for items in counted.values()} & set(all_dates))
    kept = _sample(firsts, max(2, MAX_DATES // 2)) if len(all_dates) > MAX_DATES else []
    dates = sorted(set(_sample(all_dates, MAX_DATES - len(kept))) | set(kept))
    snapshots = [
        (day, involving(read_models.deliveries(as_of=day, known_at_us=known_at_us), actor))
        for day in dates
    ]
    current = {key_of(series): series for series in snapshots[-1][1].series}
    lines = []
    for key, steps in sorted(steps_of(snapshots).items(), key=lambda item: _order(item[0])):
        found = counted.get(series_identity(key), [])
        figures = list({c.position: (c.asserted_on, c.position, c.figure) for c in found}.values())
        counts: dict[int, list[tuple[date, date]]] = {}
        for item in found:
            counts.setdefault(item.position, []).append((item.start, item.end))
        lines.append(Line(key=key, steps=steps, current=current.get(key),
                          last_figure=said_by(figures, counts, as_of), figures=figures,
                          counts=counts))  # fmt: skip
    return DeliveryHistory(as_of=as_of, lines=lines, totals=snapshots[-1][1].totals,
                           dates=len(all_dates), sampled=len(dates) < len(all_dates))  # fmt: skip


def _involves(state: DevState, actor: str) -> bool:
    actors = state.fields["actors"]
    return actor_in(actor, actors.get("supplier"), actors.get("recipient"))


def _order(key: SeriesKey) -> tuple[str, ...]:
    return tuple(part or "" for part in (key.unit, key.supplier, key.recipient, key.category,
                                          key.originator))  # fmt: skip
