"""Valid time of one development: the days on which it is visible, cut where its answer changes.

A segment `[valid_from, valid_to)` holds what the timeline and the allegations board show for
the development on every day in it; days on which no report is active have no segment.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from functools import lru_cache
from typing import NamedTuple

from events import parse_edtf
from projections.state import (
    DAY_MAX,
    DAY_MIN,
    STANCE_INDEX,
    STANCES,
    DevState,
    ReportState,
    actor_key,
    status_run,
)


class Shown(NamedTuple):
    """What the views show of a development on a day: one tuple, so equal days merge."""

    first_reported_on: int
    last_reported_on: int
    reports: int
    status: str
    status_since: int
    supports: int
    contradicts: int
    denies: int
    not_observed: int
    qualifies: int
    kind: str
    actor_key: str
    occurred_lower: int | None  # the first day `occurred` allows (DAY_MIN: open), or None
    occurred_upper: int | None  # the last day it allows (DAY_MAX: open or unknown), or None


@lru_cache(maxsize=4096)
def occurred_days(occurred: str | None) -> tuple[int | None, int | None]:
    """The first and last day an `occurred` (EDTF) allows, as day ordinals: an open or unknown
    end reaches DAY_MIN or DAY_MAX, so a filter on when a development happened keeps it; None
    and None without one."""
    if occurred is None:
        return None, None
    parsed = parse_edtf(occurred)
    lower = DAY_MIN if parsed.lower is None else parsed.lower.toordinal()
    return lower, DAY_MAX if parsed.upper is None else parsed.upper.toordinal()


class Segment(NamedTuple):
    """Days `[valid_from, valid_to)` on which the development shows `shown`."""

    valid_from: int
    valid_to: int
    shown: Shown


# The stance counts of a development with one report, by the report's stance.
_ONE_STANCE: dict[str, tuple[int, int, int, int, int]] = {
    "supports": (1, 0, 0, 0, 0),
    "contradicts": (0, 1, 0, 0, 0),
    "denies": (0, 0, 1, 0, 0),
    "not_observed": (0, 0, 0, 1, 0),
    "qualifies": (0, 0, 0, 0, 1),
}
assert tuple(_ONE_STANCE) == STANCES


def segments(state: DevState) -> list[Segment]:
    """The development's maximal segments, in day order."""
    actors = state.actors_key
    if not actors:
        actors = state.actors_key = actor_key(state.fields["actors"])
    kind = state.fields["kind"]
    occurred = occurred_days(state.fields["occurred"])
    reports = state.reports
    if len(reports) == 1 and not state.changes and reports[0].retracted_on is None:
        report = reports[0]  # the common case: one report, visible from its day
        day = report.asserted_on
        counts = _ONE_STANCE[report.stance]
        one = Shown(day, day, 1, state.initial_status, day, *counts, kind, actors, *occurred)
        return [Segment(day, DAY_MAX, one)]
    # One sweep over the days on which something starts or stops: each report enters and
    # leaves the active set once, so a development of n reports costs O(n log n), not O(n^2).
    starts: dict[int, list[ReportState]] = {}
    stops: dict[int, list[ReportState]] = {}
    for report in reports:
        begin, end = report.asserted_on, report.retracted_on
        if end is not None and end <= begin:
            continue  # retracted with effect from before it was asserted: never active
        starts.setdefault(begin, []).append(report)
        if end is not None:
            stops.setdefault(end, []).append(report)
    changes = state.changes  # sorted by (effective_on, position): the last one governs
    days = set(starts)
    days.update(stops)
    days.update(change.effective_on for change in changes)
    ordered = sorted(days)
    active: list[int] = []  # the active reports' days, sorted: the first and last reported
    stances = [0, 0, 0, 0, 0]
    status, since = state.initial_status, None  # since: None while the initial status holds
    next_change = 0
    found: list[Segment] = []
    for index, day in enumerate(ordered):
        for report in stops.get(day, ()):
            del active[bisect_left(active, report.asserted_on)]
            stances[STANCE_INDEX[report.stance]] -= 1
        for report in starts.get(day, ()):
            insort(active, report.asserted_on)
            stances[STANCE_INDEX[report.stance]] += 1
        if next_change < len(changes) and changes[next_change].effective_on <= day:
            while next_change < len(changes) and changes[next_change].effective_on <= day:
                next_change += 1
            effective = [(c.effective_on, c.status) for c in changes[:next_change]]
            status, since = status_run(state.initial_status, effective)
        if not active:
            continue
        first = active[0]
        began = first if since is None else since
        shown = Shown._make(
            (first, active[-1], len(active), status, began, *stances, kind, actors, *occurred)
        )
        end = ordered[index + 1] if index + 1 < len(ordered) else DAY_MAX
        if found and found[-1].valid_to == day and found[-1].shown == shown:
            found[-1] = Segment(found[-1].valid_from, end, shown)
        else:
            found.append(Segment(day, end, shown))
    return found
