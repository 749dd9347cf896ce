"""End to end: `timeline serve` as a real process, written to, restarted, read back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import pytest

from service.serving import check_free
from tests.pgserver import free_port
from tests.procs import Server, TcpProxy, wait_until

pytestmark = pytest.mark.e2e

TIMELINE = str(Path(sys.executable).with_name("timeline"))


def call(method: str, url: str, body: Any = None, token: str = "") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@contextmanager
def serving(database: str, workers: int = 1) -> Iterator[str]:
    """A `timeline serve` process on a free port, stopped (SIGTERM) on exit."""
    port = free_port()
    process = subprocess.Popen(
        [
            TIMELINE,
            "serve",
            "--database",
            database,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if call("GET", f"{base}/api/health")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                assert process.stderr is not None
                raise AssertionError(f"server did not start: {process.stderr.read().decode()}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        # stopped as asked, by the signal (a shell's 143), with one worker or several
        assert process.wait(timeout=30) == -signal.SIGTERM


def development(event_id: str) -> dict[str, Any]:
    return {
        "type": "development_reported",
        "event_id": event_id,
        "kind": "transfer",
        "title": "North Korea delivered munitions containers to Russia",
        "stage": "delivered",
        "actors": {"supplier": "PRK", "recipient": "RUS"},
        "occurred": "2023-09-07/2023-10-01",
        "report": {
            "source": {"originator": "US Government", "channel": "imagery"},
            "asserted_on": "2023-10-13",
            "figure": {"unit": "container", "qualifier": "more_than", "value": 1000},
        },
    }


def editor_token(database: str) -> str:
    """A new editor token named e2e, made with the CLI."""
    return subprocess.run(
        [TIMELINE, "tokens", "create", "--name", "e2e", "--role", "editor", "--database", database],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_acknowledged_writes_survive_a_restart(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/e2e.db"
    event_id = str(uuid4())
    token = editor_token(database)
    # Given a server that acknowledged a development and a report
    with serving(database) as base:
        status, receipt = call("POST", f"{base}/api/events", development(event_id), token)
        assert status == 201
        added = {
            "type": "report_added",
            "development_id": receipt["development_id"],
            "expected_version": 1,
            "report": {
                "source": {"originator": "South Korea NIS", "channel": "briefing"},
                "asserted_on": "2023-11-01",
            },
        }
        status, second = call("POST", f"{base}/api/events", added, token)
        assert status == 201 and second["version"] == 2
    # When it is restarted on the same database
    with serving(database) as base:
        # Then the log and the history hold both events, and a retry gets the original receipt
        status, log = call("GET", f"{base}/api/events?after=0&limit=10")
        assert status == 200
        assert [item["event_id"] for item in log["items"]] == [event_id, second["event_id"]]
        assert {item["recorded_by"] for item in log["items"]} == {"e2e"}
        development_url = f"{base}/api/developments/{receipt['development_id']}"
        status, history = call("GET", f"{development_url}/history")
        assert status == 200 and [item["version"] for item in history["items"]] == [1, 2]
        status, replay = call("POST", f"{base}/api/events", development(event_id), token)
        assert status == 200 and replay == receipt


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def test_several_workers_share_the_port_and_stop_together(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/workers.db"
    token = editor_token(database)
    # Given `timeline serve --workers 2`
    with serving(database, workers=2) as base:
        server = _server_pid(base)
        port_holders = _children(server)
        assert len(port_holders) >= 2  # the workers (and the spawn helper)
        # When clients write over many connections
        ids = [str(uuid4()) for _ in range(40)]
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(
                    lambda i: call("POST", f"{base}/api/events", development(i), token)[0], ids
                )
            )
        # Then every write is stored once
        assert statuses == [201] * len(ids)
        _, log = call("GET", f"{base}/api/events?after=0&limit=100")
        assert sorted(item["event_id"] for item in log["items"]) == sorted(ids)
    # And SIGTERM stopped the workers with the server, which exited by it (see `serving`)
    assert wait_gone(port_holders)


def test_a_worker_that_dies_is_replaced_and_no_connection_is_refused_meanwhile(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path}/workers.db"
    with serving(database, workers=2) as base:
        server = _server_pid(base)
        workers = _workers(server)
        assert len(workers) == 2
        # When one worker is killed outright, while requests keep arriving
        os.kill(min(workers), signal.SIGKILL)
        answers = []
        deadline = time.monotonic() + 30
        replaced = _workers(server)
        while (len(replaced) != 2 or min(workers) in replaced) and time.monotonic() < deadline:
            answers.append(call("GET", f"{base}/api/health")[0])  # raises if refused or reset
            replaced = _workers(server)  # one reading per turn, the one the loop stopped on
        # Then every one of them is answered, and the server has started another worker
        assert len(replaced) == 2 and min(workers) not in replaced
        assert answers and set(answers) == {200}
        assert all(call("GET", f"{base}/api/health")[0] == 200 for _ in range(20))


@pytest.mark.postgres
def test_a_worker_started_while_postgresql_is_out_of_reach_answers_503_until_it_is_back(
    postgres_url: str, tmp_path: Path
) -> None:
    parts = urlsplit(postgres_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    proxy.start()
    through = parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}")
    database = urlunsplit(through._replace(query="connect_timeout=2"))
    server = Server(database, tmp_path / "serve.log", workers=2, log_level="info")
    try:
        server.wait_healthy()  # by one worker: the other may still be starting, and fail
        log = server.log  # with a trace when the database goes meanwhile
        assert wait_until(lambda: log.read_text().count("startup complete") == 2, timeout=30)
        base, workers = server.base_url, _workers(server.popen.pid)
        # When the database goes out of reach and a worker is replaced meanwhile
        proxy.stop()
        os.kill(min(workers), signal.SIGKILL)
        replaced = wait_until(
            lambda: len(now := _workers(server.popen.pid)) == 2 and min(workers) not in now,
            timeout=20,
        )
        assert replaced, server.tail()
        waiting = _workers(server.popen.pid)
        # Then every request is answered, 503, on either worker's socket: those queued on
        # the new worker's socket hung while it failed to start, again and again
        answers = [call("GET", f"{base}/api/health")[0] for _ in range(8)]
        assert set(answers) == {503}
        # and once the database is back, the same workers serve: none fails to take over
        before = len(server.log.read_text())
        proxy.start()
        back = wait_until(
            lambda: all(call("GET", f"{base}/api/health")[0] == 200 for _ in range(8)),
            timeout=30,
            interval=0.5,
        )
        assert back, server.tail()
        assert _workers(server.popen.pid) == waiting, server.tail(60)
        said = server.log.read_text()[before:]
        assert "can be reached again; serving" in said
        assert "Traceback" not in said and "exited" not in said, server.tail()
    finally:
        server.stop()
        proxy.stop()


def test_workers_whose_server_was_killed_outright_stop_and_free_the_port(tmp_path: Path) -> None:
    server = Server(f"sqlite:///{tmp_path}/workers.db", tmp_path / "serve.log", workers=2)
    workers: set[int] = set()
    try:
        server.wait_healthy()
        workers = _workers(server.popen.pid)
        assert len(workers) == 2
        # When the server alone is killed outright (a supervisor or OOM killer), not its group
        os.kill(server.popen.pid, signal.SIGKILL)
        server.popen.wait(timeout=15)
        # Then its workers stop by themselves, rather than hold the port with nobody to
        # replace them, and a new server can start on it
        assert wait_until(lambda: not any(_running(pid) for pid in workers), timeout=20)
        assert wait_until(lambda: _port_free(server.port), timeout=15)
    finally:
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        server.stop()


def _running(pid: int) -> bool:
    """Whether `pid` is a process not yet exited (a zombie waiting for its reaper has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _port_free(port: int) -> bool:
    try:
        check_free("127.0.0.1", port)
    except OSError:
        return False
    return True


def _server_pid(base: str) -> int:
    """The `timeline serve` process answering at `base` (its port is on its command line)."""
    port = base.rsplit(":", 1)[1]
    return next(
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and port in _cmdline(entry)
    )


def _workers(server: int) -> set[int]:
    return {pid for pid in _children(server) if "spawn_main" in _cmdline(Path(f"/proc/{pid}"))}


def _cmdline(entry: Path) -> str:
    try:
        return (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_gone(pids: set[int], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return True
        time.sleep(0.1)
    return False
