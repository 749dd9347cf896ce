"""The fast path of `POST /api/events`: it answers successes exactly as the handler would, and
hands everything else to the handler, which answers it in full."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from tests.api import Client, fast_path, log_state, post_event, serve
from tests.bodies import development_reported, encoded, report_added


def test_a_success_is_answered_by_the_fast_path_as_the_handler_answers_it(
    database_url: str,
) -> None:
    with serve(database_url) as client:
        body = development_reported(event_id=str(uuid4()))
        # Given a first POST, which the handler answers (the new token is not cached yet)
        first = post_event(client, body)
        assert (first.status_code, fast_path(client).answered) == (201, 0)
        # When the same event is posted again, now with a token the cache knows
        again = post_event(client, body)
        # Then the fast path answered the replay with the very same receipt and headers
        assert (again.status_code, fast_path(client).answered) == (200, 1)
        assert again.content == first.content
        for header in ("content-type", "location", "content-length"):
            assert again.headers[header] == first.headers[header]
        # And a new event goes the fast way too, stored once
        created = post_event(client, development_reported())
        assert (created.status_code, fast_path(client).answered) == (201, 2)
        assert log_state(client).events == 2


def test_refusals_are_handed_to_the_handler_and_answered_in_full(database_url: str) -> None:
    with serve(database_url) as client:
        development_id = post_event(client, development_reported()).json()["development_id"]
        post_event(client, development_reported())  # the token is cached from here on
        answered = fast_path(client).answered
        # invalid: 400 naming the field; refused by the domain: 409
        invalid = post_event(client, {**development_reported(), "title": ""})
        stale = post_event(client, report_added(development_id, expected_version=5))
        assert invalid.status_code == 400
        assert invalid.headers["content-type"] == "application/problem+json"
        assert invalid.json()["errors"][0]["path"] == "$.title"
        assert stale.status_code == 409 and stale.json()["status"] == 409
        assert fast_path(client).answered == answered
        assert log_state(client).events == 2


def asgi_post(client: Client, chunks: list[bytes], authorization: str) -> tuple[int, Any]:
    """POST /api/events straight into the app, the body in `chunks` messages; (status, JSON)."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": number < len(chunks) - 1}
        for number, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/events",
        "raw_path": b"/api/events",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", authorization.encode()),
            (b"content-length", str(sum(map(len, chunks))).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    client.blocking_portal.call(client.app, scope, receive, send)
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return sent[0]["status"], json.loads(body)


def test_a_body_in_several_messages_or_without_a_token_goes_to_the_handler(
    database_url: str,
) -> None:
    with serve(database_url) as client:
        post_event(client, development_reported())  # the token is cached from here on
        token = client.headers["Authorization"]
        content = encoded(development_reported())
        # A body in two messages, and one whole, the second without a token
        chunked = asgi_post(client, [content[:10], content[10:]], token)
        anonymous = asgi_post(client, [content], "")
        # The handler stored the first and refused the second with its problem
        assert chunked[0] == 201 and chunked[1]["version"] == 1
        assert anonymous[0] == 401 and anonymous[1]["status"] == 401
        assert fast_path(client).answered == 0
        # While the same body in one message with the token goes the fast way
        whole = asgi_post(client, [encoded(development_reported())], token)
        assert whole[0] == 201 and fast_path(client).answered == 1
        assert log_state(client).events == 3


def test_a_database_failure_on_the_fast_path_is_a_500_problem_and_not_retried(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(database_url) as client:
        post_event(client, development_reported())  # the token is cached from here on
        committer = client.app.state.committer
        calls: list[int] = []

        async def failing(events: Any, principal: str) -> Any:
            calls.append(len(events))
            raise RuntimeError("connection lost")

        monkeypatch.setattr(committer, "append", failing)
        answer = post_event(client, development_reported())
        assert answer.status_code == 500
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["detail"] == "the server failed to answer this request"
        assert "connection lost" not in answer.text
        assert calls == [1]  # not handed on to the handler, which would append it again


def test_a_fast_append_that_outlasts_the_request_deadline_gets_503_at_the_deadline(
    tmp_path: Path,
) -> None:
    # Given a server that answers within 0.3 s, whose database another process holds for longer
    # than that (its appends wait up to 2 s for the lock)
    url = f"sqlite:///{tmp_path / 'slow.db'}?lock_timeout=2"
    with serve(url, request_timeout_seconds=0.3) as client:
        post_event(client, development_reported())  # the token is cached from here on
        holder = sqlite3.connect(str(tmp_path / "slow.db"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            # When an append takes the fast path
            answer = post_event(client, development_reported())
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    # Then it is answered 503 at the deadline, as the handler's requests are, not when the lock
    # wait gave up (it waited the whole 2 s)
    assert answer.status_code == 503
    assert answer.json()["detail"] == "the request took longer than 0.3 s; try again"
    assert answer.headers["Retry-After"] == "1"
