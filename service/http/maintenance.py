"""Maintenance over HTTP, for admin tokens: rebuilding the read models."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from litestar import post
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from projections import NAMES, Rebuilt, rebuild
from service.application import Timeline
from service.http.auth import ROLE
from service.http.deadline import NO_DEADLINE
from service.http.params import choice
from service.http.problems import BAD_PARAMS, DATABASE_ERRORS, NO_BODY

Name = Literal["developments", "deliveries"]  # the OpenAPI document lists them
assert get_args(Name) == NAMES


@post(
    "/api/projections/rebuild",
    summary="Rebuild the read models from position 0",
    tags=["maintenance"],
    status_code=200,
    opt={ROLE: "admin", NO_DEADLINE: True},  # as long as folding the whole log takes
    responses={**BAD_PARAMS, **DATABASE_ERRORS, **NO_BODY},
)
async def rebuild_projections(
    timeline: NamedDependency[Timeline],
    name: Annotated[
        Name | None,
        QueryParameter(
            description="One projection; default: all of them", schema_extra=choice(Name)
        ),
    ] = None,
) -> Rebuilt:
    """Fold the whole log again (what `timeline projections rebuild` does) and answer when done.

    Readers see the old rows until the rebuild commits. On SQLite appends wait meanwhile (past
    the lock timeout they get 503); on PostgreSQL they go on.
    """
    return await sync_to_thread(rebuild, timeline.store, name)
