"""Tokens over HTTP: writes need an editor, admin endpoints an admin, reads are open by default."""

from __future__ import annotations

import pytest
from litestar import get

from service.application import Timeline
from service.http.auth import ROLE, bearer_secret
from service.tokens import Tokens
from tests import bodies
from tests.api import post_event, problem, serve


@get("/api/test-admin-only", opt={ROLE: "admin"})
async def admin_only() -> dict[str, bool]:
    """A stand-in admin endpoint."""
    return {"ok": True}


def test_a_write_without_a_token_is_401_with_a_bearer_challenge(database_url: str) -> None:
    with serve(database_url, role=None) as client:
        response = post_event(client, bodies.development_reported())
        document = problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "editor" in document["detail"]
        assert client.get("/api/events").json()["items"] == []


def test_a_reader_token_cannot_write(database_url: str) -> None:
    with serve(database_url, role="reader") as client:
        problem(post_event(client, bodies.development_reported()), 403)
        events = client.get("/api/events")
        assert events.status_code == 200 and events.json()["items"] == []


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_the_authorization_scheme_is_read_in_any_case(database_url: str, scheme: str) -> None:
    # (RFC 9110 §11.1: the scheme is case-insensitive)
    with serve(database_url, role="editor") as client:
        given, secret = client.headers["Authorization"].split(" ", 1)
        assert given == "Bearer"
        client.headers["Authorization"] = f"{scheme} {secret}"
        response = post_event(client, bodies.development_reported())
        assert response.status_code == 201, response.text


def test_an_unknown_or_malformed_token_is_401(database_url: str) -> None:
    with serve(database_url, role=None) as client:
        client.headers["Authorization"] = "Bearer tl_not-a-token"
        problem(client.get("/api/events"), 401)
        client.headers["Authorization"] = "Basic dXNlcjpwYXNz"
        problem(client.get("/api/events"), 401)


@pytest.mark.parametrize(
    "values", [[b"Bearer tl_good", b"Bearer tl_bad"], [b"Bearer tl_bad", b"Bearer tl_good"]]
)
def test_two_authorization_headers_count_as_no_bearer_token_whichever_comes_first(
    values: list[bytes],
) -> None:
    # given a request with two Authorization headers, as a server hands them to the app (the
    # test client joins them into one, so the scope is made here)
    scope = {"headers": [(b"host", b"x"), *((b"authorization", value) for value in values)]}
    # then neither is taken: the request is answered as one without a bearer token, a 401
    assert bearer_secret(scope) is None
    assert bearer_secret({"headers": [(b"authorization", values[0])]}) == values[0][7:].decode()
    assert bearer_secret({"headers": []}) == ""


def test_a_revoked_token_stops_working_at_once(database_url: str) -> None:
    with serve(database_url) as client:
        assert post_event(client, bodies.development_reported()).status_code == 201
        tokens: Tokens = client.app.state.tokens
        tokens.revoke("newsroom")
        problem(post_event(client, bodies.development_reported()), 401)


def test_a_token_revoked_by_another_process_stops_working_after_the_cache_second(
    database_url: str,
) -> None:
    with serve(database_url) as client:
        assert post_event(client, bodies.development_reported()).status_code == 201
        timeline: Timeline = client.app.state.timeline
        Tokens(timeline.store).revoke("newsroom")  # as `timeline tokens revoke` would
        tokens: Tokens = client.app.state.tokens
        tokens.cache_seconds = 0  # the second has passed
        problem(post_event(client, bodies.development_reported()), 401)


def test_admin_endpoints_need_an_admin_token(database_url: str) -> None:
    with serve(database_url, extra_route_handlers=[admin_only]) as client:
        problem(client.get("/api/test-admin-only"), 403)
        timeline: Timeline = client.app.state.timeline
        secret = Tokens(timeline.store).create("ops", "admin")
        client.headers["Authorization"] = f"Bearer {secret}"
        assert client.get("/api/test-admin-only").json() == {"ok": True}


def test_reads_can_be_closed_to_callers_without_a_reader_token(database_url: str) -> None:
    with serve(database_url, role=None, require_read_token=True) as client:
        problem(client.get("/api/events"), 401)
        assert client.get("/api/health").status_code == 200  # a liveness probe sends no token
        timeline: Timeline = client.app.state.timeline
        secret = Tokens(timeline.store).create("analyst", "reader")
        client.headers["Authorization"] = f"Bearer {secret}"
        assert client.get("/api/events").status_code == 200
