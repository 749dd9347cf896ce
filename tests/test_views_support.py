"""Helpers for the read-model tests: a real `Timeline` with its read models, fed event by event.

No tests here. `Store` appends through the application (so positions, versions and system time
are the server's own) and reads the views back through `projections.ReadModels`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import msgspec

from events import (
    Actors,
    AnyEvent,
    DevelopmentChanges,
    DevelopmentCorrected,
    DevelopmentReported,
    Figure,
    Item,
    Recorded,
    Report,
    ReportAdded,
    ReportChanges,
    ReportCorrected,
    ReportRetracted,
    Source,
    StatusChanged,
)
from events.figures import Basis, Qualifier
from events.values import Kind, Stage, Stance, Status
from projections import ReadModels
from projections.results import Allegation, Deliveries, Detail, DevelopmentRow, Page
from service.application import Timeline, recorded_of
from service.store.records import to_micros
from tests.reference import name_key

FAR_FUTURE = date(2100, 1, 1)


def figure(
    unit: str = "container",
    qualifier: Qualifier = "exact",
    value: int | float | None = None,
    *,
    low: int | None = None,
    high: int | None = None,
    basis: Basis = "increment",
) -> Figure:
    """A figure; `value` for every qualifier but range and unspecified."""
    return Figure(unit=unit, qualifier=qualifier, value=value, low=low, high=high, basis=basis)


def said(
    originator: str, asserted_on: date, fig: Figure | None = None, *, stance: Stance = "supports"
) -> Report:
    """A report of `originator` on `asserted_on`."""
    source = Source(originator=originator, channel="briefing")
    return Report(source=source, asserted_on=asserted_on, stance=stance, figure=fig)


def plain(value: Any) -> Any:
    """JSON-shaped builtins, so structs, tuples and dicts compare by content."""
    return msgspec.json.decode(msgspec.json.encode(value))


def folded(deliveries: Any) -> Any:
    """A deliveries view as `plain`, its actors and originators casefolded and its rows in
    that order: which spelling of a name that differs in case alone a series shows is the
    service's choice, not the reference's."""
    view = plain(deliveries)
    for row in (*view["series"], *view["totals"]):
        for role in ("supplier", "recipient", "originator"):
            if row.get(role) is not None:
                row[role] = name_key(row[role])
    for rows in (view["series"], view["totals"]):
        rows.sort(key=lambda row: msgspec.json.encode(row, order="sorted"))
    return view


class Store:
    """A timeline on a database, its read models, and one method per kind of event."""

    def __init__(self, database_url: str) -> None:
        self.timeline = Timeline(database_url)
        self.read = ReadModels(self.timeline.store)

    def close(self) -> None:
        """Stop and release the database."""
        self.read.runner.stop()
        self.timeline.close()

    def append(self, *events: AnyEvent) -> int:
        """Store the events in one commit; the system time T they were recorded at."""
        outcomes = self.timeline.append(list(events), recorded_by="test")
        return to_micros(outcomes[-1].receipt.recorded_at)

    def develop(
        self,
        first: Report,
        *,
        kind: Kind = "transfer",
        stage: Stage | None = "delivered",
        supplier: str | None = "PRK",
        recipient: str | None = "RUS",
        targets: tuple[str, ...] = (),
        category: str | None = "munitions_unspecified",
        status: Status = "alleged",
        title: str = "DPRK delivered munitions to Russia",
    ) -> UUID:
        """Report a new development; its id."""
        development_id = uuid4()
        self.append(
            DevelopmentReported(
                development_id=development_id,
                kind=kind,
                title=title,
                stage=stage,
                actors=Actors(supplier=supplier, recipient=recipient, targets=targets),
                item=Item(category=category) if category is not None else None,
                status=status,
                report=first,
            )
        )
        return development_id

    def add(self, development_id: UUID, report: Report) -> int:
        """Another report."""
        return self.append(ReportAdded(development_id=development_id, report=report))

    def correct(self, development_id: UUID, number: int, **changes: Any) -> int:
        """Correct fields of report `number`."""
        return self.append(
            ReportCorrected(
                development_id=development_id,
                report=number,
                changes=ReportChanges(**changes),
                reason="coding fixed",
            )
        )

    def correct_development(self, development_id: UUID, **changes: Any) -> int:
        """Correct coded fields of the development."""
        return self.append(
            DevelopmentCorrected(
                development_id=development_id,
                changes=DevelopmentChanges(**changes),
                reason="coding fixed",
            )
        )

    def retract(self, development_id: UUID, number: int, effective_on: date) -> int:
        """The originator withdrew report `number` from `effective_on`."""
        return self.append(
            ReportRetracted(
                development_id=development_id,
                report=number,
                effective_on=effective_on,
                reason="withdrawn",
            )
        )

    def judge(self, development_id: UUID, status: Status, effective_on: date) -> int:
        """A status change from `effective_on`."""
        return self.append(
            StatusChanged(
                development_id=development_id,
                status=status,
                effective_on=effective_on,
                reason="assessment",
            )
        )

    def log(self) -> list[Recorded]:
        """Every stored event, for the reference views."""
        return [recorded_of(record) for record in self.timeline.store.iter_records()]

    def now(self) -> int:
        """System time T of the last stored event."""
        return to_micros(self.log()[-1].recorded_at)

    # --- views ---------------------------------------------------------------------------

    def _all(self, read: Callable[..., Page], **kwargs: Any) -> list[Any]:
        items: list[Any] = []
        after: str | None = None
        while True:
            page = read(after=after, **kwargs)
            items += page.items
            if page.next is None:
                return items
            after = page.next

    def timeline_at(
        self, as_of: date, known_at: int | None = None, *, limit: int = 3, **filters: Any
    ) -> list[DevelopmentRow]:
        """Every page of the timeline (small pages, to exercise the cursor)."""
        return self._all(
            self.read.timeline,
            as_of=as_of,
            limit=limit,
            known_at_us=self.now() if known_at is None else known_at,
            **filters,
        )

    def allegations_at(
        self, as_of: date, known_at: int | None = None, *, limit: int = 3
    ) -> list[Allegation]:
        """Every page of the allegations board."""
        return self._all(
            self.read.allegations,
            as_of=as_of,
            limit=limit,
            known_at_us=self.now() if known_at is None else known_at,
        )

    def deliveries_at(self, as_of: date, known_at: int | None = None, **filters: Any) -> Deliveries:
        """The deliveries view."""
        return self.read.deliveries(
            as_of=as_of, known_at_us=self.now() if known_at is None else known_at, **filters
        )

    def detail_at(
        self, development_id: UUID, as_of: date, known_at: int | None = None
    ) -> Detail | None:
        """One development."""
        return self.read.development(
            development_id, as_of=as_of, known_at_us=self.now() if known_at is None else known_at
        )
