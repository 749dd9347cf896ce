"""How the views answer: JSON documents and CSV tables built from read-model results."""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import Annotated, Any, NamedTuple
from uuid import UUID

import msgspec
from litestar import Response
from litestar.response import Stream

from events import Report, Status, parse_edtf
from events.base import LINE
from events.edtf import Edtf
from events.values import Actors, Item, Kind, Stage
from projections.query_developments import MAX_LIMIT, PAGE
from projections.results import (
    Allegation,
    Deliveries,
    Detail,
    DevelopmentRow,
    Page,
    Retraction,
    Series,
    Total,
)
from service.http.params import InvalidParameter, parse_as_of
from service.http.shapes import Time, format_micros
from service.http.tables import CSV
from service.spreadsheet import csv_table

# The answers' shapes as the OpenAPI document gives them: the handlers build the same documents
# as builtins (`development_shape`, `detail_shape`, `deliveries_view`), which tests check against
# these schemas with the seed corpus and schemathesis with generated events.


class _Development(msgspec.Struct, frozen=True, kw_only=True):
    """A development's fields as of (D, T), as every view gives them."""

    development_id: UUID
    position: int  # of its development_reported
    version: int  # its events recorded by T
    kind: Kind
    title: str
    stage: Stage | None
    actors: Actors
    item: Item | None
    occurred: Edtf | None
    status: Status
    first_reported_on: date | None
    last_reported_on: date | None
    total_reports: int


class TimelineItem(_Development, frozen=True, kw_only=True):
    """A visible development of the timeline, with its reports active as of D."""

    reports: int


class ReportAnswer(Report, frozen=True, kw_only=True):
    """A report as recorded by T, its corrections applied, every field spelt out."""

    number: int
    position: int
    active: bool
    retraction: Retraction | None
    corrections: int


class DevelopmentAnswer(_Development, frozen=True, kw_only=True):
    """One development as of (D, T), with every report recorded by T."""

    as_of: date
    known_at: Time
    active_reports: int
    visible: bool
    status_since: date | None
    reports: list[ReportAnswer]


class TimelineAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the timeline."""

    as_of: date
    known_at: Time
    items: list[TimelineItem]
    next: str | None


class AllegationsAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the allegations board."""

    as_of: date
    known_at: Time
    items: list[Allegation]
    next: str | None


class DeliveriesAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """Per-originator series and per (supplier, recipient, category, unit) totals."""

    as_of: date
    known_at: Time
    series: list[Series]
    totals: list[Total]


class TimelinePage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the timeline or of the allegations board."""

    as_of: date
    known_at: Time
    items: list[dict[str, Any]]
    next: str | None


class DeliveriesView(msgspec.Struct, frozen=True, kw_only=True):
    """Per-originator series and per (supplier, recipient, category, unit) totals."""

    as_of: date
    known_at: Time
    series: list[dict[str, Any]]
    totals: list[dict[str, Any]]


def development_shape(row: DevelopmentRow) -> dict[str, Any]:
    """A development of the timeline as answered: its EDTF dates parsed, `visible` left out."""
    shaped: dict[str, Any] = msgspec.to_builtins(row)
    shaped.pop("visible")
    shaped["occurred"] = (
        None if row.occurred is None else msgspec.to_builtins(parse_edtf(row.occurred))
    )
    return shaped


def deliveries_view(found: Deliveries, as_of: date, known_at_us: int) -> DeliveriesView:
    """The deliveries view as answered."""
    return DeliveriesView(
        as_of=as_of,
        known_at=format_micros(known_at_us),
        series=[_whole_bounds(row) for row in msgspec.to_builtins(found.series)],
        totals=[_whole_bounds(row) for row in msgspec.to_builtins(found.totals)],
    )


def _whole_bounds(row: dict[str, Any]) -> dict[str, Any]:
    """A row whose bounds are whole numbers of its unit written as such: `24`, not `24.0`."""
    for bound in ("low", "high"):
        value = row[bound]
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            row[bound] = int(value)
    return row


def delivery_rows(view: DeliveriesView) -> list[dict[str, Any]]:
    """The deliveries view as the rows of one table: its series, then its totals."""
    rows = [{"row": "series", **s} for s in view.series]
    return rows + [{"row": "total", **t} for t in view.totals]


def every_page(fetch: Callable[[str | None], Page]) -> Iterator[list[Any]]:
    """The items of each page in turn, `fetch` giving the page after a cursor (None: the
    first), fetched as they are asked for."""
    after = None
    while True:
        page = fetch(after)
        yield page.items
        if page.next is None:
            return
        after = page.next


def spelled_out(value: Any) -> Any:
    """A value as builtins with every field that has one: events' structs leave out fields at
    their defaults when encoded (compact when stored), but an answer says `stance: supports`,
    `reliability: F`, `qualifier: exact` and `basis: increment` outright. Fields that are None
    stay out, as in the events."""
    if isinstance(value, msgspec.Struct):
        fields = ((name, getattr(value, name)) for name in value.__struct_fields__)
        return {name: spelled_out(field) for name, field in fields if field is not None}
    return msgspec.to_builtins(value)


def detail_shape(detail: Detail) -> dict[str, Any]:
    """One development as answered, with its reports."""
    shaped = development_shape(detail.development)
    shaped["active_reports"] = shaped.pop("reports")
    shaped["visible"], shaped["status_since"] = detail.visible, detail.status_since
    shaped["reports"] = [
        {
            "number": r.number,
            "position": r.position,
            **spelled_out(r.report),
            "active": r.active,
            "retraction": r.retraction,
            "corrections": r.corrections,
        }
        for r in detail.reports
    ]
    return msgspec.to_builtins(shaped)  # type: ignore[no-any-return]


def detail_rows(shaped: dict[str, Any]) -> list[dict[str, Any]]:
    """A development as answered (`detail_shape`) as the rows of one table: a row per report,
    each carrying the development's fields too (the report's `position` where both have one)."""
    development = {key: value for key, value in shaped.items() if key != "reports"}
    return [{**development, **report} for report in shaped["reports"]]


def _at(row: Mapping[str, Any], column: str) -> Any:
    """The value a column names: a key of the row, or a dotted path into its objects."""
    value: Any = row
    for key in column.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):  # a list (`actors.targets`): its JSON array
        return msgspec.json.encode(value).decode()
    if isinstance(value, float) and value.is_integer():
        return int(value)  # a count as a spreadsheet reads it: 1000000, not 1000000.0 or 1e+16
    return "" if value is None else value


def csv_response(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    as_of: date,
    known_at: str,
    headers: Mapping[str, str] | None = None,
    *,
    bom: bool = False,
) -> Response[str]:
    """Rows as a CSV table, with the `as_of` and `known_at` it answers for in headers.

    A column is a key of the JSON answer's rows or a dotted path into one of its objects
    (`actors.supplier`, `figure.value`), so a spreadsheet gets one value per cell. With `bom`
    the table starts with a byte-order mark, by which Excel knows it is UTF-8."""
    table = csv_table([columns, *([_cell(_at(row, column)) for column in columns] for row in rows)])
    if bom:
        table = "\ufeff" + table
    headers = {"X-As-Of": as_of.isoformat(), "X-Known-At": known_at, **(headers or {})}
    return Response(table, media_type=CSV, headers=headers)


def csv_stream(
    pages: Iterable[Iterable[dict[str, Any]]],
    columns: Sequence[str],
    as_of: date,
    known_at: str,
    headers: Mapping[str, str] | None = None,
    *,
    bom: bool = False,
) -> Stream:
    """`csv_response` of rows that come a page at a time, written as they come: a table of any
    length in the memory of one page. The first page is asked for here, so a view that cannot
    answer (busy, outdated) is a problem, not a cut file; an error after that ends the
    connection without the end of the body, which clients take for a failed download."""
    pages = iter(pages)
    first = next(pages, [])

    def chunks() -> Iterator[bytes]:
        yield (("\ufeff" if bom else "") + csv_table([columns])).encode()
        for rows in itertools.chain([first], pages):
            try:
                yield csv_table(
                    [_cell(_at(row, column)) for column in columns] for row in rows
                ).encode()
            except ValueError as error:  # Litestar reads a ValueError as the end of the body
                raise RuntimeError(f"a page of the table could not be written: {error}") from error

    headers = {"X-As-Of": as_of.isoformat(), "X-Known-At": known_at, **(headers or {})}
    return Stream(chunks(), media_type=CSV, headers=headers)


class TimelineFilters(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """The filters a timeline page answered for, carried by its `next` cursor."""

    kind: Kind | None = None
    actor: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=LINE)] | None = None
    status: Status | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    occurred_from: str | None = None
    occurred_to: str | None = None

    def over(self, earlier: TimelineFilters) -> TimelineFilters:
        """These filters, with each one not given taken from `earlier` (a cursor's)."""
        return TimelineFilters(
            **{
                name: getattr(earlier, name) if getattr(self, name) is None else getattr(self, name)
                for name in self.__struct_fields__
            }
        )


NO_FILTERS = TimelineFilters()
_filters_decoder = msgspec.json.Decoder(TimelineFilters)


def page_of(
    page: Page,
    as_of: date,
    known_at_us: int,
    shape: Any,
    filters: TimelineFilters = NO_FILTERS,
    limit: int = PAGE,
) -> TimelinePage:
    """A page of results with each item shaped by `shape`; its `next` carries the page's times,
    filters and limit, so following `next` alone answers for them, and a check of the rest, so
    a cursor cut short or mistyped is refused rather than read as another page."""
    following = None
    if page.next is not None:
        encoded = ""
        if filters != NO_FILTERS:
            encoded = base64.urlsafe_b64encode(msgspec.json.encode(filters)).rstrip(b"=").decode()
        told = f"{page.next}~{as_of.isoformat()}~{known_at_us}~{encoded}~{limit}"
        following = f"{told}~{_check(told)}"
    return TimelinePage(
        as_of=as_of,
        known_at=format_micros(known_at_us),
        items=[shape(item) for item in page.items],
        next=following,
    )


def _check(told: str) -> str:
    return f"{zlib.crc32(told.encode()):08x}"


class Continued(NamedTuple):
    """What a `next` cursor says: where the read models go on, and the `as_of`, `known_at` (µs),
    filters and limit of the page that handed it out."""

    after: str | None
    as_of: str | None = None
    known_at_us: int | None = None
    filters: TimelineFilters = NO_FILTERS
    limit: int | None = None


_PINNED = re.compile(
    r"(.+)~(\d{4}-\d{2}-\d{2})~(\d{1,18})~([A-Za-z0-9_-]*)~(\d{1,4})~([0-9a-f]{8})", re.ASCII
)


def continued(cursor: str | None) -> Continued:
    """The parts of a cursor `page_of` handed out, its check checked. Any other text is
    refused, cursors of versions before session 20 included (their pages are asked again from
    the first): one cut short at a `~` read as such a cursor, answering at another known_at or
    with another limit."""
    if cursor is None:
        return Continued(None)
    found = _PINNED.fullmatch(cursor)
    if found is None or cursor.rsplit("~", 1)[1] != _check(cursor.rsplit("~", 1)[0]):
        raise _not_ours(cursor)
    limit = int(found.group(5))
    filters = NO_FILTERS
    try:
        parse_as_of(found.group(2))  # its date, refused as the cursor's, not as `as_of`
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(limit)
        if found.group(4):
            encoded = found.group(4) + "=" * (-len(found.group(4)) % 4)
            filters = _filters_decoder.decode(base64.urlsafe_b64decode(encoded))
    except (InvalidParameter, binascii.Error, ValueError, msgspec.DecodeError):
        raise _not_ours(cursor) from None
    return Continued(found.group(1), found.group(2), int(found.group(3)), filters, limit)


def _not_ours(cursor: str) -> InvalidParameter:
    return InvalidParameter(
        "cursor",
        f"{cursor!r} is not a cursor this version of the service hands out (cut short, "
        "mistyped, or handed out by an earlier version): ask for the first page again",
    )


def _columns(names: str) -> tuple[str, ...]:
    return tuple(names.split())


TIMELINE_COLUMNS = _columns(
    "development_id position version kind title stage actors.supplier actors.recipient "
    "actors.user actors.end_user actors.authority actors.targets item.category "
    "item.designation occurred.text occurred.lower occurred.upper occurred.precision "
    "occurred.approximate occurred.uncertain status first_reported_on "
    "last_reported_on reports total_reports"
)
REPORT_COLUMNS = _columns(
    "number position source.originator source.channel source.title source.url "
    "source.published_on asserted_on stance quote figure.unit figure.qualifier figure.value "
    "figure.low figure.high figure.basis figure.text reliability credibility active "
    "retraction.effective_on retraction.reason retraction.position corrections"
)
# A development's CSV: a row per report, each with the development's own fields after the
# report's (`position` is the report's; the development's is in the timeline's CSV)
DETAIL_COLUMNS = REPORT_COLUMNS + _columns(
    "development_id version kind title stage actors.supplier actors.recipient actors.user "
    "actors.end_user actors.authority actors.targets item.category item.designation "
    "occurred.text occurred.lower occurred.upper occurred.precision occurred.approximate "
    "occurred.uncertain status status_since visible "
    "first_reported_on last_reported_on active_reports total_reports"
)
ALLEGATION_COLUMNS = _columns(
    "development_id position title kind status status_since first_reported_on "
    "age_days stances.supports stances.contradicts stances.denies stances.not_observed "
    "stances.qualifies"
)
DELIVERY_COLUMNS = _columns(
    "row supplier recipient category unit originator low high reports last_asserted_on"
)
