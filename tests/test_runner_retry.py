"""A runner whose batch failed before its commit goes on from the tables, not from what it had
folded in memory (DESIGN §7: exactly once; a batch that did not commit left nothing), on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from projections import ProjectionRunner, verify_rebuild
from projections.buffer import RowBuffer
from service.store.log import Cursor
from tests import reference
from tests.test_views_support import Store, figure, folded, plain, said

D = date
US = "US Department of State"


def test_the_same_runner_retrying_a_batch_that_failed_before_its_commit_folds_it_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a runner that has folded two developments and committed them
    first = store.develop(said(US, D(2024, 1, 1), figure(value=10)))
    second = store.develop(said("NIS", D(2024, 1, 5), figure(value=20)))
    runner = ProjectionRunner(store.timeline.store)
    runner.catch_up()
    # And more events of both: a report, a correction, a retraction, a judgement
    store.add(first, said(US, D(2024, 2, 1), figure(value=5)))
    store.correct(second, 1, figure=figure(value=25))
    store.retract(first, 1, D(2024, 3, 1))
    store.judge(second, "corroborated", D(2024, 2, 15))
    flush = RowBuffer.flush

    def write_then_fail(self: RowBuffer, cursor: Cursor, **kwargs: Any) -> None:
        flush(self, cursor, **kwargs)  # the rows are written inside the transaction…
        raise RuntimeError("connection lost")  # …which then fails before its commit

    # When its next batch fails before the commit, and the same runner tries again
    monkeypatch.setattr(RowBuffer, "flush", write_then_fail)
    with pytest.raises(RuntimeError, match="connection lost"):
        runner.step()
    monkeypatch.undo()
    runner.catch_up()

    # Then every event was folded once: the rows are those of a rebuild
    assert runner.position == store.timeline.store.last_position()
    assert verify_rebuild(store.timeline.store) == {}
    # And the views read as the replay reference
    log, now = store.log(), store.now()
    for as_of in (D(2024, 1, 20), D(2024, 2, 20), D(2024, 3, 20)):
        assert plain(store.timeline_at(as_of)) == plain(reference.timeline(log, as_of, now))
        assert folded(store.deliveries_at(as_of)) == folded(reference.deliveries(log, as_of, now))
    detail = store.detail_at(first, D(2024, 3, 20))
    assert detail is not None
    assert [report.number for report in detail.reports] == [1, 2]
