"""Limits that keep hostile or careless clients from exhausting the service.

Body size (413, TIMELINE_MAX_BODY_BYTES), the time a body may take to arrive (408,
TIMELINE_BODY_TIMEOUT_SECONDS), the time a request may take to be answered (503,
TIMELINE_REQUEST_TIMEOUT_SECONDS), page sizes, string lengths and list sizes. These are properties
of the HTTP layer and the event catalogue, not of a database, so they run on SQLite only.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import psycopg
import pytest
from litestar import get
from litestar.testing import TestClient

from service.config import ConfigError
from service.http.app import app_from_environment
from service.http.deadline import NO_DEADLINE
from service.tokens import Tokens
from tests import bodies
from tests.api import Client, log_state, post_batch, post_event, problem, serve
from tests.procs import HOST, Server, create_token, read_log, serving

SMALL_BODY_LIMIT = 4096
BODY_TIMEOUT = 1.0
PATIENT_BODY_TIMEOUT = 60.0


class Answer(NamedTuple):
    """A response read off a raw socket, and whether the server closed the connection."""

    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool


def exchange(port: int, request: bytes, *, withhold: int = 0) -> Answer:
    """Send a raw request but its last `withhold` bytes, and read one response."""
    with socket.create_connection((HOST, port), timeout=10) as connection:
        connection.sendall(request[: len(request) - withhold])
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            assert chunk, f"connection closed before a response: {received!r}"
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines)
        }
        while len(body) < int(headers.get("content-length", "0")):
            body += connection.recv(65536)
        try:
            closed = connection.recv(1) == b""
        except TimeoutError:
            closed = False
    return Answer(int(status_line.split()[1]), headers, body, closed)


def post_request(token: str, body: bytes, *, announced: int | None = None) -> bytes:
    """A raw `POST /api/events` announcing `announced` bytes (default: the body's length)."""
    length = len(body) if announced is None else announced
    head = (
        "POST /api/events HTTP/1.1\r\n"
        f"Host: {HOST}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    return head.encode() + body


# --- a real server with small limits set in its environment -------------------------------------


class Limited(NamedTuple):
    server: Server
    token: str


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    folder = tmp_path_factory.mktemp("limits")
    database = f"sqlite:///{folder}/limits.db"
    token = create_token(database, "newsroom")
    environment = {
        "TIMELINE_MAX_BODY_BYTES": str(SMALL_BODY_LIMIT),
        "TIMELINE_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
    }
    with serving(database, folder / "logs", env=environment) as server:
        yield Limited(server, token)


def test_body_limit_from_the_environment_refuses_one_byte_more_with_413(limited: Limited) -> None:
    # given a server started with TIMELINE_MAX_BODY_BYTES=4096, and bodies of 4096 and 4097 bytes
    def sized(size: int) -> bytes:
        def body(quote: str) -> bytes:
            event = bodies.development_reported(report=bodies.report(quote=quote))
            return json.dumps(event).encode()

        return body("x" * (size - len(body(""))))

    at_limit, over = sized(SMALL_BODY_LIMIT), sized(SMALL_BODY_LIMIT + 1)
    assert (len(at_limit), len(over)) == (SMALL_BODY_LIMIT, SMALL_BODY_LIMIT + 1)
    headers = {"Authorization": f"Bearer {limited.token}"}
    with httpx.Client(base_url=limited.server.base_url, headers=headers, timeout=10) as http:
        before = len(read_log(limited.server.base_url))
        # when the larger one is posted, then it is refused as too large and nothing is stored
        response = http.post("/api/events", content=over)
        assert response.status_code == 413
        assert response.json()["detail"] == "the request body is larger than 4,096 bytes"
        assert len(read_log(limited.server.base_url)) == before
        # and the one at the limit is stored
        assert http.post("/api/events", content=at_limit).status_code == 201


def test_body_announced_over_the_limit_is_refused_before_it_is_sent(limited: Limited) -> None:
    # given a client announcing 10 MiB and sending none of it
    request = post_request(limited.token, b"", announced=10 * 1024 * 1024)

    answer = exchange(limited.server.port, request)

    # then the server answers 413 at once and drops the connection instead of reading 10 MiB
    assert answer.status == 413
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.closed


def test_body_that_arrives_too_slowly_is_refused_with_408_and_the_connection_closed(
    limited: Limited,
) -> None:
    body = json.dumps(bodies.development_reported()).encode()
    before = len(read_log(limited.server.base_url))

    # when a client sends the headers and all but 100 bytes of the body, then stalls (a server
    # that never answers fails `exchange`'s 10 s socket timeout)
    answer = exchange(limited.server.port, post_request(limited.token, body), withhold=100)

    # then it gets 408, saying the body timeout it waited for (1 s), the connection is closed
    # and nothing is stored
    assert answer.status == 408
    detail = f"the request body did not arrive within {BODY_TIMEOUT:g} s"
    assert json.loads(answer.body)["detail"] == detail
    assert answer.closed
    assert len(read_log(limited.server.base_url)) == before


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    """A server that waits far longer for a body than any other request here takes: a stalled
    body is still waited for after another request, however slowly the machine answers it."""
    folder = tmp_path_factory.mktemp("patient")
    database = f"sqlite:///{folder}/patient.db"
    token = create_token(database, "newsroom")
    environment = {"TIMELINE_BODY_TIMEOUT_SECONDS": str(PATIENT_BODY_TIMEOUT)}
    with serving(database, folder / "logs", env=environment) as server:
        yield Limited(server, token)


def test_a_stalled_body_does_not_hold_up_other_requests(patient: Limited) -> None:
    body = json.dumps(bodies.development_reported()).encode()
    with socket.create_connection((HOST, patient.server.port), timeout=10) as stalled:
        # given a connection that sent all but the end of a request and stalls
        stalled.sendall(post_request(patient.token, body)[:-100])
        # when another client asks for the health meanwhile (a server held up by the stalled
        # body answers it only once that times out, 60 s on: the client gives up after 10 s)
        response = httpx.get(f"{patient.server.base_url}/api/health", timeout=10)
        # then it is answered while the stalled request still waits for its body
        assert response.status_code == 200
        stalled.setblocking(False)
        with pytest.raises(BlockingIOError):
            stalled.recv(1)


# --- limits read from the environment ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TIMELINE_MAX_BODY_BYTES", "lots"),
        ("TIMELINE_MAX_BODY_BYTES", "0"),
        ("TIMELINE_MAX_BODY_BYTES", "-1"),
        ("TIMELINE_MAX_BODY_BYTES", "1.5"),
        ("TIMELINE_BODY_TIMEOUT_SECONDS", "0"),
        ("TIMELINE_BODY_TIMEOUT_SECONDS", "nan"),
        ("TIMELINE_BODY_TIMEOUT_SECONDS", "inf"),
        ("TIMELINE_REQUEST_TIMEOUT_SECONDS", "-5"),
        ("TIMELINE_CHECKPOINT_EVERY", "abc"),  # 0 is allowed: checkpoints on demand only
        ("TIMELINE_CHECKPOINT_EVERY", "-5"),
    ],
)
def test_a_limit_in_the_environment_that_is_not_a_positive_number_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    monkeypatch.setenv("TIMELINE_DATABASE", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError, match=variable):
        app_from_environment()


def test_limits_from_the_environment_reach_the_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given TIMELINE_MAX_BODY_BYTES of 300 bytes
    monkeypatch.setenv("TIMELINE_DATABASE", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("TIMELINE_MAX_BODY_BYTES", "300")
    app = app_from_environment()
    with TestClient(app) as client:
        client.headers["Authorization"] = "Bearer " + Tokens(app.state.timeline.store).create(
            "newsroom", "editor"
        )
        # when a body of more than 300 bytes is posted, then it is too large
        problem(post_event(client, bodies.development_reported()), 413)
        assert log_state(client) == (0, 0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TIMELINE_REQUIRE_READ_TOKEN", "ture"), ("TIMELINE_RUN_PROJECTIONS", "2")],
)
def test_a_yes_or_no_setting_that_is_neither_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    monkeypatch.setenv("TIMELINE_DATABASE", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError, match=f"{variable}='{value}': expected one of 1, true"):
        app_from_environment()


@pytest.mark.parametrize(
    ("value", "status"), [("TRUE", 401), ("Yes", 401), ("off", 200), ("", 200)]
)
def test_reads_need_a_token_when_the_setting_says_yes_in_any_case(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, status: int
) -> None:
    # given TIMELINE_REQUIRE_READ_TOKEN spelt as an operator might
    monkeypatch.setenv("TIMELINE_DATABASE", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("TIMELINE_REQUIRE_READ_TOKEN", value)
    with TestClient(app_from_environment()) as client:
        # when a view is read without a token, then it is refused exactly when it says yes
        assert client.get("/api/views/deliveries").status_code == status
        assert client.get("/api/health").status_code == 200


# --- the time a request may take to be answered ---------------------------------------------------


# The slow handlers wait for the gate, which the test opens only once it has its answer; one
# that waited GATE_SECONDS in vain says so (`gave_up`): the answer came only when it was done
GATE_SECONDS = 10.0
gate, gave_up = threading.Event(), threading.Event()


@get("/api/test-slow", sync_to_thread=True)
def slow_in_a_thread() -> dict[str, bool]:
    if not gate.wait(GATE_SECONDS):
        gave_up.set()
    return {"ok": True}


@get("/api/test-slow-async")
async def slow_on_the_loop() -> dict[str, bool]:
    deadline = time.monotonic() + GATE_SECONDS
    while not gate.is_set():
        if time.monotonic() > deadline:
            gave_up.set()
            break
        await asyncio.sleep(0.01)
    return {"ok": True}


@get("/api/test-slow-by-design", opt={NO_DEADLINE: True})
async def slow_by_design() -> dict[str, bool]:
    await asyncio.sleep(0.5)
    return {"ok": True}


@pytest.mark.parametrize("path", ["/api/test-slow", "/api/test-slow-async"])
def test_a_request_unanswered_past_the_deadline_gets_503_with_retry_after(
    tmp_path: Path, path: str
) -> None:
    handlers = [slow_in_a_thread, slow_on_the_loop]
    gate.clear()
    gave_up.clear()
    with serve(
        f"sqlite:///{tmp_path}/slow.db", request_timeout_seconds=0.2, extra_route_handlers=handlers
    ) as client:
        try:
            # when a request's handler is still waiting for the gate at the deadline
            response = client.get(path)
        finally:
            gate.set()  # only now may the handler finish
        # then it was answered 503 at the deadline, while its handler still waited for the
        # gate: not once the handler had given up waiting and was done
        assert not gave_up.is_set(), "answered only once the handler was done"
        document = problem(response, 503)
        assert "0.2 s" in document["detail"] and response.headers["retry-after"] == "1"
        assert client.get("/api/health").status_code == 200  # and the app goes on serving


@pytest.mark.postgres
def test_a_token_the_database_cannot_check_in_time_gets_503_at_the_deadline(
    postgres_url: str,
) -> None:
    # Given a server whose token table another transaction holds locked, as a database that
    # stopped answering would leave it (the token is not in the server's cache yet)
    with serve(postgres_url, request_timeout_seconds=0.3) as client:
        with psycopg.connect(postgres_url) as holder:
            holder.execute("LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE")
            release = threading.Timer(10, holder.rollback)  # until then, the old code waited
            release.start()
            try:
                # When a request comes with the token
                response = client.get("/api/developments")
            finally:
                release.cancel()
                holder.rollback()
        # Then it gets the deadline's 503, not an answer once the database answers
        document = problem(response, 503)
        assert "0.3 s" in document["detail"] and response.headers["retry-after"] == "1"
        assert client.get("/api/developments").status_code == 200  # and later ones go through


def test_a_handler_marked_slow_by_design_is_left_to_finish(tmp_path: Path) -> None:
    with serve(
        f"sqlite:///{tmp_path}/slow.db",
        request_timeout_seconds=0.2,
        extra_route_handlers=[slow_by_design],
    ) as client:
        assert client.get("/api/test-slow-by-design").json() == {"ok": True}


def test_the_request_deadline_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TIMELINE_DATABASE", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("TIMELINE_REQUEST_TIMEOUT_SECONDS", "7.5")
    with TestClient(app_from_environment()) as client:  # closes the app's timeline
        assert client.app.state.request_timeout_seconds == 7.5


# --- page sizes, string lengths, list sizes -------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with serve(f"sqlite:///{tmp_path}/limits.db") as client:
        yield client


@pytest.mark.parametrize(
    ("path", "largest"),
    [("/api/events", 1000), ("/api/developments", 500), ("/api/views/allegations", 500)],
)
def test_each_paged_endpoint_answers_its_largest_page_and_refuses_one_more(
    client: Client, path: str, largest: int
) -> None:
    assert client.get(path, params={"limit": largest}).status_code == 200

    document = problem(client.get(path, params={"limit": largest + 1}), 400)

    assert [error["path"] for error in document["errors"]] == ["limit"]


@pytest.mark.parametrize("path", ["/api/events", "/api/stream"])
def test_a_position_past_64_bits_is_refused_as_a_bad_parameter(client: Client, path: str) -> None:
    # found by schemathesis: the database cannot hold it, and the query failed with a 500
    document = problem(client.get(path, params={"after": str(2**63)}), 400)

    assert [error["path"] for error in document["errors"]] == ["after"]


def test_the_largest_position_is_a_valid_place_to_read_the_log_after(client: Client) -> None:
    page = client.get("/api/events", params={"after": str(2**63 - 1)})

    assert page.status_code == 200
    assert page.json() == {"items": [], "next": None}


def test_filter_longer_than_200_characters_is_refused(client: Client) -> None:
    document = problem(client.get("/api/developments", params={"actor": "P" * 201}), 400)

    assert [error["path"] for error in document["errors"]] == ["actor"]


def _long_fields() -> list[tuple[dict[str, Any], str]]:
    report = bodies.report()
    return [
        (bodies.development_reported(title="t" * 501), "$.title"),
        (bodies.development_reported(actors={"supplier": "P" * 101}), "$.actors.supplier"),
        (
            bodies.development_reported(actors={"targets": [f"T{n}" for n in range(51)]}),
            "$.actors.targets",
        ),
        (bodies.development_reported(report={**report, "quote": "q" * 5001}), "$.report.quote"),
        (
            bodies.development_reported(
                report={**report, "source": bodies.source(url="https://x.org/" + "a" * 2000)}
            ),
            "$.report.source.url",
        ),
        (bodies.development_reported(item={"category": "c" * 61}), "$.item.category"),
        (bodies.development_reported(occurred="2023-09-01" + "~" * 60), "$.occurred"),
    ]


@pytest.mark.parametrize(("body", "path"), _long_fields())
def test_strings_and_lists_over_their_bounds_are_refused_naming_the_field(
    client: Client, body: dict[str, Any], path: str
) -> None:
    document = problem(post_event(client, body), 400)

    assert [error["path"] for error in document["errors"]] == [path]
    assert log_state(client) == (0, 0)


def test_batch_of_exactly_1000_events_is_stored(client: Client) -> None:
    events = [bodies.development_reported() for _ in range(1000)]

    response = post_batch(client, *events)

    assert response.status_code == 201, response.text
    assert len(response.json()["receipts"]) == 1000
    assert log_state(client).events == 1000
