"""Reference implementation of the views of DESIGN §4, computed by replaying the log.

The oracle for property-based tests of the indexed, bitemporal read models in `projections/`.
Clarity over speed: every call replays the whole log it is given; nothing is cached or indexed.
No database: the input is a list of `events.Recorded` (any order; it is replayed in position order).

Two time axes, as in DESIGN §2 and §4:
- `known_at_us` (system time T, microseconds since the epoch, UTC): only events with
  `to_micros(recorded_at) <= known_at_us` exist. Everything else is ignored.
- `as_of` (valid time D, a date): a report is active as of D when its (corrected) `asserted_on`
  is on or before D and it has no retraction with `effective_on` on or before D; a development is
  visible when it has at least one active report; its status as of D is that of the latest
  `status_changed` with `effective_on <= D` (ties: the later position), else its initial status.

Corrections (`development_corrected`, `report_corrected`) fix our coding: every one recorded by T is
applied, in position order, whatever D is.

Interpretations where DESIGN is silent (the read models must agree with these):
- `first_reported_on` / `last_reported_on`: min / max `asserted_on` of the reports ACTIVE as of D
  (None when the development is not visible). A retracted first report therefore moves
  `first_reported_on` forward from the retraction's `effective_on`.
- `reports` on a development counts the reports active as of D; `total_reports` counts every
  report recorded by T (active or not, retracted or not, asserted after D or not).
- `version`: the number of the development's events recorded by T (in a well-formed stream, the
  `version` of its latest event recorded by T).
- Orders: `developments` returns every development recorded by T in the position of its
  `development_reported`; `timeline` and `allegations` order by `first_reported_on`, then that
  position.
- Detail: lists every report recorded by T (also those asserted after D, with `active=False`);
  a retraction recorded by T is shown even when its `effective_on` is after D (the report is then
  still `active`): the service knows of it, the flag says whether it applies on D.
- Deliveries: a series starts at `low = 0, high = 0` before its first figure. In `asserted_on`
  order (ties: the position of the event that created the report, not of its corrections) a
  cumulative figure replaces both bounds (`high` None when the figure is open-ended), an
  increment adds to both (`None + x = None`: an unbounded high stays unbounded), and an
  `unspecified` figure (increment or cumulative) leaves the bounds as they are but still counts in
  `reports`. A series none of whose active figures states a number (all unspecified) has nothing
  bounding it above: it reads `low 0, high None, reports n`, and so its total's high is None.
  Once a figure states a number, unspecified ones before or after it change only `reports`.
  `last_asserted_on` is the latest `asserted_on` among the series' contributing reports.
  `supplier`, `recipient` and `category` are None when the development names no such
  actor or item, and stay None in the keys.
  Actors that differ in case alone are one (`PRK`, `prk`): one series, one total. Which spelling
  a series shows is the service's choice (the first one it folded); compare with `folded`.
  Filters: `supplier`, `recipient`, `category` and `unit` match case-insensitively; `status`
  matches exactly. Filters select series; totals are computed over the selected series.
  Rows are sorted by key, None before any string.
- Allegations: `status_since` is the day the status as of D has held since: the `effective_on`
  of the earliest of the latest changes effective by D that all set that status (a change to
  the status the development already has re-affirms it; one overridden on its own day by a
  later change never held), or `first_reported_on` when that run of changes reaches back to
  the initial status. `age_days` = D - `first_reported_on`.
- A log that is not well formed (a stream event before its `development_reported`, a correction or
  retraction of a report that does not exist, a second `development_reported` for one id) raises
  `ValueError`: the oracle refuses to guess. A second retraction of one report (the domain refuses
  it) would replace the first, as in `service.domain.evolve`.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import get_args
from uuid import UUID

import msgspec
from msgspec import structs

from events import (
    Actors,
    DevelopmentCorrected,
    DevelopmentReported,
    Figure,
    Item,
    Recorded,
    Report,
    ReportAdded,
    ReportCorrected,
    ReportRetracted,
    Stance,
    Status,
    StatusChanged,
    changed_fields,
    parse_edtf,
)
from events.values import Kind, Stage
from service.store.records import to_micros

STANCES: tuple[Stance, ...] = get_args(Stance)
ALLEGATION_STATUSES: frozenset[str] = frozenset({"alleged", "corroborated", "disputed"})
DELIVERY_EXCLUDED_STATUSES: frozenset[str] = frozenset({"refuted", "retracted", "withdrawn"})


# --- results ----------------------------------------------------------------------------------


class RefRetraction(msgspec.Struct, frozen=True, kw_only=True):
    """A report's retraction as recorded: from which date, why, and the event's position."""

    effective_on: date
    reason: str
    position: int


class RefReport(msgspec.Struct, frozen=True, kw_only=True):
    """One report of a development as of (D, T)."""

    number: int
    position: int  # of the event that created the report (development_reported or report_added)
    report: Report  # its fields with every correction recorded by T applied
    active: bool  # as of D
    retraction: RefRetraction | None  # recorded by T, whatever its effective_on
    corrections: int  # report_corrected events recorded by T


class RefDevelopment(msgspec.Struct, frozen=True, kw_only=True):
    """One development as of (D, T), as a row of the timeline."""

    development_id: UUID
    position: int  # of its development_reported event
    version: int  # number of its events recorded by T
    kind: Kind
    title: str
    stage: Stage | None
    actors: Actors
    item: Item | None
    occurred: str | None
    status: Status  # as of D
    visible: bool  # at least one active report as of D
    first_reported_on: date | None  # min asserted_on of active reports; None when not visible
    last_reported_on: date | None  # max asserted_on of active reports; None when not visible
    reports: int  # active reports as of D
    total_reports: int  # every report recorded by T


class RefDetail(msgspec.Struct, frozen=True, kw_only=True):
    """`GET /api/developments/{id}`: the development, its reports, and whether it is visible."""

    development: RefDevelopment
    visible: bool
    reports: tuple[RefReport, ...]  # every report recorded by T, by number


class RefSeries(msgspec.Struct, frozen=True, kw_only=True):
    """One deliveries series: one originator's count of one unit of one category, A to B."""

    supplier: str | None
    recipient: str | None
    category: str | None
    unit: str
    originator: str
    low: float
    high: float | None  # None: unbounded
    reports: int  # contributing reports, unspecified figures included
    last_asserted_on: date


class RefTotal(msgspec.Struct, frozen=True, kw_only=True):
    """Total per (supplier, recipient, category, unit): the largest series, never a sum."""

    supplier: str | None
    recipient: str | None
    category: str | None
    unit: str
    low: float  # the largest series low
    high: float | None  # the largest series high when every series has one, else None


class RefDeliveries(msgspec.Struct, frozen=True, kw_only=True):
    """`GET /api/views/deliveries`: series and totals, each sorted by key (None first)."""

    series: tuple[RefSeries, ...]
    totals: tuple[RefTotal, ...]


class RefAllegation(msgspec.Struct, frozen=True, kw_only=True):
    """`GET /api/views/allegations`: one open claim as of D."""

    development_id: UUID
    position: int
    title: str
    kind: Kind
    status: Status
    status_since: date
    first_reported_on: date
    age_days: int
    stances: dict[Stance, int]  # active reports by stance; all five stances are keys


# --- replay (system time T) -------------------------------------------------------------------


@dataclass
class _ReportState:
    number: int
    position: int
    report: Report
    corrections: int = 0
    retraction: RefRetraction | None = None


@dataclass
class _StatusChange:
    status: Status
    effective_on: date
    position: int


@dataclass
class _DevelopmentState:
    development_id: UUID
    position: int
    events: int
    kind: Kind
    title: str
    stage: Stage | None
    actors: Actors
    item: Item | None
    occurred: str | None
    initial_status: Status
    reports: list[_ReportState] = field(default_factory=list)
    status_changes: list[_StatusChange] = field(default_factory=list)


def _known(log: Iterable[Recorded], known_at_us: int) -> list[Recorded]:
    """The events recorded by T, in position order."""
    return sorted(
        (r for r in log if to_micros(r.recorded_at) <= known_at_us), key=lambda r: r.position
    )


def _replay(log: Iterable[Recorded], known_at_us: int) -> dict[UUID, _DevelopmentState]:
    """Every development recorded by T, in the position of its `development_reported`."""
    states: dict[UUID, _DevelopmentState] = {}
    for recorded in _known(log, known_at_us):
        event, dev_id = recorded.event, recorded.development_id
        if isinstance(event, DevelopmentReported):
            if dev_id in states:
                raise ValueError(f"development {dev_id} reported again at {recorded.position}")
            states[dev_id] = _DevelopmentState(
                development_id=dev_id,
                position=recorded.position,
                events=1,
                kind=event.kind,
                title=event.title,
                stage=event.stage,
                actors=event.actors,
                item=event.item,
                occurred=event.occurred,
                initial_status=event.status,
                reports=[_ReportState(number=1, position=recorded.position, report=event.report)],
            )
            continue
        state = states.get(dev_id)
        if state is None:
            raise ValueError(f"{recorded.type} at position {recorded.position} before its report")
        state.events += 1
        if isinstance(event, ReportAdded):
            number = len(state.reports) + 1
            state.reports.append(
                _ReportState(number=number, position=recorded.position, report=event.report)
            )
        elif isinstance(event, ReportCorrected):
            target = _report(state, event.report, recorded)
            fields = {name: getattr(event.changes, name) for name in changed_fields(event.changes)}
            target.report = structs.replace(target.report, **fields)
            target.corrections += 1
        elif isinstance(event, ReportRetracted):
            target = _report(state, event.report, recorded)
            target.retraction = RefRetraction(
                effective_on=event.effective_on, reason=event.reason, position=recorded.position
            )
        elif isinstance(event, DevelopmentCorrected):
            for name in changed_fields(event.changes):
                setattr(state, name, getattr(event.changes, name))
        elif isinstance(event, StatusChanged):
            state.status_changes.append(
                _StatusChange(event.status, event.effective_on, recorded.position)
            )
        else:  # pragma: no cover - the catalogue has no other event types
            raise TypeError(f"unknown event {type(event).__name__}")
    return states


def _report(state: _DevelopmentState, number: int, recorded: Recorded) -> _ReportState:
    if not 1 <= number <= len(state.reports):
        raise ValueError(
            f"{recorded.type} at position {recorded.position}: "
            f"development {state.development_id} has no report #{number}"
        )
    return state.reports[number - 1]


# --- valid time D -----------------------------------------------------------------------------


def _active(report: _ReportState, as_of: date) -> bool:
    retracted = report.retraction is not None and report.retraction.effective_on <= as_of
    return report.report.asserted_on <= as_of and not retracted


def _active_reports(state: _DevelopmentState, as_of: date) -> list[_ReportState]:
    return [r for r in state.reports if _active(r, as_of)]


def _governing_change(state: _DevelopmentState, as_of: date) -> _StatusChange | None:
    """The latest status change effective by D (ties: the later position), if any."""
    effective = [c for c in state.status_changes if c.effective_on <= as_of]
    if not effective:
        return None
    return max(effective, key=lambda c: (c.effective_on, c.position))


def _status_since(state: _DevelopmentState, as_of: date) -> date | None:
    """The first day of the run of same-status changes in force at D; None back to the start."""
    effective = sorted(
        (c for c in state.status_changes if c.effective_on <= as_of),
        key=lambda c: (c.effective_on, c.position),
    )
    in_force = {change.effective_on: change for change in effective}  # a tie: the later one
    status, since = state.initial_status, None
    for day in sorted(in_force):
        if in_force[day].status != status:
            status, since = in_force[day].status, day
    return since


def _status(state: _DevelopmentState, as_of: date) -> Status:
    change = _governing_change(state, as_of)
    return state.initial_status if change is None else change.status


def _row(state: _DevelopmentState, as_of: date) -> RefDevelopment:
    active_dates = [r.report.asserted_on for r in _active_reports(state, as_of)]
    return RefDevelopment(
        development_id=state.development_id,
        position=state.position,
        version=state.events,
        kind=state.kind,
        title=state.title,
        stage=state.stage,
        actors=state.actors,
        item=state.item,
        occurred=state.occurred,
        status=_status(state, as_of),
        visible=bool(active_dates),
        first_reported_on=min(active_dates, default=None),
        last_reported_on=max(active_dates, default=None),
        reports=len(active_dates),
        total_reports=len(state.reports),
    )


def _timeline_key(row: RefDevelopment) -> tuple[date, int]:
    assert row.first_reported_on is not None, "only visible developments are ordered by date"
    return (row.first_reported_on, row.position)


def name_key(name: str) -> str:
    """Names (actor ids, originators) equal but for case, spaces (around, or a run for one),
    format characters and compatibility forms (NFKC) are one."""
    text = unicodedata.normalize("NFKC", name)
    return " ".join("".join(c for c in text if unicodedata.category(c) != "Cf").split()).casefold()


def _matches_actor(actors: Actors, wanted: str) -> bool:
    return any(name_key(name) == name_key(wanted) for name in actors.names())


def _folded(name: str | None) -> str | None:
    return None if name is None else name_key(name)


def _same_actor(name: str | None, wanted: str) -> bool:
    """Equal but for case and spaces around: actors, and the category and unit filters."""
    return name is not None and name_key(name) == name_key(wanted)


def _none_first(value: str | None) -> tuple[bool, str]:
    return (value is not None, value or "")


# --- views ------------------------------------------------------------------------------------


def developments(log: Sequence[Recorded], as_of: date, known_at_us: int) -> list[RefDevelopment]:
    """Every development recorded by T, visible or not, in the position of its first event."""
    return [_row(state, as_of) for state in _replay(log, known_at_us).values()]


def timeline(
    log: Sequence[Recorded],
    as_of: date,
    known_at_us: int,
    *,
    kind: str | None = None,
    actor: str | None = None,
    status: str | None = None,
    from_: date | None = None,
    to: date | None = None,
    occurred_from: date | None = None,
    occurred_to: date | None = None,
) -> list[RefDevelopment]:
    """`GET /api/developments`: visible developments, filtered, by first_reported_on then position.

    `actor` matches any actor role or target, case-insensitively; `status` is the status as of D;
    `from_` / `to` are inclusive bounds on `first_reported_on`; `occurred_from` / `occurred_to`
    keep a development whose `occurred` allows a day between them (an open or unknown end
    allows every day on its side), none without `occurred`.
    """
    rows = []
    for row in developments(log, as_of, known_at_us):
        if not row.visible:
            continue
        assert row.first_reported_on is not None
        if kind is not None and row.kind != kind:
            continue
        if actor is not None and not _matches_actor(row.actors, actor):
            continue
        if status is not None and row.status != status:
            continue
        if from_ is not None and row.first_reported_on < from_:
            continue
        if to is not None and row.first_reported_on > to:
            continue
        if occurred_from is not None or occurred_to is not None:
            if row.occurred is None:
                continue
            period = parse_edtf(row.occurred)  # an end of None: open or unknown, any day
            last = date.max if period.upper is None else period.upper
            first = date.min if period.lower is None else period.lower
            if occurred_from is not None and last < occurred_from:
                continue
            if occurred_to is not None and first > occurred_to:
                continue
        rows.append(row)
    return sorted(rows, key=_timeline_key)


def development_detail(
    log: Sequence[Recorded], development_id: UUID, as_of: date, known_at_us: int
) -> RefDetail | None:
    """`GET /api/developments/{id}`, or None (404) when nothing of it was recorded by T."""
    state = _replay(log, known_at_us).get(development_id)
    if state is None:
        return None
    row = _row(state, as_of)
    reports = tuple(
        RefReport(
            number=r.number,
            position=r.position,
            report=r.report,
            active=_active(r, as_of),
            retraction=r.retraction,
            corrections=r.corrections,
        )
        for r in state.reports
    )
    return RefDetail(development=row, visible=row.visible, reports=reports)


_SeriesKey = tuple[str | None, str | None, str | None, str, str]
_TotalKey = tuple[str | None, str | None, str | None, str]


def deliveries(
    log: Sequence[Recorded],
    as_of: date,
    known_at_us: int,
    *,
    supplier: str | None = None,
    recipient: str | None = None,
    category: str | None = None,
    unit: str | None = None,
    status: str | None = None,
) -> RefDeliveries:
    """`GET /api/views/deliveries`: per-originator series of delivered quantities, and totals."""
    contributions: dict[_SeriesKey, list[tuple[date, int, Figure]]] = defaultdict(list)
    spelt: dict[str, str] = {}  # an actor's spelling, by `_key`: `PRK`, `prk`, `PRK ` are one
    voices: dict[str, str] = {}  # an originator's spelling, by `_key`: so is `US`, `us`
    for state in _replay(log, known_at_us).values():
        current = _status(state, as_of)
        if state.kind != "transfer" or state.stage != "delivered":
            continue
        if current in DELIVERY_EXCLUDED_STATUSES:
            continue
        if status is not None and current != status:
            continue
        dev_supplier, dev_recipient = state.actors.supplier, state.actors.recipient
        dev_category = state.item.category if state.item is not None else None
        if supplier is not None and not _same_actor(dev_supplier, supplier):
            continue
        if recipient is not None and not _same_actor(dev_recipient, recipient):
            continue
        if category is not None and not _same_actor(dev_category, category):
            continue
        # a development with no active report is not visible and contributes nothing
        for r in _active_reports(state, as_of):
            figure = r.report.figure
            if r.report.stance != "supports" or figure is None:
                continue
            if unit is not None and not _same_actor(figure.unit, unit):
                continue
            key = (
                _folded(dev_supplier),
                _folded(dev_recipient),
                dev_category,
                figure.unit,
                name_key(r.report.source.originator),
            )
            for actor in (dev_supplier, dev_recipient):
                if actor is not None:
                    spelt.setdefault(name_key(actor), actor.strip())
            voices.setdefault(key[4], r.report.source.originator.strip())
            contributions[key].append((r.report.asserted_on, r.position, figure))

    series: list[RefSeries] = []
    for folded, items in contributions.items():
        key = (
            spelt.get(folded[0] or ""),
            spelt.get(folded[1] or ""),
            folded[2],
            folded[3],
            voices[folded[4]],
        )
        items.sort(key=lambda item: (item[0], item[1]))
        low, high = _fold_figures(figure for _, _, figure in items)
        series.append(
            RefSeries(
                supplier=key[0],
                recipient=key[1],
                category=key[2],
                unit=key[3],
                originator=key[4],
                low=low,
                high=high,
                reports=len(items),
                last_asserted_on=items[-1][0],
            )
        )
    series.sort(key=lambda s: [_none_first(part) for part in _series_key(s)])

    grouped: dict[_TotalKey, list[RefSeries]] = defaultdict(list)
    for s in series:
        grouped[(s.supplier, s.recipient, s.category, s.unit)].append(s)
    totals = []
    for (t_supplier, t_recipient, t_category, t_unit), members in grouped.items():
        highs = [s.high for s in members]
        bounded = [h for h in highs if h is not None]
        totals.append(
            RefTotal(
                supplier=t_supplier,
                recipient=t_recipient,
                category=t_category,
                unit=t_unit,
                low=max(s.low for s in members),
                high=max(bounded) if len(bounded) == len(highs) else None,
            )
        )
    totals.sort(key=lambda t: [_none_first(part) for part in _total_key(t)])
    return RefDeliveries(series=tuple(series), totals=tuple(totals))


def _series_key(s: RefSeries) -> _SeriesKey:
    return (s.supplier, s.recipient, s.category, s.unit, s.originator)


def _total_key(t: RefTotal) -> _TotalKey:
    return (t.supplier, t.recipient, t.category, t.unit)


def _fold_figures(figures: Iterable[Figure]) -> tuple[float, float | None]:
    """Bounds of one series from its figures in order: cumulative sets, increment adds; no
    figure stating a number leaves the high None (nothing bounds the series above)."""
    low = Decimal(0)  # the figures are decimals as written: 1.1 + 2.2 is 3.3
    high: Decimal | None = Decimal(0)
    stated = False
    for figure in figures:
        bounds = figure.bounds()
        if bounds is None:  # unspecified: counts as a report, adds nothing
            continue
        stated = True
        as_written = Decimal(repr(bounds.low)), _decimal(bounds.high)
        if figure.basis == "cumulative":
            low, high = as_written
        else:
            low += as_written[0]
            high = None if high is None or as_written[1] is None else high + as_written[1]
    return float(low), float(high) if stated and high is not None else None


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value))


def allegations(log: Sequence[Recorded], as_of: date, known_at_us: int) -> list[RefAllegation]:
    """`GET /api/views/allegations`: visible developments alleged, corroborated or disputed."""
    rows = []
    for state in _replay(log, known_at_us).values():
        row = _row(state, as_of)
        if not row.visible or row.status not in ALLEGATION_STATUSES:
            continue
        assert row.first_reported_on is not None
        stances: dict[Stance, int] = dict.fromkeys(STANCES, 0)
        for r in _active_reports(state, as_of):
            stances[r.report.stance] += 1
        rows.append(
            RefAllegation(
                development_id=row.development_id,
                position=row.position,
                title=row.title,
                kind=row.kind,
                status=row.status,
                status_since=_status_since(state, as_of) or row.first_reported_on,
                first_reported_on=row.first_reported_on,
                age_days=(as_of - row.first_reported_on).days,
                stances=stances,
            )
        )
    return sorted(rows, key=lambda a: (a.first_reported_on, a.position))
