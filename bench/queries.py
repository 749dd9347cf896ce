"""As-of queries against history size: p50/p99 of each view at 10k, 100k and 1M events.

    python bench/queries.py                          # 10k, 100k and 1M events on SQLite
    python bench/queries.py --sizes 10000 100000 --queries 500
    python bench/queries.py --postgres postgresql://user@host/postgres

Each store is built once (bench/synthetic.py `open_store`: the same delivery series at every
size, a denser history as the size grows) and its read models rebuilt. Each view is then asked
at random (as_of, known_at) points: as_of over 2022-03 .. 2025-01, known_at over the system
time the store was written in, the sizes taking turns query by query (a noisy spell slows
every size alike). The target is p50 at 1M <= 2x p50 at 10k for every view.
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from synthetic import ready_store  # bench/ is on sys.path when run as a script

from projections import ReadModels
from service.application import Timeline
from service.store.log import LogRecorder

View = Callable[[ReadModels, date, int, random.Random], Any]


def _first_page(read: ReadModels, as_of: date, known_at: int, rng: random.Random) -> Any:
    return read.timeline(as_of=as_of, known_at_us=known_at, limit=100)


def _later_page(read: ReadModels, as_of: date, known_at: int, rng: random.Random) -> Any:
    start = date(2022, 3, 1) + timedelta(days=rng.randint(0, 900))
    return read.timeline(as_of=as_of, known_at_us=known_at, limit=100, after=f"{start}~0")


def _actor(read: ReadModels, as_of: date, known_at: int, rng: random.Random) -> Any:
    return read.timeline(as_of=as_of, known_at_us=known_at, limit=100, actor="IRN")


def _rare_actor(read: ReadModels, as_of: date, known_at: int, rng: random.Random) -> Any:
    return read.timeline(as_of=as_of, known_at_us=known_at, limit=100, actor="BLR")


def _allegations(read: ReadModels, as_of: date, known_at: int, rng: random.Random) -> Any:
    return read.allegations(as_of=as_of, known_at_us=known_at, limit=100)


def _deliveries(read: ReadModels, as_of: date, known_at: int, rng: random.Random) -> Any:
    return read.deliveries(as_of=as_of, known_at_us=known_at)


def _deliveries_status(read: ReadModels, as_of: date, known_at: int, rng: random.Random) -> Any:
    return read.deliveries(as_of=as_of, known_at_us=known_at, status="corroborated")


VIEWS: dict[str, View] = {
    "timeline (first page)": _first_page,
    "timeline (page at a cursor)": _later_page,
    "timeline (actor=IRN)": _actor,
    "timeline (actor=BLR: none)": _rare_actor,
    "allegations (first page)": _allegations,
    "deliveries": _deliveries,
    "deliveries (status filter)": _deliveries_status,
}


def _system_time(store: LogRecorder) -> tuple[int, int]:
    with store.read_transaction() as cursor:
        cursor.execute("SELECT min(recorded_at) AS lo, max(recorded_at) AS hi FROM event_records")
        row = cursor.fetchone()
    return int(row["lo"]), int(row["hi"])


def _items(answer: Any) -> int:
    return len(answer.series) if hasattr(answer, "series") else len(answer.items)


Cell = tuple[float, float, float]  # p50 ms, p99 ms, mean items answered


class _Asked:
    """One view asked of one store: its random points and what the answers took."""

    def __init__(self, read: ReadModels, view: View, queries: int, seed: int) -> None:
        self.read = read
        self.view = view
        self.rng = random.Random(seed)  # the same draws at every size
        lo, hi = _system_time(read.store)
        self.points = [
            (date(2022, 3, 1) + timedelta(days=self.rng.randint(0, 1065)), self.rng.randint(lo, hi))
            for _ in range(queries)
        ]
        self.timings: list[float] = []
        self.items = 0

    def ask(self, index: int) -> None:
        as_of, known_at = self.points[index]
        began = time.perf_counter()
        answer = self.view(self.read, as_of, known_at, self.rng)
        self.timings.append((time.perf_counter() - began) * 1000)
        self.items += _items(answer)

    def cell(self) -> Cell:
        timings = sorted(self.timings)
        p99 = timings[math.ceil(len(timings) * 0.99) - 1]  # nearest rank
        return statistics.median(timings), p99, self.items / len(timings)


def measure(timelines: dict[int, Timeline], queries: int, seed: int) -> dict[int, dict[str, Cell]]:
    """p50 and p99 in milliseconds of each view at each size, after a warm-up, and the items it
    answered. The sizes take turns query by query (who goes first rotating), so that a spell of
    noise on a shared machine falls on every size alike rather than on one size's cells."""
    found: dict[int, dict[str, Cell]] = {size: {} for size in timelines}
    sizes = list(timelines)
    # one per store, as a server keeps one: what a view leaves kept (the delivered states) the
    # next view finds
    reads = {size: ReadModels(timeline.store) for size, timeline in timelines.items()}
    for name, view in VIEWS.items():
        asked = {size: _Asked(reads[size], view, queries, seed) for size in sizes}
        for size in sizes:  # warm the page cache
            for index in range(min(20, queries)):
                asked[size].ask(index)
            asked[size].timings.clear()
            asked[size].items = 0
        for index in range(queries):
            turn = index % len(sizes)
            for size in sizes[turn:] + sizes[:turn]:
                asked[size].ask(index)
        for size in sizes:
            found[size][name] = asked[size].cell()
    return found


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def main() -> int:
    """Build the stores, rebuild their read models, print p50/p99 per view and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=_positive, default=300, help="queries per view and size")
    parser.add_argument("--postgres", metavar="URL", help="a server to run on instead of SQLite")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rebuild", action="store_true", help="rebuild read models kept current")
    args = parser.parse_args()
    args.sizes = list(dict.fromkeys(args.sizes))  # a size given twice is measured once
    timelines: dict[int, Timeline] = {}
    try:
        for size in args.sizes:
            timelines[size] = ready_store(size, args.postgres, again=args.rebuild)
        results = measure(timelines, args.queries, args.seed)
    finally:
        for timeline in timelines.values():
            timeline.close()
    engine = "postgresql" if args.postgres else "sqlite"
    base = args.sizes[0]
    print(f"# as-of queries, {engine}, {platform.machine()}, {args.queries} queries per cell")
    ratio_name = f"p50/p50@{base:,}"
    print(f"{'view':30} {'events':>10} {'items':>6} {'p50 ms':>7} {'p99 ms':>7} {ratio_name:>15}")
    for name in VIEWS:
        for size in args.sizes:
            p50, p99, items = results[size][name]
            ratio = p50 / results[base][name][0]
            print(f"{name:30} {size:>10,} {items:6.1f} {p50:7.2f} {p99:7.2f} {ratio:15.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
