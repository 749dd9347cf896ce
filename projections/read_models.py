"""The read side of one database: the runner that keeps it current and the views at (D, T)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from datetime import date
from typing import TypeVar
from uuid import UUID

from projections import query_deliveries, query_detail, query_developments
from projections.entries import LogReader
from projections.results import Deliveries, Detail, Page, ReportRow
from projections.runner import NAMES, ProjectionRunner, read_tracking
from projections.state import DevState
from projections.tracks import Piece, SeriesKey
from service.errors import Busy
from service.store.log import LogRecorder

T = TypeVar("T")
# The projections whose tables each view reads
DEVELOPMENTS = ("developments",)  # the timeline, a development, the allegations board
DELIVERIES = ("deliveries",)
ATTEMPTS = 5  # catch-ups before a read gives up (each undone by a rebuild swapped in meanwhile)


class ReadModels:
    """Every view, answered from the read models as of (`as_of`, `known_at_us`).

    Each view first turns `known_at_us` into P, the last position recorded by then, and makes
    sure the read models have folded the log up to P (`position_at`): a read issued after a
    write returns that write, without waiting for the background runner.
    """

    def __init__(self, store: LogRecorder, runner: ProjectionRunner | None = None) -> None:
        self.store = store
        self.runner = runner or ProjectionRunner(store)
        self.dialect = self.runner.dialect
        self._delivered = query_deliveries.DeliveredStates(self.dialect)
        self._pieces: tuple[int, dict[SeriesKey, list[Piece]]] | None = None
        self._reporting: tuple[int, dict[int, DevState]] = (-1, {})

    def position_at(self, known_at_us: int, names: Collection[str] = NAMES) -> int:
        """P for T, with the read models of the projections `names` (all by default) caught
        up to it."""
        position = self.store.last_position(until_us=known_at_us)
        self.runner.ensure(position, names)
        return position

    def _at(self, known_at_us: int, names: Collection[str], query: Callable[[int], T]) -> T:
        """`query(P)` for T, read in one snapshot in which the read models of the projections
        `names` (those the query reads) have folded the log up to P: a view answers while
        another projection is rebuilt because another version's fold wrote its rows.

        `position_at` catches them up in transactions of its own, and the query reads in
        another: a rebuild that swapped its rows in between ended at the head it began at,
        short of what the runner had folded meanwhile, and the query would answer without
        those events (found by an audit of session 13's rebuild). Read in the query's own
        snapshot, the tracking tells, and the read models are caught up again.
        """
        for _ in range(ATTEMPTS):
            position = self.position_at(known_at_us, names)
            with self.dialect.pinned() as cursor:  # the query's reads share this snapshot
                tracked = read_tracking(self.dialect, cursor)
                if min(tracked[name][0] for name in names) >= position:
                    return query(position)
        raise Busy(f"the read models moved back under {ATTEMPTS} reads at once: rebuilds?")

    def timeline(
        self,
        *,
        as_of: date,
        known_at_us: int,
        limit: int = 100,
        after: str | None = None,
        kind: str | None = None,
        actor: str | None = None,
        status: str | None = None,
        from_: date | None = None,
        to: date | None = None,
        occurred_from: date | None = None,
        occurred_to: date | None = None,
    ) -> Page:
        """`GET /api/developments`."""
        return self._at(known_at_us, DEVELOPMENTS, lambda position: query_developments.timeline(
            self.dialect, as_of=as_of, position=position, limit=limit, after=after, kind=kind,
            actor=actor, status=status, from_=from_, to=to, occurred_from=occurred_from,
            occurred_to=occurred_to))  # fmt: skip

    def development(self, development_id: UUID, *, as_of: date, known_at_us: int) -> Detail | None:
        """`GET /api/developments/{id}`; None when nothing of it was recorded by T."""
        return self._at(known_at_us, DEVELOPMENTS, lambda position: query_detail.development(
            self.dialect, development_id, as_of=as_of, position=position))  # fmt: skip

    def reports_of(
        self, development_ids: Sequence[UUID], *, as_of: date, known_at_us: int
    ) -> dict[UUID, list[ReportRow]]:
        """The reports of each development as `development` lists them, read together."""
        return self._at(known_at_us, DEVELOPMENTS, lambda position: query_detail.reports_of(
            self.dialect, development_ids, as_of=as_of, position=position))  # fmt: skip

    def allegations(
        self,
        *,
        as_of: date,
        known_at_us: int,
        limit: int = 100,
        after: str | None = None,
        kind: str | None = None,
        actor: str | None = None,
    ) -> Page:
        """`GET /api/views/allegations`."""
        return self._at(known_at_us, DEVELOPMENTS, lambda position: query_developments.allegations(
            self.dialect, as_of=as_of, position=position, limit=limit, after=after, kind=kind,
            actor=actor))  # fmt: skip

    def deliveries(
        self,
        *,
        as_of: date,
        known_at_us: int,
        supplier: str | None = None,
        recipient: str | None = None,
        category: str | None = None,
        unit: str | None = None,
        originator: str | None = None,
        status: str | None = None,
    ) -> Deliveries:
        """`GET /api/views/deliveries`."""
        return self._at(known_at_us, DELIVERIES, lambda position: query_deliveries.deliveries(
            self.dialect, as_of=as_of, position=position, supplier=supplier,
            recipient=recipient, category=category, unit=unit, originator=originator,
            status=status))  # fmt: skip

    def series_pieces(self, *, known_at_us: int) -> tuple[int, dict[SeriesKey, list[Piece]]] | None:
        """P for T, and every delivery series' pieces over the statuses that count as of P, by
        its key as the view spells it (`query_deliveries.series_pieces`). The deliveries'
        tables hold those of the last position they folded, with no system time: when that is
        past P (events recorded since, or a `known_at` in the past), the developments with
        events between are folded at both and their pieces put back as they were
        (`query_deliveries.pieces_back`); None when more have than both `REFOLD` and one in
        50 of the log's events (on a log shaped like the synthetic one, a delivered transfer
        is about one event in eight). Those of the last P read are kept, shared by every
        caller: not to be changed."""

        def query(position: int) -> tuple[int, dict[SeriesKey, list[Piece]]] | None:
            kept = self._pieces
            if kept is not None and kept[0] == position:  # the log up to P never changes
                return kept
            with self.dialect.read() as cursor:  # the query's snapshot: the pieces of `now`
                now = read_tracking(self.dialect, cursor)["deliveries"][0]
            series = query_deliveries.series_pieces(self.dialect)
            if now > position:
                changed = LogReader(self.store).developments_between(position, now)
                if len(changed) > max(query_deliveries.DeliveredStates.REFOLD, now // 50):
                    return None  # folding them twice would cost about what folding all does
                series = query_deliveries.pieces_back(
                    self.dialect, series, list(changed), now=now, then=position
                )
            kept = self._pieces = (position, series)
            return kept

        return self._at(known_at_us, DELIVERIES, query)

    def reporting(self, position: int, reports: Collection[int]) -> list[DevState]:
        """The developments of the reports created at the positions `reports`, folded from
        their events up to P, each once. Those folded at the last P asked are kept, by the
        positions of their reports: the web page asks again for most of them at another
        as-of."""
        kept_at, kept = self._reporting
        kept = dict(kept) if kept_at == position else {}
        missing = sorted(report for report in reports if report not in kept)
        if missing:
            keys = query_deliveries.owners(self.dialect, missing)
            for state in query_deliveries.folded(self.dialect, position, keys).values():
                kept.update((report.position, state) for report in state.reports)
            self._reporting = (position, kept)
        found = (kept[report] for report in reports if report in kept)
        return list({id(state): state for state in found}.values())

    def delivered_states(self, *, known_at_us: int) -> list[DevState]:
        """Every delivered transfer recorded by T, folded (`query_deliveries.delivered_states`),
        the latest asked kept (`query_deliveries.DeliveredStates`)."""
        return self._at(known_at_us, DEVELOPMENTS, self._delivered.at)


def run_forever(database_url: str, stop: threading.Event, *, poll_seconds: float = 0.1) -> None:
    """`timeline projections run`: follow the log of `database_url` until `stop` is set."""
    from service.application import Timeline  # the composition root of this process

    timeline = Timeline(database_url)
    try:
        ProjectionRunner(timeline.store, poll_seconds=poll_seconds).run(stop)
    finally:
        timeline.close()
