"""What the read models answer: the rows of each view as of (D, T), before HTTP shapes them."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import msgspec

from events import Report


class DevelopmentRow(msgspec.Struct, frozen=True, kw_only=True):
    """One development as of (D, T): its coded fields, status and reports as of D."""

    development_id: UUID
    position: int  # of its development_reported
    version: int  # its events recorded by T
    kind: str
    title: str
    stage: str | None
    actors: dict[str, Any]
    item: dict[str, Any] | None
    occurred: str | None
    status: str
    visible: bool
    first_reported_on: date | None
    last_reported_on: date | None
    reports: int  # active as of D
    total_reports: int  # recorded by T


class Retraction(msgspec.Struct, frozen=True, kw_only=True):
    """A report's retraction as recorded."""

    effective_on: date
    reason: str
    position: int


class ReportRow(msgspec.Struct, frozen=True, kw_only=True):
    """One report of a development as of (D, T)."""

    number: int
    position: int
    report: Report  # corrections recorded by T applied
    active: bool  # as of D
    retraction: Retraction | None  # recorded by T, whatever its effective_on
    corrections: int


class Detail(msgspec.Struct, frozen=True, kw_only=True):
    """One development with every report recorded by T; `status_since` of its status as of D."""

    development: DevelopmentRow
    visible: bool
    status_since: date | None
    reports: list[ReportRow]


class Allegation(msgspec.Struct, frozen=True, kw_only=True):
    """An open claim as of D."""

    development_id: UUID
    position: int
    title: str
    kind: str
    status: str
    status_since: date
    first_reported_on: date
    age_days: int
    stances: dict[str, int]


class Series(msgspec.Struct, frozen=True, kw_only=True):
    """One originator's bounds for one unit of one category from one supplier to one recipient."""

    supplier: str | None
    recipient: str | None
    category: str | None
    unit: str
    originator: str
    low: float
    high: float | None
    reports: int
    last_asserted_on: date


class Total(msgspec.Struct, frozen=True, kw_only=True):
    """The largest series of a (supplier, recipient, category, unit): never a sum."""

    supplier: str | None
    recipient: str | None
    category: str | None
    unit: str
    low: float
    high: float | None


class Deliveries(msgspec.Struct, frozen=True, kw_only=True):
    """Series and totals, each sorted by key (None first)."""

    series: list[Series]
    totals: list[Total]


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """A page of a list view and the cursor of the next page (None at the end)."""

    items: list[Any]
    next: str | None
