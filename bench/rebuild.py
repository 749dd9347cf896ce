"""Rebuild speed: events per second of a full rebuild of every projection.

    python bench/rebuild.py                       # 100k events on SQLite
    python bench/rebuild.py --events 1000000
    python bench/rebuild.py --postgres postgresql://user@host/postgres

The store is built once (bench/synthetic.py `open_store`) and kept; each run rebuilds it
`--runs` times and prints every run and the best. Three floors are timed in the same run, so
the ratios travel between machines whatever their speed:
- reading and decoding the whole log, which any rebuild must do (before each rebuild);
- folding the log alone, its pages read beforehand and its rows thrown away;
- on SQLite, writing the rows the rebuild wrote, alone: the same tables, R-trees and indexes,
  filled from Python lists by `executemany` in one transaction of a scratch file (after the
  last rebuild). SQLite writes one transaction at a time, so no rebuild of these read models
  can beat the rate this allows, however fast its fold.
Each is CPU work of its own, so their sum divided by the cores the process may use bounds any
rebuild too, however well the three overlap.

On SQLite it then measures what a rebuild does to writers: a second process appends one event
at a time to a copy of the store, for as long as a rebuild of the copy takes and as long again
without one, and the longest and the 99th-percentile wait of an append in each are printed with
their ratio (`--no-appends` leaves this out).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import queue
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthetic import Generator, open_store  # bench/ is on sys.path when run as a script

from projections import rebuild
from projections.buffer import RowBuffer
from projections.dialect import Dialect, rows_of
from projections.entries import LogReader
from projections.rebuild import (
    FLUSH_ROWS,
    PAGE,
    _clear,
    _create_indexes,
    _quiet_gc,
    fold_page,
    start_folding,
)
from projections.runner import ensure_schema, make_projections
from projections.schema import BOXES
from service.application import Timeline
from service.store.backup import backup_sqlite
from service.store.log import LogRecorder


def read_log(store: LogRecorder) -> tuple[int, float]:
    """Events read and decoded, and the seconds it took: the floor of a rebuild."""
    began = time.perf_counter()
    count = sum(len(entries) for entries in LogReader(store).pages(0, PAGE))
    return count, time.perf_counter() - began


def fold_alone(store: LogRecorder) -> float:
    """Seconds to fold the whole log, its pages read beforehand and its rows thrown away (as
    the rebuild spills them): what a rebuild's fold costs without reading or writing."""
    pages = list(LogReader(store).pages(0, PAGE))
    dialect = Dialect(store)
    projections = make_projections(dialect)
    with _quiet_gc():
        began = time.perf_counter()
        start_folding(projections)
        buffer = RowBuffer(dialect)
        for entries in pages:
            fold_page(projections, entries, buffer)
            if buffer.count > FLUSH_ROWS:
                buffer.spill()
        for projection in projections:
            projection.finish_rebuild(buffer)
        return time.perf_counter() - began


def write_rows(store: LogRecorder, scratch: Path) -> tuple[int, float, float]:
    """Rows in the read models, the seconds to write them alone into an empty copy (tables,
    R-trees, indexes, commit) and of those the R-trees'."""
    dialect = Dialect(store)
    projections = make_projections(dialect)
    tables = [table for projection in projections for table in projection.tables] + [*BOXES]
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
                if table == BOXES[0]:  # the R-trees come last
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


def append_one_at_a_time(url: str, stop: Any, waits: Any) -> None:
    """In a process of its own: append synthetic events one at a time until `stop` is set,
    putting each append's seconds in `waits`."""
    timeline = Timeline(url)
    events = Generator(seed=7).events(1_000_000)
    while not stop.is_set():
        event = next(events)
        began = time.perf_counter()
        timeline.append([event], recorded_by="synthetic")
        waits.put(time.perf_counter() - began)
        time.sleep(0.005)
    timeline.close()


def appending(url: str, during: Callable[[], Any]) -> list[float]:
    """The waits of appends made by another process to `url` while `during` runs."""
    context = multiprocessing.get_context("spawn")
    stop, waits = context.Event(), context.Queue()
    appender = context.Process(target=append_one_at_a_time, args=(url, stop, waits))
    appender.start()
    try:
        waits.get(timeout=60)  # the appender is running
        during()
    finally:
        stop.set()
    found = []
    while appender.is_alive() or not waits.empty():
        with contextlib.suppress(queue.Empty):
            found.append(waits.get(timeout=1))
    appender.join()
    if appender.exitcode:
        raise SystemExit(f"an append failed (exit {appender.exitcode}): see its error above")
    return found


def appends_beside_a_rebuild(database: Path, scratch: Path) -> tuple[list[float], list[float]]:
    """Waits of one-at-a-time appends from another process to a copy of the database: during
    a rebuild of the copy, and for as long again without one."""
    for path in scratch.parent.glob(f"{scratch.name}*"):
        path.unlink()
    backup_sqlite(database, scratch)
    url = f"sqlite:///{scratch}"
    copy = Timeline(url)
    try:
        began = time.perf_counter()
        during = appending(url, lambda: rebuild(copy.store))
        seconds = time.perf_counter() - began
        without = appending(url, lambda: time.sleep(seconds))
    finally:
        copy.close()
        for path in scratch.parent.glob(f"{scratch.name}*"):
            path.unlink()
    return during, without


def _waits(waits: list[float]) -> str:
    ordered = sorted(waits)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{len(waits):,} appends, longest {ordered[-1] * 1000:,.0f} ms, p99 {p99 * 1000:,.0f} ms"


def main() -> int:
    """Rebuild a synthetic store and print events/s."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL", help="a server to run on instead of SQLite")
    parser.add_argument(
        "--no-appends", action="store_true", help="leave out the appends beside a rebuild"
    )
    args = parser.parse_args()
    timeline = open_store(args.events, args.postgres)
    engine = "postgresql" if args.postgres else "sqlite"
    print(f"# rebuild of all projections, {args.events:,} events, {engine}, {platform.machine()}")
    best, reading = 0.0, float("inf")
    for run in range(1, args.runs + 1):
        count, floor = read_log(timeline.store)
        reading = min(reading, floor)

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
    folding = fold_alone(timeline.store)
    print(f"folding alone (its pages read before, its rows thrown away): {folding:.2f} s")
    if not args.postgres:
        scratch = Path(timeline.database.removeprefix("sqlite:///") + ".floor")
        rows, seconds, box = write_rows(timeline.store, scratch)
        print(
            f"writing its {rows:,} rows alone: {seconds:.2f} s (of which the R-trees {box:.2f} s), "
            f"so no rebuild of these read models beats {count / seconds:,.0f} events/s here; "
            f"the best rebuild took {count / best / seconds:.1f}x as long"
        )
        # each part is CPU work of its own: spread over every core, they still take this long
        work, cores = reading + folding + seconds, len(os.sched_getaffinity(0))
        print(
            f"reading, folding and writing alone: {work:.2f} s of CPU, so on {cores} core(s) "
            f"no rebuild of these read models beats {count * cores / work:,.0f} events/s"
        )
    if not args.postgres and not args.no_appends:
        database = Path(timeline.database.removeprefix("sqlite:///"))
        during, without = appends_beside_a_rebuild(database, Path(f"{database}.appends"))
        print(f"appends beside a rebuild: {_waits(during)}")
        print(f"appends, no rebuild:      {_waits(without)}")
        print(
            f"the longest wait beside a rebuild is {max(during) / max(without):.1f}x the "
            "longest without"
        )
    timeline.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
