"""What the front page shows as of (D, T): the timeline, the deliveries chart, open allegations."""

from __future__ import annotations

from collections import Counter
from datetime import date

import msgspec

from events import Edtf, parse_edtf
from projections import ReadModels
from projections.results import Allegation, Detail, DevelopmentRow
from service.application import Timeline
from service.web.chart import Panel, panels
from service.web.steps import DeliveryHistory, delivery_history

ENTRIES = 200  # developments on the page; the JSON API pages through all of them


class Voice(msgspec.Struct, frozen=True):
    """An originator of a development's active reports and the stances it took, if not support."""

    originator: str
    stances: list[str]


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One development on the timeline, with its parsed dates and who reported it."""

    row: DevelopmentRow
    occurred: Edtf | None
    voices: list[Voice]


class Overview(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the front page shows for one (as_of, known_at)."""

    as_of: date
    known_at: str | None  # as asked; None is "now"
    head: int  # the last position when the page was made: live updates start after it
    entries: list[Entry]
    truncated: bool
    allegations: list[Allegation]
    allegation_counts: dict[str, int]
    history: DeliveryHistory
    panels: list[Panel]


def voices(detail: Detail | None) -> list[Voice]:
    """The originators of the active reports, in report order, with non-supporting stances."""
    stances: dict[str, list[str]] = {}
    for report in detail.reports if detail else []:
        if report.active:
            said = stances.setdefault(report.report.source.originator, [])
            if report.report.stance != "supports" and report.report.stance not in said:
                said.append(report.report.stance)
    return [Voice(originator, stance) for originator, stance in stances.items()]


def _entry(read_models: ReadModels, row: DevelopmentRow, as_of: date, known_at_us: int) -> Entry:
    detail = read_models.development(row.development_id, as_of=as_of, known_at_us=known_at_us)
    occurred = None if row.occurred is None else parse_edtf(row.occurred)
    return Entry(row=row, occurred=occurred, voices=voices(detail))


def overview(read_models: ReadModels, timeline: Timeline, *, as_of: date, known_at: str | None,
             known_at_us: int) -> Overview:  # fmt: skip
    """The front page's data, read from the read models at (as_of, known_at_us)."""
    head = timeline.store.last_position()
    page = read_models.timeline(as_of=as_of, known_at_us=known_at_us, limit=ENTRIES)
    open_claims = read_models.allegations(as_of=as_of, known_at_us=known_at_us, limit=500)
    allegations: list[Allegation] = open_claims.items
    history = delivery_history(read_models, as_of=as_of, known_at_us=known_at_us)
    return Overview(
        as_of=as_of,
        known_at=known_at,
        head=head,
        entries=[_entry(read_models, row, as_of, known_at_us) for row in page.items],
        truncated=page.next is not None,
        allegations=allegations,
        allegation_counts=dict(Counter(a.status for a in allegations)),
        history=history,
        panels=panels(history),
    )
