"""The web page: `/`, `/developments/{id}`, their parts for live refreshes, and static assets.

Pages and parts are rendered on the server from the same read models as the JSON views; the
page's script swaps in a part when the time axes move or an event arrives on `/api/stream`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream
from litestar.static_files import create_static_files_router

from events.base import LINE
from projections import ReadModels
from projections.query_deliveries import involving
from projections.query_developments import MAX_LIMIT
from service.application import Timeline
from service.http.deadline import NO_DEADLINE
from service.http.params import IdInPath, InvalidParameter, parse_as_of, parse_known_at, uuid_of
from service.http.problems import error_page, html_response
from service.http.shapes import format_micros
from service.http.strict import refusal
from service.http.view_shapes import (
    ALLEGATION_COLUMNS,
    DELIVERY_COLUMNS,
    TIMELINE_COLUMNS,
    csv_stream,
    deliveries_view,
    delivery_rows,
    development_shape,
    every_page,
)
from service.store.records import now_micros
from service.web.dossier import dossier
from service.web.overview import overview
from service.web.render import STATIC, render, state

# What a `datetime-local` input sends: a UTC moment without its offset (the page labels it UTC).
_LOCAL = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?", re.ASCII)

AsOf = Annotated[str | None, QueryParameter(name="as_of")]
KnownAt = Annotated[str | None, QueryParameter(name="known_at")]
Actor = Annotated[str | None, QueryParameter(name="actor")]
_ACTOR = re.compile(LINE)


class Axes:
    """The two time axes as asked (`known_at` None is now) and as the read models take them,
    and the overview's actor filter (None: every development), which a development page opened
    from a filtered overview keeps for its way back."""

    def __init__(self, as_of: str | None, known_at: str | None, actor: str | None = None) -> None:
        self.actor = (actor or "").strip() or None  # as the API reads it: ` IRN` is `IRN`
        if self.actor is not None and (len(self.actor) > 200 or not _ACTOR.match(self.actor)):
            raise InvalidParameter("actor", f"{actor!r} is not an actor id (one line, 200 at most)")
        known_at = (known_at or "").strip() or None
        match = _LOCAL.fullmatch(known_at or "")
        if match is not None:  # to the end of the second typed, as a date to its end; the
            # field shows seconds but sends none for second 00 (12:00, not 12:00:00)
            seconds = match.group(2) or ":00"
            known_at = f"{match.group(1)}{seconds if '.' in seconds else seconds + '.999999'}Z"
        self.as_of: date = parse_as_of((as_of or "").strip() or None)
        self.known_at_us = parse_known_at(known_at)
        now = now_micros()
        # a time to come is now: what it will know is not recorded yet (the page stays live,
        # and says so)
        self.to_come = known_at if known_at is not None and self.known_at_us >= now else None
        self.known_at = known_at if self.known_at_us < now else None
        self.known_at_us = min(self.known_at_us, now)


def _axes(
    as_of: str | None, known_at: str | None, actor: str | None = None
) -> Axes | Response[str]:
    try:
        return Axes(as_of, known_at, actor)
    except InvalidParameter as error:
        return error_page(400, f"Invalid {error.name}", error.message)


class WebController(Controller):
    """The overview and development pages, whole or as the part the script swaps in."""

    path = "/"
    include_in_schema = False

    def _overview(self, template: str, read_models: ReadModels, timeline: Timeline,
                  as_of: str | None, known_at: str | None,
                  actor: str | None) -> Response[str]:  # fmt: skip
        axes = _axes(as_of, known_at, actor)
        if isinstance(axes, Response):
            return axes
        # Live, the views are those as recorded by the last event, and a link pins them so:
        # it shows the same page however much is recorded later (a citable snapshot)
        settled = None if axes.known_at else read_models.store.settled_at()
        view = overview(read_models, timeline, as_of=axes.as_of, known_at=axes.known_at,
                        known_at_us=axes.known_at_us if settled is None else settled,
                        actor=axes.actor)  # fmt: skip
        known_at_us = axes.known_at_us if axes.known_at else None
        pin = None if settled is None else format_micros(settled)
        return html_response(render(template, view=view, as_of=view.as_of,
                                    known_at_us=known_at_us, head=view.head,
                                    pin=pin, to_come=axes.to_come))  # fmt: skip

    def _development(self, template: str, read_models: ReadModels, timeline: Timeline,
                     development_id: str, as_of: str | None, known_at: str | None,
                     actor: str | None) -> Response[str]:  # fmt: skip
        # `actor` is the overview's filter the page was opened from: read as the overview reads
        # it (one it would refuse is refused here too, not carried along into the links) and
        # kept in the links back to it, never filtering the development's own content
        axes = _axes(as_of, known_at, actor)
        if isinstance(axes, Response):
            return axes
        try:
            development = uuid_of("development_id", development_id)
        except InvalidParameter as error:
            return error_page(400, "Invalid development id", error.message)
        view = dossier(read_models, timeline, development, as_of=axes.as_of,
                       known_at=axes.known_at, known_at_us=axes.known_at_us)  # fmt: skip
        if view is None:
            if axes.known_at is None:
                nothing = f"Nothing of development {development_id} was recorded."
                return error_page(404, "Unknown development", nothing)
            # the same page known now: the as-of asked (not today's, were none) and the actor
            query = state(axes.as_of if (as_of or "").strip() else None, None, actor=axes.actor)
            now = f"/developments/{development_id}" + (f"?{query}" if query else "")
            return error_page(404, "Unknown development",
                              f"Nothing of development {development_id} was recorded by "
                              f"{axes.known_at}, the known-at asked: it was recorded later.",
                              now=now)  # fmt: skip
        known_at_us = axes.known_at_us if axes.known_at else None
        return html_response(render(template, view=view, as_of=view.as_of,
                                    known_at_us=known_at_us, head=view.head,
                                    actor=axes.actor))  # fmt: skip

    @get("/", sync_to_thread=True)
    def index(self, read_models: NamedDependency[ReadModels], timeline: NamedDependency[Timeline],
              as_of: AsOf = None, known_at: KnownAt = None,
              actor: Actor = None) -> Response[str]:  # fmt: skip
        """The overview: deliveries chart, open allegations and timeline, as of (D, T); with
        `actor`, of the developments that actor is in."""
        return self._overview("index.html", read_models, timeline, as_of, known_at, actor)

    @get("/parts/overview", sync_to_thread=True)
    def overview_part(self, read_models: NamedDependency[ReadModels],
                      timeline: NamedDependency[Timeline], as_of: AsOf = None,
                      known_at: KnownAt = None, actor: Actor = None) -> Response[str]:  # fmt: skip
        """The overview's views alone, for the script to swap in."""
        return self._overview("_overview.html", read_models, timeline, as_of, known_at, actor)

    @get("/developments/{development_id:str}", sync_to_thread=True)
    def development(self, read_models: NamedDependency[ReadModels],
                    timeline: NamedDependency[Timeline], development_id: IdInPath,
                    as_of: AsOf = None, known_at: KnownAt = None,
                    actor: Actor = None) -> Response[str]:  # fmt: skip
        """One development: its reports with sources, grades and quotes, and its revisions; with
        `actor`, the filter of the overview it was opened from, kept in its links back there
        (the page shows all of the development whatever it is)."""
        return self._development("development.html", read_models, timeline, development_id,
                                 as_of, known_at, actor)  # fmt: skip

    @get("/download/{table:str}", sync_to_thread=True, opt={NO_DEADLINE: True})
    def download(self, request: Request[Any, Any, Any], read_models: NamedDependency[ReadModels],
                 table: FromPath[str], as_of: AsOf = None, known_at: KnownAt = None,
                 actor: Actor = None) -> Response[str] | Stream:  # fmt: skip
        """A view as one CSV file, every page of it: `timeline.csv`, `allegations.csv` or
        `deliveries.csv`, with the columns of the API's CSV, for a spreadsheet: with a byte-order
        mark, which the API's CSV leaves out for scripts, so Excel reads the dashes and names
        as UTF-8. With `actor`, the rows of the developments that actor is in; another
        parameter is refused (`_refused`)."""
        name = table.removesuffix(".csv")
        if name == table or name not in DOWNLOADS:
            return error_page(404, "Unknown table", f"Tables to download: {', '.join(DOWNLOADS)}.")
        refused = _refused(request, name)
        if refused is not None:
            return error_page(400, "Parameter refused", refused)
        axes = _axes(as_of, known_at, actor)
        if isinstance(axes, Response):
            return axes
        day = axes.as_of
        moment = axes.known_at_us if axes.known_at else read_models.store.settled_at()
        if moment is None:  # nothing recorded yet
            moment = axes.known_at_us
        columns, pages = DOWNLOADS[name](read_models, day, moment, axes.actor)
        # the file holds no dates: its name says both, the time without colons (Windows)
        known = format_micros(moment).replace(":", "")
        of = "" if axes.actor is None else "-" + re.sub(r"[^A-Za-z0-9_-]+", "_", axes.actor)
        filename = f"{name}{of}-as-of-{day.isoformat()}-known-at-{known}.csv"
        disposition = f'attachment; filename="{filename}"'
        return csv_stream(pages, columns, day, format_micros(moment),
                          {"Content-Disposition": disposition}, bom=True)  # fmt: skip

    @get("/parts/developments/{development_id:str}", sync_to_thread=True)
    def development_part(self, read_models: NamedDependency[ReadModels],
                         timeline: NamedDependency[Timeline], development_id: IdInPath,
                         as_of: AsOf = None, known_at: KnownAt = None,
                         actor: Actor = None) -> Response[str]:  # fmt: skip
        """A development page's content alone, for the script to swap in."""
        return self._development("_development.html", read_models, timeline, development_id,
                                 as_of, known_at, actor)  # fmt: skip


def _timeline(read_models: ReadModels, as_of: date, known_at_us: int, actor: str | None) -> _Table:
    pages = every_page(lambda after: read_models.timeline(
        as_of=as_of, known_at_us=known_at_us, limit=MAX_LIMIT, after=after,
        actor=actor))  # fmt: skip
    return TIMELINE_COLUMNS, ([development_shape(item) for item in items] for items in pages)


def _allegations(
    read_models: ReadModels, as_of: date, known_at_us: int, actor: str | None
) -> _Table:
    pages = every_page(lambda after: read_models.allegations(
        as_of=as_of, known_at_us=known_at_us, limit=MAX_LIMIT, after=after,
        actor=actor))  # fmt: skip
    return ALLEGATION_COLUMNS, (msgspec.to_builtins(items) for items in pages)


def _deliveries(
    read_models: ReadModels, as_of: date, known_at_us: int, actor: str | None
) -> _Table:
    found = involving(read_models.deliveries(as_of=as_of, known_at_us=known_at_us), actor)
    return DELIVERY_COLUMNS, iter([delivery_rows(deliveries_view(found, as_of, known_at_us))])


_DOWNLOAD_PARAMETERS = frozenset({"as_of", "known_at", "actor"})
_API = {  # the API's view of each download
    "timeline": "/api/developments",
    "allegations": "/api/views/allegations",
    "deliveries": "/api/views/deliveries",
}


def _refused(request: Request[Any, Any, Any], table: str) -> str | None:
    """Why a download of `table` refuses its query, or None: a parameter it does not take (a
    file of every row, the filter ignored, would pass for the filtered one), or one given
    twice."""
    where = f"{request.method} {request.url.path}"
    refused = refusal(where, request.query_params, _DOWNLOAD_PARAMETERS)
    if refused is None:
        return None
    if refused.name in _DOWNLOAD_PARAMETERS:
        return refused.message
    api = f"the API's CSV of this view, {_API[table]}?format=csv, takes its filters"
    return f"{refused.message}; {api}"


# columns, and rows a page at a time, each page read as the download is written
_Table = tuple[Sequence[str], Iterator[list[dict[str, Any]]]]
DOWNLOADS: dict[str, Callable[[ReadModels, date, int, str | None], _Table]] = {
    "timeline": _timeline,
    "allegations": _allegations,
    "deliveries": _deliveries,
}

static_router = create_static_files_router(
    path="/static", directories=[STATIC], include_in_schema=False, name="web-static",
    cache_control=None,
)  # fmt: skip

WEB_HANDLERS = (WebController, static_router)
