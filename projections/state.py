"""A development as the read models fold it: coded fields, reports, status changes.

Days are kept as proleptic ordinals (`date.toordinal()`), the form the tables store, so that
valid-time arithmetic is integer arithmetic.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Any

import msgspec

from events import Figure
from projections.entries import (
    Added,
    Entry,
    FieldsFixed,
    Judged,
    Reported,
    ReportFixed,
    Retracted,
    decode_report,
    encode_json,
)

DAY_MIN = 1  # date.min: before any report
DAY_MAX = date(9999, 12, 31).toordinal()  # the open end of valid time
POS_MAX = 2**31 - 1  # the open end of system time (an R-tree on SQLite holds 32-bit integers)


def valid_day(as_of: date) -> int:
    """D as a point of valid time for the range queries. DAY_MAX stands for "no end", so a row
    open to the end covers every day but the last; 9999-12-31 is read as 9999-12-30 (a row
    beginning on the last day is empty, so nothing else differs)."""
    return min(as_of.toordinal(), DAY_MAX - 1)


STANCES: tuple[str, ...] = ("supports", "contradicts", "denies", "not_observed", "qualifies")
STANCE_INDEX: dict[str, int] = {stance: index for index, stance in enumerate(STANCES)}
FIELD_NAMES: tuple[str, ...] = ("kind", "title", "stage", "actors", "item", "occurred")


class ReportState(msgspec.Struct, array_like=True, gc=False):
    """What the read models fold of a report, corrections applied, and its retraction if any.

    The report's JSON is not here: only the developments projection writes it, and keeps it
    beside the state (`KeptDevelopment.documents`), so that stored states stay small.
    """

    number: int
    position: int  # of the event that created it
    unused: bytes  # empty; earlier versions kept the JSON here, and their stored states still load
    asserted_on: int
    stance: str
    originator: str
    figure: Figure | None
    corrections: int = 0
    retracted_on: int | None = None
    retraction_reason: str | None = None
    retraction_position: int | None = None


class StatusChange(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """A judgement of the development, effective from a day."""

    effective_on: int
    position: int
    status: str
    reason: str


class DevState(msgspec.Struct, array_like=True, gc=False):
    """A development folded from its events."""

    position: int  # of its development_reported
    fields: dict[str, Any]
    initial_status: str
    reports: list[ReportState]
    changes: list[StatusChange]
    actors_key: str = ""  # `actor_key(fields["actors"])` once a fold needed it


def status_run(initial: str, effective: Sequence[tuple[int, str]]) -> tuple[str, int | None]:
    """The status set by the last of `effective` ((effective_on, status) of the changes in
    force by a day, in effect order) and the day it has held since: the first day of the run of
    changes that all set it, since a change to the status a development already has re-affirms
    it and does not start it again. A change overridden on its own day by a later one was never
    the status on any day, so it neither starts nor breaks a run. None when the run goes back
    to the initial status, which holds from the first active report."""
    status, since = initial, None
    for index, (effective_on, changed) in enumerate(effective):
        if index + 1 < len(effective) and effective[index + 1][0] == effective_on:
            continue  # a later change of the same day is the one in force
        if changed != status:
            status, since = changed, effective_on
    return status, since


def _report_state(number: int, position: int, raw: bytes) -> ReportState:
    lean = decode_report(raw)
    return ReportState(
        number,
        position,
        b"",
        lean.asserted_on.toordinal(),
        lean.stance,
        lean.source.originator,
        lean.figure,
    )


def start(entry: Entry) -> DevState:
    """The state after a development's first event, which must be `development_reported`."""
    event = entry.event
    if not isinstance(event, Reported):
        raise ValueError(f"position {entry.position}: a stream must start with a report")
    fields = {
        "kind": event.kind,
        "title": event.title,
        "stage": event.stage,
        "actors": event.actors,
        "item": event.item,
        "occurred": event.occurred,
    }
    return DevState(
        position=entry.position,
        fields=fields,
        initial_status=event.status,
        reports=[_report_state(1, entry.position, event.report)],
        changes=[],
    )


def evolve(state: DevState, entry: Entry) -> None:
    """Apply one later event of the development to its state, in place."""
    event = entry.event
    if isinstance(event, Added):
        number = len(state.reports) + 1
        state.reports.append(_report_state(number, entry.position, event.report))
    elif isinstance(event, ReportFixed):
        old = state.reports[event.report - 1]
        new = _report_state(old.number, old.position, corrected(lean_document(old), event))
        new.corrections = old.corrections + 1
        new.retracted_on, new.retraction_reason = old.retracted_on, old.retraction_reason
        new.retraction_position = old.retraction_position
        state.reports[event.report - 1] = new
    elif isinstance(event, Retracted):
        target = state.reports[event.report - 1]
        target.retracted_on = event.effective_on.toordinal()
        target.retraction_reason = event.reason
        target.retraction_position = entry.position
    elif isinstance(event, FieldsFixed):
        state.fields.update((k, v) for k, v in event.changes.items() if k in FIELD_NAMES)
        state.actors_key = ""  # worked out again when needed
    elif isinstance(event, Judged):
        state.changes.append(
            StatusChange(event.effective_on.toordinal(), entry.position, event.status, event.reason)
        )
        state.changes.sort(key=lambda change: (change.effective_on, change.position))
    else:
        raise ValueError(f"position {entry.position}: development reported twice")


def replay(entries: Sequence[Entry]) -> DevState:
    """The state of a development from its events, in log order."""
    state = start(entries[0])
    for entry in entries[1:]:
        evolve(state, entry)
    return state


def lean_document(report: ReportState) -> dict[str, Any]:
    """The fields of a report that the read models fold, as a document a correction applies to."""
    return {
        "source": {"originator": report.originator},
        "asserted_on": date.fromordinal(report.asserted_on),
        "stance": report.stance,
        "figure": report.figure,
    }


def corrected(document: dict[str, Any], event: ReportFixed) -> bytes:
    """A report's document with a correction's fields replaced whole, as JSON."""
    return encode_json({**document, **event.changes})


def actor_names(actors: dict[str, Any]) -> list[str]:
    """Every actor identifier of a development, targets included."""
    roles = ("supplier", "recipient", "user", "end_user", "authority")
    names = [actors[role] for role in roles if actors.get(role)]
    return names + list(actors.get("targets") or ())


ACTOR_SEPARATOR = "\x1f"  # actor ids cannot hold control characters


@lru_cache(maxsize=4096)  # a few hundred names recur in every fold and filter
def name_key(name: str) -> str:
    """How actor ids and originators compare: names equal but for their case, their spaces
    (around them, or two for one), invisible format characters (a zero-width space) or their
    compatibility forms (a no-break space, fullwidth `\uff30\uff32\uff2b`) are one. DESIGN:
    filters match actor ids case-insensitively; `Y ` or `Y\u200b` typed for `Y` would
    otherwise start a series of its own that reads like the other, or hide from a filter.
    Letters of other scripts that look alike (Cyrillic `\u0420` for `P`) stay apart."""
    if name.isascii():
        return " ".join(name.split()).casefold()
    folded = unicodedata.normalize("NFKC", name)
    shown = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    return " ".join(shown.split()).casefold()


def actor_key(actors: dict[str, Any]) -> str:
    """Actor ids by `name_key` between separators, so a filter is one LIKE on a column."""
    names = [name_key(name) for name in actor_names(actors)]
    return ACTOR_SEPARATOR + ACTOR_SEPARATOR.join(names) + ACTOR_SEPARATOR
