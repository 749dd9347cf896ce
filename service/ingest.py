"""Reading NDJSON event files for `timeline import` and `timeline seed`, with line numbers."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from typing import IO

import msgspec

from events import AnyEvent, InvalidEvent, decode_event, decode_new_event
from service.application import Timeline
from service.errors import DomainError
from service.writing import Outcome, Request


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


class _LogLine(msgspec.Struct):
    """A line of the log's NDJSON (`GET /api/events`): the event under `event`."""

    position: int
    event: msgspec.Raw


_log_line = msgspec.json.Decoder(_LogLine)


def read_events(
    lines: Iterable[bytes], *, as_stored: bool = False
) -> Iterator[tuple[int, AnyEvent | BadLine]]:
    """Decode each non-blank line, an event as posted or a line of the log's NDJSON (its event
    taken); a line that does not decode yields a `BadLine`. A new event's text must show
    something (`decode_new_event`); `as_stored` reads each as the log reads its own events,
    for an export of a log that stored such text before that was refused."""
    decode = decode_event if as_stored else decode_new_event
    for number, line in enumerate(lines, start=1):
        # as some editors on Windows save UTF-8, each file of several joined into one
        line = line.removeprefix(codecs.BOM_UTF8)
        if number == 1 and (wrong := _not_ndjson(line)) is not None:
            yield number, BadLine(number, "$", wrong)  # and not a line of noise after another
            return
        if not line.strip():
            continue
        if b"\x00" in line:  # UTF-16 without its mark, or a damaged line
            yield number, BadLine(number, "$", _NUL)
            continue
        try:
            yield number, decode(line)
        except InvalidEvent as error:
            found = _from_log(number, line, decode)
            if found is None and number == 1 and _is_a_page(line):
                found = BadLine(number, "$", _PAGE)
            yield number, found or _bad(number, error, "$")


# What a file that is not NDJSON text starts with, and what to do with it
_NOT_TEXT = (
    (b"\x1f\x8b", "the file is compressed with gzip: import `zcat FILE | timeline import -`"),
    (codecs.BOM_UTF16_LE, "the file is UTF-16 text: save it as UTF-8"),
    (codecs.BOM_UTF16_BE, "the file is UTF-16 text: save it as UTF-8"),
)
_NUL = "the line holds NUL bytes: it is not UTF-8 text (UTF-16 without its mark, say)"
_PAGE = (
    "a JSON page of GET /api/events, not NDJSON: ask it with `Accept: application/x-ndjson`, "
    "or export with `timeline export`"
)


def _not_ndjson(first: bytes) -> str | None:
    """What is wrong with a file whose first line is `first`, if it is plainly no NDJSON text
    at all (a line with a NUL byte may be one damaged line among good ones)."""
    for start, said in _NOT_TEXT:
        if first.startswith(start):
            return said
    return None


def _is_a_page(line: bytes) -> bool:
    """Whether a line is a page of `GET /api/events` in JSON (a whole page is one line)."""
    try:
        page = msgspec.json.decode(line)
    except (msgspec.DecodeError, RecursionError):
        return False
    return isinstance(page, dict) and isinstance(page.get("items"), list)


def _from_log(
    number: int, line: bytes, decode: Callable[[bytes | str], AnyEvent]
) -> AnyEvent | BadLine | None:
    """The event of a line of the log's NDJSON, or None for a line that is not one."""
    try:
        raw = _log_line.decode(line).event
    except (msgspec.DecodeError, RecursionError):  # malformed, too deep, or not a log line
        return None
    try:
        return decode(raw)
    except InvalidEvent as error:
        return _bad(number, error, "$.event")


def _bad(number: int, error: InvalidEvent, at: str) -> BadLine:
    problem = error.errors[0]
    return BadLine(number, at + problem.path.removeprefix("$"), problem.message)


class Batch(msgspec.Struct, frozen=True, kw_only=True):
    """A file read: its events with their line numbers, and the lines that did not decode."""

    numbers: list[int]
    events: list[AnyEvent]
    bad: list[BadLine]


def read_batch(
    lines: Iterable[bytes],
    progress: Callable[[int], object] = lambda _: None,
    *,
    as_stored: bool = False,
) -> Batch:
    """Every line of an NDJSON stream decoded (`read_events`); `progress(1)` after each
    non-blank line."""
    batch = Batch(numbers=[], events=[], bad=[])
    for number, item in read_events(lines, as_stored=as_stored):
        if isinstance(item, BadLine):
            batch.bad.append(item)
        else:
            batch.numbers.append(number)
            batch.events.append(item)
        progress(1)
    return batch


def import_events(
    timeline: Timeline,
    lines: Iterable[bytes],
    *,
    recorded_by: str,
    skip_bad_lines: bool = False,
    as_stored: bool = False,
    progress: Callable[[int], object] = lambda _: None,
) -> ImportReport:
    """Store every event of an NDJSON stream in one transaction: all of it, or nothing; with
    `as_stored`, read as the log reads its own events (`read_events`, `store_batch`)."""
    batch = read_batch(lines, progress, as_stored=as_stored)
    return store_batch(timeline, batch, recorded_by=recorded_by, skip_bad_lines=skip_bad_lines,
                       plural_units=as_stored)  # fmt: skip


def store_batch(
    timeline: Timeline,
    batch: Batch,
    *,
    recorded_by: str,
    skip_bad_lines: bool = False,
    plural_units: bool = False,
) -> ImportReport:
    """Store the events of a file in one transaction: all of them, or nothing.

    With `skip_bad_lines`, lines that do not decode or that the domain refuses are left out
    and reported; otherwise the first such lines raise `ImportFailed` and nothing is stored.
    With `plural_units`, units written as plurals are stored as they are (an export of a log
    that holds events stored before they were refused).
    """
    if batch.bad and not skip_bad_lines:
        raise ImportFailed(batch.bad)
    refused: list[BadLine] = []
    if not skip_bad_lines:
        try:
            outcomes = (
                timeline.append(batch.events, recorded_by=recorded_by, plural_units=plural_units)
                if batch.events
                else []
            )
        except DomainError as error:
            raise ImportFailed([_refused(batch.numbers[error.index or 0], error)]) from None
    else:
        outcomes, refused = _store_each(
            timeline, batch.numbers, batch.events, recorded_by, plural_units
        )
    created = sum(outcome.created for outcome in outcomes)
    return ImportReport(
        stored=created,
        already_present=len(outcomes) - created,
        skipped=tuple(sorted(batch.bad + refused, key=lambda b: b.line)),
    )


def _refused(number: int, error: DomainError) -> BadLine:
    return BadLine(number, error.path, error.detail)


def _store_each(
    timeline: Timeline,
    numbers: list[int],
    events: list[AnyEvent],
    recorded_by: str,
    plural_units: bool,
) -> tuple[list[Outcome], list[BadLine]]:
    """Store, in one transaction, the events one batch keeps when its refused events are taken
    out one by one, deciding each event once: against those kept before it."""
    requests = [
        Request(events=[event], recorded_by=recorded_by, plural_units=plural_units)
        for event in events
    ]
    results = timeline.append_group(requests) if requests else []
    outcomes: list[Outcome] = []
    refused: list[BadLine] = []
    for number, result in zip(numbers, results, strict=True):
        if isinstance(result, DomainError):
            refused.append(_refused(number, result))
        else:
            outcomes.extend(result)
    return outcomes, refused


def seed_corpus() -> IO[bytes]:
    """The bundled corpus of real reported developments, 2022-2024, as NDJSON."""
    return resources.files("service").joinpath("seed/corpus.ndjson").open("rb")
