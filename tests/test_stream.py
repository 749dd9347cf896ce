"""`GET /api/stream`: server-sent events of the log, over a real HTTP server."""

from __future__ import annotations

import itertools
import logging
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple
from uuid import uuid4

import httpx
import msgspec
import pytest
import uvicorn

from service.application import Timeline
from service.errors import Unavailable
from service.http import create_app, stream
from service.store.log import LogRecorder
from service.store.records import StoredRecord
from service.tokens import Tokens
from tests import bodies
from tests.api import serve
from tests.browser.serving import serving
from tests.pgserver import free_port
from tests.procs import TIMELINE, wait_until


class Message(NamedTuple):
    """One server-sent event as a browser would see it; comment lines kept apart."""

    id: str | None
    event: str | None
    data: str | None
    comments: tuple[str, ...]

    def item(self) -> dict[str, Any]:
        """The `data:` as JSON."""
        assert self.data is not None
        decoded: dict[str, Any] = msgspec.json.decode(self.data)
        return decoded


class Live(NamedTuple):
    """A running server: its base URL, the app's state, a client with an editor token, and the
    uvicorn server itself."""

    base: str
    state: Any
    client: httpx.Client
    uvicorn: uvicorn.Server

    def answering(self) -> int:
        """How many requests the server is still answering (an open stream is one)."""
        return len(self.uvicorn.server_state.tasks)


@contextmanager
def live(database_url: str, **state: float) -> Iterator[Live]:
    """The app served by uvicorn in a thread; `state` sets stream settings on the app."""
    timeline = Timeline(database_url)
    token = Tokens(timeline.store).create("newsroom", "editor")
    app = create_app(timeline)
    for name, value in state.items():
        setattr(app.state, name, value)
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning",
                            timeout_graceful_shutdown=5)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    base = f"http://127.0.0.1:{config.port}"
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        try:
            yield Live(base, app.state, client, server)
        finally:
            server.should_exit = True
            thread.join(15)


def messages(response: httpx.Response) -> Iterator[Message]:
    """Parse an event stream into messages."""
    fields: dict[str, str] = {}
    comments: list[str] = []
    for line in response.iter_lines():
        if not line:
            if fields or comments:
                yield Message(fields.get("id"), fields.get("event"), fields.get("data"),
                              tuple(comments))  # fmt: skip
            fields, comments = {}, []
        elif line.startswith(":"):
            comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def events(response: httpx.Response, count: int, *, within: float = 10.0) -> list[Message]:
    """The next `count` messages that carry an event; fails when they have not all come in
    `within` seconds (checked at each message, heartbeats included)."""
    return list(itertools.islice(arriving(messages(response), within), count))


def arriving(stream: Iterator[Message], seconds: float) -> Iterator[Message]:
    """The messages that carry an event, failing once `seconds` have gone by (checked at each
    message, heartbeats included)."""
    deadline = time.monotonic() + seconds
    for message in stream:
        assert time.monotonic() < deadline, f"the events did not all come in {seconds} s"
        if message.event is not None:
            yield message


def post(client: httpx.Client, body: bodies.Body) -> dict[str, Any]:
    """POST an event; its receipt."""
    response = client.post("/api/events", content=bodies.encoded(body),
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 201, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


def test_events_posted_after_connecting_arrive_in_position_order(database_url: str) -> None:
    with live(database_url) as server:
        post(server.client, bodies.development_reported())  # before: not part of the stream
        with server.client.stream("GET", "/api/stream") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            first = post(server.client, bodies.development_reported(kind="use"))
            second = post(server.client, bodies.report_added(first["development_id"]))
            third = post(server.client, bodies.status_changed(first["development_id"]))
            received = events(response, 3)
        log = server.client.get("/api/events", params={"after": 1}).json()["items"]

    assert [m.id for m in received] == [str(r["position"]) for r in (first, second, third)]
    assert [m.event for m in received] == ["development_reported", "report_added", "status_changed"]
    assert [m.item() for m in received] == log


def test_last_event_id_resumes_after_that_position_and_wins_over_after(database_url: str) -> None:
    with live(database_url) as server:
        receipts = [post(server.client, bodies.development_reported()) for _ in range(4)]
        headers = {"Last-Event-ID": str(receipts[1]["position"])}
        with server.client.stream("GET", "/api/stream?after=0", headers=headers) as response:
            resumed = events(response, 2)
        with server.client.stream("GET", "/api/stream?after=3") as response:
            [after] = events(response, 1)

    assert [m.id for m in resumed] == [str(r["position"]) for r in receipts[2:]]
    assert after.id == str(receipts[3]["position"])


def test_filters_keep_one_development_or_one_kind(database_url: str) -> None:
    with live(database_url) as server:
        transfer = post(server.client, bodies.development_reported())["development_id"]
        use = post(server.client, bodies.development_reported(kind="use"))["development_id"]
        post(server.client, bodies.report_added(transfer))
        post(server.client, bodies.report_added(use))
        retype = bodies.development_corrected(transfer, changes={"kind": "use"})
        retyped = post(server.client, retype)
        post(server.client, bodies.report_added(transfer))  # now a `use` development

        def ids(query: str, count: int) -> list[tuple[str | None, str]]:
            with server.client.stream("GET", f"/api/stream?after=0&{query}") as response:
                return [(m.event, m.item()["development_id"]) for m in events(response, count)]

        by_development = ids(f"development={use}", 2)
        by_kind = ids("kind=transfer", 3)
        uses = ids("kind=use", 4)

    assert by_development == [("development_reported", use), ("report_added", use)]
    assert by_kind == [("development_reported", transfer), ("report_added", transfer),
                       ("development_corrected", transfer)]  # fmt: skip
    assert retyped["version"] == 3  # the correction is seen by both kinds' followers
    assert uses == [("development_reported", use), ("report_added", use),
                    ("development_corrected", transfer), ("report_added", transfer)]  # fmt: skip


def test_one_developments_stream_is_read_from_its_own_events_not_the_whole_log(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with live(database_url, stream_heartbeat_seconds=0.2) as server:
        # Given one development among many others in the log
        mine = post(server.client, bodies.development_reported())["development_id"]
        for _ in range(5):
            post(server.client, bodies.development_reported())
        post(server.client, bodies.report_added(mine))
        # When it is followed from the start, each read of the log's pages recorded
        scanned: list[int] = []
        select_records = LogRecorder.select_records

        def pages(self: LogRecorder, **at: Any) -> list[StoredRecord]:
            scanned.append(at.get("after", 0))
            return select_records(self, **at)

        monkeypatch.setattr(LogRecorder, "select_records", pages)
        with server.client.stream("GET", f"/api/stream?after=0&development={mine}") as response:
            sent = arriving(messages(response), 10)
            earlier = [next(sent), next(sent)]
            later = post(server.client, bodies.status_changed(mine))
            post(server.client, bodies.development_reported())  # another's: not sent
            new = next(sent)
    # Then its events arrive once each, in order, read from its own stream
    assert [m.event for m in earlier] == ["development_reported", "report_added"]
    assert new.event == "status_changed" and new.id == str(later["position"])
    assert scanned == []  # every event since position 0 was read to find its own before


def test_heartbeats_are_comment_lines_while_nothing_happens(database_url: str) -> None:
    # Given a server whose streams beat every 0.2 s (the default is 15 s)
    # When a stream is read while nothing is posted, each line awaited at most 5 s: one that
    # beat at the default interval fails with a read timeout
    with (
        live(database_url, stream_heartbeat_seconds=0.2) as server,
        server.client.stream("GET", "/api/stream", timeout=5) as response,
    ):
        beats = []
        for message in messages(response):
            beats += [c for c in message.comments if c == "heartbeat"]
            if len(beats) == 2:
                break
    # Then it carried heartbeat comment lines
    assert beats == ["heartbeat", "heartbeat"]


def test_the_stream_follows_events_another_process_wrote_to_the_database(
    database_url: str, tmp_path: Path
) -> None:
    # Given three events of one development in a file, for another OS process to import
    development = str(uuid4())
    written = [
        bodies.development_reported(development_id=development),
        bodies.report_added(development),
        bodies.status_changed(development),
    ]
    source = tmp_path / "events.ndjson"
    source.write_bytes(b"".join(bodies.encoded(body) + b"\n" for body in written))
    with live(database_url, stream_poll_seconds=0.05, stream_heartbeat_seconds=0.2) as server:
        post(server.client, bodies.development_reported())  # before: not part of the stream
        with server.client.stream("GET", "/api/stream") as response:
            # When `timeline import` writes them to the same database from its own process
            imported = subprocess.run(
                [TIMELINE, "import", str(source), "--database", database_url,
                 "--recorded-by", "importer"],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert imported.returncode == 0, imported.stderr
            # Then this server's stream delivers them, in position order, as the log holds them
            received = events(response, 3, within=10)
        log = server.client.get("/api/events", params={"after": 1}).json()["items"]

    assert [m.item() for m in received] == log
    assert [m.id for m in received] == [str(item["position"]) for item in log]
    assert [m.event for m in received] == [body["type"] for body in written]
    assert {(m.item()["development_id"], m.item()["recorded_by"]) for m in received} == {
        (development, "importer")
    }


@pytest.mark.parametrize("development", ["0b0f7c1e3c7a4d2e9a516f0e8e3b2a10", "null", "{x}"])
def test_a_development_is_written_as_in_its_path_or_refused(
    database_url: str, development: str
) -> None:
    with serve(database_url) as client:
        # a malformed Last-Event-ID keeps the stream from opening if the id were taken
        response = client.get(
            "/api/stream", params={"development": development}, headers={"Last-Event-ID": "x"}
        )

    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "development"


@pytest.mark.parametrize(
    "last_event_id",
    # "²" is a digit to Python; an id the service sends has no leading zero
    [b"abc", "\u00b2".encode("latin-1"), b"9223372036854775808", b"01"],
)
def test_a_malformed_last_event_id_is_a_problem(database_url: str, last_event_id: bytes) -> None:
    with serve(database_url) as client:
        response = client.get("/api/stream", headers=[(b"Last-Event-ID", last_event_id)])
        bad_kind = client.get("/api/stream", params={"kind": "rumour"})

    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "Last-Event-ID"
    assert bad_kind.status_code == 400


def test_a_client_that_goes_away_ends_its_stream(database_url: str) -> None:
    with live(database_url) as server:
        host, port = server.base.removeprefix("http://").split(":")
        # Given a client with an open stream
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(b"GET /api/stream HTTP/1.1\r\nHost: timeline\r\n\r\n")
            assert connection.recv(4096).startswith(b"HTTP/1.1 200")
            assert server.answering() == 1
        # When it goes away (in a thread uvicorn has no signal handler: only the disconnect
        # can end the stream), then the server stops answering it, without shutting down
        assert wait_until(lambda: server.answering() == 0, timeout=10), "the stream went on"
        assert server.client.get("/api/health").status_code == 200


@pytest.mark.e2e
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_server_shuts_down_promptly_with_an_open_stream(database_url: str, stop: int) -> None:
    subprocess.run([TIMELINE, "init", "--database", database_url], check=True,
                   capture_output=True)  # fmt: skip
    with serving(database_url) as server:
        # Given a bare HTTP/1.1 client with an open stream, as curl: it never closes it itself
        host, port = server.base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(b"GET /api/stream HTTP/1.1\r\nHost: timeline\r\n\r\n")
            received = connection.recv(4096)
            assert received.startswith(b"HTTP/1.1 200")
            # When the server is told to stop
            server.process.send_signal(stop)
            # Then it ends the stream itself, with the last chunk of a complete response, and
            # closes the connection; a stream left to the graceful shutdown's timeout (5 s) would
            # be cut off by its cancellation without that chunk, and a hang fails the socket's
            # 10 s timeout
            while chunk := connection.recv(4096):
                received += chunk
        assert received.endswith(b"\r\n0\r\n\r\n")
        # and the process exits
        server.process.wait(timeout=10)


def test_head_of_the_stream_answers_its_headers_and_ends(database_url: str) -> None:
    with live(database_url, stream_heartbeat_seconds=0.2) as server:
        # When the stream's headers are asked for
        head = server.client.head("/api/stream")
        # Then they are answered, and the answer ends: not held open as a stream would be
        assert wait_until(lambda: server.answering() == 0, timeout=10), "the answer went on"
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"].startswith("text/event-stream")
        assert server.client.get("/api/health").status_code == 200  # the server goes on


def test_a_stream_past_the_servers_limit_is_a_503_until_one_closes(database_url: str) -> None:
    with live(database_url, max_streams=1, stream_heartbeat_seconds=0.2) as server:
        # Given a server that keeps one stream open, and that one open
        with server.client.stream("GET", "/api/stream") as held:
            assert held.status_code == 200
            sent = messages(held)  # kept: a generator dropped closes the stream
            next(sent)  # its first comment: it is being sent
            # When another is asked for (as a stream: one let in would never end)
            with server.client.stream("GET", "/api/stream") as refused:
                assert refused.status_code == 503
                refused.read()
            # Then it is refused, with when to come back
            assert refused.headers["retry-after"] == "5"
            assert "as many event streams open as it keeps (1)" in refused.json()["detail"]
        # and once the first is closed (the server notices at its next heartbeat), one opens
        assert wait_until(lambda: server.state.open_streams == 0, timeout=10)
        with server.client.stream("GET", "/api/stream") as again:
            assert again.status_code == 200


@pytest.mark.parametrize("busy", [False, True], ids=["quiet-log", "busy-log"])
def test_a_stream_whose_token_is_revoked_ends_within_a_heartbeat(
    database_url: str, busy: bool
) -> None:
    # Given a stream opened with the newsroom's token, and (busy) another desk posting events
    # every 0.05 s, so that the stream is never quiet for a heartbeat (0.5 s)
    settings = {"stream_heartbeat_seconds": 0.5, "stream_poll_seconds": 0.05}
    with (
        live(database_url, **settings) as server,
        server.client.stream("GET", "/api/stream") as response,
    ):
        sent = messages(response)
        next(sent)
        desk = server.state.tokens.create("desk", "editor")
        stop = threading.Event()

        def post_until_stopped() -> None:
            headers = {"Authorization": f"Bearer {desk}"}
            with httpx.Client(base_url=server.base, headers=headers, timeout=10) as other:
                while busy and not stop.wait(0.05):
                    post(other, bodies.development_reported())

        poster = threading.Thread(target=post_until_stopped)
        poster.start()
        try:
            # When the token is revoked while the stream is open
            server.state.tokens.revoke("newsroom")  # as `timeline tokens revoke`, here at once
            refused = server.client.get("/api/developments")
            # Then new requests with it are refused, and the open stream ends by itself
            assert refused.status_code == 401
            deadline = time.monotonic() + 10
            for _ in sent:
                assert time.monotonic() < deadline, "the stream went on after its token went"
        finally:
            stop.set()
            poster.join()


def test_streams_asked_for_at_once_are_refused_past_the_servers_limit(database_url: str) -> None:
    with live(database_url, max_streams=2, stream_heartbeat_seconds=0.2) as server:
        # Given a server that keeps two streams open, when twelve are asked for at once
        port = int(server.base.rsplit(":", 1)[1])
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(12)]
        try:
            for connection in sockets:
                connection.sendall(b"GET /api/stream HTTP/1.1\r\nHost: test\r\n\r\n")
            statuses = sorted(connection.recv(12).split()[1] for connection in sockets)
        finally:
            for connection in sockets:
                connection.close()
    # Then two are answered and the ten others refused (each was counted before the next)
    assert statuses == [b"200"] * 2 + [b"503"] * 10


def test_a_stream_of_one_development_reads_only_what_came_after_its_position(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with live(database_url, stream_heartbeat_seconds=0.2) as server:
        # Given a development with twenty reports
        mine = post(server.client, bodies.development_reported())["development_id"]
        for _ in range(19):
            post(server.client, bodies.report_added(mine))
        read: list[int] = []
        select_stream = LogRecorder.select_stream

        def counted(self: LogRecorder, development: Any, **options: Any) -> Any:
            rows = select_stream(self, development, **options)
            if options.get("after"):  # the stream's reads (an append reads the whole stream)
                read.append(len(rows))
            return rows

        monkeypatch.setattr(LogRecorder, "select_stream", counted)
        # When it is followed from its head and two more events come, one at a time
        with server.client.stream("GET", f"/api/stream?development={mine}") as response:
            sent = arriving(messages(response), 10)
            first = post(server.client, bodies.status_changed(mine))
            assert next(sent).id == str(first["position"])
            second = post(server.client, bodies.report_added(mine))
            assert next(sent).id == str(second["position"])
    # Then each read of the stream brought the new event alone, not all twenty-two rows
    assert sum(read) == 2 and max(read) == 1  # (a poll that found nothing new reads nothing)


class _Said(logging.Handler):
    """What the loggers it is given to said."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


def test_a_stream_whose_database_connection_breaks_ends_with_a_warning(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = _Said()
    for name in ("service.http.stream", "uvicorn.error"):  # where an ASGI app's failure goes
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "handlers", [*logger.handlers, said])
    # Given an open stream
    with (
        live(database_url, stream_poll_seconds=0.05) as server,
        server.client.stream("GET", "/api/stream") as response,
    ):
        sent = messages(response)
        assert next(sent).comments[0].startswith("after ")

        # When its connection to the database breaks (PostgreSQL ended it, say)
        async def broken(self: stream.LogHead) -> int:
            raise Unavailable("terminating connection due to administrator command")

        monkeypatch.setattr(stream.LogHead, "position", broken)
        rest = list(sent)
    # Then the stream ends, for the client to connect again from its last event, and the server
    # says why in one line, not the traceback of an ASGI application that failed
    assert rest == [] and response.status_code == 200
    assert said.lines == [
        "service.http.stream: event stream ended: terminating connection due to administrator "
        "command"
    ]
