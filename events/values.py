"""Value types of the event catalogue: actors, items, sources, reports and their corrections."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, UnsetType

from events.base import CODE, LINE, TEXT, URL, FieldError, Value
from events.edtf import EdtfError, parse_edtf
from events.figures import Figure

Kind = Literal[
    "transfer",
    "use",
    "assessment",
    "compensation",
    "sanction",
    "finding",
    "meeting",
    "statement",
    "other",
]
Stage = Literal["sought", "negotiated", "agreed", "shipped", "delivered"]
Status = Literal[
    "alleged",
    "corroborated",
    "confirmed",
    "disputed",
    "refuted",
    "retracted",
    "superseded",
    "withdrawn",
]
Channel = Literal[
    "statement",
    "disclosure",
    "testimony",
    "fact_sheet",
    "briefing",
    "sanctions_designation",
    "prosecutor",
    "monitor_report",
    "media",
    "imagery",
    "state_media",
    "other",
]
Stance = Literal["supports", "contradicts", "denies", "not_observed", "qualifies"]
Reliability = Literal["A", "B", "C", "D", "E", "F"]
Credibility = Annotated[int, msgspec.Meta(ge=1, le=6)]


def _line(min_length: int, max_length: int) -> msgspec.Meta:
    return msgspec.Meta(min_length=min_length, max_length=max_length, pattern=LINE)


ActorId = Annotated[str, _line(1, 100)]
Title = Annotated[str, _line(1, 500)]
Originator = Annotated[str, _line(1, 200)]
Url = Annotated[str, msgspec.Meta(max_length=2000, pattern=URL)]
Quote = Annotated[str, msgspec.Meta(min_length=1, max_length=5000, pattern=TEXT)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=TEXT)]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=60, pattern=CODE)]
Designation = Annotated[str, _line(1, 200)]
OccurredText = Annotated[str, _line(1, 64)]
Day = Annotated[date, msgspec.Meta(description="A calendar date, YYYY-MM-DD")]

_EARLIEST, _LATEST = date(1900, 1, 1), date(2100, 12, 31)


def check_day(field: str, day: date | UnsetType | None) -> None:
    """Refuse dates outside the years this service can meaningfully hold."""
    if isinstance(day, date) and not _EARLIEST <= day <= _LATEST:
        raise FieldError(field, f"{day.isoformat()} is outside 1900-01-01..2100-12-31")


def check_occurred(occurred: str | UnsetType | None) -> None:
    """Refuse an `occurred` text outside the supported EDTF subset."""
    if isinstance(occurred, str):
        try:
            parse_edtf(occurred)
        except EdtfError as error:
            raise FieldError("occurred", str(error)) from None


class Actors(Value, frozen=True):
    """Who supplied, received, used, ended up with or acted on the development."""

    supplier: ActorId | None = None
    recipient: ActorId | None = None
    user: ActorId | None = None
    end_user: ActorId | None = None
    authority: ActorId | None = None
    targets: Annotated[tuple[ActorId, ...], msgspec.Meta(max_length=50)] = ()

    def __post_init__(self) -> None:
        if (  # checked for every event: plain tests, no tuple or generator built for it
            self.supplier is None
            and self.recipient is None
            and self.user is None
            and self.end_user is None
            and self.authority is None
            and not self.targets
        ):
            raise FieldError("", "name at least one actor")

    # The rule of `__post_init__` as JSON Schema (in the OpenAPI document): one actor at least.
    RULE: ClassVar[dict[str, Any]] = {
        "anyOf": [
            *({"required": [name], "properties": {name: {"type": "string"}}}
              for name in ("supplier", "recipient", "user", "end_user", "authority")),
            {"required": ["targets"], "properties": {"targets": {"minItems": 1}}},
        ]
    }  # fmt: skip

    def names(self) -> tuple[str, ...]:
        """Every actor identifier named here, targets included."""
        named = (self.supplier, self.recipient, self.user, self.end_user, self.authority)
        return tuple(name for name in named if name is not None) + self.targets


class Item(Value, frozen=True):
    """What was transferred or used: a category and, when named, a designation."""

    category: Category
    designation: Designation | None = None


class Source(Value, frozen=True):
    """Who said it (originator) and through which channel."""

    originator: Originator
    channel: Channel
    title: Title | None = None
    url: Url | None = None
    published_on: Day | None = None

    def __post_init__(self) -> None:
        check_day("published_on", self.published_on)


class Report(Value, frozen=True):
    """One source's statement about a development, on a date, with a stance and maybe a figure."""

    source: Source
    asserted_on: Day
    stance: Stance = "supports"
    quote: Quote | None = None
    figure: Figure | None = None
    reliability: Reliability = "F"
    credibility: Credibility = 6

    def __post_init__(self) -> None:
        check_day("asserted_on", self.asserted_on)


class ReportChanges(Value, frozen=True):
    """Fields of a report to replace whole; absent fields stay as they are."""

    source: Source | UnsetType = UNSET
    asserted_on: Day | UnsetType = UNSET
    stance: Stance | UnsetType = UNSET
    quote: Quote | UnsetType | None = UNSET
    figure: Figure | UnsetType | None = UNSET
    reliability: Reliability | UnsetType = UNSET
    credibility: Credibility | UnsetType = UNSET

    def __post_init__(self) -> None:
        if not changed_fields(self):
            raise FieldError("", "name at least one field to change")
        check_day("asserted_on", self.asserted_on)


class DevelopmentChanges(Value, frozen=True):
    """Fields of a development to replace whole; absent fields stay as they are."""

    kind: Kind | UnsetType = UNSET
    title: Title | UnsetType = UNSET
    stage: Stage | UnsetType | None = UNSET
    actors: Actors | UnsetType = UNSET
    item: Item | UnsetType | None = UNSET
    occurred: OccurredText | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        if not changed_fields(self):
            raise FieldError("", "name at least one field to change")
        check_occurred(self.occurred)


def changed_fields(changes: ReportChanges | DevelopmentChanges) -> tuple[str, ...]:
    """Names of the fields a correction sets, in declaration order."""
    return tuple(name for name in changes.__struct_fields__ if getattr(changes, name) is not UNSET)
