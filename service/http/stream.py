"""`GET /api/stream`: every newly recorded event as server-sent events, following the log.

The stream reads the log in the database, not this process's memory, so it sees the events
every API process appends. One `LogHead` per app reads the head of the log at most once per
poll interval however many streams are open; a stream reads records only when the head moved.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import anyio
import msgspec
from litestar import Request, get
from litestar.concurrency import sync_to_thread
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ServiceUnavailableException,
)
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.types import ASGIApp, Receive, Scope, Send

from events.values import Kind
from service.application import Timeline
from service.errors import StorageError
from service.http.auth import authorize, bearer_secret
from service.http.deadline import NO_DEADLINE
from service.http.openapi import SERVER_SENT_EVENT, text_answers
from service.http.params import A_POSITION, UUID_TEXT, choice, position_of, uuid_of, whole
from service.http.problems import problem_spec
from service.http.shapes import LogItem, log_item
from service.store.log import LogRecorder

logger = logging.getLogger(__name__)
POLL_SECONDS = 0.25  # app.state.stream_poll_seconds overrides
HEARTBEAT_SECONDS = 15.0  # app.state.stream_heartbeat_seconds overrides
RETRY_MS = 1000  # how soon a browser reconnects after the stream ends
PAGE = 500
# An idle stream costs little (500 of them: 6% of a core, other answers as fast), but each
# holds a socket, and one resuming from far back reads the log from there: a bound on both
MAX_STREAMS = 500  # app.state.max_streams overrides (TIMELINE_MAX_STREAMS)

_encoder = msgspec.json.Encoder()


class LogHead:
    """The position of the last event, read at most once per interval however many ask."""

    def __init__(self, store: LogRecorder, interval: float) -> None:
        self._store = store
        self._interval = interval
        self._lock = anyio.Lock()
        self._position = 0
        self._read_at = float("-inf")

    async def position(self) -> int:
        """The head of the log, at most one interval old."""
        async with self._lock:
            if time.monotonic() - self._read_at >= self._interval:
                self._position = await sync_to_thread(self._store.last_position)
                self._read_at = time.monotonic()
            return self._position


class KindFilter:
    """Keeps events of developments of one kind; a kind correction matches the old and new kind."""

    def __init__(self, store: LogRecorder, wanted: str) -> None:
        self._store = store
        self._wanted = wanted
        self._kinds: dict[UUID, str] = {}

    async def matches(self, item: LogItem) -> bool:
        """Whether the development was of the wanted kind when this event was recorded."""
        event, development = item.event, item.development_id
        if item.type == "development_reported":
            reported: str = event["kind"]
            self._kinds[development] = reported
            return reported == self._wanted
        if development not in self._kinds:
            found = await sync_to_thread(self._kind_before, development, item.position)
            self._kinds[development] = found
        before: str = self._kinds[development]
        after: str = before
        if item.type == "development_corrected":
            after = event.get("changes", {}).get("kind", before)
        self._kinds[development] = after
        return self._wanted in (before, after)

    def _kind_before(self, development: UUID, position: int) -> str:
        kind = ""
        for record in self._store.select_stream(development):
            if record.position >= position:
                break
            event: dict[str, Any] = msgspec.json.decode(record.state)
            kind = event.get("kind") or event.get("changes", {}).get("kind") or kind
        return kind


def server_exiting() -> bool:
    """Whether the uvicorn server of this process was told to stop.

    uvicorn waits for open responses before its lifespan shutdown, so an endless stream would
    hold a shutdown forever; nothing in ASGI says the server is stopping, but its signal handler
    is a bound method of the server, whose `should_exit` flag we only read.
    """
    handler = signal.getsignal(signal.SIGTERM)
    return bool(getattr(getattr(handler, "__self__", None), "should_exit", False))


def _setting(state: State, name: str, default: float) -> float:
    value: float = state.get(name, default)
    return value


def _log_head(state: State, store: LogRecorder) -> LogHead:
    if "log_head" not in state:
        state.log_head = LogHead(store, _setting(state, "stream_poll_seconds", POLL_SECONDS))
    head: LogHead = state.log_head
    return head


def _message(item: LogItem) -> ServerSentEventMessage:
    return ServerSentEventMessage(
        data=_encoder.encode(item).decode(), event=item.type, id=item.position
    )


async def _follow(
    store: LogRecorder,
    head: LogHead,
    after: int,
    *,
    development: UUID | None,
    kinds: KindFilter | None,
    poll: float,
    heartbeat: float,
    allowed: Callable[[], Awaitable[bool]],
) -> AsyncIterator[ServerSentEventMessage]:
    position, beat = after, time.monotonic()
    checked = beat  # when the stream's token was last found live
    yield ServerSentEventMessage(data=None, comment=f"after {after}", retry=RETRY_MS)
    try:
        while not server_exiting():
            if time.monotonic() - checked >= heartbeat:  # busy or quiet, once a heartbeat
                if not await allowed():  # its token was revoked since it opened: it ends here
                    return
                checked = time.monotonic()
            records = []
            if (now := await head.position()) > position and development is not None:
                # its own stream, not every event since: what it holds up to `now` is all there is,
                # read from the position on (the whole stream, at each event, cost what it held)
                records = await sync_to_thread(
                    partial(store.select_stream, development, after=position)
                )
                position = now
            elif now > position:
                records = await sync_to_thread(store.select_records, after=position, limit=PAGE)
            for record in records:
                position, item = max(position, record.position), log_item(record)
                if kinds is not None and not await kinds.matches(item):
                    continue
                beat = time.monotonic()
                yield _message(item)
            if len(records) == PAGE:
                continue
            if time.monotonic() - beat >= heartbeat:
                beat = time.monotonic()
                yield ServerSentEventMessage(data=None, comment="heartbeat")
            await anyio.sleep(poll)
    except StorageError as error:  # a broken connection, say: the answer is under way, so it
        # ends here, and the client reconnects (`retry`) from the last event it got
        logger.warning("event stream ended: %s", error)


class LimitStreams:
    """Middleware of the stream's route: at most `state.max_streams` answered at once, counted
    from the request's arrival to the end of its answer (streams asked for at the same moment
    are each counted before the next is let in; a HEAD, whose body is never sent, too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["litestar_app"].state
        most = state.get("max_streams", MAX_STREAMS)
        if state.get("open_streams", 0) >= most:
            raise ServiceUnavailableException(
                f"this server has as many event streams open as it keeps ({most}); "
                "connect again shortly (the web page does so by itself)",
                headers={"Retry-After": "5"},
            )
        state.open_streams = state.get("open_streams", 0) + 1  # no await since the check
        try:
            await self.app(scope, receive, send)
        finally:
            state.open_streams -= 1


def _start(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is None or not last_event_id.strip():
        return after
    return position_of("Last-Event-ID", last_event_id.strip())


@get(
    "/api/stream",
    tags=["log"],
    summary="Follow the log (server-sent events)",
    responses={
        400: problem_spec("A parameter or the Last-Event-ID header is invalid"),
        503: problem_spec("As many streams are open as this server keeps: connect again"),
    },
    operation_class=text_answers("text/event-stream", schema=SERVER_SENT_EVENT, only=True),
    opt={NO_DEADLINE: True},  # a stream answers for as long as its client listens
    middleware=[LimitStreams],
)
async def stream_events(
    request: Request[Any, Any, Any],
    timeline: NamedDependency[Timeline],
    after: Annotated[
        int | None,
        whole("Resume after this position", 0),
    ] = None,
    development: Annotated[
        str | None, QueryParameter(description="Only this development", schema_extra=UUID_TEXT)
    ] = None,
    kind: Annotated[
        Kind | None, QueryParameter(description="Only this kind", schema_extra=choice(Kind))
    ] = None,
    last_event_id: Annotated[
        str | None,
        HeaderParameter(
            name="Last-Event-ID",
            description="Resume after this position",
            schema_extra=A_POSITION,
        ),
    ] = None,
) -> ServerSentEvent:
    """Each new event as `id: position`, `event: type`, `data:` the item of `GET /api/events`.

    Resumes after `Last-Event-ID` (sent by a reconnecting browser) or `after`; comment lines
    are heartbeats.
    """
    state, store = request.app.state, timeline.store
    only = None if development is None else uuid_of("development", development)
    start = _start(last_event_id, after)
    if start is None:
        start = await sync_to_thread(store.last_position)
    messages = _follow(
        store,
        _log_head(state, store),
        start,
        development=only,
        kinds=None if kind is None else KindFilter(store, kind),
        poll=_setting(state, "stream_poll_seconds", POLL_SECONDS),
        heartbeat=_setting(state, "stream_heartbeat_seconds", HEARTBEAT_SECONDS),
        allowed=partial(_still_allowed, request.scope),
    )
    return ServerSentEvent(messages)


async def _still_allowed(scope: Scope) -> bool:
    """Whether the request that opened a stream would still be let in: a stream lasts hours,
    and a token revoked meanwhile must not go on reading (checked at each heartbeat)."""
    if not bearer_secret(scope):
        return True  # opened without a token: reads were open, and stay so for this server
    try:
        await authorize(scope)
    except (NotAuthorizedException, PermissionDeniedException):
        return False
    return True
