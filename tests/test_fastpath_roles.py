"""The fast path of `POST /api/events` serves editors only (found by mutation testing): a reader
whose token the cache holds, live and vouched for, is refused as the handler refuses it."""

from __future__ import annotations

from service.tokens import Tokens
from tests import bodies
from tests.api import fast_path, post_event, problem, serve


def test_a_reader_token_in_the_cache_still_cannot_write(database_url: str) -> None:
    # Given a reader's token that the token cache holds (for a minute, so timing plays no part)
    with serve(database_url, role="reader") as client:
        tokens: Tokens = client.app.state.tokens
        tokens.cache_seconds = 60.0
        assert client.get("/api/events").status_code == 200  # authenticated, now cached
        # When it posts an event twice, the second time with its token in the cache
        first = post_event(client, bodies.development_reported())
        second = post_event(client, bodies.development_reported())
        # Then both are 403, neither answered by the fast path, and nothing is stored
        problem(first, 403)
        problem(second, 403)
        assert fast_path(client).answered == 0
        assert client.get("/api/events").json()["items"] == []
