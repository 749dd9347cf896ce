"""The hot path of the write side: a `POST /api/events` that succeeds, answered without the
framework's per-request machinery.

`FastAppend` is the first ASGI handler inside the Litestar app (`install` puts it there,
before the exception handling and the router). It takes a request only when everything about it
is ordinary: `POST /api/events`, a bearer token already known to be a live editor's (the token
cache), a body labelled JSON or not labelled (`media.refusal`), that arrived whole in its first
message and within the size limit. It
decodes the event, appends it through the group committer and, when that succeeds, sends the
receipt exactly as the Litestar handler would (201 or, for a replay, 200; `Location`).

Anything else goes on to the Litestar handlers untouched, with the part of the body already
read handed back first: an unknown or expired token, a slow, chunked or oversized body, an
invalid event, an event the domain refuses. The Litestar handler then does the whole request
again and answers with its problem details, so every refusal has one implementation; a refused
event was not stored, so doing it again is safe. The tests hold the two answers to a success
byte for byte equal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Litestar

from events import InvalidEvent, decode_new_event
from service.errors import DomainError, StorageError
from service.http.auth import bearer_secret
from service.http.deadline import too_slow, within
from service.http.head import AnswerHead
from service.http.media import refusal
from service.http.problems import PROBLEM_JSON, ProblemDetails, database_problem, unexpected
from service.http.shapes import receipt_body
from service.tokens import Tokens, allows

# ASGI as plain dicts: this layer sits in front of the framework and its types
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Header = tuple[bytes, bytes]

FIRST_MESSAGE_SECONDS = 1.0  # then the framework takes over, with its own body timeout
_encoder = msgspec.json.Encoder()


class FastAppend:
    """ASGI app: the successful single-event append, else the rest of the Litestar app."""

    def __init__(self, app: Litestar, then: Callable[[Scope, Receive, Send], Awaitable[None]]):
        self.app = app
        self._app = then
        self.answered = 0  # requests answered here, not by the handlers behind: for tests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != "/api/events"
            or scope["method"] != "POST"
            or scope["query_string"]  # the handler refuses parameters it does not take
            or refusal(scope["headers"]) is not None  # not labelled JSON: the app answers 415
            or (principal := self._editor(scope)) is None
        ):
            await self._app(scope, receive, send)
            return
        message = await _first(receive)
        if message is None or message.get("more_body", False):
            await self._app(scope, _replay(message, receive), send)
            return
        body: bytes = message.get("body", b"")
        state = self.app.state
        if len(body) > state.max_body_bytes:
            await self._app(scope, _replay(message, receive), send)
            return
        seconds: float = state.get("request_timeout_seconds", 0.0)
        try:
            event = decode_new_event(body)
            appending = state.committer.append([event], principal)
            [outcome] = await (within(seconds, appending) if seconds else appending)
        except (InvalidEvent, DomainError):
            await self._app(scope, _replay(message, receive), send)
            return
        except TimeoutError:  # as `Deadline` answers the handler's (the commit may still land)
            problem = ProblemDetails(type="about:blank", title="Service Unavailable", status=503,
                                     detail=too_slow(seconds))  # fmt: skip
            content = _encoder.encode(problem)
            await _answer(send, 503, PROBLEM_JSON, content, [(b"retry-after", b"1")])
            return
        except StorageError as error:  # sent on, it would meet the same all over again
            problem, headers = database_problem(error)
            retry = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
            await _answer(send, problem.status, PROBLEM_JSON, _encoder.encode(problem), retry)
            return
        except Exception as error:  # the database failed: not to be done again blindly
            problem = unexpected("POST", "/api/events", error)
            await _answer(send, problem.status, PROBLEM_JSON, _encoder.encode(problem))
            return
        receipt = receipt_body(outcome.receipt)
        location = f"/api/developments/{receipt.development_id}".encode()
        status = 201 if outcome.created else 200
        self.answered += 1
        content = _encoder.encode(receipt)
        await _answer(send, status, "application/json", content, [(b"location", location)])

    def _editor(self, scope: Scope) -> str | None:
        """The name of a live editor (or admin) token that the cache vouches for."""
        secret = bearer_secret(scope)
        if not secret:
            return None
        tokens: Tokens = self.app.state.tokens
        token = tokens.cached(secret)
        if token is None or not allows(token.role, "editor"):
            return None
        return token.name


async def _first(receive: Receive) -> Message | None:
    """The first message of the body, or None when it does not come soon."""
    try:
        return await within(FIRST_MESSAGE_SECONDS, receive())
    except TimeoutError:
        return None


async def _answer(
    send: Send, status: int, media_type: str, content: bytes, headers: list[Header] | None = None
) -> None:
    headers = [*(headers or ()), (b"content-type", media_type.encode())]
    headers.append((b"content-length", str(len(content)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def _replay(first: Message | None, receive: Receive) -> Receive:
    """`receive` with `first` given back before anything else."""
    pending = [first] if first is not None else []

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


def install(app: Litestar) -> Litestar:
    """Put the fast path in front of `app`'s own handling (its `asgi_handler`), behind it
    `HEAD` answered as `GET`."""
    then = AnswerHead(app.asgi_handler)  # type: ignore[arg-type]
    app.asgi_handler = FastAppend(app, then)  # type: ignore[assignment]
    return app
