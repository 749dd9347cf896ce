"""A track's rows, recomputed commit by commit, equal the rows folded from scratch."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.state import DAY_MAX, DAY_MIN
from projections.tracks import Payload, Piece, Track

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


def test_a_report_of_an_earlier_position_on_the_same_day_is_folded_in_its_place() -> None:
    # a late-arriving piece that sorts before the day's last one: no shortcut, same answer
    track = Track([], [])
    commit(track, [], [piece(100, 5, cumulative=True, low=50.0, high=50.0)])
    commit(track, [], [piece(100, 2)])
    assert rows_of(track) == [(100, DAY_MAX, (50.0, 50.0, 2, 100))]


_values = st.sampled_from([0.1, 0.2, 0.3, 1.0, 7.5, 1e16])


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
