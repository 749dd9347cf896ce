"""A real `timeline serve` process on a free port, and the CLI calls the tests need around it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple


def timeline_command() -> str:
    """The `timeline` script of the running interpreter's environment."""
    return str(Path(sys.executable).with_name("timeline"))


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cli(*args: str) -> str:
    """Run `timeline ARGS`; its standard output, stripped."""
    done = subprocess.run([timeline_command(), *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


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
        [timeline_command(), "serve", "--database", database, "--port", str(port),
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
