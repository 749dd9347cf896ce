"""Awaiting with a deadline, cheaply enough for every request; the app's request deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")


async def within(seconds: float, awaitable: Awaitable[T]) -> T:
    """`await awaitable`, or raise TimeoutError after `seconds`.

    A bare timer that cancels the task, rather than `asyncio.timeout` or `wait_for`: the same
    guarantee at a fraction of their cost, which every request pays.
    """
    task = asyncio.current_task()
    assert task is not None
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    timer = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if not expired:
            raise
        task.uncancel()
        raise TimeoutError from None
    finally:
        timer.cancel()


REQUEST_TIMEOUT_SECONDS = 60.0  # longer than a body may take to arrive (408 comes first)
NO_DEADLINE = "no_deadline"  # route handler opt: answers that take long by design


class Deadline:
    """Middleware: a request still unanswered after the app's `request_timeout_seconds` gets 503.

    It runs outside `Authorize`, so a token looked up in a database that stopped answering
    meets the deadline too. Handlers that stream (the event stream) or read the whole log
    (verify, rebuild) are marked `opt={NO_DEADLINE: True}`. Work a handler handed to a thread
    goes on to its end; a write that commits after its 503 is found again by its `event_id`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        seconds: float = scope["litestar_app"].state.get("request_timeout_seconds", 0.0)
        if not seconds or scope["route_handler"].opt.get(NO_DEADLINE):
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await within(seconds, self.app(scope, receive, sending))
        except TimeoutError:
            if started:  # part of the answer is out: all that is left is to drop the connection
                raise
            raise HTTPException(
                status_code=503,
                detail=too_slow(seconds),
                headers={"Retry-After": "1"},
            ) from None


def too_slow(seconds: float) -> str:
    """What a request answered 503 for taking longer than `seconds` is told."""
    return f"the request took longer than {seconds:g} s; try again"
