"""How each delivery series grew: its bounds at every date where a figure could change.

The deliveries view answers one date. A series changes only on a date some event of a delivered
transfer names (a report's `asserted_on`, a retraction's or status change's `effective_on`), so
asking the view at each of those dates up to `as_of` gives the exact step lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any, NamedTuple
from uuid import UUID

import msgspec

from events import (
    DevelopmentReported,
    Figure,
    Recorded,
    ReportAdded,
    ReportCorrected,
    ReportRetracted,
    StatusChanged,
)
from projections import ReadModels
from projections.results import Deliveries, Detail, Series, Total
from service.application import Timeline

MAX_DATES = 60  # beyond this many change dates, the lines are drawn through a sample of them
PAGE = 500


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

    def said_by(self, day: date) -> Figure | None:
        """The figure of the latest report asserted by `day`, whose words may say a step."""
        found = None
        for asserted_on, _, figure in self.figures:
            if asserted_on > day:
                break
            found = figure
        return found


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


def change_dates(stream: Iterable[Recorded]) -> Iterator[date]:
    """The dates on which this development's events can change what it counts."""
    for recorded in stream:
        match recorded.event:
            case DevelopmentReported(report=report) | ReportAdded(report=report):
                yield report.asserted_on
            case ReportCorrected(changes=changes) if isinstance(changes.asserted_on, date):
                yield changes.asserted_on
            case ReportRetracted(effective_on=day) | StatusChanged(effective_on=day):
                yield day


def _delivered(read_models: ReadModels, as_of: date, known_at_us: int) -> list[Detail]:
    found, cursor = [], None
    while True:
        page = read_models.timeline(as_of=as_of, known_at_us=known_at_us, kind="transfer",
                                    limit=PAGE, after=cursor)  # fmt: skip
        for row in page.items:
            if row.stage == "delivered":
                detail = read_models.development(row.development_id, as_of=as_of,
                                                 known_at_us=known_at_us)  # fmt: skip
                if detail is not None:
                    found.append(detail)
        if page.next is None:
            return found
        cursor = page.next


def figures_of(details: Iterable[Detail], *, active: bool) -> dict[SeriesKey, list[Any]]:
    """Per series, (asserted_on, position, figure) of its supporting reports in that order:
    the active ones as of D, or every one recorded by T."""
    found: dict[SeriesKey, list[Any]] = {}
    for detail in details:
        row = detail.development
        category = (row.item or {}).get("category")
        for report in detail.reports:
            figure = report.report.figure
            if (active and not report.active) or report.report.stance != "supports":
                continue
            if figure is None:
                continue
            key = SeriesKey(row.actors.get("supplier"), row.actors.get("recipient"), category,
                            figure.unit, report.report.source.originator)  # fmt: skip
            found.setdefault(key, []).append((report.report.asserted_on, report.position, figure))
    for figures in found.values():
        figures.sort(key=lambda item: item[:2])
    return found


def last_figures(details: Iterable[Detail]) -> dict[SeriesKey, Figure]:
    """Per series, the figure of its latest active supporting report."""
    return {key: found[-1][2] for key, found in figures_of(details, active=True).items()}


def bounds_of(series: Series) -> tuple[float, float | None, bool]:
    """A counted series' bounds, comparable with a step's."""
    return series.low, series.high, True


def _sample(dates: list[date]) -> list[date]:
    if len(dates) <= MAX_DATES:
        return dates
    stride = len(dates) / (MAX_DATES - 1)
    picked = {dates[round(i * stride)] for i in range(MAX_DATES - 1)}
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


def delivery_history(read_models: ReadModels, timeline: Timeline, *, as_of: date,
                     known_at_us: int) -> DeliveryHistory:  # fmt: skip
    """The step lines of every delivery series up to `as_of`, as known at `known_at_us`."""
    details = _delivered(read_models, as_of, known_at_us)
    days: set[date] = {as_of}
    for detail in details:
        development: UUID = detail.development.development_id
        days.update(change_dates(timeline.stream(development, until_us=known_at_us)))
    all_dates = sorted(day for day in days if day <= as_of)
    dates = _sample(all_dates)
    snapshots = [(day, read_models.deliveries(as_of=day, known_at_us=known_at_us)) for day in dates]
    current = {key_of(series): series for series in snapshots[-1][1].series}
    figures, recorded = last_figures(details), figures_of(details, active=False)
    lines = [
        Line(
            key=key,
            steps=steps,
            current=current.get(key),
            last_figure=figures.get(key),
            figures=recorded.get(key, []),
        )
        for key, steps in sorted(steps_of(snapshots).items(), key=lambda item: _order(item[0]))
    ]
    return DeliveryHistory(as_of=as_of, lines=lines, totals=snapshots[-1][1].totals,
                           dates=len(all_dates), sampled=len(dates) < len(all_dates))  # fmt: skip


def _order(key: SeriesKey) -> tuple[str, ...]:
    return tuple(part or "" for part in (key.unit, key.supplier, key.recipient, key.category,
                                          key.originator))  # fmt: skip
