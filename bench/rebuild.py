"""Rebuild speed: events per second of a full rebuild of every projection.

    python bench/rebuild.py                       # 100k events on SQLite
    python bench/rebuild.py --events 1000000
    python bench/rebuild.py --postgres postgresql://user@host/postgres

The store is built once (bench/synthetic.py `open_store`) and kept; each run rebuilds it
`--runs` times and prints every run and the best. Two floors are timed in the same run, so the
ratios travel between machines whatever their speed:
- reading and decoding the whole log, which any rebuild must do (before each rebuild);
- on SQLite, writing the rows the rebuild wrote, alone: the same tables, R-tree and indexes,
  filled from Python lists by `executemany` in one transaction of a scratch file (after the
  last rebuild). SQLite writes one transaction at a time, so no rebuild of these read models
  can beat the rate this allows, however fast its fold.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from synthetic import open_store  # bench/ is on sys.path when run as a script

from projections import rebuild
from projections.dialect import Dialect, rows_of
from projections.entries import LogReader
from projections.rebuild import PAGE, _clear, _create_indexes
from projections.runner import ensure_schema, make_projections
from projections.schema import BOX
from service.application import Timeline
from service.store.log import LogRecorder


def read_log(store: LogRecorder) -> tuple[int, float]:
    """Events read and decoded, and the seconds it took: the floor of a rebuild."""
    began = time.perf_counter()
    count = sum(len(entries) for entries in LogReader(store).pages(0, PAGE))
    return count, time.perf_counter() - began


def write_rows(store: LogRecorder, scratch: Path) -> tuple[int, float, float]:
    """Rows in the read models, the seconds to write them alone into an empty copy (tables,
    R-tree, indexes, commit) and of those the R-tree's."""
    dialect = Dialect(store)
    projections = make_projections(dialect)
    tables = [table for projection in projections for table in projection.tables] + [BOX]
    with store.read_transaction() as cursor:
        rows = {}
        for table in tables:
            cursor.execute(f"SELECT * FROM {table}")
            rows[table] = rows_of(cursor)
    scratch.unlink(missing_ok=True)
    copy = Timeline(f"sqlite:///{scratch}")
    try:
        ensure_schema(copy.store)
        with copy.store.write_transaction() as cursor:  # as the rebuild's child: no indexes yet
            for projection in projections:
                _clear(dialect, projection.name, projection.tables, cursor)
        began = time.perf_counter()
        with copy.store.write_transaction() as cursor:
            cursor.execute("PRAGMA cache_size = -262144")
            for table in tables:
                if table == BOX:
                    box = time.perf_counter()
                if rows[table]:
                    marks = ", ".join("?" * len(rows[table][0]))
                    cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", rows[table])
            box = time.perf_counter() - box
            _create_indexes(projections, cursor)
        seconds = time.perf_counter() - began
    finally:
        copy.close()
        for path in scratch.parent.glob(f"{scratch.name}*"):
            path.unlink()
    return sum(len(table) for table in rows.values()), seconds, box


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
    if not args.postgres:
        scratch = Path(timeline.database.removeprefix("sqlite:///") + ".floor")
        rows, seconds, box = write_rows(timeline.store, scratch)
        print(
            f"writing its {rows:,} rows alone: {seconds:.2f} s (of which the R-tree {box:.2f} s), "
            f"so no rebuild of these read models beats {count / seconds:,.0f} events/s here; "
            f"the best rebuild took {count / best / seconds:.1f}x as long"
        )
    timeline.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
