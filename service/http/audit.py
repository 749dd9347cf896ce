"""Audit over HTTP: signed checkpoints, verification of the log, changes in a window, proofs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from events import InvalidEvent
from events.codec import decode_json, refuse_repeated_keys
from service.application import Timeline
from service.audit import (
    Checkpoint,
    Signer,
    VerifyReport,
    checkpoint_at,
    latest_checkpoint,
)
from service.audit import verify as verify_log
from service.audit.changes import MAX_PAGE, changes_between, changes_csv
from service.audit.checkpoints import sign_head
from service.audit.keys import signer_for
from service.audit.proofs import InclusionProof, inclusion_proof
from service.http.auth import ROLE
from service.http.deadline import NO_DEADLINE
from service.http.media import JSON_BODY
from service.http.openapi import answer_spec, body_operation
from service.http.params import (
    A_MOMENT,
    DATE,
    IdInPath,
    InvalidParameter,
    PositionInPath,
    parse_known_at,
    position_of,
    settled_by,
    settled_known_at,
    uuid_of,
    whole,
)
from service.http.problems import (
    BAD_PARAMS,
    NO_BODY,
    UNSUPPORTED_MEDIA,
    InvalidBody,
    problem_spec,
)
from service.http.shapes import HistoryItem, Time, format_micros, history_item
from service.http.tables import CSV, OR_CSV, Format, json_or_csv, next_link, wants_csv
from service.http.write import read_body
from service.store.records import to_micros


class ChangedDevelopment(msgspec.Struct, frozen=True):
    """The events of one development recorded in the window, with what each changed."""

    development_id: UUID
    title: str
    items: list[HistoryItem]


class Changes(msgspec.Struct, frozen=True):
    """Everything recorded after `since` and by `until`, grouped by development: `since` is
    the last moment before the window (a date asked: the end of the day before)."""

    since: Time
    until: Time
    developments: list[ChangedDevelopment]
    next: int | None


def provide_signer(state: State, timeline: NamedDependency[Timeline]) -> Signer:
    """The app's signer (`state.signer`), else the one of the database's key file."""
    signer = state.get("signer")
    return signer if isinstance(signer, Signer) else signer_for(timeline.database)


_CHECKPOINT = msgspec.json.Decoder(Checkpoint)


_FIRST_MICRO = to_micros(datetime.min.replace(tzinfo=UTC))  # nothing is recorded at it


def _moment(name: str, text: str | None, *, start_of_day: bool) -> int:
    """An RFC 3339 time or a date in microseconds: a date is its last microsecond, UTC, or with
    `start_of_day` the last of the day before (0001-01-01: the first there is)."""
    if text is not None and start_of_day and DATE.fullmatch(text):
        try:
            day = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        except ValueError:
            raise InvalidParameter(name, f"{text!r} is not a real date") from None
        return max(to_micros(day) - 1, _FIRST_MICRO)
    try:
        return parse_known_at(text)
    except InvalidParameter as error:
        raise InvalidParameter(name, error.message) from None


class AuditController(Controller):
    """Checkpoints, verification, the changes of a window and inclusion proofs."""

    path = "/api"
    tags = ["audit"]
    dependencies = {"signer": Provide(provide_signer, sync_to_thread=False)}

    @get(
        "/checkpoints/latest",
        summary="The latest signed checkpoint",
        responses={404: problem_spec("No checkpoint was made yet")},
    )
    async def latest(self, timeline: NamedDependency[Timeline]) -> Checkpoint:
        """The most recent checkpoint: keep it outside the service to check the log against."""
        return await sync_to_thread(latest_checkpoint, timeline)

    @get(
        "/checkpoints/{position:str}",
        summary="The checkpoint at a position",
        responses={**BAD_PARAMS, 404: problem_spec("No checkpoint at this position")},
    )
    async def at(
        self,
        timeline: NamedDependency[Timeline],
        position: PositionInPath,
    ) -> Checkpoint:
        """The checkpoint signed at exactly this position of the log."""
        at = position_of("position", position)
        return await sync_to_thread(checkpoint_at, timeline, at)

    @post(
        "/checkpoints",
        summary="Sign the head of the log now",
        opt={ROLE: "admin", NO_DEADLINE: True},  # for operators; verifies since the last one
        responses={
            200: answer_spec(Checkpoint, description="The head was already signed"),
            **NO_BODY,
            422: problem_spec("The log is empty, or does not verify"),
        },
    )
    async def make(
        self, timeline: NamedDependency[Timeline], signer: NamedDependency[Signer]
    ) -> Response[Checkpoint]:
        """Verify the chain since the last checkpoint and sign the current head."""
        checkpoint, created = await sync_to_thread(sign_head, timeline, signer)
        return Response(
            checkpoint,
            status_code=201 if created else 200,
            headers={"Location": f"/api/checkpoints/{checkpoint.position}"},
        )

    @get(
        "/verify",
        summary="Recompute the hash chain",
        opt={ROLE: "admin", NO_DEADLINE: True},  # a scan of the whole log: for operators
        responses={
            **BAD_PARAMS,
            404: problem_spec("No checkpoint at the position given"),
        },
    )
    async def verify(
        self,
        timeline: NamedDependency[Timeline],
        checkpoint: Annotated[
            int | None,
            whole("Also check the stored checkpoint at this position", 1),
        ] = None,
    ) -> VerifyReport:
        """The first position where the stored log differs from what was recorded, if any."""
        signed = (
            None
            if checkpoint is None
            else await sync_to_thread(
                partial(checkpoint_at, path="checkpoint"), timeline, checkpoint
            )
        )
        return await sync_to_thread(verify_log, timeline, signed)

    @post(
        "/verify",
        summary="Recompute the hash chain against a checkpoint you kept",
        status_code=200,
        operation_class=body_operation(
            Checkpoint, "A checkpoint as /api/checkpoints serves it", {}
        ),
        opt={ROLE: "admin", NO_DEADLINE: True, JSON_BODY: True},
        responses={
            400: problem_spec("The body is not a checkpoint; `errors` name the fields"),
            **UNSUPPORTED_MEDIA,
        },
    )
    async def verify_against(
        self, request: Request[Any, Any, Any], timeline: NamedDependency[Timeline]
    ) -> VerifyReport:
        """Like GET, against a checkpoint in the body (as served by /api/checkpoints)."""
        try:
            body = await read_body(request)
            checkpoint: Checkpoint = decode_json(_CHECKPOINT, body)
            refuse_repeated_keys(body)
        except InvalidEvent as error:
            raise InvalidBody(error.errors, malformed=error.malformed) from None
        return await sync_to_thread(verify_log, timeline, checkpoint)

    @get(
        "/changes",
        summary="What was recorded in a window of system time",
        responses={
            **BAD_PARAMS,
            200: json_or_csv(Changes),
        },
        operation_class=OR_CSV,
    )
    async def changes(
        self,
        request: Request[Any, Any, Any],
        timeline: NamedDependency[Timeline],
        since: Annotated[
            str,
            QueryParameter(
                description="RFC 3339 time: what was recorded after it; or a date: from its start",
                schema_extra=A_MOMENT,
            ),
        ],
        until: Annotated[
            str | None,
            QueryParameter(
                description="RFC 3339 time: what was recorded up to it; or a date: to its end; "
                "default now",
                schema_extra=A_MOMENT,
            ),
        ] = None,
        after: Annotated[
            int,
            whole("Continue after this position", 0),
        ] = 0,
        limit: Annotated[
            int,
            whole("Events per page", 1, MAX_PAGE),
        ] = 1000,
        format: Format = None,
    ) -> Response[Any]:
        """Events recorded in (since, until] by development, each with who, when, why and diffs:
        what was known at `until` and not at `since` (as `known_at` reads a time), so the `until`
        of one answer is the `since` of the next window."""
        since_us = _moment("since", since, start_of_day=True)
        until_us = await sync_to_thread(settled_known_at, timeline.store, "until", until)
        if until is None or until_us != _moment("until", until, start_of_day=False):
            until_us = max(until_us, since_us)  # settled before the window: nothing in it yet
        in_days = DATE.fullmatch(since) and until is not None and DATE.fullmatch(until)
        if until_us < since_us or (in_days and until is not None and until < since):
            raise InvalidParameter("until", "the window ends before it starts")
        # past the last event the window ends there (or at `since`; on an empty log too)
        until_us = max(await sync_to_thread(settled_by, timeline.store, until_us), since_us)
        page = await sync_to_thread(
            changes_between, timeline, since_us, until_us, after=after, limit=limit
        )
        if wants_csv(request, format):
            # the window answered, as the JSON echoes it: the next starts at its `until`
            window = {"X-Since": format_micros(since_us), "X-Until": format_micros(until_us)}
            pinned = {"after": page.next, "until": window["X-Until"]}
            headers = {**window, **next_link(request, None if page.next is None else pinned)}
            return Response(changes_csv(page), media_type=CSV, headers=headers)
        developments = [
            ChangedDevelopment(
                group.development_id,
                group.title,
                [history_item(item.recorded, item.changes) for item in group.events],
            )
            for group in page.groups
        ]
        return Response(
            Changes(format_micros(since_us), format_micros(until_us), developments, page.next)
        )

    @get(
        "/events/{event_id:str}/proof",
        summary="Inclusion proof of an event",
        responses={
            **BAD_PARAMS,
            404: problem_spec("Unknown event, or no checkpoint covers it yet"),
        },
    )
    async def proof(
        self,
        timeline: NamedDependency[Timeline],
        event_id: IdInPath,
        checkpoint: Annotated[
            int | None,
            whole("Prove against this checkpoint (default: latest)", 1),
        ] = None,
    ) -> InclusionProof:
        """The audit path from the event's link to a signed checkpoint's Merkle root."""
        return await sync_to_thread(
            inclusion_proof, timeline, uuid_of("event_id", event_id), checkpoint
        )
