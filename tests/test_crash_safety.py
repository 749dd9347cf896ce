"""SIGKILL in the middle of writes loses no acknowledged event; projections catch up exactly.

A 2xx is sent only after the commit that holds the request's events, so whatever a client was
told must be in the log after a crash, with the very receipt it was given. A request in flight
when the server died is either wholly stored or not at all: sending it again (same event ids)
answers 200 with its receipt or 201.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from events import decode_event
from projections import ProjectionRunner
from service.application import Timeline
from tests import bodies
from tests.procs import (
    Server,
    assert_projections_equal_a_rebuild,
    create_token,
    projection_runner,
    read_log,
    serving,
    wait_until,
)

pytestmark = pytest.mark.e2e

WRITERS = 8
MOST_REQUESTS = 60  # per writer: the load is bounded even if the kill came late
KILL_AFTER = 100  # acknowledged requests before the SIGKILL
BATCH_EVERY = 5  # every fifth request is a batch of BATCH_SIZE events
BATCH_SIZE = 4


class Attempt:
    """One request a writer sent: its events and what it was told (None: no answer)."""

    def __init__(self, path: str, events: list[dict[str, Any]]) -> None:
        self.path = path
        self.events = events
        self.status: int | None = None
        self.answer: Any = None

    @property
    def body(self) -> Any:
        return {"events": self.events} if self.path.endswith("batch") else self.events[0]

    def receipts(self) -> list[dict[str, Any]]:
        """The receipts of an answered request, one per event."""
        if self.path.endswith("batch"):
            receipts: list[dict[str, Any]] = self.answer["receipts"]
            return receipts
        return [self.answer]


class Writer(threading.Thread):
    """Reports its own development, then adds reports to it and reports new ones."""

    def __init__(self, base_url: str, token: str, acknowledged: threading.Semaphore) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.token = token
        self.acknowledged = acknowledged
        self.attempts: list[Attempt] = []
        self.development_id = str(uuid4())

    def next_attempt(self, number: int) -> Attempt:
        if number == 0:
            first = bodies.development_reported(
                development_id=self.development_id, event_id=str(uuid4())
            )
            return Attempt("/api/events", [first])
        if number % BATCH_EVERY == 0:
            events = [
                bodies.report_added(self.development_id, event_id=str(uuid4()))
                for _ in range(BATCH_SIZE)
            ]
            return Attempt("/api/events/batch", events)
        if number % 2:
            return Attempt(
                "/api/events", [bodies.report_added(self.development_id, event_id=str(uuid4()))]
            )
        return Attempt("/api/events", [bodies.development_reported(event_id=str(uuid4()))])

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=10) as http:
            for number in range(MOST_REQUESTS):
                attempt = self.next_attempt(number)
                self.attempts.append(attempt)
                try:
                    response = http.post(attempt.path, json=attempt.body)
                except httpx.HTTPError:
                    return  # the server is gone: this request's fate is unknown
                attempt.status, attempt.answer = response.status_code, response.json()
                if response.status_code != 201:
                    return  # a refusal fails the test below; stop writing
                self.acknowledged.release()


@pytest.fixture
def token(database_url: str) -> str:
    return create_token(database_url, "newsroom")


def write_until_killed(server: Server, token: str) -> list[Writer]:
    """Eight writers on the server; SIGKILL once KILL_AFTER requests were acknowledged."""
    acknowledged = threading.Semaphore(0)
    writers = [Writer(server.base_url, token, acknowledged) for _ in range(WRITERS)]
    for writer in writers:
        writer.start()
    deadline = time.monotonic() + 20
    for _ in range(KILL_AFTER):
        if not acknowledged.acquire(timeout=max(deadline - time.monotonic(), 0.01)):
            break
    server.kill()
    for writer in writers:
        writer.join(timeout=20)
        assert not writer.is_alive()
    return writers


def check_log_shape(log: list[dict[str, Any]]) -> None:
    """No event twice, positions strictly increasing, versions 1..n in every development."""
    event_ids = [item["event_id"] for item in log]
    assert len(set(event_ids)) == len(event_ids), "an event is stored twice"
    positions = [item["position"] for item in log]
    assert all(a < b for a, b in itertools.pairwise(positions))
    versions: dict[str, list[int]] = defaultdict(list)
    for item in log:
        versions[item["development_id"]].append(item["version"])
    assert all(found == list(range(1, len(found) + 1)) for found in versions.values())


def test_sigkill_mid_writes_loses_no_acknowledged_event_and_duplicates_none(
    database_url: str, token: str, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    # given a server taking concurrent appends from eight writers
    with serving(database_url, logs) as server:
        # when it is SIGKILLed after about a hundred acknowledgements
        writers = write_until_killed(server, token)
    attempts = [attempt for writer in writers for attempt in writer.attempts]
    answered = [attempt for attempt in attempts if attempt.status is not None]
    unanswered = [attempt for attempt in attempts if attempt.status is None]
    assert all(attempt.status == 201 for attempt in answered), [a.answer for a in answered]
    assert len(answered) >= KILL_AFTER // 2, "the kill came before the load"

    # and it is started again on the same database
    with serving(database_url, logs) as server:
        log = read_log(server.base_url)
        stored = {item["event_id"]: item for item in log}

        # then every acknowledged event is there with exactly the receipt it was given
        for attempt in answered:
            for receipt in attempt.receipts():
                item = stored.get(receipt["event_id"])
                assert item is not None, f"acknowledged event {receipt['event_id']} is lost"
                assert {key: item[key] for key in receipt} == receipt
        check_log_shape(log)

        # and a request cut off by the kill is stored whole or not at all: sending it again
        # answers its receipt (200) or stores it now (201)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as http:
            for attempt in unanswered:
                present = [event["event_id"] in stored for event in attempt.events]
                assert len(set(present)) == 1, "a batch was stored in part"
                response = http.post(attempt.path, json=attempt.body)
                assert response.status_code == (200 if present[0] else 201), response.text
                attempt.status, attempt.answer = response.status_code, response.json()
                if present[0]:
                    for receipt in attempt.receipts():
                        item = stored[receipt["event_id"]]
                        assert {key: item[key] for key in receipt} == receipt

        log = read_log(server.base_url)
        check_log_shape(log)
        posted = {event["event_id"] for attempt in attempts for event in attempt.events}
        assert {item["event_id"] for item in log} == posted
        head = log[-1]["position"]

    # and the projections the restarted server caught up equal a rebuild from position 0
    assert_projections_equal_a_rebuild(database_url, head)


def fill_log(database: str, developments: int) -> int:
    """Every kind of event for `developments` developments, appended in batches; the head."""
    timeline = Timeline(database)
    try:
        batch: list[Any] = []
        for _ in range(developments):
            development_id = str(uuid4())
            batch += [
                bodies.development_reported(development_id=development_id),
                *(
                    bodies.body_of(event_type, development_id)
                    for event_type in bodies.EVENT_TYPES[1:]
                ),
            ]
        events = [decode_event(bodies.encoded(body)) for body in batch]
        for start in range(0, len(events), 1000):
            timeline.append(events[start : start + 1000], recorded_by="fill")
        return timeline.store.last_position()
    finally:
        timeline.close()


def test_projection_runner_killed_mid_batch_catches_up_to_exactly_a_rebuild(
    database_url: str, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    # given a log of several batches' worth of events of every type
    head = fill_log(database_url, 2000)
    timeline = Timeline(database_url)
    try:
        tracking = ProjectionRunner(timeline.store).tracking

        def folded() -> int:
            return min(position for position, _ in tracking().values())

        def folded_beyond(position: int) -> bool:
            return folded() > position

        # when a runner process is SIGKILLed right after it committed a batch, three times
        kills = []
        for _ in range(3):
            before = folded()
            runner = projection_runner(database_url, logs)
            try:
                assert wait_until(partial(folded_beyond, before), timeout=20), runner.tail()
            finally:
                runner.kill()
            kills.append(folded())
        assert kills[-1] < head, "the runners finished before they were killed"

        # and a new runner is started
        runner = projection_runner(database_url, logs)
        try:
            assert wait_until(partial(folded_beyond, head - 1), timeout=30), runner.tail()
        finally:
            runner.stop()
    finally:
        timeline.close()

    # then what it caught up to is exactly the rows of a rebuild
    assert_projections_equal_a_rebuild(database_url, head)
