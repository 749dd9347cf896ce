"""Reading NDJSON event files for `timeline import` and `timeline seed`, with line numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from typing import IO

import msgspec

from events import AnyEvent, InvalidEvent, decode_event
from service.application import Timeline
from service.errors import DomainError


class BadLine(msgspec.Struct, frozen=True):
    """A line of an NDJSON file that could not be imported, and why."""

    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.path}: {self.message}"


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    """What an import did: events stored, events already present, lines skipped."""

    stored: int
    already_present: int
    skipped: tuple[BadLine, ...] = ()


class ImportFailed(Exception):
    """Nothing was stored because of these lines."""

    def __init__(self, bad: list[BadLine]) -> None:
        super().__init__("; ".join(map(str, bad[:5])))
        self.bad = bad


def read_events(lines: Iterable[bytes]) -> Iterator[tuple[int, AnyEvent | BadLine]]:
    """Decode each non-blank line; a line that does not decode yields a `BadLine`."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, decode_event(line)
        except InvalidEvent as error:
            problem = error.errors[0]
            yield number, BadLine(number, problem.path, problem.message)


def import_events(
    timeline: Timeline,
    lines: Iterable[bytes],
    *,
    recorded_by: str,
    skip_bad_lines: bool = False,
    progress: Callable[[int], object] = lambda _: None,
) -> ImportReport:
    """Store every event of an NDJSON stream in one transaction: all of it, or nothing.

    With `skip_bad_lines`, lines that do not decode or that the domain refuses are left out
    and reported; otherwise the first such lines raise `ImportFailed` and nothing is stored.
    """
    numbers: list[int] = []
    events: list[AnyEvent] = []
    bad: list[BadLine] = []
    for number, item in read_events(lines):
        if isinstance(item, BadLine):
            bad.append(item)
        else:
            numbers.append(number)
            events.append(item)
        progress(1)
    if bad and not skip_bad_lines:
        raise ImportFailed(bad)
    while True:
        try:
            outcomes = timeline.append(events, recorded_by=recorded_by) if events else []
            break
        except DomainError as error:
            index = error.index or 0
            refused = BadLine(numbers[index], error.path, error.detail)
            if not skip_bad_lines:
                raise ImportFailed([refused]) from None
            bad.append(refused)
            del numbers[index], events[index]
    created = sum(outcome.created for outcome in outcomes)
    return ImportReport(
        stored=created,
        already_present=len(outcomes) - created,
        skipped=tuple(sorted(bad, key=lambda b: b.line)),
    )


def seed_corpus() -> IO[bytes]:
    """The bundled corpus of real reported developments, 2022-2024, as NDJSON."""
    return resources.files("service").joinpath("seed/corpus.ndjson").open("rb")
