"""What a development's page shows: its reports as of (D, T) and its revisions, word by word."""

from __future__ import annotations

import difflib
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import msgspec

from events import Edtf, Recorded, Report, parse_edtf
from projections import ReadModels
from projections.results import Detail
from service.application import Timeline
from service.history import Change, history_changes
from service.web import words
from service.web.overview import Voice, voices

_WORDS = re.compile(r"\S+\s*")


class Token(msgspec.Struct, frozen=True):
    """A run of text that a correction kept (`same`), removed (`del`) or put in (`ins`)."""

    kind: Literal["same", "del", "ins"]
    text: str


class Difference(msgspec.Struct, frozen=True):
    """One changed field (or sub-field, `source.channel`) as tokens."""

    name: str
    tokens: list[Token]
    changed: bool


class Revision(msgspec.Struct, frozen=True, kw_only=True):
    """One event of the stream as recorded, with what it changed."""

    version: int
    position: int
    type: str
    recorded_at: str
    recorded_by: str
    event: dict[str, Any]
    differences: list[Difference]
    figure: str | None = None  # the figure of a report it adds, in words
    before: str = ""  # the known_at of the microsecond before it was recorded


class Dossier(msgspec.Struct, frozen=True, kw_only=True):
    """A development as of (D, T), who reported it, and its revision history by T."""

    as_of: date
    known_at: str | None
    head: int
    detail: Detail
    occurred: Edtf | None
    voices: list[Voice]
    revisions: list[Revision]


def text(value: Any) -> str:
    """A JSON value as one line of text; nothing as an empty string."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return "; ".join(f"{key}: {text(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(text(item) for item in value)
    return str(value)


def tokens(before: str, after: str) -> list[Token]:
    """Word-level differences between two texts."""
    old, new = _WORDS.findall(before), _WORDS.findall(after)
    found: list[Token] = []
    for op, a0, a1, b0, b1 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            found.append(Token("same", "".join(old[a0:a1])))
            continue
        if a1 > a0:
            found.append(Token("del", "".join(old[a0:a1])))
        if b1 > b0:
            found.append(Token("ins", "".join(new[b0:b1])))
    return found


def differences(field: str, before: Any, after: Any) -> list[Difference]:
    """A change, sub-field by sub-field when both sides are objects."""
    if isinstance(before, dict) and isinstance(after, dict):
        names = list(dict.fromkeys([*before, *after]))
        return [d for name in names for d in differences(f"{field}.{name}", before.get(name),
                                                         after.get(name))]  # fmt: skip
    return [Difference(field, tokens(text(before), text(after)), before != after)]


def _revision(recorded: Recorded, changes: list[Change] | None) -> Revision:
    found = [d for change in changes or [] for d in differences(change.field, change.before,
                                                                 change.after)]  # fmt: skip
    report = getattr(recorded.event, "report", None)  # a Report, or a report's number
    figure = report.figure if isinstance(report, Report) else None
    return Revision(version=recorded.version, position=recorded.position, type=recorded.type,
                    recorded_at=words.moment(recorded.recorded_at),
                    recorded_by=recorded.recorded_by, event=msgspec.to_builtins(recorded.event),
                    differences=found,
                    figure=words.figure_text(figure) if figure else None,
                    before=_just_before(recorded.recorded_at))  # fmt: skip


def _just_before(moment: datetime) -> str:
    """`known_at` of the last microsecond before `moment`: the page as it was before then."""
    return (moment - timedelta(microseconds=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dossier(read_models: ReadModels, timeline: Timeline, development_id: UUID, *, as_of: date,
            known_at: str | None, known_at_us: int) -> Dossier | None:  # fmt: skip
    """The development page's data; None when nothing of it was recorded by `known_at_us`."""
    detail = read_models.development(development_id, as_of=as_of, known_at_us=known_at_us)
    if detail is None:
        return None
    stream = timeline.stream(development_id, until_us=known_at_us)
    changes = history_changes(recorded.event for recorded in stream)
    revisions = [_revision(r, c) for r, c in zip(stream, changes, strict=True)]
    occurred = detail.development.occurred
    return Dossier(as_of=as_of, known_at=known_at, head=timeline.store.last_position(),
                   detail=detail, occurred=None if occurred is None else parse_edtf(occurred),
                   voices=voices(detail.reports), revisions=revisions)  # fmt: skip
