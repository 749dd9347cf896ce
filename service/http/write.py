"""The write side: `POST /api/events` and `POST /api/events/batch`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.exceptions import ClientException

from events import AnyEvent, decode_new_batch, decode_new_event
from events.codec import Batch
from service.committer import GroupCommitter
from service.http.auth import provide_principal
from service.http.deadline import within
from service.http.examples import BATCH_EXAMPLES, EVENT_EXAMPLES
from service.http.media import JSON_BODY
from service.http.openapi import answer_spec, body_operation
from service.http.problems import (
    BATCH,
    DATABASE_ERRORS,
    UNSUPPORTED_MEDIA,
    problem_spec,
)
from service.http.shapes import ReceiptBody, Receipts, receipt_body

BODY_TIMEOUT_SECONDS = 30.0

REFUSALS = {
    400: problem_spec("Malformed JSON or an invalid event; `errors` name the fields"),
    404: problem_spec("Unknown development or report"),
    409: problem_spec(
        "Version conflict, existing development, or event_id reused for another body"
    ),
    408: problem_spec("The body did not arrive within the time limit"),
    413: problem_spec("Body larger than the limit"),
    422: problem_spec("Well-formed, but refused by the domain"),
    **UNSUPPORTED_MEDIA,
    **DATABASE_ERRORS,
}


async def read_body(request: Request[Any, Any, Any]) -> bytes:
    """The raw body, refused with 413 above the app's limit and 408 if it arrives too slowly."""
    state = request.app.state
    seconds: float = state.get("body_timeout_seconds", BODY_TIMEOUT_SECONDS)
    try:  # a slow sender must not hold a request forever
        body = await within(seconds, request.body())
    except TimeoutError:
        raise ClientException(
            status_code=408, detail=f"the request body did not arrive within {seconds:g} s"
        ) from None
    limit: int = state.max_body_bytes
    if len(body) > limit:
        raise ClientException(
            status_code=413, detail=f"the request body is larger than {limit:,} bytes"
        )
    return body


def _committer(request: Request[Any, Any, Any]) -> GroupCommitter:
    # read from the app's state, not injected: the hottest path skips dependency resolution
    committer: GroupCommitter = request.app.state.committer
    return committer


def _location(receipt: ReceiptBody) -> str:
    return f"/api/developments/{receipt.development_id}"


class EventsWriteController(Controller):
    """Appends events: one, or a batch that is stored all or nothing."""

    path = "/api/events"
    tags = ["events"]

    @post(
        "/",
        summary="Append one event",
        operation_class=body_operation(AnyEvent, "One event, tagged by `type`", EVENT_EXAMPLES),
        responses={
            200: answer_spec(ReceiptBody, description="Replay: the original receipt"),
            **REFUSALS,
        },
        opt={JSON_BODY: True},
    )
    async def append_event(
        self,
        request: Request[Any, Any, Any],
    ) -> Response[ReceiptBody]:
        """Store one event; 201 with its receipt, or 200 with the original one for a replay."""
        event = decode_new_event(await read_body(request))
        [outcome] = await _committer(request).append([event], provide_principal(request))
        receipt = receipt_body(outcome.receipt)
        return Response(
            receipt,
            status_code=201 if outcome.created else 200,
            headers={"Location": _location(receipt)},
        )

    @post(
        "/batch",
        summary="Append a batch of events, all or nothing",
        operation_class=body_operation(
            Batch, '`{"events": [...]}` with 1 to 1,000 events', BATCH_EXAMPLES
        ),
        responses={
            200: answer_spec(Receipts, description="Every event was a replay"),
            **REFUSALS,
        },
        opt={BATCH: True, JSON_BODY: True},
    )
    async def append_batch(
        self,
        request: Request[Any, Any, Any],
    ) -> Response[Receipts]:
        """Store every event of the batch in order, or none; error paths name `$.events[i]`."""
        batch: list[AnyEvent] = decode_new_batch(await read_body(request))
        outcomes = await _committer(request).append(batch, provide_principal(request))
        created = any(outcome.created for outcome in outcomes)
        return Response(
            Receipts([receipt_body(outcome.receipt) for outcome in outcomes]),
            status_code=201 if created else 200,
        )
