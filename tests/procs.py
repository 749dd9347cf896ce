"""Real `timeline` processes for tests: servers on loopback, projection runners, tokens, the log.

Each process runs in its own session (process group) with its output in a log file, so a test
can SIGKILL exactly what it started and show the process's last lines when something fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from projections import ProjectionRunner, rebuild, snapshot
from service.application import Timeline
from tests.pgserver import free_port

TIMELINE = str(Path(sys.executable).with_name("timeline"))
HOST = "127.0.0.1"  # servers under test listen on loopback only
START_SECONDS = 30.0


def timeline_process(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a `timeline` command in its own process to its end, whatever its exit status."""
    return subprocess.run(
        [TIMELINE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def run_timeline(*args: str, timeout: float = 60.0) -> str:
    """Run a `timeline` command to its end; its standard output (raises when it fails)."""
    done = timeline_process(*args, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"timeline {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def create_token(database: str, name: str, role: str = "editor") -> str:
    """A new token made by `timeline tokens create`, as an operator would make it."""
    return run_timeline(
        "tokens", "create", "--name", name, "--role", role, "--database", database
    ).strip()


def has_verb(*verb: str) -> bool:
    """Whether the installed `timeline` command knows a verb (e.g. `projections run`)."""
    done = subprocess.run(
        [TIMELINE, *verb, "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    return done.returncode == 0


def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


class Process:
    """A child process in its own process group, its output in `log`."""

    def __init__(
        self, command: Sequence[str], log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.command = list(command)
        self.log = log
        with log.open("ab") as output:
            self.popen = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        """The process has not exited."""
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        """The last lines the process wrote."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the process and any workers it forked: no shutdown code runs."""
        if self.alive:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=15)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait for a clean exit; SIGKILL if it does not come in time."""
        if self.alive:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.popen.wait(timeout=15)


class Server(Process):
    """`timeline serve` on 127.0.0.1 and a free port."""

    def __init__(
        self,
        database: str,
        log: Path,
        *,
        env: dict[str, str] | None = None,
        workers: int = 1,
        log_level: str = "warning",
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        super().__init__(
            [
                TIMELINE,
                "serve",
                "--database",
                database,
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log-level",
                log_level,
            ],
            log,
            env,
        )

    def healthy(self) -> bool:
        """`GET /api/health` answers 200."""
        try:
            return httpx.get(f"{self.base_url}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float = START_SECONDS) -> None:
        """Return once the server answers its health check; fail with its output if it dies."""
        if not wait_until(lambda: self.healthy() or not self.alive, timeout=timeout):
            self.kill()
            raise AssertionError(f"server did not answer in {timeout} s:\n{self.tail()}")
        if not self.alive:
            raise AssertionError(f"server exited with {self.popen.returncode}:\n{self.tail()}")


@contextmanager
def serving(
    database: str, log_dir: Path, *, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[Server]:
    """A healthy `timeline serve` on `database`, stopped on exit (if a test did not kill it)."""
    server = Server(database, _log_path(log_dir, "serve"), env=env, workers=workers)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@contextmanager
def serving_several(
    database: str, log_dir: Path, count: int, *, env: dict[str, str] | None = None
) -> Iterator[list[Server]]:
    """`count` servers on one database, started together, all stopped on exit."""
    servers = [Server(database, _log_path(log_dir, "serve"), env=env) for _ in range(count)]
    try:
        for server in servers:
            server.wait_healthy()
        yield servers
    finally:
        for server in servers:
            server.stop()


def _log_path(log_dir: Path, stem: str) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    number = len(list(log_dir.glob(f"{stem}-*.log")))
    return log_dir / f"{stem}-{number}.log"


# The runner `timeline projections run` starts, for as long as the CLI does not have that verb.
_RUNNER = """
import signal, sys, threading
from projections import run_forever
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
run_forever(sys.argv[1], stop)
"""


def projection_runner(database: str, log_dir: Path) -> Process:
    """`timeline projections run` on `database`: the runner following the log in its own process.

    Until the CLI has that verb, the same `projections.run_forever` in a Python process.
    """
    if has_verb("projections", "run"):
        command = [TIMELINE, "projections", "run", "--database", database]
    else:
        command = [sys.executable, "-c", _RUNNER, database]
    return Process(command, _log_path(log_dir, "projections"))


def read_log(base_url: str, token: str | None = None) -> list[dict[str, Any]]:
    """Every item of `GET /api/events`, page by page, in position order."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    items: list[dict[str, Any]] = []
    after: int | None = 0
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        while after is not None:
            response = client.get("/api/events", params={"after": after, "limit": 1000})
            assert response.status_code == 200, response.text
            page = response.json()
            items += page["items"]
            after = page["next"]
    return items


def assert_projections_equal_a_rebuild(database: str, head: int) -> None:
    """The read models the runners kept, once they reached `head`, are the rows of a rebuild.

    Checks that the runner under test (in a server or its own process) did the folding: a
    runner made here has nothing left to fold before the rebuild.
    """
    timeline = Timeline(database)
    try:
        runner = ProjectionRunner(timeline.store)
        caught_up = wait_until(
            lambda: all(position >= head for position, _ in runner.tracking().values()),
            timeout=20,
        )
        assert caught_up, f"projections stopped at {runner.tracking()}, head {head}"
        live = snapshot(timeline.store)
        assert runner.catch_up() == 0, "the runner under test had folded everything"
        rebuild(timeline.store)
        rebuilt = snapshot(timeline.store)
    finally:
        timeline.close()
    assert any(live.values()), "the projections hold rows"
    differing = {  # `*_state` tables are the runner's memory, not read models (verify_rebuild)
        table: f"{sum(row not in rebuilt[table] for row in rows)} of {len(rows)} rows differ"
        for table, rows in live.items()
        if rows != rebuilt[table] and not table.endswith("_state")
    }
    assert not differing, f"live projections differ from a rebuild: {differing}"


class TcpProxy:
    """A TCP relay on a free loopback port to `target`, which a test can take away (`stop`:
    connections refused, those relayed broken) and bring back (`start`) on the same port: a
    database server going out of reach and coming back. `connections` counts those made to it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.connections = 0
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Relay connections made to `port` from now on."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and break the relayed ones."""
        with self._lock:
            if self._listener is not None:
                # a close alone leaves the socket listening while `accept` waits on it
                with contextlib.suppress(OSError):
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # stopped
                return
            self.connections += 1
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # stopped meanwhile: break it too
                    client.close()
                    upstream.close()
                    continue
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
