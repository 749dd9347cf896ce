"""Helpers for tests through the HTTP API: the real app on a real database, and common calls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import httpx
from litestar import Litestar
from litestar.testing import TestClient

from service.application import Timeline
from service.http import create_app
from service.http.fastpath import FastAppend
from service.tokens import Role, Tokens
from tests.bodies import Body, batch, development_reported, encoded

Client = TestClient[Litestar]
RFC3339_UTC = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z"


EDITOR = "newsroom"  # the name of the token `serve` gives its client


@contextmanager
def serve(database_url: str, *, role: Role | None = "editor", **options: Any) -> Iterator[Client]:
    """A client of the app around a new `Timeline` on `database_url`, closed afterwards.

    The client sends a bearer token of `role` named `newsroom` (none when `role` is None).
    """
    timeline = Timeline(database_url)
    with TestClient(create_app(timeline, **options)) as client:
        if role is not None:
            secret = Tokens(timeline.store).create(EDITOR, role)
            client.headers["Authorization"] = f"Bearer {secret}"
        yield client


def post_event(client: Client, body: Body) -> httpx.Response:
    """POST one event."""
    return client.post(
        "/api/events", content=encoded(body), headers={"Content-Type": "application/json"}
    )


def post_batch(client: Client, *bodies: Body) -> httpx.Response:
    """POST a batch of events."""
    return client.post(
        "/api/events/batch",
        content=encoded(batch(*bodies)),
        headers={"Content-Type": "application/json"},
    )


def report_development(client: Client, **fields: Any) -> str:
    """Report a new development; its id."""
    response = post_event(client, development_reported(**fields))
    assert response.status_code == 201, response.text
    development_id: str = response.json()["development_id"]
    return development_id


class LogState(NamedTuple):
    """How many events the log holds and the position of the last one."""

    events: int
    last_position: int


def log_state(client: Client) -> LogState:
    """The log as the API reads it back."""
    items: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        page = client.get("/api/events", params={"after": after, "limit": 1000}).json()
        items += page["items"]
        after = page["next"]
    health = client.get("/api/health").json()
    last = items[-1]["position"] if items else 0
    assert health["position"] == last
    return LogState(len(items), last)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem document of an error response, checked for its status and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    document: dict[str, Any] = response.json()
    assert document["status"] == status
    assert document["title"]
    assert document["detail"]
    return document


def error_paths(document: dict[str, Any]) -> list[str]:
    """The paths a problem names."""
    return [error["path"] for error in document.get("errors", [])]


def next_link(response: httpx.Response) -> str | None:
    """The target of the answer's `Link: <...>; rel="next"` header, if it has one."""
    link: str | None = response.headers.get("link")
    if link is None:
        return None
    target, _, relation = link.partition(">; ")
    assert relation == 'rel="next"' and target.startswith("<"), link
    return target[1:]


def fast_path(client: Client) -> FastAppend:
    """The app's fast path, under the wrappers in front of it (the browser headers)."""
    handler: Any = client.app.asgi_handler
    while not isinstance(handler, FastAppend):
        handler = handler.app
    return handler
