"""The benchmarks in `bench/` still run, at sizes small enough for the suite (their numbers are
not checked here: tests never assert timings)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "bench"


def run_bench(script: str, *args: str, data: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        env={**os.environ, "TIMELINE_BENCH_DATA": str(data)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_rebuild_benchmark_prints_its_rate_and_its_floors(tmp_path: Path) -> None:
    out = run_bench("rebuild.py", "--events", "600", "--runs", "1", data=tmp_path)
    assert re.search(r"run 1: 600 events in [\d.]+ s = [\d,]+ events/s; reading the log alone", out)
    rows = re.search(r"writing its ([\d,]+) rows alone: [\d.]+ s \(of which the R-tree", out)
    assert rows is not None and int(rows[1].replace(",", "")) > 600
    assert re.search(r"folding alone \(its pages read before, its rows thrown away\): [\d.]+", out)
    cpu = re.search(r"reading, folding and writing alone: ([\d.]+) s of CPU, so on (\d+) core", out)
    assert cpu is not None and float(cpu[1]) > 0 and int(cpu[2]) >= 1
    assert not list(tmp_path.glob("*.floor*")), "the scratch copy is left behind"
    # and what a rebuild does to another process's appends, beside a run without one
    assert re.search(r"appends beside a rebuild: [\d,]+ appends, longest [\d,]+ ms", out)
    assert re.search(r"appends, no rebuild: +[\d,]+ appends, longest [\d,]+ ms", out)
    assert not list(tmp_path.glob("*.appends*")), "the copy appended to is left behind"


def test_the_query_benchmark_prints_every_view_at_every_size(tmp_path: Path) -> None:
    out = run_bench("queries.py", "--sizes", "300", "600", "--queries", "5", data=tmp_path)
    cells = re.findall(r"^(\S.*?)\s+(300|600)\s+[\d.]+\s+([\d.]+)\s+[\d.]+\s+([\d.]+)$", out, re.M)
    views = {name for name, _, _, _ in cells}
    assert len(views) == 7 and len(cells) == 14
    # each ratio is the view's p50 over its p50 at the smallest size, as printed (to the
    # rounding of each printed figure: 0.005 ms of each p50, 0.005 of the ratio)
    p50 = {(name, size): float(median) for name, size, median, _ in cells}
    for name, size, _, ratio in cells:
        top, bottom = p50[name, size], p50[name, "300"]
        slack = 0.005 + top / bottom * (0.005 / top + 0.005 / bottom) * 1.1
        assert abs(float(ratio) - top / bottom) <= slack, (name, size, ratio, top, bottom)


def test_the_overview_benchmark_prints_both_ways_and_their_ratio(tmp_path: Path) -> None:
    out = run_bench("overview.py", "--sizes", "600", "--runs", "1", data=tmp_path)
    both = re.search(
        r"^600 events: step lines from the kept pieces ([\d.]+) s, from a fold of every "
        r"delivered transfer ([\d.]+) s \(([\d.]+)x as long; best of 1\)$",
        out,
        re.M,
    )
    assert both is not None
    whole = r"^600 events: the whole overview, first [\d.]+ s, at another as-of [\d.]+ s$"
    assert re.search(whole, out, re.M)
