"""The baseline of bench/write.py: a bare Litestar app that inserts into PostgreSQL directly.

`POST /bare` stores the request body as one row with one autocommit INSERT; `POST /bare/batch`
stores each event of `{"events": [...]}` as a row with one multi-row INSERT. No validation, no
event store: what the engine costs through the same web stack.

    TIMELINE_DATABASE=postgresql://… uvicorn bench.bare_app:app --port 8001
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, post
from psycopg_pool import AsyncConnectionPool

TABLE = "bare_events"


class _Batch(msgspec.Struct):
    events: list[msgspec.Raw]


_batch = msgspec.json.Decoder(_Batch)


@asynccontextmanager
async def pool(app: Litestar) -> AsyncIterator[None]:
    """A connection pool for the app's lifetime, and the table."""
    url = os.environ["TIMELINE_DATABASE"]
    async with AsyncConnectionPool(url, min_size=8, max_size=16, kwargs={"autocommit": True}) as p:
        async with p.connection() as connection:
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, payload bytea)"
            )
        app.state.pool = p
        yield


@post("/bare", status_code=201)
async def insert_one(request: Request[Any, Any, Any]) -> dict[str, int]:
    """One row per request, one autocommit INSERT."""
    body = await request.body()
    async with request.app.state.pool.connection() as connection:
        cursor = await connection.execute(
            f"INSERT INTO {TABLE} (payload) VALUES (%s) RETURNING id", (body,)
        )
        row = await cursor.fetchone()
    return {"id": row[0]}


@post("/bare/batch", status_code=201)
async def insert_many(request: Request[Any, Any, Any]) -> dict[str, int]:
    """One multi-row INSERT of every event in the body."""
    events = _batch.decode(await request.body()).events
    async with request.app.state.pool.connection() as connection:
        await connection.execute(
            f"INSERT INTO {TABLE} (payload) SELECT * FROM unnest(%s::bytea[])",
            ([bytes(event) for event in events],),
        )
    return {"rows": len(events)}


app = Litestar(route_handlers=[insert_one, insert_many], lifespan=[pool])
