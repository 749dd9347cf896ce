"""The deliveries chart as SVG geometry: one panel per unit, a step line and band per series.

y is the series' low bound; the band reaches its high bound, or the top of the panel (an open
band) when the high is unbounded. Series are drawn side by side, never added together.
"""

from __future__ import annotations

import hashlib
import math
from datetime import MAXYEAR, date, timedelta
from itertools import groupby
from operator import itemgetter

import msgspec

from projections.results import Total
from service.web import words
from service.web.steps import DeliveryHistory, Line, Step

WIDTH, HEIGHT = 480, 230
LEFT, RIGHT, TOP, BOTTOM = 70, 14, 16, 30
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
COLOURS = 6  # palette size in the stylesheet: .c0 … .c5
DASHES = ("", "6 3", "2 3")
_NO_NUMBER = "a report without a number"


class Tick(msgspec.Struct, frozen=True):
    """An axis tick: where it sits and what it says."""

    at: float
    text: str


class Point(msgspec.Struct, frozen=True, kw_only=True):
    """A change of a series' bounds on a day, and what it said; `unstated`: no number."""

    x: float
    y: float
    on: date
    said: str
    unstated: bool = False


class Trace(msgspec.Struct, frozen=True, kw_only=True):
    """One series drawn: line, bounded band, open band, change points and words."""

    name: str
    colour: int
    dash: str
    line: str
    band: str
    open_band: list[str]  # a path per step, each fading up from its own line
    points: list[Point]
    summary: str
    unstated: bool  # only reports without a number: drawn as markers, no line
    rows: list[tuple[date, str]]  # the table: each point's words, and each day it stops counting
    changes: int = 0  # how many changes `rows` are a sample of (`steps.MAX_STEPS`), else 0


class Panel(msgspec.Struct, frozen=True, kw_only=True):
    """One unit: its traces, axes and the totals of its series (never a sum)."""

    unit: str
    title: str
    subtitle: str
    traces: list[Trace]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    totals: list[str]


def nice_step(value: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten not below `value`, and at least 1."""
    if value <= 1:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= value))


def y_ticks(highest: float) -> list[float]:
    """Tick values from 0 in round steps, the last one just above `highest`."""
    step = nice_step(highest / 3)
    count = max(1, math.ceil(highest * 1.05 / step))
    return [step * i for i in range(count + 1)]


def _unstated(step: Step, line: Line) -> bool:
    """From this step, the series counts reports that gave no number: nothing to draw as a
    quantity. The figure is the one that set the step, not the series' last one; the view
    says such a series as low 0 and high 0 or none (unbounded: nothing bounds it above)."""
    figure = line.said_by(step.on)
    return step.low == 0 and not step.high and figure is not None and figure.bounds() is None


class Scale(msgspec.Struct, frozen=True):
    """Dates to x and quantities to y, inside the plot area."""

    start: date
    end: date
    top: float

    def x(self, day: date) -> float:
        """Horizontal position of a day."""
        span = max((self.end - self.start).days, 1)
        return round(LEFT + PLOT_W * (day - self.start).days / span, 1)

    def y(self, value: float) -> float:
        """Vertical position of a quantity."""
        return round(TOP + PLOT_H * (1 - min(value, self.top) / self.top), 1)


def _segments(steps: list[Step], end: date) -> list[tuple[Step, date]]:
    stops = [s.on for s in steps[1:]] + [end]
    return [(s, stop) for s, stop in zip(steps, stops, strict=True) if s.counted]


def _trace(line: Line, scale: Scale, name: str, colour: int, dash: str) -> Trace:
    path, band, open_band, points = [], [], [], []
    previous_stop: date | None = None
    stops = line.stops()
    for step, stop in _segments(line.steps, scale.end):
        x0, x1, y = scale.x(step.on), scale.x(stop), scale.y(step.low)
        if _unstated(step, line):
            points.append(Point(x=x0, y=y, on=step.on, said=_NO_NUMBER, unstated=True))
            previous_stop = None
            continue
        path.append(f"V{y}H{x1}" if previous_stop == step.on else f"M{x0} {y}H{x1}")
        previous_stop = stop
        if step.high is None:
            open_band.append(f"M{x0} {TOP}H{x1}V{y}H{x0}Z")
        elif step.high > step.low:
            band.append(f"M{x0} {scale.y(step.high)}H{x1}V{y}H{x0}Z")
        said = words.series_text(step.low, step.high, line.key.unit, line.said_by(step.on))
        said += words.no_longer_counted(stops.get(step.on, []))
        points.append(Point(x=x0, y=y, on=step.on, said=said))
    rows = [(point.on, point.said) for point in points] + _stop_rows(line.steps, stops)
    return Trace(name=name, colour=colour, dash=dash, line="".join(path), band="".join(band),
                 open_band=open_band, points=points, summary=_summary(line, name),
                 unstated=all(point.unstated for point in points),
                 rows=sorted(rows, key=itemgetter(0)), changes=line.changes)  # fmt: skip


def _stop_rows(steps: list[Step], stops: dict[date, list[date]]) -> list[tuple[date, str]]:
    """A table row for each step at which the series stops being counted, with the reports
    that stopped counting since the step before: on its day, or by then (one that stopped
    earlier without changing the bounds)."""
    rows, previous = [], None
    for step in steps:
        if not step.counted:
            days = [day for day in stops if (previous is None or previous < day <= step.on)]
            asserted = [on for day in sorted(days) for on in stops[day]]
            rows.append((step.on, words.not_counted(asserted, on_the_day=days == [step.on])))
        previous = step.on
    return rows


def _summary(line: Line, name: str) -> str:
    current = line.current
    if current is None:
        return (
            f"{name}: not counted as of this date (its reports were retracted, or their "
            "developments' status was refuted, retracted or withdrawn)"
        )
    said = words.series_text(current.low, current.high, current.unit, line.last_figure)
    reports = f"{current.reports} report" + ("" if current.reports == 1 else "s")
    return f"{name}: {said} (last reported {current.last_asserted_on.isoformat()}, {reports})"


# Months between ticks: at most five spans on an axis, each a round number of months or years.
_YEARS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
_TICK_MONTHS = (1, 3, 6, *(12 * years for years in _YEARS))


def _x_ticks(scale: Scale) -> list[Tick]:
    months = (scale.end.year - scale.start.year) * 12 + scale.end.month - scale.start.month
    every = next((m for m in _TICK_MONTHS if months / m <= 5), _TICK_MONTHS[-1])
    ticks: list[Tick] = []
    # months counted from January of year 0, so that ticks fall on round years (2020, 2030)
    first = scale.start.year * 12 + scale.start.month  # the month after the start's
    for index in range(first + -first % every, (MAXYEAR + 1) * 12, every):
        day = date(index // 12, index % 12 + 1, 1)
        if day > scale.end:
            break
        # a month alone, but the first tick says its year: an axis may show no January
        month_name = f"{day:%b}" if ticks else f"{day:%b} {day.year}"
        ticks.append(Tick(scale.x(day), str(day.year) if day.month == 1 else month_name))
    return ticks


def _name(line: Line, shared: bool) -> str:
    if shared:
        return line.key.originator
    route = f"{words.actor(line.key.supplier)} → {words.actor(line.key.recipient)}"
    return f"{line.key.originator} ({route}, {words.label(line.key.category)})"


def _route(line: Line) -> tuple[str | None, str | None, str | None]:
    return line.key.supplier, line.key.recipient, line.key.category


def _totals(unit: str, totals: list[Total], lines: list[Line]) -> list[str]:
    said = []
    for total in totals:
        route = (total.supplier, total.recipient, total.category)
        counted = [x for x in lines if _route(x) == route and x.current is not None]
        if total.unit == unit and len(counted) > 1:
            # in the words of the figure that gave it, when one series has both its bounds
            largest = [x.last_figure for x in counted if x.current and
                       (x.current.low, x.current.high) == (total.low, total.high)]  # fmt: skip
            figure = words.series_text(total.low, total.high, unit, (largest or [None])[0])
            said.append(
                f"{words.actor(total.supplier)} → {words.actor(total.recipient)}, the largest "
                f"figure of any source: {figure} (never a sum of sources)"
            )
    return said


def colours_of(originators: list[str]) -> list[int]:
    """A colour per originator that stays the same at every date; the next free one on a clash."""
    taken: dict[str, int] = {}
    for name in originators:
        if name not in taken:
            colour = int(hashlib.sha256(name.encode()).hexdigest(), 16) % COLOURS
            while colour in taken.values() and len(taken) < COLOURS:
                colour = (colour + 1) % COLOURS
            taken[name] = colour
    return [taken[name] for name in originators]


def _start(lines: list[Line], as_of: date) -> date:
    """The panel's first day: a little before its first figure, so the first step shows."""
    first = min(line.steps[0].on for line in lines)
    return first - timedelta(days=max(20, (as_of - first).days // 12))


def panels(history: DeliveryHistory) -> list[Panel]:
    """One panel per unit, each from its first figure to `as_of`; one colour per originator."""
    lines = [line for line in history.lines if line.steps]
    if not lines:
        return []
    drawn = []
    for unit, grouped in groupby(lines, key=lambda line: line.key.unit):
        unit_lines = list(grouped)
        highest = max(max(s.low, s.high or 0) for line in unit_lines for s in line.steps)
        ticks = y_ticks(highest)
        scale = Scale(_start(unit_lines, history.as_of), history.as_of, ticks[-1])
        shared = len({_route(line) for line in unit_lines}) == 1
        colours = colours_of([line.key.originator for line in unit_lines])
        traces = [
            _trace(line, scale, _name(line, shared), colour, DASHES[i % len(DASHES)])
            for i, (line, colour) in enumerate(zip(unit_lines, colours, strict=True))
        ]
        top = unit_lines[0]
        subtitle = (f"{words.actor(top.key.supplier)} → {words.actor(top.key.recipient)}, "
                    f"{words.label(top.key.category)}") if shared else "several routes"  # fmt: skip
        drawn.append(Panel(unit=unit, title=words.capital(words.unit_name(unit)),
                           subtitle=subtitle, traces=traces,
                           y_ticks=[Tick(scale.y(v), words.compact(v)) for v in ticks],
                           x_ticks=_x_ticks(scale),
                           totals=_totals(unit, history.totals, unit_lines)))  # fmt: skip
    return drawn
