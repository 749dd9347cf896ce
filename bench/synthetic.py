"""Synthetic logs shaped like the seed corpus, of any size, with a fixed set of delivery series.

Events follow a clock that runs from 2022-02-24 to 2024-12-31 whatever the size, so a bigger log
is a denser one: more developments per day, the same delivery series (suppliers x recipients x
categories x originators), more reports in each. Most reports are dated a few days before they
are recorded, a few weeks or months late now and then; developments are followed up (reports,
status changes, corrections, retractions) while they are recent.

    python bench/synthetic.py sqlite:///synthetic.db --events 100000

`open_store(n)` keeps one store per size for the benchmarks: `DATA/synthetic-n.db` (default
DATA: $TMPDIR/timeline-bench), or a database `bench_n` on the server of `--postgres`.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from events import (
    Actors,
    AnyEvent,
    DevelopmentChanges,
    DevelopmentCorrected,
    DevelopmentReported,
    Figure,
    Item,
    Report,
    ReportAdded,
    ReportChanges,
    ReportCorrected,
    ReportRetracted,
    Source,
    StatusChanged,
)
from events.figures import Basis, Qualifier
from events.values import Channel
from projections import ProjectionRunner, rebuild, stale
from projections.rebuild import tidy
from service.application import Timeline

START, END = date(2022, 2, 24), date(2024, 12, 31)
PAIRS = (("PRK", "RUS"), ("IRN", "RUS"))
GOODS = (("artillery_ammunition", "container"), ("ballistic_missile", "missile"), ("uav", "uav"))
ORIGINATORS = ("US Government", "South Korea NIS", "Ukraine Prosecutor General", "UN Panel")
SERIES = len(PAIRS) * len(GOODS) * len(ORIGINATORS)  # delivery series, at every size
OTHER_KINDS = ("use", "assessment", "sanction", "statement", "meeting", "finding")
CHANNELS: tuple[Channel, ...] = (
    "briefing",
    "statement",
    "fact_sheet",
    "media",
    "imagery",
    "testimony",
)
QUALIFIERS: tuple[Qualifier, ...] = (
    "exact",
    "about",
    "at_least",
    "more_than",
    "up_to",
    "range",
    "order_of_magnitude",
)
RECENT = 400  # follow-ups go to one of the last developments reported
BATCH = 1000


class _Dev:
    __slots__ = ("asserted", "id", "reports", "retracted", "stage", "title", "unit")

    def __init__(self, dev_id: uuid.UUID, unit: str | None, stage: str | None, title: str) -> None:
        self.id = dev_id
        self.unit = unit  # the unit of its figures when it is a delivery
        self.stage = stage
        self.title = title
        self.reports = 1
        self.asserted: list[date] = []
        self.retracted: set[int] = set()


class Generator:
    """Valid events in recording order; `events(n)` yields n of them."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.recent: list[_Dev] = []

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _day(self, clock: date) -> date:
        """The date a report was made: mostly days before it is recorded, now and then months."""
        late = self.rng.random()
        lag = self.rng.randint(0, 6) if late < 0.95 else self.rng.randint(7, 120)
        return max(START, clock - timedelta(days=lag))

    def _figure(self, unit: str) -> Figure | None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.15:
            return None
        basis: Basis = "cumulative" if rng.random() < 0.3 else "increment"
        if roll < 0.22:
            return Figure(unit=unit, qualifier="unspecified", basis=basis)
        qualifier = rng.choice(QUALIFIERS)
        if qualifier == "range":
            low = rng.randint(1, 500)
            return Figure(
                unit=unit, qualifier="range", low=low, high=low + rng.randint(0, 500), basis=basis
            )
        return Figure(unit=unit, qualifier=qualifier, value=rng.randint(1, 1000), basis=basis)

    def _report(self, clock: date, unit: str | None) -> Report:
        rng = self.rng
        stance = (
            "supports"
            if rng.random() < 0.8
            else rng.choice(("denies", "not_observed", "qualifies", "contradicts"))
        )
        return Report(
            source=Source(originator=rng.choice(ORIGINATORS), channel=rng.choice(CHANNELS)),
            asserted_on=self._day(clock),
            stance=stance,  # type: ignore[arg-type]
            quote="Reported figure " + str(rng.randint(1, 10**6)),
            figure=self._figure(unit) if unit else None,
            reliability=rng.choice("ABCDF"),  # type: ignore[arg-type]
            credibility=rng.randint(1, 6),
        )

    def _reported(self, clock: date) -> DevelopmentReported:
        rng = self.rng
        supplier, recipient = rng.choice(PAIRS)
        category, unit = rng.choice(GOODS)
        transfer = rng.random() < 0.6
        stage = rng.choice(("delivered", "delivered", "shipped", "agreed")) if transfer else None
        delivered = transfer and stage == "delivered"
        dev = _Dev(self._uuid(), unit if delivered else None, stage, f"Dev {rng.random()}")
        report = self._report(clock, unit if delivered or rng.random() < 0.2 else None)
        dev.asserted.append(report.asserted_on)
        self.recent.append(dev)
        if len(self.recent) > RECENT:
            self.recent.pop(0)
        return DevelopmentReported(
            event_id=self._uuid(),
            development_id=dev.id,
            kind="transfer" if transfer else rng.choice(OTHER_KINDS),  # type: ignore[arg-type]
            title=dev.title,
            stage=stage,  # type: ignore[arg-type]
            actors=Actors(supplier=supplier, recipient=recipient),
            item=Item(category=category),
            occurred=f"{clock.year}-{clock.month:02d}",
            report=report,
        )

    def _follow_up(self, clock: date) -> AnyEvent:
        rng = self.rng
        dev = rng.choice(self.recent)
        roll = rng.random()
        if roll < 0.55:
            dev.reports += 1
            report = self._report(clock, dev.unit)
            dev.asserted.append(report.asserted_on)
            return ReportAdded(event_id=self._uuid(), development_id=dev.id, report=report)
        if roll < 0.75:
            status = rng.choice(("corroborated", "confirmed", "disputed", "refuted", "alleged"))
            return StatusChanged(
                event_id=self._uuid(),
                development_id=dev.id,
                status=status,  # type: ignore[arg-type]
                effective_on=self._day(clock),
                reason="assessment",
            )
        number = rng.randint(1, dev.reports)
        if roll < 0.85 or number in dev.retracted:
            changes = ReportChanges(quote=f"Corrected quote {rng.random()}")
            if rng.random() < 0.3:
                shifted = dev.asserted[number - 1] - timedelta(days=rng.randint(1, 5))
                dev.asserted[number - 1] = shifted
                changes = ReportChanges(asserted_on=shifted)
            return ReportCorrected(
                event_id=self._uuid(),
                development_id=dev.id,
                report=number,
                changes=changes,
                reason="coding error",
            )
        if roll < 0.92:
            dev.retracted.add(number)
            effective = max(dev.asserted[number - 1], clock - timedelta(days=rng.randint(0, 3)))
            return ReportRetracted(
                event_id=self._uuid(),
                development_id=dev.id,
                report=number,
                effective_on=effective,
                reason="withdrawn by originator",
            )
        dev.title = f"{dev.title} (recoded {rng.randint(1, 10**9)})"
        return DevelopmentCorrected(
            event_id=self._uuid(),
            development_id=dev.id,
            changes=DevelopmentChanges(title=dev.title),
            reason="recoded",
        )

    def events(self, count: int) -> Iterator[AnyEvent]:
        """`count` events whose clock runs from START to END."""
        span = (END - START).days
        for index in range(count):
            clock = START + timedelta(days=span * index // max(count, 1))
            if not self.recent or self.rng.random() < 0.4:
                yield self._reported(clock)
            else:
                yield self._follow_up(clock)


def fill(
    timeline: Timeline, count: int, *, seed: int = 1, progress: Callable[[int], Any] | None = None
) -> int:
    """Append `count` synthetic events in batches of 1,000; the number appended."""
    batch: list[AnyEvent] = []
    done = 0
    for event in Generator(seed).events(count):
        batch.append(event)
        if len(batch) == BATCH:
            timeline.append(batch, recorded_by="synthetic")
            done += len(batch)
            batch = []
            if progress:
                progress(done)
    if batch:
        timeline.append(batch, recorded_by="synthetic")
        done += len(batch)
    return done


DATA = Path(os.environ.get("TIMELINE_BENCH_DATA", Path(tempfile.gettempdir()) / "timeline-bench"))


def store_url(events: int, postgres: str | None = None) -> str:
    """Where the store of `events` synthetic events lives."""
    if postgres is None:
        DATA.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{DATA / f'synthetic-{events}.db'}"
    name = f"bench_{events}"
    with psycopg.connect(postgres, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if found.fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(urlsplit(postgres)._replace(path=f"/{name}"))


def open_store(events: int, postgres: str | None = None) -> Timeline:
    """The timeline of the store of `events` synthetic events, filled first if it is new."""
    timeline = Timeline(store_url(events, postgres))
    have = timeline.store.last_position()
    if have == events:
        return timeline
    if have:
        raise SystemExit(f"{timeline.database} holds {have} events, not {events}: delete it")
    began = time.perf_counter()

    def progress(done: int) -> None:
        if done % 50_000 == 0 or done == events:
            rate = done / (time.perf_counter() - began)
            print(f"  appended {done:,}/{events:,} ({rate:,.0f}/s)", file=sys.stderr, flush=True)

    print(f"building {timeline.database} ({events:,} events)", file=sys.stderr, flush=True)
    fill(timeline, events, progress=progress)
    return timeline


def ready_store(events: int, postgres: str | None = None, *, again: bool = False) -> Timeline:
    """`open_store`, its read models rebuilt when they are behind, another fold's, or `again`,
    and tidied as autovacuum would have on a server that ran a while."""
    timeline = open_store(events, postgres)
    behind = ProjectionRunner(timeline.store).tracking()["developments"][0] < events
    if again or behind or stale(timeline.store):  # a store another fold wrote
        done = rebuild(timeline.store)
        print(f"read models of {events:,} events: {done.seconds:.1f} s", file=sys.stderr)
    tidy(timeline.store)
    return timeline


def main() -> int:
    """Fill a database with a synthetic log."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", help="sqlite:///path.db or postgresql://…")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    timeline = Timeline(args.database)
    began = time.perf_counter()
    done = fill(
        timeline,
        args.events,
        seed=args.seed,
        progress=lambda n: print(f"\r{n:,} events", end="", file=sys.stderr),
    )
    seconds = time.perf_counter() - began
    print(f"\n{done:,} events in {seconds:.1f} s ({done / seconds:,.0f}/s)", file=sys.stderr)
    timeline.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
