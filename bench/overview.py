"""The web overview at the head: its step lines drawn from the pieces the deliveries projection
keeps, against a fold of every delivered transfer recorded (what they are drawn from when
thousands of developments changed after the `known_at` asked), side by side in one run; and the
whole overview, first and at another as-of.

    python bench/overview.py                         # 100k and 1M events on SQLite
    python bench/overview.py --sizes 10000 100000 --postgres postgresql://user@host/postgres

Each is timed cold, on read models of its own that have kept nothing, the two ways taking turns
`--runs` times; the stores are those of `bench/queries.py` (bench/synthetic.py `ready_store`).
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from synthetic import ready_store  # bench/ is on sys.path when run as a script

from projections import ReadModels
from service.application import Timeline
from service.web.overview import overview
from service.web.steps import delivery_history

HEAD = 2**62  # a known_at after every event
AS_OF, ANOTHER = date(2024, 12, 31), date(2023, 6, 1)


def seconds(make: Callable[[], Any]) -> float:
    """How long `make()` took, after a collection of what earlier measures left."""
    gc.collect()
    began = time.perf_counter()
    make()
    return time.perf_counter() - began


def lines(timeline: Timeline, *, kept: bool) -> float:
    """Seconds to draw every step line at the head, on read models that have kept nothing."""
    read_models = ReadModels(timeline.store)
    return seconds(lambda: delivery_history(read_models, as_of=AS_OF, known_at_us=HEAD, kept=kept))


def whole_overview(timeline: Timeline) -> tuple[float, float]:
    """Seconds to make the whole overview at the head on read models that have kept nothing,
    then at another as-of."""
    read_models = ReadModels(timeline.store)

    def made(day: date) -> Callable[[], Any]:
        return lambda: overview(read_models, timeline, as_of=day, known_at=None, known_at_us=HEAD)

    return seconds(made(AS_OF)), seconds(made(ANOTHER))


def main() -> int:
    """Time both ways at each size, print them and their ratio, then the whole overview."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=2, help="times each way is timed, in turns")
    parser.add_argument("--postgres", metavar="URL", help="a server to run on instead of SQLite")
    args = parser.parse_args()
    engine = "postgresql" if args.postgres else "sqlite"
    print(f"# the web overview at the head, {engine}, {platform.machine()}")
    for size in dict.fromkeys(args.sizes):
        timeline = ready_store(size, args.postgres)
        try:
            # first, while the process holds no folded transfers of another measure
            first, again = whole_overview(timeline)
            kept: list[float] = []
            folded: list[float] = []
            for _ in range(args.runs):
                folded.append(lines(timeline, kept=False))
                kept.append(lines(timeline, kept=True))
            best_kept, best_folded = min(kept), min(folded)
            print(
                f"{size:,} events: step lines from the kept pieces {best_kept:.2f} s, from a fold "
                f"of every delivered transfer {best_folded:.2f} s ({best_folded / best_kept:.1f}x "
                f"as long; best of {args.runs})",
                flush=True,
            )
            print(f"{size:,} events: the whole overview, first {first:.2f} s, at another as-of "
                  f"{again:.2f} s", flush=True)  # fmt: skip
        finally:
            timeline.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
