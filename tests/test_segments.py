"""A development's segments, swept once over its days, equal the definition asked day by day."""

from __future__ import annotations

from datetime import date

from hypothesis import example, given, settings
from hypothesis import strategies as st

from projections.segments import Segment, Shown, segments
from projections.state import (
    DAY_MAX,
    STANCE_INDEX,
    STANCES,
    DevState,
    ReportState,
    StatusChange,
)

STATUSES = ("alleged", "corroborated", "disputed", "refuted")
# What the views show of `development(...)`'s coded fields, written out here rather than asked
# of the code under test: its actors `PRK` and `RUS` as the filter's key (casefolded, between
# unit separators), and its `occurred` of "2023-09/" (from 1 September 2023, no end known)
ACTORS_SHOWN = "\x1fprk\x1frus\x1f"
OCCURRED_SHOWN = (date(2023, 9, 1).toordinal(), DAY_MAX)


def active(report: ReportState, day: int) -> bool:
    """Active on `day` (DESIGN §4): asserted by then, and not retracted with effect by then."""
    return report.asserted_on <= day and (report.retracted_on is None or report.retracted_on > day)


def shown_on(state: DevState, day: int) -> Shown | None:
    """What the views show of the development on `day`, from every report (DESIGN §4)."""
    reports = [report for report in state.reports if active(report, day)]
    if not reports:
        return None
    stances = [0] * len(STANCES)
    for report in reports:
        stances[STANCE_INDEX[report.stance]] += 1
    first = min(report.asserted_on for report in reports)
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
    last = max(report.asserted_on for report in reports)
    shown = (first, last, len(reports), status, since, *stances, state.fields["kind"])
    return Shown._make((*shown, ACTORS_SHOWN, *OCCURRED_SHOWN))


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
# a report retracted with effect from the day it was asserted, alone and beside another
@example([ReportState(1, 1, b"", 5, "supports", "US", None, retracted_on=5)], [])
@example(
    [
        ReportState(1, 1, b"", 3, "denies", "US", None),
        ReportState(2, 2, b"", 5, "supports", "US", None, retracted_on=5),
    ],
    [StatusChange(5, 3, "disputed", "")],
)
def test_segments_equal_the_views_asked_day_by_day(
    reports: list[ReportState], changes: list[StatusChange]
) -> None:
    state = development(reports, changes)
    assert segments(state) == day_by_day(state, 33)


def test_a_report_retracted_effective_on_its_asserted_day_has_no_segment() -> None:
    # Given a development whose second report was retracted with effect from the day it was
    # asserted, beside a first report that stands
    reports = [
        ReportState(1, 1, b"", 3, "supports", "US", None),
        ReportState(2, 2, b"", 5, "denies", "US", None, retracted_on=5),
    ]
    # When it is segmented
    found = segments(development(reports, []))
    # Then it shows the first report alone, from its day on: the second is active on no day
    shown = Shown(3, 3, 1, "alleged", 3, 1, 0, 0, 0, 0, "transfer", ACTORS_SHOWN, *OCCURRED_SHOWN)
    assert found == [Segment(3, DAY_MAX, shown)]
    # and alone, such a report leaves the development without a segment
    assert segments(development(reports[1:], [])) == []


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
