"""A group commit gathers waiting requests only up to its bound of events (found by mutation
testing): the bound is what keeps one transaction, and the lock's hold, short."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from service.application import Timeline
from service.committer import GroupCommitter
from service.errors import DomainError
from service.writing import Outcome, Request
from tests.structs import a_development

WAIT_SECONDS = 10.0


def test_requests_waiting_behind_a_commit_are_grouped_up_to_the_event_bound(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a committer bounded to 2 events a group, whose first group is held back
    append_group = timeline.append_group
    sizes: list[int] = []
    taken, go = threading.Event(), threading.Event()

    def held_first(requests: Sequence[Request]) -> list[list[Outcome] | DomainError]:
        sizes.append(sum(len(request.events) for request in requests))
        taken.set()
        assert go.wait(WAIT_SECONDS), "the test never let the first group go"
        return append_group(requests)

    monkeypatch.setattr(timeline, "append_group", held_first)
    committer = GroupCommitter(timeline, max_group_events=2)
    try:
        first = committer.submit([a_development()], "t")
        assert taken.wait(WAIT_SECONDS), "the writer never took the first request"
        # When four one-event requests arrive while it is held, and it is let go
        later = [committer.submit([a_development()], "t") for _ in range(4)]
        go.set()
        positions = [first.result(timeout=30)[0].receipt.position]
        positions += [future.result(timeout=30)[0].receipt.position for future in later]
    finally:
        go.set()
        committer.close()
    # Then they went in groups of at most 2 events: 1, then 2 and 2, every one stored once
    assert sizes == [1, 2, 2]
    assert committer.groups == 3
    assert sorted(positions) == [1, 2, 3, 4, 5]
