"""Property: on any valid log, every view of the read models equals the replay reference.

Hypothesis draws histories (a few developments; reports with figures of both bases and every
qualifier, several originators and units; corrections, retractions, status changes), appends
them through the real `Timeline` in commits of one to three events, then compares every view at
random (as_of, known_at) points with tests/reference.py, and a rebuild with the live rows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

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
from events.values import Stance
from projections import query_developments, verify_rebuild
from service.errors import DomainError
from service.web.steps import delivery_history
from tests import reference
from tests.pgserver import scratch_database
from tests.test_views_support import Store, folded, plain

START = date(2024, 1, 1)
HEAD = 2**62  # a known_at after every event
DAYS = 40
days = st.integers(0, DAYS).map(lambda n: START + timedelta(days=n))
STATUSES = (
    "alleged",
    "corroborated",
    "confirmed",
    "disputed",
    "refuted",
    "retracted",
    "superseded",
    "withdrawn",
)
STANCES: tuple[Stance, ...] = (
    "supports",
    "supports",
    "supports",
    "contradicts",
    "denies",
    "not_observed",
    "qualifies",
)
VALUED: tuple[Qualifier, ...] = (
    "exact",
    "about",
    "at_least",
    "more_than",
    "up_to",
    "fewer_than",
    "order_of_magnitude",
)


@st.composite
def figures(draw: st.DrawFn) -> Figure | None:
    """No figure, or one of any qualifier and basis, in one of two units."""
    if draw(st.integers(0, 4)) == 0:
        return None
    unit = draw(st.sampled_from(("container", "round")))
    basis: Basis = draw(st.sampled_from(("increment", "cumulative")))
    qualifier: Qualifier = draw(st.sampled_from((*VALUED, "range", "unspecified")))
    if qualifier == "unspecified":
        return Figure(unit=unit, qualifier="unspecified", basis=basis)
    if qualifier == "range":
        low = draw(st.integers(0, 50))
        return Figure(
            unit=unit, qualifier="range", low=low, high=low + draw(st.integers(0, 50)), basis=basis
        )
    # decimals binary floats cannot hold: summed as floats they would read 0.30000000000000004
    value = draw(st.integers(0, 100) | st.sampled_from((0.5, 2.25, 0.1, 0.2, 1.1, 2.2, 0.3)))
    return Figure(unit=unit, qualifier=qualifier, value=value, basis=basis)


@st.composite
def reports(draw: st.DrawFn) -> Report:
    """A report by one of three originators (the US spelt three ways) on one of a few dozen days."""
    return Report(
        source=Source(
            originator=draw(st.sampled_from(("US", "NIS", "UA", "us", "US "))), channel="briefing"
        ),
        asserted_on=draw(days),
        stance=draw(st.sampled_from(STANCES)),
        figure=draw(figures()),
    )


Op = tuple[Any, ...]
# when developments happened: none, a month, an interval, open and unknown ends, around START
OCCURRED = (None, "2023-09", "2023-09-05/2023-10", "../2023-08-20", "2023-10~/", "2023")
ops = st.one_of(
    st.tuples(
        st.just("develop"),
        reports(),
        st.sampled_from(("transfer", "use")),
        st.sampled_from(("delivered", "delivered", "shipped", None)),
        st.sampled_from(("PRK", "IRN", "prk", " PRK", None)),
        st.sampled_from(("uav", "shell", None)),
        st.sampled_from(STATUSES),
        st.sampled_from(OCCURRED),
    ),
    st.tuples(st.just("add"), st.integers(0, 9), reports()),
    st.tuples(
        st.just("correct"),
        st.integers(0, 9),
        st.integers(1, 4),
        reports(),
        st.sets(st.sampled_from(("asserted_on", "figure", "stance", "source")), min_size=1),
    ),
    st.tuples(st.just("retract"), st.integers(0, 9), st.integers(1, 4), days),
    st.tuples(
        st.just("recode"),
        st.integers(0, 9),
        st.sampled_from(("transfer", "use")),
        st.sampled_from(("delivered", "shipped", None)),
        st.sampled_from(("PRK", "IRN", "Prk")),
        st.sampled_from(OCCURRED),
    ),
    st.tuples(st.just("judge"), st.integers(0, 9), st.sampled_from(STATUSES), days),
)


def event_of(op: Op, developments: list[Any]) -> AnyEvent | None:
    """The event an operation stands for, or None when it names no development yet.

    A new development's id is added to `developments`.
    """
    if op[0] == "develop":
        _, report, kind, stage, supplier, category, status, occurred = op
        developments.append(uuid4())
        return DevelopmentReported(
            development_id=developments[-1],
            kind=kind,
            title="t",
            stage=stage,
            actors=Actors(supplier=supplier, recipient="RUS"),
            item=Item(category=category) if category else None,
            status=status,
            occurred=occurred,
            report=report,
        )
    if not developments:
        return None
    dev = developments[op[1] % len(developments)]
    if op[0] == "add":
        return ReportAdded(development_id=dev, report=op[2])
    if op[0] == "correct":
        fields = {name: getattr(op[3], name) for name in op[4]}
        return ReportCorrected(
            development_id=dev, report=op[2], changes=ReportChanges(**fields), reason="r"
        )
    if op[0] == "retract":
        return ReportRetracted(development_id=dev, report=op[2], effective_on=op[3], reason="r")
    if op[0] == "recode":
        changes = DevelopmentChanges(
            kind=op[2], stage=op[3], actors=Actors(supplier=op[4]), occurred=op[5]
        )
        return DevelopmentCorrected(development_id=dev, changes=changes, reason="r")
    return StatusChanged(development_id=dev, status=op[2], effective_on=op[3], reason="r")


# (occurred_from, occurred_to): each meets an end of one of OCCURRED's periods on its first or
# last day
OCCURRED_WINDOWS = (
    (date(2023, 10, 31), None),
    (None, date(2023, 9, 5)),
    (date(2023, 8, 20), date(2023, 8, 31)),
    (date(2023, 10, 1), date(2023, 10, 1)),
)

histories = st.lists(st.tuples(ops, st.booleans()), min_size=1, max_size=18)
points = st.lists(st.tuples(st.integers(-3, DAYS + 3), st.integers(0, 30)), min_size=3, max_size=5)


def replay_and_compare(
    store: Store, history: list[tuple[Op, bool]], at: list[tuple[int, int]]
) -> None:
    """Append `history` (a True flag joins an event to the previous commit), then compare."""
    developments: list[Any] = []
    commits: list[list[AnyEvent]] = []
    for op, joins in history:
        event = event_of(op, developments)
        if event is None:
            continue
        if joins and commits:
            commits[-1].append(event)
        else:
            commits.append([event])
    stamps = [0]
    for commit in commits:
        try:
            stamps.append(store.append(*commit))
        except DomainError:
            continue  # e.g. a retraction before its report: the domain refuses, nothing is stored
        if len(stamps) % 3 == 0:
            store.read.runner.step()  # the runner folds some commits before the queries do
    log = store.log()
    for day, which in at:
        as_of = START + timedelta(days=day)
        known_at = stamps[which % len(stamps)] + (which % 2)
        assert plain(store.timeline_at(as_of, known_at)) == plain(
            reference.timeline(log, as_of, known_at)
        )
        assert plain(store.allegations_at(as_of, known_at)) == plain(
            reference.allegations(log, as_of, known_at)
        )
        for first, last in OCCURRED_WINDOWS:  # when they happened, bounded on a side or both
            expected = plain(
                reference.timeline(log, as_of, known_at, occurred_from=first, occurred_to=last)
            )
            rows = store.timeline_at(as_of, known_at, occurred_from=first, occurred_to=last)
            assert plain(rows) == expected
        for actor in ("prk", "RUS", " Prk "):  # named by few developments: read from theirs
            expected = plain(reference.timeline(log, as_of, known_at, actor=actor))
            assert plain(store.timeline_at(as_of, known_at, actor=actor)) == expected
            with mock.patch.object(query_developments, "FEW", 0):  # by many: the walk
                assert plain(store.timeline_at(as_of, known_at, actor=actor)) == expected
        assert folded(store.deliveries_at(as_of, known_at)) == folded(
            reference.deliveries(log, as_of, known_at)
        )
        assert folded(store.deliveries_at(as_of, known_at, status="alleged")) == folded(
            reference.deliveries(log, as_of, known_at, status="alleged")
        )
        # the reports of every development read together, as the web's timeline reads them
        together = store.read.reports_of(developments, as_of=as_of, known_at_us=known_at)
        for dev in developments:
            found = store.detail_at(dev, as_of, known_at)
            expected = reference.development_detail(log, dev, as_of, known_at)
            assert (found is None) == (expected is None)
            assert together[dev] == ([] if found is None else found.reports)
            if found is not None and expected is not None:
                assert plain(found.development) == plain(expected.development)
                assert plain(found.reports) == plain(expected.reports)
    assert verify_rebuild(store.timeline.store) == {}
    # The web's step lines, drawn from the pieces the deliveries projection keeps (at the head,
    # and put back as they were at a known_at before it), are those a fold of every delivered
    # transfer draws
    for day, which in at:
        for known_at in (HEAD, stamps[which % len(stamps)] + (which % 2)):
            assert store.read.series_pieces(known_at_us=known_at) is not None
            for named in (None, " prk"):
                as_of = START + timedelta(days=day)
                kept = delivery_history(store.read, as_of=as_of, known_at_us=known_at,
                                        actor=named)  # fmt: skip
                folded_again = delivery_history(
                    store.read, as_of=as_of, known_at_us=known_at, actor=named, kept=False
                )
                assert kept == folded_again


@contextmanager
def sqlite_store() -> Iterator[Store]:
    """A store on a new SQLite file."""
    with tempfile.TemporaryDirectory() as directory:
        store = Store(f"sqlite:///{Path(directory) / 'timeline.db'}")
        try:
            yield store
        finally:
            store.close()


def common(examples: int) -> settings:
    """Few examples and no deadline: each one builds a database."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# A development that occurred until 20 August 2023, asked for from that day (an inclusive
# bound keeps it), whose report was retracted with effect from its own day (never active)
BOUNDS_MET: list[tuple[Op, bool]] = [
    (
        (
            "develop",
            Report(source=Source(originator="US", channel="briefing"), asserted_on=START),
            "transfer",
            "delivered",
            "PRK",
            "uav",
            "alleged",
            "../2023-08-20",
        ),
        False,
    ),
    (
        ("add", 0, Report(source=Source(originator="NIS", channel="briefing"), asserted_on=START)),
        False,
    ),
    (("retract", 0, 2, START), False),
]
AT_BOUNDS = [(0, 1), (0, 3), (5, 0)]


def _said(on: date, value: float) -> Report:
    figure = Figure(unit="uav", value=value)
    return Report(source=Source(originator="US", channel="briefing"), asserted_on=on, figure=figure)


# One originator's increments that binary floats cannot add: 0.1 + 0.2 + 1.1 is 1.4 as written,
# 1.4000000000000001 as floats add them
DECIMALS: list[tuple[Op, bool]] = [
    (("develop", _said(START, 0.1), "transfer", "delivered", "PRK", "uav", "alleged", None), False),
    (("add", 0, _said(START + timedelta(days=1), 0.2)), False),
    (("add", 0, _said(START + timedelta(days=2), 1.1)), False),
]
AT_DECIMALS = [(5, 3), (1, 3), (0, 2)]

# A status change asked for on its effective day, and on the day before
JUDGED: list[tuple[Op, bool]] = [
    (("develop", _said(START, 3), "transfer", "delivered", "PRK", "uav", "alleged", None), False),
    (("judge", 0, "corroborated", START + timedelta(days=5)), False),
]
AT_JUDGED = [(5, 2), (4, 2), (5, 1)]


@common(30)
@given(history=histories, at=points)
@example(history=BOUNDS_MET, at=AT_BOUNDS)
@example(history=DECIMALS, at=AT_DECIMALS)
@example(history=JUDGED, at=AT_JUDGED)
def test_views_equal_the_reference_on_sqlite(
    history: list[tuple[Op, bool]], at: list[tuple[int, int]]
) -> None:
    with sqlite_store() as store:
        replay_and_compare(store, history, at)


@pytest.mark.postgres
@common(8)
@given(history=histories, at=points)
@example(history=BOUNDS_MET, at=AT_BOUNDS)
@example(history=DECIMALS, at=AT_DECIMALS)
@example(history=JUDGED, at=AT_JUDGED)
def test_views_equal_the_reference_on_postgres(
    postgres_admin_url: str, history: list[tuple[Op, bool]], at: list[tuple[int, int]]
) -> None:
    with scratch_database(postgres_admin_url) as url:
        store = Store(url)
        try:
            replay_and_compare(store, history, at)
        finally:
            store.close()
