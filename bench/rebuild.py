"""Rebuild speed: events per second of a full rebuild of every projection.

    python bench/rebuild.py                       # 100k events on SQLite
    python bench/rebuild.py --events 1000000
    python bench/rebuild.py --postgres postgresql://user@host/postgres

The store is built once (bench/synthetic.py `open_store`) and kept; each run rebuilds it
`--runs` times and prints every run and the best. Before each rebuild it times a baseline in
the same run: reading and decoding the whole log, which any rebuild must do, so the ratio of the
two says how much the folds and writes cost on top, whatever the machine's speed.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

from synthetic import open_store  # bench/ is on sys.path when run as a script

from projections import rebuild
from projections.entries import LogReader
from projections.rebuild import PAGE
from service.store.log import LogRecorder


def read_log(store: LogRecorder) -> tuple[int, float]:
    """Events read and decoded, and the seconds it took: the floor of a rebuild."""
    began = time.perf_counter()
    count = sum(len(entries) for entries in LogReader(store).pages(0, PAGE))
    return count, time.perf_counter() - began


def main() -> int:
    """Rebuild a synthetic store and print events/s."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL", help="a server to run on instead of SQLite")
    args = parser.parse_args()
    timeline = open_store(args.events, args.postgres)
    engine = "postgresql" if args.postgres else "sqlite"
    print(f"# rebuild of all projections, {args.events:,} events, {engine}, {platform.machine()}")
    best = 0.0
    for run in range(1, args.runs + 1):
        count, floor = read_log(timeline.store)

        def progress(done: int, total: int, run: int = run) -> None:
            print(f"\r  run {run}: {done:,}/{total:,}", end="", file=sys.stderr, flush=True)

        done = rebuild(timeline.store, progress=progress)
        print(file=sys.stderr)
        best = max(best, done.events_per_second)
        print(
            f"run {run}: {done.events:,} events in {done.seconds:.2f} s = "
            f"{done.events_per_second:,.0f} events/s; reading the log alone: "
            f"{count / floor:,.0f} events/s, the rebuild takes {done.seconds / floor:.1f}x as long"
        )
    print(f"best: {best:,.0f} events/s (target >= 100,000 on SQLite)")
    timeline.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
