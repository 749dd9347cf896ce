"""Checkpoints every N events, made in the background while a server runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.application import Timeline
from service.audit.checkpoints import maybe_checkpoint
from service.audit.keys import Signer
from service.errors import StorageError

logger = logging.getLogger(__name__)


@asynccontextmanager
async def periodic_checkpoints(
    timeline: Timeline, every: int, interval: float = 10.0, signer: Signer | None = None
) -> AsyncIterator[None]:
    """While open, every `interval` seconds sign the head if `every` events came since the last.

    Meant for a server's lifespan; a failure is logged and tried again at the next tick.
    """

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(maybe_checkpoint, timeline, every, signer)
            except StorageError as error:  # conditions, not faults: no trace to log
                logger.warning("could not make a checkpoint now: %s", error)
            except Exception:  # a tampered log, say, must not end the loop either
                logger.exception("could not make a checkpoint")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
