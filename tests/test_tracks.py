"""A track's rows, recomputed commit by commit, equal the rows folded from scratch."""

from __future__ import annotations

from typing import Any, get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from events.figures import added
from events.values import Status
from projections.state import DAY_MAX, DAY_MIN
from projections.tracks import EXCLUDED, VARIANTS, Payload, Piece, Track

Rows = list[tuple[int, int, Payload]]


def from_scratch(pieces: list[Piece]) -> Rows:
    """Every row of a track holding `pieces`, folded from the first day."""
    return Track(pieces, []).recompute(DAY_MIN)[1]


def commit(track: Track, removed: list[Piece], added: list[Piece]) -> None:
    """What `DeliveriesProjection._recompute` does with a commit's changes to one track."""
    first = track.change(removed, added)
    index, new = track.recompute(first, None if removed else added)
    track.rows[index:] = [[0, start, end, payload] for start, end, payload in new]


def rows_of(track: Track) -> Rows:
    return [(row[1], row[2], row[3]) for row in track.rows]


def piece(day: int, position: int, *, asserted: int | None = None, **fields: Any) -> Piece:
    """A bounded incremental piece of 10 by default, asserted and counting from `day`."""
    base = Piece(
        day, day if asserted is None else asserted, position, DAY_MAX, False, 10.0, 10.0, True
    )
    return base._replace(**fields)


def test_reports_of_one_day_arriving_one_by_one_keep_adding_to_that_day() -> None:
    track = Track([], [])
    added: list[Piece] = []
    for position in range(1, 501):
        added.append(piece(100, position))
        commit(track, [], added[-1:])
    assert rows_of(track) == [(100, DAY_MAX, (5000.0, 5000.0, 500, 100))]
    assert rows_of(track) == from_scratch(added)


def test_a_cumulative_figure_appended_to_a_busy_day_replaces_its_sum() -> None:
    pieces = [piece(100, position) for position in range(1, 4)]
    track = Track([], [])
    commit(track, [], pieces)
    total = piece(100, 4, cumulative=True, low=7.0, high=None)
    commit(track, [], [total])
    assert rows_of(track) == [(100, DAY_MAX, (7.0, None, 4, 100))]


def unspecified(day: int, position: int, **fields: Any) -> Piece:
    """A piece of an unspecified figure: it counts and states no number."""
    return piece(day, position, low=None, high=None, bounded=False, **fields)


def test_a_track_whose_pieces_state_no_number_has_no_high_until_one_does() -> None:
    # Given a track of two unspecified pieces, a running total among them, folded commit by commit
    track = Track([], [])
    commit(track, [], [unspecified(100, 1)])
    commit(track, [], [unspecified(101, 2, cumulative=True)])
    # When an increment follows on a later day
    commit(track, [], [piece(103, 3, low=4.0, high=6.0)])

    # Then nothing bounded it above before; the increment starts from 0
    assert rows_of(track) == [
        (100, 101, (0.0, None, 1, 100)),
        (101, 103, (0.0, None, 2, 101)),
        (103, DAY_MAX, (4.0, 6.0, 3, 103)),
    ]
    assert rows_of(track) == from_scratch([*track.pieces])


def test_an_at_least_zero_increment_stays_unbounded_when_folded_on_from_its_rows() -> None:
    # Given a track of one "at least 0" increment and another of one unspecified piece: both
    # rows read low 0 and no high
    at_least = Track([], [])
    commit(at_least, [], [piece(100, 1, low=0.0, high=None)])
    unstated = Track([], [])
    commit(unstated, [], [unspecified(100, 1)])
    assert rows_of(at_least)[0][2][:2] == rows_of(unstated)[0][2][:2] == (0.0, None)
    # When each is folded on with an increment of 10, on the same day and on a later one
    for track in (at_least, unstated):
        commit(track, [], [piece(100, 2)])
        commit(track, [], [piece(102, 3)])

    # Then "at least 0" stays unbounded, and the track that stated nothing starts from 0
    assert rows_of(at_least) == [
        (100, 102, (10.0, None, 2, 100)),
        (102, DAY_MAX, (20.0, None, 3, 102)),
    ]
    assert rows_of(unstated) == [
        (100, 102, (10.0, 10.0, 2, 100)),
        (102, DAY_MAX, (20.0, 20.0, 3, 102)),
    ]


def test_an_unspecified_piece_after_a_number_only_counts() -> None:
    # Given a track that stated 10
    track = Track([], [])
    commit(track, [], [piece(100, 1)])
    # When unspecified pieces follow, an increment and a running total
    commit(track, [], [unspecified(101, 2)])
    commit(track, [], [unspecified(102, 3, cumulative=True)])

    # Then the bounds stay 10: the count and the last day move
    assert rows_of(track) == [
        (100, 101, (10.0, 10.0, 1, 100)),
        (101, 102, (10.0, 10.0, 2, 101)),
        (102, DAY_MAX, (10.0, 10.0, 3, 102)),
    ]


def test_a_report_of_an_earlier_position_on_the_same_day_is_folded_in_its_place() -> None:
    # a late-arriving piece that sorts before the day's last one: no shortcut, same answer
    track = Track([], [])
    commit(track, [], [piece(100, 5, cumulative=True, low=50.0, high=50.0)])
    commit(track, [], [piece(100, 2)])
    assert rows_of(track) == [(100, DAY_MAX, (50.0, 50.0, 2, 100))]


_values = st.sampled_from([0.0, 0.1, 0.2, 0.3, 1.0, 7.5, 1e16])  # 0: "at least 0" too


@st.composite
def _pieces(draw: st.DrawFn, position: int) -> Piece:
    asserted = draw(st.integers(100, 110))
    start = asserted + draw(st.sampled_from([0, 0, 0, 1, 3]))
    end = draw(st.sampled_from([DAY_MAX, DAY_MAX, start + 1, start + 4]))
    cumulative = draw(st.booleans())
    if draw(st.integers(0, 5)) == 0:  # an unspecified figure: it only counts
        return Piece(start, asserted, position, end, cumulative, None, None, False)
    low = draw(_values)
    high = draw(st.one_of(st.none(), st.just(low), _values.map(lambda v: v + low)))
    return Piece(start, asserted, position, end, cumulative, low, high, True)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_rows_recomputed_commit_by_commit_equal_rows_from_scratch(data: st.DataObject) -> None:
    track = Track([], [])
    held: list[Piece] = []
    for position in range(1, data.draw(st.integers(1, 25)) + 1):
        removed: list[Piece] = []
        if held and data.draw(st.integers(0, 3)) == 0:  # a retraction ends an older piece
            old = held.pop(data.draw(st.integers(0, len(held) - 1)))
            removed.append(old)
            if old.valid_to == DAY_MAX:
                ended = old._replace(valid_to=old.valid_from + data.draw(st.integers(1, 5)))
                commit(track, removed, [ended])
                held.append(ended)
                continue
            commit(track, removed, [])
            continue
        added = [data.draw(_pieces(position)) for _ in range(data.draw(st.integers(1, 3)))]
        added = list({(p.position, p.valid_from): p for p in added}.values())
        commit(track, [], added)
        held.extend(added)
        assert rows_of(track) == from_scratch(held)
    assert rows_of(track) == from_scratch(held)


def on_day(pieces: list[Piece], day: int) -> Payload | None:
    """DESIGN §4 asked on one day: the active pieces in fold order; a cumulative figure sets the
    bounds, an increment adds to them, an unspecified one only counts, and no number stated
    leaves the high None."""
    active = sorted(
        (p for p in pieces if p.valid_from <= day < p.valid_to),
        key=lambda p: (p.asserted_on, p.position, p.valid_from),
    )
    if not active:
        return None
    low: float = 0.0
    high: float | None = 0.0
    stated = False
    for p in active:
        if not p.bounded:
            continue
        assert p.low is not None
        stated = True
        if p.cumulative:
            low, high = p.low, p.high
        else:
            low = added(low, p.low)
            high = None if high is None or p.high is None else added(high, p.high)
    last = max(p.asserted_on for p in active)
    return (low, high if stated else None, len(active), last)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.integers(1, 60).flatmap(_pieces),
        min_size=1,
        max_size=12,
        unique_by=lambda p: (p.position, p.valid_from),
    )
)
def test_rows_from_scratch_equal_the_fold_asked_day_by_day(pieces: list[Piece]) -> None:
    rows = from_scratch(pieces)
    for day in range(95, 120):
        held = [payload for start, end, payload in rows if start <= day < end]
        assert (held[0] if held else None) == on_day(pieces, day)


def test_every_status_is_either_left_out_of_deliveries_or_has_a_status_variant() -> None:
    # a status added to the events without a track variant would fail at the first fold
    assert set(VARIANTS[1:]) | EXCLUDED == set(get_args(Status))
    assert not set(VARIANTS[1:]) & EXCLUDED and VARIANTS[0] == "*"
