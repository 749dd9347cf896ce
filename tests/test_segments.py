"""A development's segments, swept once over its days, equal the definition asked day by day."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.segments import Segment, Shown, occurred_days, segments
from projections.state import (
    DAY_MAX,
    STANCE_INDEX,
    STANCES,
    DevState,
    ReportState,
    StatusChange,
    actor_key,
)

STATUSES = ("alleged", "corroborated", "disputed", "refuted")


def shown_on(state: DevState, day: int) -> Shown | None:
    """What the views show of the development on `day`, from every report (DESIGN §4)."""
    active = [report for report in state.reports if report.active(day)]
    if not active:
        return None
    stances = [0] * len(STANCES)
    for report in active:
        stances[STANCE_INDEX[report.stance]] += 1
    first = min(report.asserted_on for report in active)
    # the change in force on each day by then: of one day's changes, the later one
    in_force = {c.effective_on: c for c in state.changes if c.effective_on <= day}
    effective = [in_force[on] for on in sorted(in_force)]
    status, since = state.initial_status, first
    if effective:  # the status has held since the earliest of the latest changes that set it
        status = effective[-1].status
        run = len(effective)
        while run > 0 and effective[run - 1].status == status:
            run -= 1
        if run > 0 or status != state.initial_status:
            since = effective[run].effective_on
    last = max(report.asserted_on for report in active)
    kind, actors = state.fields["kind"], actor_key(state.fields["actors"])
    occurred = occurred_days(state.fields["occurred"])
    return Shown._make((first, last, len(active), status, since, *stances, kind, actors, *occurred))


def day_by_day(state: DevState, last_day: int) -> list[Segment]:
    """Segments built by asking every day up to `last_day`, the last one open-ended."""
    found: list[Segment] = []
    for day in range(last_day + 1):
        shown = shown_on(state, day)
        end = DAY_MAX if day == last_day else day + 1
        if shown is None:
            continue
        if found and found[-1].valid_to == day and found[-1].shown == shown:
            found[-1] = Segment(found[-1].valid_from, end, shown)
        else:
            found.append(Segment(day, end, shown))
    return found


def development(reports: list[ReportState], changes: list[StatusChange]) -> DevState:
    return DevState(
        position=1,
        fields={
            "kind": "transfer",
            "actors": {"supplier": "PRK", "recipient": "RUS"},
            "occurred": "2023-09/",
        },
        initial_status="alleged",
        reports=reports,
        changes=sorted(changes, key=lambda c: (c.effective_on, c.position)),
    )


report_states = st.builds(
    lambda number, asserted, retracted, stance: ReportState(
        number, number, b"", asserted, stance, "US", None, retracted_on=retracted
    ),
    st.integers(1, 1000),
    st.integers(1, 30),
    st.none() | st.integers(1, 32),
    st.sampled_from(STANCES),
)
status_changes = st.builds(
    StatusChange, st.integers(1, 32), st.integers(1, 1000), st.sampled_from(STATUSES), st.just("")
)


@settings(max_examples=400, deadline=None)
@given(st.lists(report_states, min_size=1, max_size=12), st.lists(status_changes, max_size=4))
def test_segments_equal_the_views_asked_day_by_day(
    reports: list[ReportState], changes: list[StatusChange]
) -> None:
    state = development(reports, changes)
    assert segments(state) == day_by_day(state, 33)


def test_a_development_of_many_reports_some_retracted_is_segmented_exactly() -> None:
    reports = [
        ReportState(
            n,
            n,
            b"",
            1 + (n * 7) % 300,
            STANCES[n % len(STANCES)],
            "US",
            None,
            retracted_on=None if n % 5 else 20 + (n * 11) % 290,
        )
        for n in range(1, 1501)
    ]
    changes = [StatusChange(100, 2000, "corroborated", ""), StatusChange(250, 2001, "refuted", "")]
    state = development(reports, changes)

    found = segments(state)

    assert found == day_by_day(state, 310)
    assert found[0].valid_from == 1 and found[-1].valid_to == DAY_MAX
