"""Valid time of one development: the days on which it is visible, cut where its answer changes.

A segment `[valid_from, valid_to)` holds what the timeline and the allegations board show for
the development on every day in it; days on which no report is active have no segment.
"""

from __future__ import annotations

from typing import NamedTuple

from projections.state import DAY_MAX, STANCE_INDEX, STANCES, DevState, actor_key


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


def _shown(state: DevState, day: int, kind: str, actors: str) -> Shown | None:
    first = last = count = 0
    stances = [0, 0, 0, 0, 0]
    for report in state.reports:
        asserted = report.asserted_on
        retracted = report.retracted_on
        if asserted > day or (retracted is not None and retracted <= day):
            continue  # not active on `day`
        if not count or asserted < first:
            first = asserted
        if not count or asserted > last:
            last = asserted
        count += 1
        stances[STANCE_INDEX[report.stance]] += 1
    if not count:
        return None
    change = state.governing(day)
    status, since = (
        (state.initial_status, first) if change is None else (change.status, change.effective_on)
    )
    supports, contradicts, denies, not_observed, qualifies = stances
    return Shown(
        first,
        last,
        count,
        status,
        since,
        supports,
        contradicts,
        denies,
        not_observed,
        qualifies,
        kind,
        actors,
    )


def segments(state: DevState) -> list[Segment]:
    """The development's maximal segments, in day order."""
    actors = state.actors_key
    if not actors:
        actors = state.actors_key = actor_key(state.fields["actors"])
    kind = state.fields["kind"]
    reports = state.reports
    if len(reports) == 1 and not state.changes and reports[0].retracted_on is None:
        report = reports[0]  # the common case: one report, visible from its day
        day = report.asserted_on
        counts = _ONE_STANCE[report.stance]
        one = Shown(day, day, 1, state.initial_status, day, *counts, kind, actors)
        return [Segment(day, DAY_MAX, one)]
    days = {report.asserted_on for report in reports}
    days.update(r.retracted_on for r in reports if r.retracted_on is not None)
    days.update(change.effective_on for change in state.changes)
    ordered = sorted(days)
    found: list[Segment] = []
    for index, day in enumerate(ordered):
        shown = _shown(state, day, kind, actors)
        if shown is None:
            continue
        end = ordered[index + 1] if index + 1 < len(ordered) else DAY_MAX
        if found and found[-1].valid_to == day and found[-1].shown == shown:
            found[-1] = Segment(found[-1].valid_from, end, shown)
        else:
            found.append(Segment(day, end, shown))
    return found
