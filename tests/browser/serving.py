"""A real `timeline serve` process on a free port, and the CLI calls the tests need around it."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from tests.pgserver import free_port
from tests.procs import TIMELINE, run_timeline


def cli(*args: str) -> str:
    """Run `timeline ARGS`; its standard output, stripped."""
    return run_timeline(*args).strip()


class Server(NamedTuple):
    """A running server process and where it answers."""

    base: str
    process: subprocess.Popen[bytes]


def _up(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/api/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def serving(database: str) -> Iterator[Server]:
    """`timeline serve` on `database`; terminated (SIGTERM) on exit if still running."""
    port = free_port()
    process = subprocess.Popen(
        [TIMELINE, "serve", "--database", database, "--port", str(port),
         "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _up(base):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                assert process.stderr is not None
                raise AssertionError(f"server did not start: {process.stderr.read().decode()}")
            time.sleep(0.1)
        yield Server(base, process)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()
