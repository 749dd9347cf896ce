"""The views as of (`as_of`, `known_at`): timeline, one development, deliveries, allegations.

Thin handlers over `projections.ReadModels`; every answer carries the `as_of` and `known_at` it
used, and each view also answers CSV (`?format=csv` or `Accept: text/csv`).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Litestar, Request, Response, get
from litestar.concurrency import sync_to_thread
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import OpenAPIType
from litestar.params import QueryParameter

from events import Status
from events.base import LINE
from events.values import Kind
from projections import ReadModels
from projections.query_developments import MAX_LIMIT, PAGE, InvalidCursor
from projections.results import Deliveries
from service.application import Timeline
from service.errors import UnknownDevelopment
from service.http.params import (
    A_DAY,
    A_MOMENT,
    IdInPath,
    InvalidParameter,
    choice,
    documented,
    parse_as_of,
    settled_known_at,
    uuid_of,
    whole,
)
from service.http.problems import VIEW_ERRORS, problem_spec
from service.http.shapes import format_micros
from service.http.tables import OR_CSV, Format, json_or_csv, next_link, wants_csv
from service.http.view_shapes import (
    ALLEGATION_COLUMNS,
    DELIVERY_COLUMNS,
    DETAIL_COLUMNS,
    TIMELINE_COLUMNS,
    AllegationsAnswer,
    Continued,
    DeliveriesAnswer,
    DevelopmentAnswer,
    TimelineAnswer,
    TimelineFilters,
    TimelinePage,
    continued,
    csv_response,
    deliveries_view,
    delivery_rows,
    detail_rows,
    detail_shape,
    development_shape,
    page_of,
)
from service.store.records import now_micros

_lock = threading.Lock()

AsOf = Annotated[
    str | None,
    QueryParameter(description="Valid time: a date YYYY-MM-DD; default today", schema_extra=A_DAY),
]
KnownAt = Annotated[
    str | None,
    QueryParameter(
        description="System time: RFC 3339 with offset, or a date; default now",
        schema_extra=A_MOMENT,
    ),
]
Limit = Annotated[
    int | None,
    whole(f"Items per page: default {PAGE}, or the cursor's", 1, MAX_LIMIT),
]
Cursor = Annotated[
    str | None,
    QueryParameter(
        description="`next` of the previous page", schema_extra=documented(OpenAPIType.STRING)
    ),
]
Filter = Annotated[
    str | None,
    QueryParameter(
        min_length=1, max_length=200, pattern=LINE, schema_extra=documented(OpenAPIType.STRING)
    ),
]
From = Annotated[
    str | None,
    QueryParameter(name="from", description="A date YYYY-MM-DD, inclusive", schema_extra=A_DAY),
]
Day = Annotated[
    str | None, QueryParameter(description="A date YYYY-MM-DD, inclusive", schema_extra=A_DAY)
]
Occurred = Annotated[
    str | None,
    QueryParameter(
        description="A date YYYY-MM-DD, inclusive: developments whose `occurred` allows a day "
        "on this side of it",
        schema_extra=A_DAY,
    ),
]
KindFilter = Annotated[Kind | None, QueryParameter(schema_extra=choice(Kind))]
StatusFilter = Annotated[Status | None, QueryParameter(schema_extra=choice(Status))]


def _following(request: Request[Any, Any, Any], page: TimelinePage) -> dict[str, str]:
    """The CSV page's link to the next one, at the same `as_of` and `known_at`."""
    if page.next is None:
        return {}
    pinned = {"cursor": page.next, "as_of": page.as_of, "known_at": page.known_at}
    return next_link(request, pinned)


def _day(name: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return parse_as_of(text)
    except InvalidParameter as error:
        raise InvalidParameter(name, error.message) from None


def _window(
    first: str, first_text: str | None, last: str, last_text: str | None
) -> tuple[date | None, date | None]:
    """The days of two parameters bounding a window, which may not end before it starts."""
    began, ended = _day(first, first_text), _day(last, last_text)
    if began is not None and ended is not None and ended < began:  # as /api/changes says
        raise InvalidParameter(last, f"the window ends ({ended}) before it starts ({began})")
    return began, ended


def _times(
    read_models: ReadModels, as_of: str | None, known_at: str | None, going_on: Continued
) -> tuple[date, int]:
    """D and T (µs). A `next` cursor carries the `as_of` and `known_at` of its page, used where
    the request gives none: following `next` alone goes on with the same answer, whatever was
    recorded since."""
    day = parse_as_of(going_on.as_of if as_of is None else as_of)
    pinned = going_on.known_at_us
    if known_at is None and pinned is not None and pinned < now_micros():  # else: one to come
        return day, pinned
    return day, _known_at(read_models, known_at)


def _call(function: Any, **kwargs: Any) -> Any:
    try:
        return function(**kwargs)
    except InvalidCursor as error:
        raise InvalidParameter("cursor", str(error)) from None


class DevelopmentsController(Controller):
    """The timeline of visible developments, and one development, as of (D, T)."""

    path = "/api/developments"
    tags = ["views"]

    @get(
        "/",
        summary="Timeline",
        sync_to_thread=True,
        responses={**VIEW_ERRORS, 200: json_or_csv(TimelineAnswer)},
        operation_class=OR_CSV,
    )
    def timeline(
        self,
        request: Request[Any, Any, Any],
        read_models: NamedDependency[ReadModels],
        as_of: AsOf = None,
        known_at: KnownAt = None,
        kind: KindFilter = None,
        actor: Filter = None,
        status: StatusFilter = None,
        from_: From = None,
        to: Day = None,
        occurred_from: Occurred = None,
        occurred_to: Occurred = None,
        limit: Limit = None,
        cursor: Cursor = None,
        format: Format = None,
    ) -> Response[Any]:
        """Visible developments by `first_reported_on`, then position; `next` pages on.

        `from` and `to` bound `first_reported_on`; `occurred_from` and `occurred_to` keep the
        developments whose `occurred` allows a day between them (an open or unknown end
        allows every day on its side; a development without `occurred` is left out)."""
        going_on = continued(cursor)
        day, moment = _times(read_models, as_of, known_at, going_on)
        given = TimelineFilters(kind=kind, actor=actor, status=status, from_=from_, to=to,
                                occurred_from=occurred_from, occurred_to=occurred_to)  # fmt: skip
        filters = given.over(going_on.filters)
        limit = limit or going_on.limit or PAGE
        first, last = _window("from", filters.from_, "to", filters.to)
        began, ended = _window(
            "occurred_from", filters.occurred_from, "occurred_to", filters.occurred_to
        )
        page = _call(
            read_models.timeline,
            as_of=day,
            known_at_us=moment,
            limit=limit,
            after=going_on.after,
            kind=filters.kind,
            actor=filters.actor,
            status=filters.status,
            from_=first,
            to=last,
            occurred_from=began,
            occurred_to=ended,
        )
        shaped = page_of(page, day, moment, development_shape, filters, limit)
        if wants_csv(request, format):
            following = _following(request, shaped)
            return csv_response(shaped.items, TIMELINE_COLUMNS, day, shaped.known_at, following)
        return Response(shaped)

    @get(
        "/{development_id:str}",
        summary="One development",
        sync_to_thread=True,
        responses={
            **VIEW_ERRORS,
            200: json_or_csv(DevelopmentAnswer),
            404: problem_spec("Nothing of it was recorded by known_at"),
        },
        operation_class=OR_CSV,
    )
    def development(
        self,
        request: Request[Any, Any, Any],
        read_models: NamedDependency[ReadModels],
        development_id: IdInPath,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        format: Format = None,
    ) -> Response[Any]:
        """The development with every report recorded by T, active or not as of D."""
        day, moment = parse_as_of(as_of), _known_at(read_models, known_at)
        detail = read_models.development(
            uuid_of("development_id", development_id), as_of=day, known_at_us=moment
        )
        known = format_micros(moment)
        if detail is None:
            raise UnknownDevelopment(
                f"nothing of development {development_id} was recorded by {known}",
                path="development_id",
            )
        shaped = detail_shape(detail)
        if wants_csv(request, format):
            return csv_response(detail_rows(shaped), DETAIL_COLUMNS, day, known)
        return Response({"as_of": day, "known_at": known, **shaped})


def _known_at(read_models: ReadModels, known_at: str | None) -> int:
    return settled_known_at(read_models.store, "known_at", known_at)


class ViewsController(Controller):
    """The deliveries series and the allegations board, as of (D, T)."""

    path = "/api/views"
    tags = ["views"]

    @get(
        "/deliveries",
        summary="Deliveries",
        sync_to_thread=True,
        responses={**VIEW_ERRORS, 200: json_or_csv(DeliveriesAnswer)},
        operation_class=OR_CSV,
    )
    def deliveries(
        self,
        request: Request[Any, Any, Any],
        read_models: NamedDependency[ReadModels],
        as_of: AsOf = None,
        known_at: KnownAt = None,
        supplier: Filter = None,
        recipient: Filter = None,
        category: Filter = None,
        unit: Filter = None,
        originator: Filter = None,
        status: StatusFilter = None,
        format: Format = None,
    ) -> Response[Any]:
        """One row per (supplier, recipient, category, unit, originator); totals never sum."""
        day, moment = parse_as_of(as_of), _known_at(read_models, known_at)
        found: Deliveries = read_models.deliveries(
            as_of=day,
            known_at_us=moment,
            supplier=supplier,
            recipient=recipient,
            category=category,
            unit=unit,
            originator=originator,
            status=status,
        )
        view = deliveries_view(found, day, moment)
        if wants_csv(request, format):
            return csv_response(delivery_rows(view), DELIVERY_COLUMNS, day, view.known_at)
        return Response(view)

    @get(
        "/allegations",
        summary="Allegations",
        sync_to_thread=True,
        responses={**VIEW_ERRORS, 200: json_or_csv(AllegationsAnswer)},
        operation_class=OR_CSV,
    )
    def allegations(
        self,
        request: Request[Any, Any, Any],
        read_models: NamedDependency[ReadModels],
        as_of: AsOf = None,
        known_at: KnownAt = None,
        kind: KindFilter = None,
        actor: Filter = None,
        limit: Limit = None,
        cursor: Cursor = None,
        format: Format = None,
    ) -> Response[Any]:
        """Visible developments alleged, corroborated or disputed, oldest first; `kind` and
        `actor` filter them as they filter the timeline."""
        going_on = continued(cursor)
        day, moment = _times(read_models, as_of, known_at, going_on)
        filters = TimelineFilters(kind=kind, actor=actor).over(going_on.filters)
        limit = limit or going_on.limit or PAGE
        page = _call(
            read_models.allegations,
            as_of=day,
            known_at_us=moment,
            limit=limit,
            after=going_on.after,
            kind=filters.kind,
            actor=filters.actor,
        )
        shaped = page_of(page, day, moment, msgspec.to_builtins, filters, limit)
        if wants_csv(request, format):
            following = _following(request, shaped)
            return csv_response(shaped.items, ALLEGATION_COLUMNS, day, shaped.known_at, following)
        return Response(shaped)


def provide_read_models(state: State) -> ReadModels:
    """The app's read models; made on first use when the lifespan did not run."""
    with _lock:
        if "read_models" not in state:
            timeline: Timeline = state.timeline
            state.read_models = ReadModels(timeline.store)
    read_models: ReadModels = state.read_models
    return read_models


@asynccontextmanager
async def follow_log(app: Litestar) -> AsyncIterator[None]:
    """Lifespan: the projection runner follows the log in a background thread while serving.

    `app.state.run_projections = False` leaves it to a separate `timeline projections run`.
    """
    read_models = await sync_to_thread(provide_read_models, app.state)
    following = app.state.get("run_projections", True)
    if following:
        read_models.runner.start()
    try:
        yield
    finally:
        if following:
            await sync_to_thread(read_models.runner.stop)


VIEW_HANDLERS = (DevelopmentsController, ViewsController)
VIEW_DEPENDENCIES = {"read_models": Provide(provide_read_models, sync_to_thread=False)}
