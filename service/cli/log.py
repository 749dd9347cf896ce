"""The verbs on the log as a whole: seed, import, export, and init of the schema."""

from __future__ import annotations

import argparse
import errno
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from events import encode
from events.visible import HIDES, SHOWS_NOTHING
from projections import ensure_schema
from service.application import Timeline, recorded_of
from service.audit import ledger
from service.cli.common import _cannot, _open, _own_files, _progress, _say, _ticking
from service.config import database_url, redacted
from service.domain import PLURAL
from service.ingest import (
    BadLine,
    Batch,
    ImportFailed,
    ImportReport,
    read_batch,
    seed_corpus,
    store_batch,
)
from service.tokens import TokenError, Tokens


def _read(stream: IO[bytes], *, as_stored: bool = False) -> Batch:
    with _progress(None, "line", "reading") as bar:
        return read_batch(stream, bar.update, as_stored=as_stored)


def _import(
    args: argparse.Namespace,
    batch: Batch,
    *,
    recorded_by: str,
    skip: bool,
    chosen: bool = False,
    as_stored: bool = False,
) -> int:
    """Store the batch; `chosen`: `recorded_by` is the operator's, checked against tokens."""
    if batch.bad and not skip:  # refused before the database is opened (or made)
        return _failed(batch.bad)
    timeline = _open(args)
    try:
        if chosen:
            Tokens(timeline.store).check_importer(recorded_by)
    except TokenError as error:
        timeline.close()
        _say(f"error: --recorded-by: {error}; nothing was imported")
        return 2
    try:
        # One transaction: the count moves once, when it commits.
        with _progress(len(batch.events), "event", "storing") as bar, _ticking(bar):
            report = store_batch(timeline, batch, recorded_by=recorded_by, skip_bad_lines=skip,
                                 plural_units=as_stored)  # fmt: skip
            bar.update(len(batch.events))
    except ImportFailed as failure:
        return _failed(failure.bad)
    finally:
        timeline.close()
    _report(report)
    if report.skipped and not report.stored and not report.already_present:
        _say("no line could be imported: every one was skipped")  # a wrong file, likely
        return 1
    return 0


def _failed(bad: Sequence[BadLine]) -> int:
    for line in bad[:20]:
        _say(f"error: {line}")
    if len(bad) > 20:
        _say(f"error: … and {len(bad) - 20} more bad lines")
    _say("nothing was imported (use --skip-bad-lines to import the valid lines)")
    _as_stored_hint(bad)
    return 1


def _report(report: ImportReport) -> None:
    for bad in report.skipped:
        _say(f"skipped {bad}")
    _say(
        f"{report.stored} event(s) stored, {report.already_present} already present, "
        f"{len(report.skipped)} line(s) skipped"
    )
    _as_stored_hint(report.skipped)


def _as_stored_hint(bad: Sequence[BadLine]) -> None:
    if any(word in line.message for line in bad for word in (PLURAL, SHOWS_NOTHING, HIDES)):
        _say(
            "units in the plural, text that shows nothing and actor ids hiding a character are "
            "refused in new events; an export of a log that stored them before that imports "
            "whole with --as-stored"
        )


def cmd_seed(args: argparse.Namespace) -> int:
    """Load the bundled corpus; loading it again stores nothing new."""
    with seed_corpus() as stream:
        batch = _read(stream)
    timeline = _open(args)
    try:
        ids = [event.event_id for event in batch.events if event.event_id is not None]
        held = len(timeline.store.select_by_event_ids(ids))
    finally:
        timeline.close()
    if 0 < held < len(batch.events):  # seeded by a version whose corpus was coded otherwise
        _say(
            f"this database holds {held} of the bundled corpus's {len(batch.events)} events: "
            "an earlier version seeded it, coding the corpus otherwise (see "
            "service/seed/CODING.md), or part of the corpus was imported into it. Nothing was "
            "stored: seeding completes no partial corpus, whose rest may contradict what is "
            "there. To see this version's corpus, seed a new database "
            "(--database sqlite:///other.db)."
        )
        return 0
    return _import(args, batch, recorded_by="seed", skip=False)


def cmd_import(args: argparse.Namespace) -> int:
    """Import an NDJSON file of events as posted, or standard input for `-`."""
    path = Path(args.file)
    try:
        if args.file == "-" and sys.stdin is None:  # its descriptor closed (`<&-`)
            _say("error: standard input is closed; nothing was imported")
            return 2
        if args.file == "-":
            batch = _read(sys.stdin.buffer, as_stored=args.as_stored)
        elif not path.exists() or path.is_dir():  # a pipe (`<(zcat f.gz)`) is read as a file
            _say(f"error: {path} {'is not a file' if path.exists() else 'does not exist'}")
            return 2
        else:
            with path.open("rb") as stream:
                batch = _read(stream, as_stored=args.as_stored)
    except OSError as error:
        return _cannot("read", args.file, error, "; nothing was imported")
    return _import(args, batch, recorded_by=args.recorded_by, skip=args.skip_bad_lines,
                   chosen=True, as_stored=args.as_stored)  # fmt: skip


# A path naming a descriptor this process holds: written through it, not opened again by
# path, which would empty a file opened for appending (`>> log`) or write past what was there
_DESCRIPTOR = re.compile(r"/dev/std(?:(out)|(err))|/dev/fd/(\d+)|/proc/self/fd/(\d+)")


def _descriptor(path: str | None) -> int | None:
    match = None if path is None else _DESCRIPTOR.fullmatch(path)
    if match is None:
        return None
    out, err, fd, proc = match.groups()
    return 1 if out else 2 if err else int(fd or proc)


def cmd_export(args: argparse.Namespace) -> int:
    """Write every event, as posted, one JSON object a line, in position order: to standard
    output, or to a file (`-o`) put in place only once it is whole, or straight into a pipe, a
    device or a descriptor (`-o >(gzip > f.gz)`, `/dev/stdout`)."""
    output = None if args.output in (None, "-") else Path(args.output)
    descriptor = _descriptor(args.output)
    if output is not None and descriptor is None and output.is_dir():
        return _cannot("write", str(output), IsADirectoryError(errno.EISDIR, "Is a directory"))
    # A file is written beside itself (through links, beside the file they lead to) under a
    # name of its own, then renamed over: an export that fails or is interrupted leaves the
    # file as it was, and no part of one. A pipe, a device or a descriptor is written as it is.
    straight = descriptor is not None or (
        output is not None and output.exists() and not output.is_file()
    )
    target = None if output is None or straight else Path(os.path.realpath(output))
    if target is not None and target in _own_files(database_url(args.database)):
        _say(f"error: {output} is the database's own file or its signing key: export elsewhere")
        return 2
    timeline = _open(args, existing=True)
    with ExitStack() as stack:
        stack.callback(timeline.close)
        last = timeline.store.last_position()
        partial = None
        try:  # opened only once the database answered
            if output is None:
                out: IO[bytes] = sys.stdout.buffer
            elif descriptor is not None:
                out = stack.enter_context(os.fdopen(os.dup(descriptor), "wb"))
            elif target is None:
                out = stack.enter_context(output.open("wb"))
            else:
                handle, name = tempfile.mkstemp(
                    prefix=f".{target.name}.", suffix=".partial", dir=target.parent
                )
                partial = Path(name)  # this export's own: gone once put in place
                stack.callback(partial.unlink, missing_ok=True)
                out = stack.enter_context(os.fdopen(handle, "wb"))
        except OSError as error:
            return _cannot("write", str(output), error)
        bar = stack.enter_context(_progress(max(last - args.after, 0), "event", "exporting"))
        count = 0
        try:
            for record in timeline.store.iter_records(after=args.after):
                out.write(encode(recorded_of(record).event) + b"\n")
                bar.update(1)
                count += 1
            out.flush()
            if partial is not None and target is not None:
                os.fsync(out.fileno())
                _mode_of(target, partial)
                partial.replace(target)
        except BrokenPipeError:
            raise  # what read it went away (`| head`): `main` ends quietly
        except OSError as error:
            return _cannot("write", str(output or "standard output"), error)
    _say(f"{count} event(s) exported" + ("" if output is None else f" to {output}"))
    return 0


def _mode_of(target: Path, partial: Path) -> None:
    """Give `partial` the mode of the file it replaces (a file of mode 0600 stays private), or
    of a new file (`mkstemp` makes it 0600 whatever the umask)."""
    if target.exists():
        shutil.copymode(target, partial)
        return
    umask = os.umask(0o022)
    os.umask(umask)
    partial.chmod(0o666 & ~umask)


def cmd_init(args: argparse.Namespace) -> int:
    """Create the database schema, once, before several processes start: the log's tables,
    the read models', the tokens' and the checkpoints'."""
    timeline = Timeline(database_url(args.database), create=True)
    try:
        ensure_schema(timeline.store)
        Tokens(timeline.store)
        ledger.ensure_table(timeline.store)
    finally:
        timeline.close()
    _say(f"schema ready in {redacted(database_url(args.database))}")
    return 0
