"""What the front page shows as of (D, T): the timeline, the deliveries chart, open allegations."""

from __future__ import annotations

import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from datetime import date

import msgspec

from events import Edtf, parse_edtf
from projections import ReadModels
from projections.results import Allegation, DevelopmentRow, ReportRow
from projections.state import actor_names, name_key
from service.application import Timeline
from service.web.chart import Panel, panels
from service.web.steps import DeliveryHistory, delivery_history

ENTRIES = 200  # developments on the page; the JSON API pages through all of them
ALLEGATIONS = 500  # open allegations on the page; the download has all of them


class Voice(msgspec.Struct, frozen=True):
    """An originator of a development's active reports and the stances it took, unless it only
    supported it."""

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
    actor: str | None  # the views' one filter: developments it is an actor of
    actors: list[str]  # the actors of the developments shown unfiltered, most named first
    # `actor` names none of the developments visible as of the date: a name typed for a code
    # (`North Korea` for `PRK`), or a code no development here uses
    actor_unnamed: bool = False
    head: int  # the last position when the page was made: live updates start after it
    entries: list[Entry]
    truncated: bool
    allegations: list[Allegation]
    allegations_truncated: bool  # more were open than the page shows
    allegation_counts: dict[str, int]
    history: DeliveryHistory
    panels: list[Panel]


def voices(reports: Sequence[ReportRow]) -> list[Voice]:
    """The originators of the active reports, in report order, each with its stances in that
    order when one is not support: one that supports and contradicts reads so, not as one that
    only contradicts."""
    stances: dict[str, list[str]] = {}
    for report in reports:
        if report.active:
            said = stances.setdefault(report.report.source.originator, [])
            if report.report.stance not in said:
                said.append(report.report.stance)
    return [
        Voice(originator, [] if said == ["supports"] else said)
        for originator, said in stances.items()
    ]


def _entries(read_models: ReadModels, rows: Sequence[DevelopmentRow], as_of: date,
             known_at_us: int) -> list[Entry]:  # fmt: skip
    """The timeline's rows with their parsed dates and who reported them, read together."""
    ids = [row.development_id for row in rows]
    reports = read_models.reports_of(ids, as_of=as_of, known_at_us=known_at_us)
    return [
        Entry(
            row=row,
            occurred=None if row.occurred is None else parse_edtf(row.occurred),
            voices=voices(reports[row.development_id]),
        )
        for row in rows
    ]


def overview(read_models: ReadModels, timeline: Timeline, *, as_of: date, known_at: str | None,
             known_at_us: int, actor: str | None = None) -> Overview:  # fmt: skip
    """The front page's data, read from the read models at (as_of, known_at_us).

    What the log held up to one position never changes, so neither does the page made from it:
    the last few are kept (`RECENT`), and each is made once however many ask at the same time,
    as every live page does after each event. Only `head` is read afresh.
    """
    head = timeline.store.last_position()
    key = (as_of, known_at, read_models.position_at(known_at_us), actor)
    made = _made_once(read_models, key, lambda: _overview(read_models, as_of, known_at,
                                                          known_at_us, actor))  # fmt: skip
    return msgspec.structs.replace(made, head=head)


RECENT = 8  # overviews kept, by (as_of, known_at, position, actor)
_Key = tuple[date, str | None, int, str | None]
_lock = threading.Lock()
_kept: weakref.WeakKeyDictionary[ReadModels, OrderedDict[_Key, Overview]] = (
    weakref.WeakKeyDictionary()
)
_making: dict[tuple[int, _Key], threading.Lock] = {}


def _made_once(read_models: ReadModels, key: _Key, make: Callable[[], Overview]) -> Overview:
    with _lock:
        kept = _kept.setdefault(read_models, OrderedDict())
        if key in kept:
            kept.move_to_end(key)
            return kept[key]
        making = _making.setdefault((id(read_models), key), threading.Lock())
    with making:  # whoever came first makes it; the others wait and take it
        with _lock:
            if key in kept:
                return kept[key]
        try:
            made = make()
            with _lock:
                kept[key] = made
                while len(kept) > RECENT:
                    kept.popitem(last=False)
        finally:  # kept before the lock goes: who comes next finds it
            with _lock:
                _making.pop((id(read_models), key), None)
    return made


def _overview(read_models: ReadModels, as_of: date, known_at: str | None,
              known_at_us: int, actor: str | None) -> Overview:  # fmt: skip
    page = read_models.timeline(as_of=as_of, known_at_us=known_at_us, limit=ENTRIES, actor=actor)
    open_claims = read_models.allegations(
        as_of=as_of, known_at_us=known_at_us, limit=ALLEGATIONS, actor=actor
    )
    allegations: list[Allegation] = open_claims.items
    history = delivery_history(read_models, as_of=as_of, known_at_us=known_at_us, actor=actor)
    # the actors to switch to: those of every development shown unfiltered, not just the
    # filtered ones (which name the chosen actor and its partners alone)
    shown = (
        page
        if actor is None
        else read_models.timeline(as_of=as_of, known_at_us=known_at_us, limit=ENTRIES)
    )
    named = Counter(name for row in shown.items for name in actor_names(row.actors))
    unnamed = (
        actor is not None
        and not page.items
        and not any(name_key(name) == name_key(actor) for name in named)
    )
    return Overview(
        as_of=as_of,
        known_at=known_at,
        actor=actor,
        actors=[name for name, _ in named.most_common()],
        actor_unnamed=unnamed,
        head=0,
        entries=_entries(read_models, page.items, as_of, known_at_us),
        truncated=page.next is not None,
        allegations=allegations,
        allegations_truncated=open_claims.next is not None,
        allegation_counts=dict(Counter(a.status for a in allegations)),
        history=history,
        panels=panels(history),
    )
