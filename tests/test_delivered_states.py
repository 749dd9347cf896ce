"""The delivered transfers the web's charts are worded from, kept between positions: at a later
position only the developments with events since are folded again, and the answer is the one a
fold of every development gives, as are the figures found in them."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from events import decode_event
from projections import ReadModels, query_deliveries
from projections.state import DevState
from service.application import Timeline
from service.store.records import to_micros
from service.web.steps import counted_figures
from tests import bodies

EVER = 2**62  # a known_at after every event: the head


def _append(timeline: Timeline, *events: dict[str, Any]) -> None:
    timeline.append([decode_event(bodies.encoded(event)) for event in events], "t")


def _calls(monkeypatch: Any, name: str) -> list[tuple[Any, ...]]:
    """The arguments of every call of `query_deliveries.<name>` from now on."""
    calls: list[tuple[Any, ...]] = []
    original = getattr(query_deliveries, name)

    def counted(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(query_deliveries, name, counted)
    return calls


def _developments(database_url: str, count: int) -> tuple[Timeline, ReadModels, list[str]]:
    """A timeline with `count` delivered transfers reported in one commit, its read models and
    the developments' ids."""
    timeline = Timeline(database_url)
    ids = [str(uuid4()) for _ in range(count)]
    _append(timeline, *(bodies.development_reported(development_id=i) for i in ids))
    return timeline, ReadModels(timeline.store), ids


def _folded(states: list[DevState]) -> list[bytes]:
    return sorted(repr(state).encode() for state in states)


def test_kept_delivered_states_equal_a_fresh_fold_at_every_position(database_url: str) -> None:
    timeline = Timeline(database_url)
    read_models = ReadModels(timeline.store)
    ids = [str(uuid4()) for _ in range(4)]
    steps: list[tuple[dict[str, Any], ...]] = [
        (bodies.development_reported(development_id=ids[0]),),
        # an undelivered transfer, and a report added to the delivered one
        (bodies.development_reported(development_id=ids[1], stage="agreed"),
         bodies.report_added(ids[0])),
        # one becomes delivered by a correction, the other is corrected and judged
        (bodies.development_corrected(ids[1], changes={"stage": "delivered"}),
         bodies.report_corrected(ids[0]), bodies.status_changed(ids[0])),
        # the first stops being a delivered transfer; two new ones, one retracted
        (bodies.development_corrected(ids[0], changes={"stage": "agreed"}),
         bodies.development_reported(development_id=ids[2]),
         bodies.development_reported(development_id=ids[3])),
        (bodies.report_retracted(ids[3]),),
    ]  # fmt: skip
    delivered = []
    positions = []
    for events in steps:
        for event in events:  # one commit each: every position between is asked too
            _append(timeline, event)
            positions.append(timeline.store.last_position())
            states = read_models.delivered_states(known_at_us=EVER)
            fresh = query_deliveries.delivered_states(read_models.dialect, positions[-1])
            assert _folded(states) == _folded(fresh)
            # and the figures the chart's words come from, found once per state, agree too
            assert counted_figures(states) == counted_figures(fresh)
        delivered.append(len(states))
    assert delivered == [1, 1, 2, 3, 3]
    # a position before the one kept is answered as a fold of it, and the kept one stays
    for position in positions:
        assert _folded(read_models._delivered.at(position)) == _folded(
            query_deliveries.delivered_states(read_models.dialect, position)
        )
    assert len(read_models._delivered.at(positions[-1])) == 3
    timeline.close()


def test_kept_delivered_states_fold_again_only_what_changed(
    database_url: str, monkeypatch: Any
) -> None:
    timeline, read_models, ids = _developments(database_url, 3)
    assert len(read_models.delivered_states(known_at_us=EVER)) == 3
    fold = query_deliveries._delivered
    folded = _calls(monkeypatch, "_delivered")  # (dialect, position, among) when among
    _append(timeline, bodies.report_added(ids[1]))

    assert len(read_models.delivered_states(known_at_us=EVER)) == 3
    assert [len(call[2]) for call in folded] == [1]
    # and at the position before that event (an earlier known_at), that one again, only
    folded.clear()
    before = timeline.store.last_position() - 1
    assert _folded(read_models._delivered.at(before)) == _folded(
        list(fold(read_models.dialect, before).values())
    )
    assert [len(call[2]) for call in folded] == [1]
    timeline.close()


def test_series_pieces_are_read_once_per_position_and_put_back_before_it(
    database_url: str, monkeypatch: Any
) -> None:
    timeline = Timeline(database_url)
    read_models = ReadModels(timeline.store)
    development = str(uuid4())
    event = decode_event(bodies.encoded(bodies.development_reported(development_id=development)))
    recorded = to_micros(timeline.append([event], "t")[0].receipt.recorded_at)
    reads = _calls(monkeypatch, "series_pieces")
    # Asked twice at the head, the pieces are read once: those of its position
    first = read_models.series_pieces(known_at_us=EVER)
    assert first is not None and read_models.series_pieces(known_at_us=EVER) is first
    assert len(reads) == 1 and first[0] == timeline.store.last_position()
    [(key, pieces)] = first[1].items()
    assert key == ("PRK", "RUS", "munitions_unspecified", "container", "John Kirby")
    assert [piece.low for piece in pieces] == [1000]
    # At a new position they are read again, with the series of the report it added
    _append(timeline, bodies.report_added(development))
    second = read_models.series_pieces(known_at_us=EVER)
    assert second is not None and second[0] == first[0] + 1 and len(reads) == 2
    assert {k[4]: [p.low for p in found] for k, found in second[1].items()} == {
        "John Kirby": [1000],
        "US State Department": [10_000],
    }
    # and at the position before, which the projection has folded past, they are put back as
    # they were then: that development folded at both, its series with no pieces yet
    before = read_models.series_pieces(known_at_us=recorded)
    assert before is not None and before[0] == first[0] and len(reads) == 3
    assert {k[4]: [p.low for p in found] for k, found in before[1].items()} == {
        "John Kirby": [1000],
        "US State Department": [],
    }
    timeline.close()


def test_the_developments_of_reports_are_folded_once_per_position(
    database_url: str, monkeypatch: Any
) -> None:
    timeline, read_models, ids = _developments(database_url, 2)
    _append(timeline, bodies.report_added(ids[0]))  # positions 1, 2 and 3
    folds = _calls(monkeypatch, "folded")  # (dialect, position, keys)
    # The first development's two reports and the second's: each development folded once
    both = read_models.reporting(3, [1, 3, 2])
    assert sorted(len(state.reports) for state in both) == [1, 2] and len(folds[-1][2]) == 2
    # asked again at that position, with one of them, nothing is folded again
    [first] = read_models.reporting(3, [3])
    assert len(first.reports) == 2 and len(folds) == 1
    # at another position, what it asks for is folded, as of that position
    [first] = read_models.reporting(2, [1])
    assert len(first.reports) == 1 and len(folds) == 2
    timeline.close()
