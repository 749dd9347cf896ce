"""A rebuild folds the log up to the head it began at (DESIGN §7): events appended while it
runs are the runner's to fold, on SQLite and PostgreSQL, and the rows end up those of a rebuild
at the new head."""

from __future__ import annotations

import importlib
from datetime import date

import pytest

from projections import rebuild, verify_rebuild
from tests.test_views_support import Store, figure, said

D = date
US = "US Department of State"
APPENDED = 4  # events appended while the rebuild runs, one after each of its first pages


def test_a_rebuild_stops_at_the_head_it_began_at_though_events_arrive_meanwhile(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a log of a dozen events in commits of one, and a rebuild reading pages of three
    devs = [store.develop(said(US, D(2024, 1, 1 + n), figure(value=n + 1))) for n in range(4)]
    for n, dev in enumerate(devs):
        store.add(dev, said("NIS", D(2024, 2, 1 + n), figure(value=5, basis="cumulative")))
        store.judge(dev, "corroborated", D(2024, 3, 1))
    head = store.timeline.store.last_position()
    monkeypatch.setattr(importlib.import_module("projections.rebuild"), "PAGE", 3)
    appended: list[int] = []

    def append_a_few(done: int, total: int) -> None:  # after each of the first pages, one more
        if len(appended) < APPENDED:
            appended.append(store.add(devs[0], said("UA", D(2024, 4, 1), figure(value=1))))

    # When the read models are rebuilt while those events arrive
    done = rebuild(store.timeline.store, progress=append_a_few)

    # Then it stopped at the first page holding the head it began at, leaving the rest
    assert len(appended) == APPENDED
    assert head <= done.position < head + 3
    assert store.timeline.store.last_position() == head + APPENDED
    assert store.read.runner.tracking()["developments"][0] == done.position
    # And the runner folds what came since, to the rows of a rebuild at the new head
    assert verify_rebuild(store.timeline.store) == {}
    (row,) = [r for r in store.timeline_at(D(2024, 5, 1)) if r.development_id == devs[0]]
    assert row.reports == 2 + APPENDED
