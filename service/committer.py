"""Group commit: concurrent appends gathered by one writer thread and stored in one transaction.

No timer: while one transaction commits, the requests that arrive wait in the queue and go
together in the next. A request is acknowledged only after the commit that holds its events.
Coroutines wait on futures of their own event loop, which the writer thread settles with one
call into each loop per group, not one per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import msgspec

from events import AnyEvent
from service.application import Timeline
from service.writing import Outcome, Request

MAX_GROUP_EVENTS = 1000  # bounds a transaction's size and the lock's hold time


Result = list[Outcome] | BaseException
Waiter = Future[list[Outcome]] | asyncio.Future[list[Outcome]]


class _Job(msgspec.Struct):
    request: Request
    future: Waiter
    loop: asyncio.AbstractEventLoop | None = None  # the loop of an asyncio future


def _settle(settled: list[tuple[Waiter, Result]]) -> None:
    for future, result in settled:
        if future.cancelled():  # its caller went away; the events are stored all the same
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _start(job: _Job) -> bool:
    """False for a thread's request cancelled while it waited: it is dropped, nothing stored.
    Otherwise its future can no longer be cancelled (an asyncio one is settled on its loop)."""
    future = job.future
    return not isinstance(future, Future) or future.set_running_or_notify_cancel()


class GroupCommitter:
    """Serialises appends of one process through a writer thread that commits them in groups."""

    def __init__(self, timeline: Timeline, *, max_group_events: int = MAX_GROUP_EVENTS) -> None:
        self.timeline = timeline
        self.max_group_events = max_group_events
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()
        self.groups = 0  # how many transactions were committed, for tests and metrics

    def submit(self, events: Sequence[AnyEvent], recorded_by: str) -> Future[list[Outcome]]:
        """Queue a request; the future holds its outcomes, or its `DomainError`."""
        future: Future[list[Outcome]] = Future()
        self._queue.put(_Job(Request(events=events, recorded_by=recorded_by), future))
        return future

    async def append(self, events: Sequence[AnyEvent], recorded_by: str) -> list[Outcome]:
        """Append from a coroutine; returns once the events are committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Outcome]] = loop.create_future()
        self._queue.put(_Job(Request(events=events, recorded_by=recorded_by), future, loop))
        return await future

    def close(self) -> None:
        """Finish what is queued, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            group = [job] if _start(job) else []
            size = len(job.request.events)
            stop = False
            while size < self.max_group_events:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                if _start(more):
                    group.append(more)
                    size += len(more.request.events)
            if group:
                self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Job]) -> None:
        results: Sequence[Any]
        try:
            results = self.timeline.append_group([job.request for job in group])
        except Exception as error:  # the database failed: every request of the group learns it
            results = [error] * len(group)
        else:
            self.groups += 1
        by_loop: dict[asyncio.AbstractEventLoop | None, list[tuple[Waiter, Result]]] = {}
        for job, result in zip(group, results, strict=True):
            by_loop.setdefault(job.loop, []).append((job.future, result))
        for loop, settled in by_loop.items():
            if loop is None:
                _settle(settled)
                continue
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, settled)
