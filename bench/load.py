"""Mixed loopback load: reads of the views and the log with appends, on SQLite and PostgreSQL.

For each database: a fresh one filled with the seed corpus and a synthetic log (10,000 events by
default), one `timeline serve` on 127.0.0.1 (its projection runner inside), then `wrk` for a
fixed time with a Lua script that sends 80% GETs (timeline, one development, deliveries,
allegations, a page of the log) and 20% POST /api/events (new developments and reports added
to existing ones). Prints req/s, p50/p99 latency and errors per database. Needs `wrk`
(apt-get install wrk); a run takes about 40 seconds.

    python bench/load.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
                         [--seconds 10] [--connections 16] [--events 10000] [--writes 20]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import psycopg

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the load goes to this machine's loopback only

READS = (
    "/api/developments?limit=50",
    "/api/views/deliveries",
    "/api/views/allegations?limit=50",
    "/api/events?limit=100",
)

LUA = r"""
local token = "%(token)s"
local ids = {%(ids)s}
local reads = {%(reads)s}
local write_percent = %(writes)d
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("number", counter)
end

function init(args)
  math.randomseed(number * 7919 + 17)
end

local function development()
  return '{"type":"development_reported","kind":"transfer","stage":"delivered",' ..
    '"title":"North Korea delivered munitions containers to Russia (load ' .. math.random(1e9) ..
    ')","actors":{"supplier":"PRK","recipient":"RUS"},' ..
    '"item":{"category":"munitions_unspecified"},' ..
    '"report":{"source":{"originator":"US Government","channel":"briefing"},' ..
    '"asserted_on":"2023-10-13","figure":{"unit":"container","qualifier":"more_than","value":1000}}}'
end

local function report(id)
  return '{"type":"report_added","development_id":"' .. id .. '","report":{"source":' ..
    '{"originator":"South Korea NIS","channel":"briefing"},"asserted_on":"2023-11-01"}}'
end

function request()
  local roll = math.random(100)
  if roll <= write_percent then
    local body
    if roll %% 2 == 0 then body = development() else body = report(ids[math.random(#ids)]) end
    return wrk.format("POST", "/api/events", {
      ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
  end
  local pick = math.random(#reads + 1)
  local path
  if pick > #reads then path = "/api/developments/" .. ids[math.random(#ids)]
  else path = reads[pick] end
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%.3f %%.3f %%d\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
  io.write(string.format("ERRORS connect %%d read %%d write %%d status %%d timeout %%d\n",
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


class Result(NamedTuple):
    """One database's run."""

    database: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def per_second(self) -> float:
        """Requests answered per second."""
        return self.requests / self.seconds


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def run(*args: str) -> str:
    """Run a command to its end; its standard output."""
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """A new PostgreSQL database for one run, dropped afterwards."""
    name = f"load_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def scratch_sqlite() -> Iterator[str]:
    """A new SQLite database file for one run, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="timeline-load-") as folder:
        yield f"sqlite:///{folder}/load.db"


def fill(database: str, events: int) -> None:
    """The seed corpus and a synthetic log of `events` events."""
    timeline = str(BIN / "timeline")
    run(timeline, "seed", "--database", database)
    run(sys.executable, str(ROOT / "bench" / "synthetic.py"), database, "--events", str(events))


@contextmanager
def serving(database: str) -> Iterator[str]:
    """`timeline serve` on loopback, healthy; stopped (SIGTERM) on exit."""
    port = free_port()
    command = [str(BIN / "timeline"), "serve", "--database", database, "--host", HOST,
               "--port", str(port), "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            assert process.stderr is not None
            raise SystemExit(f"timeline serve did not start: {process.stderr.read().decode()}")
        time.sleep(0.1)
    try:
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def development_ids(base: str, count: int = 200) -> list[str]:
    """Ids of developments the log holds, to read and to add reports to."""
    with urllib.request.urlopen(f"{base}/api/events?limit=1000", timeout=30) as answer:
        items = json.load(answer)["items"]
    ids = [item["development_id"] for item in items if item["type"] == "development_reported"]
    return ids[:count]


def caught_up(base: str) -> None:
    """Return once the server's read models have folded the whole log (a view read waits)."""
    with urllib.request.urlopen(f"{base}/api/views/allegations?limit=1", timeout=300) as answer:
        assert answer.status == 200


def wrk(
    base: str, script: str, *, seconds: int, connections: int
) -> tuple[int, float, float, float, int]:
    """Run wrk with the script: requests, seconds it ran, p50 and p99 in ms, errors."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        subprocess.run(  # warm up: connections, caches, the projection runner
            ["wrk", "-t1", "-c4", "-d2s", "-s", file.name, base], capture_output=True, check=True
        )
        report = run("wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", file.name, base)
    finally:
        os.unlink(file.name)
    found = re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) (\d+)", report)
    if found is None:
        raise SystemExit(f"wrk gave no result:\n{report}")
    print("  " + report.strip().splitlines()[-1], file=sys.stderr)
    requests, micros, p50, p99, errors = found.groups()
    return int(requests), int(micros) / 1e6, float(p50), float(p99), int(errors)


def measure(name: str, database: str, args: argparse.Namespace) -> Result:
    """Fill `database`, serve it and load it."""
    began = time.monotonic()
    fill(database, args.events)
    token = run(str(BIN / "timeline"), "tokens", "create", "--name", "load", "--role", "editor",
                "--database", database).strip()  # fmt: skip
    with serving(database) as base:
        caught_up(base)
        ids = development_ids(base)
        script = LUA % {
            "token": token,
            "ids": ", ".join(f'"{i}"' for i in ids),
            "reads": ", ".join(f'"{path}"' for path in READS),
            "writes": args.writes,
        }
        requests, seconds, p50, p99, errors = wrk(
            base, script, seconds=args.seconds, connections=args.connections
        )
    print(f"  {name}: ready in {time.monotonic() - began:.1f} s", file=sys.stderr)
    return Result(name, requests, seconds, p50, p99, errors)


def main() -> None:
    """Load each database in turn and print one line per database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seconds", type=int, default=10, help="length of each measured run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--events", type=int, default=10_000, help="synthetic events to load")
    parser.add_argument("--writes", type=int, default=20, help="percent of requests that append")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/load.py needs wrk: apt-get install wrk")
    results: list[Result] = []
    if args.only in (None, "sqlite"):
        with scratch_sqlite() as database:
            results.append(measure("sqlite", database, args))
    if args.only in (None, "postgresql"):
        with scratch_postgres(args.postgres) as database:
            results.append(measure("postgresql", database, args))
    print(f"{args.writes}% appends, {100 - args.writes}% reads; {args.connections} connections, "
          f"{args.seconds} s, {args.events:,} synthetic events + the seed corpus")  # fmt: skip
    print(f"{'database':<12}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for r in results:
        print(f"{r.database:<12}{r.requests:>10}{r.per_second:>10.0f}{r.p50_ms:>10.2f}"
              f"{r.p99_ms:>10.2f}{r.errors:>8}")  # fmt: skip


if __name__ == "__main__":
    main()
