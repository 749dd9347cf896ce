"""The composition root of the HTTP API: one Litestar app around one `Timeline`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Literal
from urllib.parse import urlsplit

import msgspec
from litestar import Litestar, Router, get
from litestar.concurrency import sync_to_thread
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from service.application import Timeline
from service.http.auth import provide_principal
from service.http.log import HistoryController, LogController
from service.http.openapi import ASSETS, docs_page, swagger_assets
from service.http.problems import EXCEPTION_HANDLERS
from service.http.write import EventsWriteController

MAX_BODY_BYTES = 1_048_576


class Health(msgspec.Struct, frozen=True):
    """The service answers, which database it uses, and the position of the last event."""

    status: Literal["ok"]
    database: Literal["sqlite", "postgresql"]
    position: int


def provide_timeline(state: State) -> Timeline:
    """The application the app was built around."""
    timeline: Timeline = state.timeline
    return timeline


@get("/api/health", tags=["service"], summary="Health")
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
    extra_route_handlers: Sequence[ControllerRouterHandler] = (),
    own_timeline: bool = True,
) -> Litestar:
    """The API around `timeline`; with `own_timeline` the app closes it when it shuts down."""

    @asynccontextmanager
    async def close_timeline(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if own_timeline:
                await sync_to_thread(timeline.close)

    assets = swagger_assets()
    handlers: list[ControllerRouterHandler] = [
        EventsWriteController,
        LogController,
        HistoryController,
        health,
        *extra_route_handlers,
    ]
    if assets is not None:
        handlers.append(
            create_static_files_router(
                path=ASSETS, directories=[assets], include_in_schema=False, name="docs-assets"
            )
        )
    return Litestar(
        # One router around every handler: Litestar 2 refuses two controllers on one path
        # (GET and POST /api/events) when they are registered on the app directly.
        route_handlers=[Router("/", route_handlers=handlers)],
        state=State({"timeline": timeline, "max_body_bytes": max_body_bytes}),
        dependencies={
            "timeline": Provide(provide_timeline, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=max_body_bytes,
        lifespan=[close_timeline],
        openapi_config=OpenAPIConfig(
            title="Timeline",
            version=_version(),
            description="Reported developments about arms transfers, as immutable events.",
            path="/api/schema",
            render_plugins=[docs_page(assets)],
        ),
    )
