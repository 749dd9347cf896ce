"""Write path against the bare engine, measured side by side in one run (DESIGN §8, issue 6).

Under the same concurrent loopback load (wrk) and the same request body it measures:
  (a) a bare Litestar endpoint doing one autocommit INSERT per request into PostgreSQL (one
      uvicorn worker, as the baseline is defined; also with as many workers as Timeline uses),
  (b) Timeline's `POST /api/events` on PostgreSQL: `timeline serve` with its default workers
      (one per CPU) and with one; the read models are kept by `timeline projections run`, which
      (b') runs beside it on the same machine,
  (c) the same on SQLite (one worker, its default),
  (d) `POST /api/events/batch` of 1,000 events vs a bare multi-row INSERT of the same payloads,
and prints req/s, p50/p99, errors and the ratios. (a) and (b) are measured `--rounds` times in
turn, so that a slower moment of a shared machine falls on both. Needs `wrk` (apt-get install
wrk).

    python bench/write.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
                          [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import psycopg

from service.serving import default_workers

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def event(index: int = 0) -> dict[str, Any]:
    """A realistic `development_reported` body (the same for every request of a run)."""
    return {
        "type": "development_reported",
        "kind": "transfer",
        "stage": "delivered",
        "title": f"North Korea delivered munitions containers to Russia ({index})",
        "actors": {"supplier": "PRK", "recipient": "RUS"},
        "item": {"category": "munitions_unspecified"},
        "occurred": "2023-09-07/2023-10-01",
        "report": {
            "source": {"originator": "US Government", "channel": "imagery", "title": "Kirby"},
            "asserted_on": "2023-10-13",
            "quote": "more than 1,000 containers of military equipment and munitions",
            "reliability": "B",
            "credibility": 2,
            "figure": {"unit": "container", "qualifier": "more_than", "value": 1000},
        },
    }


class Result(NamedTuple):
    """One wrk run."""

    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    rows_per_request: int = 1

    @property
    def rows_per_s(self) -> float:
        """Rows stored per second."""
        return self.requests_per_s * self.rows_per_request


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def server(command: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    """A server process, up when its port answers; terminated on exit."""
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            assert process.stderr is not None
            raise SystemExit(f"{command} did not start: {process.stderr.read().decode()}")
        time.sleep(0.1)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r} not understood")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}[unit]


def wrk(name: str, url: str, body: bytes, *, token: str, seconds: int, connections: int,
        rows: int = 1) -> Result:  # fmt: skip
    """Run wrk against `url` with `body` as every request; parse its report."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\nwrk.body = [==[' + body.decode() + "]==]\n")
        for key, value in headers.items():
            script.write(f'wrk.headers["{key}"] = "{value}"\n')
    # warm up: connection pools, caches, the first transactions
    subprocess.run(["wrk", "-t1", "-c4", "-d2s", "-s", script.name, url], capture_output=True)
    ran = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
    )
    os.unlink(script.name)
    if ran.returncode:
        raise SystemExit(f"wrk exited {ran.returncode} for {name}:\n{ran.stderr}{ran.stdout}")
    report = ran.stdout
    if "50%" not in report:
        raise SystemExit(f"wrk gave no latency distribution for {name}:\n{report}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", report, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", report, re.M).group(1))  # type: ignore[union-attr]
    errors = sum(
        int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|timeout):?\s+(\d+)", report)
    )
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write) (\d+)", report))
    return Result(name, rate, p50, p99, errors, rows)


def token_for(database: str) -> str:
    """An editor token on `database`."""
    return subprocess.run(
        [str(BIN / "timeline"), "tokens", "create", "--name", f"bench-{uuid.uuid4().hex[:8]}",
         "--role", "editor", "--database", database],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new PostgreSQL database for one run, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def timeline_server(database: str, workers: int) -> tuple[list[str], dict[str, str], int]:
    """The command, environment and port of `timeline serve`, as deployed on PostgreSQL:
    the read models are kept by a separate `timeline projections run` (see `runner`)."""
    port = free_port()
    command = [str(BIN / "timeline"), "serve", "--database", database, "--port", str(port),
               "--workers", str(workers), "--log-level", "warning", "--no-projections"]  # fmt: skip
    return command, {}, port


@contextmanager
def runner(database: str) -> Iterator[None]:
    """`timeline projections run` beside the API, as docker-compose.yml deploys it."""
    process = subprocess.Popen(
        [str(BIN / "timeline"), "projections", "run", "--database", database],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def bare_server(database: str, workers: int = 1) -> tuple[list[str], dict[str, str], int]:
    """The command, environment and port of the bare baseline app."""
    port = free_port()
    command = [str(BIN / "uvicorn"), "bench.bare_app:app", "--port", str(port),
               "--log-level", "warning", "--workers", str(workers)]  # fmt: skip
    return command, {"TIMELINE_DATABASE": database, "PYTHONPATH": str(ROOT)}, port


def main() -> None:
    """Run every measurement and print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch-connections", type=int, default=4)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/write.py needs wrk: apt-get install wrk")
    one = json.dumps(event()).encode()
    batch = json.dumps({"events": [event(i) for i in range(1000)]}).encode()
    load = {"seconds": args.seconds, "connections": args.connections}
    batch_load = {"seconds": args.seconds, "connections": args.batch_connections}
    workers = default_workers(args.postgres)
    results: list[Result] = []
    pairs: list[tuple[Result, Result]] = []

    # every server gets a new database: no run inherits another's rows, bloat or vacuum
    def bare(count: int = 1) -> Result:
        with ExitStack() as stack:
            database = stack.enter_context(scratch_database(args.postgres))
            base = stack.enter_context(server(*bare_server(database, count)))
            name = f"(a) bare INSERT per request, {count} worker(s)"
            return wrk(name, f"{base}/bare", one, token="", **load)

    def ours(count: int, *, beside: bool = False) -> Result:
        name = f"(b) Timeline POST, PostgreSQL, {count} worker(s)"
        if beside:
            name = name.replace("(b)", "(b')") + ", runner beside"
        with ExitStack() as stack:
            database = stack.enter_context(scratch_database(args.postgres))
            if beside:
                stack.enter_context(runner(database))
            base = stack.enter_context(server(*timeline_server(database, count)))
            return wrk(name, f"{base}/api/events", one, token=token_for(database), **load)

    for _ in range(args.rounds):
        pair = bare(), ours(workers)
        pairs.append(pair)
        results.extend(pair)
    results.append(bare(workers))
    results.append(ours(1))
    results.append(ours(workers, beside=True))
    with scratch_database(args.postgres) as database, server(*bare_server(database)) as base:
        bare_batch = wrk("(d) bare multi-row INSERT x1000", f"{base}/bare/batch", batch,
                         token="", rows=1000, **batch_load)  # fmt: skip
    with scratch_database(args.postgres) as database:
        token = token_for(database)
        with server(*timeline_server(database, workers)) as base:
            our_batch = wrk(f"(d) Timeline batch x1000, PostgreSQL, {workers} worker(s)",
                            f"{base}/api/events/batch", batch, token=token, rows=1000,
                            **batch_load)  # fmt: skip
    results += [bare_batch, our_batch]
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{folder}/bench.db"
        token = token_for(database)
        with runner(database), server(*timeline_server(database, 1)) as base:
            results.append(wrk("(c) Timeline POST, SQLite, 1 worker, runner beside",
                               f"{base}/api/events", one, token=token, **load))  # fmt: skip
    print(f"\n{'run':<58} {'req/s':>8} {'rows/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    for r in results:
        print(f"{r.name:<58} {r.requests_per_s:>8.0f} {r.rows_per_s:>9.0f} {r.p50_ms:>7.2f} "
              f"{r.p99_ms:>7.2f} {r.errors:>6}")  # fmt: skip
    print()
    ratios = sorted(b.requests_per_s / a.requests_per_s for a, b in pairs)
    print("(b) over (a), one per round: " + ", ".join(f"{r:.2f}x" for r in ratios)
          + f"; median {statistics.median(ratios):.2f}x (target >= 1.5x)")  # fmt: skip
    baseline = statistics.median(a.requests_per_s for a, _ in pairs)
    for r in results:
        if r.name.startswith(("(a) bare INSERT per request, 2", "(b) Timeline POST, PostgreSQL, 1",
                              "(b')", "(c)")):  # fmt: skip
            print(f"{r.name}: {r.requests_per_s / baseline:.2f}x (a) with 1 worker")
    print(f"batch append: {our_batch.rows_per_s / bare_batch.rows_per_s:.0%} of the bare "
          "multi-row INSERT (target >= 50%)")  # fmt: skip


if __name__ == "__main__":
    main()
