"""The front page at one position is made once, however many ask: every live page asks again
after each event."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from projections import ReadModels
from service.application import Timeline
from service.web import overview as front
from tests.structs import a_development

AS_OF = date(2024, 3, 1)


def test_live_pages_at_one_position_share_one_overview_made_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a timeline, and the making of an overview counted and slowed down
    timeline = Timeline(f"sqlite:///{tmp_path}/shared.db")
    read_models = ReadModels(timeline.store)
    timeline.append([a_development()], "t")
    made: list[date] = []
    make = front._overview

    def counted(*args: Any) -> front.Overview:
        made.append(args[1])
        time.sleep(0.2)  # the others ask meanwhile
        return make(*args)

    monkeypatch.setattr(front, "_overview", counted)

    def live() -> front.Overview:
        settled = timeline.store.settled_at()
        assert settled is not None
        return front.overview(read_models, timeline, as_of=AS_OF, known_at=None,
                              known_at_us=settled)  # fmt: skip

    # When six live pages ask at once, and one more afterwards
    pages: list[front.Overview] = []
    threads = [threading.Thread(target=lambda: pages.append(live())) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pages.append(live())
    # Then it was made once, and all of them show it
    assert made == [AS_OF]
    assert len(pages) == 7 and all(p.history is pages[0].history for p in pages)
    # and an event recorded since makes the next one anew, with it
    timeline.append([a_development()], "t")
    assert len(live().entries) == 2 and len(pages[0].entries) == 1
    assert made == [AS_OF, AS_OF]
    timeline.close()
