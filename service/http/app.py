"""The composition root of the HTTP API: one Litestar app around one `Timeline`."""

from __future__ import annotations

import gc
import math
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal, NamedTuple, TypeVar
from urllib.parse import urlsplit

import msgspec
from litestar import Litestar, Request, Router, get
from litestar.concurrency import sync_to_thread
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ClientException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from service.application import Timeline
from service.audit.periodic import periodic_checkpoints
from service.committer import GroupCommitter
from service.config import ConfigError, database_url
from service.http.audit import AuditController
from service.http.auth import OPEN, Authorize, document_security, provide_principal
from service.http.deadline import REQUEST_TIMEOUT_SECONDS, Deadline
from service.http.fastpath import install
from service.http.headers import SecurityHeaders
from service.http.log import HistoryController, LogController
from service.http.maintenance import rebuild_projections
from service.http.media import RefuseUnsupportedMedia
from service.http.openapi import (
    ASSETS,
    BEARER,
    DOCUMENTS,
    DocumentJson,
    docs_page,
    documents_router,
    swagger_assets,
)
from service.http.paths import RefuseNulInPath
from service.http.problems import EXCEPTION_HANDLERS, document_any_api_refusal
from service.http.stream import MAX_STREAMS, stream_events
from service.http.strict import RefuseUnknownParameters
from service.http.views import VIEW_DEPENDENCIES, VIEW_HANDLERS, follow_log
from service.http.web import WEB_HANDLERS
from service.http.write import BODY_TIMEOUT_SECONDS, EventsWriteController
from service.tokens import Tokens

MAX_BODY_BYTES = 1_048_576
CHECKPOINT_EVERY = 1000  # `timeline serve` signs the head every 1,000 events (0: never)
_Number = TypeVar("_Number", int, float)


class Health(msgspec.Struct, frozen=True):
    """The service answers, which database it uses, and the position of the last event."""

    status: Literal["ok"]
    database: Literal["sqlite", "postgresql"]
    position: int


class TimelineRequest(Request[Any, Any, Any]):
    """Litestar's request, whose JSON body nested past Python's recursion limit is a 400 (a
    body Litestar decodes for a handler, like POST /api/verify's; events have their own decoder)."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ClientException("the JSON body is nested too deeply") from None


def provide_timeline(state: State) -> Timeline:
    """The application the app was built around."""
    timeline: Timeline = state.timeline
    return timeline


def provide_committer(state: State) -> GroupCommitter:
    """The writer that commits concurrent appends together."""
    committer: GroupCommitter = state.committer
    return committer


@get("/api/health", tags=["service"], summary="Health", opt={OPEN: True})
async def health(timeline: NamedDependency[Timeline]) -> Health:
    """The service is up and its database answers."""
    position = await sync_to_thread(timeline.store.last_position)
    scheme = urlsplit(timeline.database).scheme
    return Health("ok", "sqlite" if scheme == "sqlite" else "postgresql", position)


def _version() -> str:
    try:
        return version("timeline")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0"


def create_app(
    timeline: Timeline,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout_seconds: float = BODY_TIMEOUT_SECONDS,
    request_timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
    extra_route_handlers: Sequence[ControllerRouterHandler] = (),
    own_timeline: bool = True,
    require_read_token: bool | None = None,
    checkpoint_every: int = 0,
    checkpoint_interval: float = 10.0,
    max_streams: int = MAX_STREAMS,
) -> Litestar:
    """The API around `timeline`; with `own_timeline` the app closes it when it shuts down.

    Reads need a reader token when `require_read_token` (default: the environment variable
    TIMELINE_REQUIRE_READ_TOKEN=1); writes always need an editor token. With `checkpoint_every`
    N > 0 the head is signed every `checkpoint_interval` seconds once N events came since the
    last checkpoint. At most `max_streams` event streams are open at once (more: 503).
    """
    if require_read_token is None:
        require_read_token = _flag("TIMELINE_REQUIRE_READ_TOKEN", default=False)

    @asynccontextmanager
    async def writer(app: Litestar) -> AsyncIterator[None]:
        app.state.committer = GroupCommitter(timeline)
        try:
            if checkpoint_every > 0:
                async with periodic_checkpoints(timeline, checkpoint_every, checkpoint_interval):
                    yield
            else:
                yield
        finally:
            await sync_to_thread(app.state.committer.close)
            if own_timeline:
                await sync_to_thread(timeline.close)

    assets = swagger_assets()
    handlers: list[ControllerRouterHandler] = [
        EventsWriteController,
        LogController,
        HistoryController,
        health,
        AuditController,
        rebuild_projections,
        *VIEW_HANDLERS,
        stream_events,
        *WEB_HANDLERS,
        *extra_route_handlers,
    ]
    if assets is not None:
        handlers.append(
            create_static_files_router(
                path=ASSETS, directories=[assets], include_in_schema=False, name="docs-assets"
            )
        )
    app = Litestar(
        # One router around every handler: Litestar 2 refuses two controllers on one path
        # (GET and POST /api/events) when they are registered on the app directly.
        route_handlers=[Router("/", route_handlers=handlers)],
        state=State(
            {
                "timeline": timeline,
                "tokens": Tokens(timeline.store),
                "require_read_token": require_read_token,
                "max_body_bytes": max_body_bytes,
                "body_timeout_seconds": body_timeout_seconds,
                "request_timeout_seconds": request_timeout_seconds,
                "max_streams": max_streams,
            }
        ),
        middleware=[
            Deadline,
            Authorize,
            RefuseNulInPath,
            RefuseUnknownParameters,
            RefuseUnsupportedMedia,
        ],
        dependencies={
            "timeline": Provide(provide_timeline, sync_to_thread=False),
            "committer": Provide(provide_committer, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
            **VIEW_DEPENDENCIES,
        },
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=TimelineRequest,
        request_max_body_size=max_body_bytes,
        lifespan=[writer, follow_log],
        openapi_config=OpenAPIConfig(
            components=Components(
                security_schemes={
                    BEARER: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="A token from `timeline tokens create`: editor to write, "
                        "admin for verify, checkpoints and rebuilds, reader when reads need one",
                    )
                }
            ),
            title="Timeline",
            version=_version(),
            description="Reported developments about arms transfers, as immutable events.",
            path=DOCUMENTS,
            openapi_router=documents_router(),
            render_plugins=[docs_page(assets), DocumentJson()],
        ),
    )
    document_security(app, require_read=require_read_token)
    document_any_api_refusal(app)
    install(app)
    app.asgi_handler = SecurityHeaders(app.asgi_handler)  # type: ignore[arg-type,assignment]
    return app


def _positive(
    name: str, parse: Callable[[str], _Number], default: _Number, *, zero: bool = False
) -> _Number:
    """A positive (or with `zero`, not negative), finite number from the environment variable
    `name`, or `default` if unset."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value: _Number | None = parse(text)
    except ValueError:
        value = None
    if value is None or not (value >= 0 if zero else value > 0) or not value < math.inf:
        expected = "0 or a positive" if zero else "a positive"
        raise ConfigError(f"{name}={text!r}: expected {expected} {parse.__name__}")
    return value


class Settings(NamedTuple):
    """What a server process reads from the environment besides the database."""

    max_body_bytes: int
    body_timeout_seconds: float
    request_timeout_seconds: float
    checkpoint_every: int
    require_read_token: bool
    run_projections: bool
    max_streams: int


def settings_from_environment() -> Settings:
    """The settings of TIMELINE_MAX_BODY_BYTES (default 1 MiB), TIMELINE_BODY_TIMEOUT_SECONDS
    (default 30: the time a request body may take to arrive), TIMELINE_REQUEST_TIMEOUT_SECONDS
    (default 60: the time a request may take to be answered), TIMELINE_CHECKPOINT_EVERY,
    TIMELINE_REQUIRE_READ_TOKEN, TIMELINE_RUN_PROJECTIONS and TIMELINE_MAX_STREAMS (default
    500: the event streams a server process keeps open at once); `ConfigError` for a value that
    is not one, which `timeline serve` says before it starts anything."""
    return Settings(
        max_body_bytes=_positive("TIMELINE_MAX_BODY_BYTES", int, MAX_BODY_BYTES),
        body_timeout_seconds=_positive(
            "TIMELINE_BODY_TIMEOUT_SECONDS", float, BODY_TIMEOUT_SECONDS
        ),
        request_timeout_seconds=_positive(
            "TIMELINE_REQUEST_TIMEOUT_SECONDS", float, REQUEST_TIMEOUT_SECONDS
        ),
        checkpoint_every=_positive("TIMELINE_CHECKPOINT_EVERY", int, CHECKPOINT_EVERY, zero=True),
        require_read_token=_flag("TIMELINE_REQUIRE_READ_TOKEN", default=False),
        # 0: a separate `timeline projections run` keeps the read models
        run_projections=_flag("TIMELINE_RUN_PROJECTIONS", default=True),
        max_streams=_positive("TIMELINE_MAX_STREAMS", int, MAX_STREAMS),
    )


def app_from_environment() -> Litestar:
    """The app on `TIMELINE_DATABASE`, with `settings_from_environment`: the factory each
    server worker process calls."""
    settings = settings_from_environment()
    app = create_app(
        Timeline(database_url()),
        max_body_bytes=settings.max_body_bytes,
        body_timeout_seconds=settings.body_timeout_seconds,
        request_timeout_seconds=settings.request_timeout_seconds,
        checkpoint_every=settings.checkpoint_every,
        require_read_token=settings.require_read_token,
        max_streams=settings.max_streams,
    )
    app.state.run_projections = settings.run_projections
    # What a server process has built by now lives as long as it does: out of the collector's
    # way, so that collections while requests are served only look at the requests' objects.
    gc.collect()
    gc.freeze()
    return app


TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def _flag(name: str, *, default: bool) -> bool:
    """A yes-or-no environment variable, in any case, or `default` if unset; anything else is
    refused, so that a misspelt `TIMELINE_REQUIRE_READ_TOKEN=ture` does not leave reads open."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if text.lower() not in TRUE + FALSE:
        raise ConfigError(f"{name}={text!r}: expected one of {', '.join(TRUE + FALSE)}")
    return text.lower() in TRUE
