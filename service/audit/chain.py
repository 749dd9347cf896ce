"""Recompute the hash chain (and optionally the Merkle tree) over the stored log, page by page."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from service.audit.classify import Break, classify
from service.audit.merkle import Frontier, GrowingTree, leaf_hash
from service.audit.rows import PAGE, iter_slots, link_of, lowest
from service.store.log import LogRecorder
from service.store.records import GENESIS

Progress = Callable[[int], None]


class Anchor(msgspec.Struct, frozen=True):
    """A point of the chain taken as verified: a position, its link and the tree up to it."""

    position: int = 0
    link: bytes = GENESIS
    frontier: Frontier = Frontier()


class Walk(msgspec.Struct, frozen=True):
    """What a walk over the chain found."""

    checked: int
    last: Anchor
    marks: dict[int, Anchor]
    problem: Break | None


def walk(
    store: LogRecorder,
    *,
    end: int,
    start: Anchor | None = None,
    tree_until: int = 0,
    marks: frozenset[int] = frozenset(),
    progress: Progress | None = None,
    page: int = PAGE,
) -> Walk:
    """Recompute the links of positions after `start` up to `end` and stop at the first break.

    The Merkle tree is grown for positions up to `tree_until`; the state at each position in
    `marks` is kept, so a checkpoint can be compared with what the log holds there.
    """
    anchor = start or Anchor()
    below = below_the_start(store)
    if below is not None:
        return Walk(0, anchor, {}, below)
    link, last, checked = anchor.link, anchor.position, 0
    tree = GrowingTree(anchor.frontier)
    kept: dict[int, Anchor] = {}
    for slots in iter_slots(store, anchor.position, end, page):
        for slot in slots:
            event, record = slot.event, slot.record
            if event is None or record is None:
                return _stop(store, end, checked, Anchor(last, link, tree.frontier()), kept)
            new = link_of(link, slot.position, event, record)
            if new is None or new != record.link:
                return _stop(store, end, checked, Anchor(last, link, tree.frontier()), kept)
            link, last = new, slot.position
            checked += 1
            if last <= tree_until:
                tree.append(leaf_hash(link))
            if last in marks:
                kept[last] = Anchor(last, link, tree.frontier())
        if progress is not None:
            progress(len(slots))
    return Walk(checked, Anchor(last, link, tree.frontier()), kept, None)


def below_the_start(store: LogRecorder) -> Break | None:
    """A row at a position below 1, in either table: the chain starts at 1, so pages of
    positions after 0 never read it, yet the service's readers serve it like any other."""
    first = lowest(store)
    if first is None or first >= 1:
        return None
    return Break(
        "inserted",
        first,
        f"position {first} is below 1, where the log starts: the service never writes there, "
        "so the row was inserted (its readers serve it all the same)",
    )


def _stop(
    store: LogRecorder, end: int, checked: int, last: Anchor, kept: dict[int, Anchor]
) -> Walk:
    window = next(iter_slots(store, last.position, end, PAGE))  # the break and what follows it
    return Walk(checked, last, kept, classify(last.position, last.link, window))
