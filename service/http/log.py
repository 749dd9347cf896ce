"""The log: `GET /api/events` (JSON pages or an NDJSON stream) and a development's history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Stream

from service.application import Timeline
from service.audit.changes import ChangesPage, changes_csv, development_changes
from service.errors import UnknownDevelopment
from service.history import history_changes
from service.http.openapi import answer_spec, text_answers
from service.http.params import A_MOMENT, IdInPath, settled_known_at, uuid_of, whole
from service.http.problems import problem_spec
from service.http.shapes import History, LogPage, format_micros, history_item, log_item
from service.http.tables import CSV, OR_CSV, Format, json_or_csv, preferred, wants_csv

NDJSON = "application/x-ndjson"
EXPORT_PAGE = 1000

_encoder = msgspec.json.Encoder()


async def _lines(timeline: Timeline, after: int, limit: int | None) -> AsyncIterator[bytes]:
    """Log items as NDJSON lines, page by page, up to the head of the log when the export began."""
    head = await sync_to_thread(timeline.store.last_position)
    left = head if limit is None else limit  # positions start at 1: never more rows than `head`
    while after < head and left > 0:
        page = min(EXPORT_PAGE, left)
        records = await sync_to_thread(timeline.store.select_records, after=after, limit=page)
        records = [record for record in records if record.position <= head]
        if not records:
            return
        yield b"".join(_encoder.encode(log_item(record)) + b"\n" for record in records)
        after, left = records[-1].position, left - len(records)


class LogController(Controller):
    """The whole log in position order, for export, audit and replication."""

    path = "/api/events"
    tags = ["log"]

    @get(
        "/",
        summary="Read the log",
        operation_class=text_answers(NDJSON),
        responses={
            200: answer_spec(LogPage, description="A page of the log (or NDJSON lines)"),
            400: problem_spec("`after` or `limit` is not a valid number"),
        },
    )
    async def read_log(
        self,
        request: Request[Any, Any, Any],
        timeline: NamedDependency[Timeline],
        after: Annotated[
            int,
            whole("Answer events after this position", 0),
        ] = 0,
        limit: Annotated[
            int | None,
            whole("How many events (default 100; NDJSON: all up to the head of the log)", 1, 1000),
        ] = None,
    ) -> Response[LogPage] | Stream:
        """Events after a position; `Accept: application/x-ndjson` streams one event per line."""
        wanted = preferred(request, ["application/json", NDJSON])
        if wanted == NDJSON:
            return Stream(_lines(timeline, after, limit), media_type=NDJSON)
        page_size = limit or 100
        # one more than the page: `next` only when there is more to read (a page that ends at
        # the head says null, where it sent its client to an empty page)
        records = await sync_to_thread(
            timeline.store.select_records, after=after, limit=page_size + 1
        )
        following = records[page_size - 1].position if len(records) > page_size else None
        page = [log_item(record) for record in records[:page_size]]
        return Response(LogPage(page, following))


class HistoryController(Controller):
    """The history of one development, as this service had recorded it by a time."""

    path = "/api/developments"
    tags = ["developments"]

    @get(
        "/{development_id:str}/history",
        summary="History of a development",
        responses={
            200: json_or_csv(History),
            400: problem_spec("`known_at` is neither an RFC 3339 time nor a date"),
            404: problem_spec("Nothing of the development was recorded by `known_at`"),
        },
        operation_class=OR_CSV,
    )
    async def read_history(
        self,
        request: Request[Any, Any, Any],
        timeline: NamedDependency[Timeline],
        development_id: IdInPath,
        known_at: Annotated[
            str | None,
            QueryParameter(
                description="RFC 3339 time with offset, or a date (its end, UTC); default now",
                schema_extra=A_MOMENT,
            ),
        ] = None,
        format: Format = None,
    ) -> Response[Any]:
        """Every event of the development recorded by `known_at`, with what each one changed;
        as CSV, one row per changed field, in the columns of `/api/changes`."""
        development = uuid_of("development_id", development_id)
        until_us = await sync_to_thread(settled_known_at, timeline.store, "known_at", known_at)
        stream = await sync_to_thread(timeline.stream, development, until_us=until_us)
        known = format_micros(until_us)
        if not stream:
            raise UnknownDevelopment(
                f"nothing of development {development_id} was recorded by {known}",
                path="development_id",
            )
        if wants_csv(request, format):
            page = ChangesPage([development_changes(development, stream)], None)
            table = changes_csv(page)
            return Response(table, media_type=CSV, headers={"X-Known-At": known})
        changes = history_changes(recorded.event for recorded in stream)
        return Response(
            History(
                development_id=development,
                known_at=known,
                items=[history_item(r, c) for r, c in zip(stream, changes, strict=True)],
            )
        )
