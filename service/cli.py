"""The `timeline` command: serve, seed, import, export and the maintenance verbs.

Results go to standard output; messages and progress bars go to standard error.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from events import encode
from projections import NAMES, ensure_schema, rebuild, run_forever, stale
from service.application import Timeline, recorded_of
from service.audit import (
    CheckpointFileError,
    EmptyLog,
    KeyFileError,
    KeyFileUnreadable,
    LogTampered,
    check_key,
    dump_checkpoint,
    key_path,
    ledger,
    make_checkpoint,
    read_checkpoint_file,
    summary,
    verify,
)
from service.config import ConfigError, database_url, sqlite_file
from service.errors import Busy, StorageFull, Unavailable
from service.ingest import Batch, ImportFailed, ImportReport, read_batch, seed_corpus, store_batch
from service.serving import check_free, default_workers, serve
from service.store.log import LogRecorder
from service.tokens import ROLES, TokenError, Tokens, check_principal

Command = Callable[[argparse.Namespace], int]
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")  # uvicorn's
EXIT_STATUS = (
    "exit status: 0 done; 1 refused (bad lines in an import, a log not intact, a token "
    "request); 2 a usage or configuration error (also: no database file for a command that "
    "works on an existing one, an input file that does not exist, a port in use); 74 a file "
    "could not be read or written, or the database's "
    "disk is full; 75 the database was busy or unreachable: run the command again"
)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _open(args: argparse.Namespace, *, existing: bool = False) -> Timeline:
    """The timeline at `--database`; with `existing`, a missing SQLite file, or a database
    without the log's tables, is an error rather than a new empty timeline, for commands that
    would only report on nothing."""
    url = database_url(args.database)
    path = sqlite_file(url)
    if existing and path is not None and not path.exists():
        raise ConfigError(
            f"no database at {path} ({url}); this command creates none: "
            "check --database or TIMELINE_DATABASE"
        )
    return Timeline(url, existing=existing)


def _cannot(doing: str, name: str, error: OSError, consequence: str = "") -> int:
    _say(f"error: cannot {doing} {name}: {error.strerror or error}{consequence}")
    return 74  # EX_IOERR


def _progress(total: int | None, unit: str, description: str) -> tqdm[Any]:
    return tqdm(total=total, unit=unit, desc=description, file=sys.stderr, disable=None)


@contextmanager
def _ticking(bar: tqdm[Any]) -> Iterator[None]:
    """Redraw `bar` twice a second while one long call runs, so its elapsed time moves."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    if not bar.disable:
        ticker.start()
    try:
        yield
    finally:
        stop.set()
        if ticker.is_alive():
            ticker.join()


def _read(stream: IO[bytes]) -> Batch:
    with _progress(None, "line", "reading") as bar:
        return read_batch(stream, bar.update)


def _import(
    args: argparse.Namespace, batch: Batch, *, recorded_by: str, skip: bool, chosen: bool = False
) -> int:
    """Store the batch; `chosen`: `recorded_by` is the operator's, checked against tokens."""
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
            report = store_batch(timeline, batch, recorded_by=recorded_by, skip_bad_lines=skip)
            bar.update(len(batch.events))
    except ImportFailed as failure:
        for bad in failure.bad[:20]:
            _say(f"error: {bad}")
        if len(failure.bad) > 20:
            _say(f"error: … and {len(failure.bad) - 20} more bad lines")
        _say("nothing was imported (use --skip-bad-lines to import the valid lines)")
        return 1
    finally:
        timeline.close()
    _report(report)
    return 0


def _report(report: ImportReport) -> None:
    for bad in report.skipped:
        _say(f"skipped {bad}")
    _say(
        f"{report.stored} event(s) stored, {report.already_present} already present, "
        f"{len(report.skipped)} line(s) skipped"
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
        if args.file == "-":
            batch = _read(sys.stdin.buffer)
        elif not path.is_file():
            _say(f"error: {path} {'is not a file' if path.exists() else 'does not exist'}")
            return 2
        else:
            with path.open("rb") as stream:
                batch = _read(stream)
    except OSError as error:
        return _cannot("read", args.file, error, "; nothing was imported")
    return _import(args, batch, recorded_by=args.recorded_by, skip=args.skip_bad_lines, chosen=True)


def cmd_export(args: argparse.Namespace) -> int:
    """Write every event, as posted, one JSON object a line, in position order."""
    timeline = _open(args, existing=True)
    with ExitStack() as stack:
        stack.callback(timeline.close)
        last = timeline.store.last_position()
        # The file is opened (and emptied) only once the database answered.
        try:
            out: IO[bytes] = (
                stack.enter_context(Path(args.output).open("wb"))
                if args.output
                else sys.stdout.buffer
            )
        except OSError as error:
            return _cannot("write", args.output, error)
        bar = stack.enter_context(_progress(max(last - args.after, 0), "event", "exporting"))
        count = 0
        try:
            for record in timeline.store.iter_records(after=args.after):
                out.write(encode(recorded_of(record).event) + b"\n")
                bar.update(1)
                count += 1
            out.flush()
        except OSError as error:
            return _cannot("write", args.output or "standard output", error)
    _say(f"{count} event(s) exported")
    return 0


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
    _say(f"schema ready in {database_url(args.database)}")
    return 0


def _tokens(
    args: argparse.Namespace, act: Callable[[Tokens], int], *, existing: bool = True
) -> int:
    timeline = _open(args, existing=existing)
    try:
        return act(Tokens(timeline.store))
    except TokenError as error:
        _say(f"error: {error}")
        return 1
    finally:
        timeline.close()


def cmd_tokens_create(args: argparse.Namespace) -> int:
    """Print a new token, alone on standard output, so `TOKEN=$(timeline tokens create …)` works."""

    def create(tokens: Tokens) -> int:
        print(tokens.create(args.name, args.role))
        _say(f"token {args.name!r} ({args.role}) created; it is shown once and stored as a hash")
        return 0

    return _tokens(args, create, existing=False)


def cmd_tokens_list(args: argparse.Namespace) -> int:
    """List tokens: name, role, created, revoked."""

    def show(tokens: Tokens) -> int:
        for token in tokens.list():
            revoked = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "live"
            print(f"{token.name}\t{token.role}\t{token.created_at:%Y-%m-%d %H:%M}\t{revoked}")
        return 0

    return _tokens(args, show)


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    """Revoke a token by name."""

    def revoke(tokens: Tokens) -> int:
        tokens.revoke(args.name)
        _say(f"token {args.name!r} revoked")
        return 0

    return _tokens(args, revoke)


def cmd_verify(args: argparse.Namespace) -> int:
    """Recompute the hash chain; exit 0 when the log is intact (and extends the checkpoint)."""
    if args.public_key and not args.checkpoint:
        _say("error: --public-key pins the key of a --checkpoint; give the checkpoint too")
        return 2
    timeline = _open(args, existing=True)
    try:
        checkpoint = read_checkpoint_file(Path(args.checkpoint)) if args.checkpoint else None
        pinned = (args.public_key or "").strip().lower()
        if checkpoint is not None and pinned and checkpoint.public_key.lower() != pinned:
            _say(
                f"NOT TRUSTED: the checkpoint was signed with public key {checkpoint.public_key}, "
                f"not the one pinned ({pinned}): whoever holds that key can sign a rewritten log"
            )
            return 1
        with _progress(timeline.store.last_position(), "event", "verifying") as bar:

            def advance(rows: int) -> None:
                bar.update(rows)

            report = verify(timeline, checkpoint, progress=advance)
    except CheckpointFileError as error:
        _say(f"error: {error}")
        return 2
    finally:
        timeline.close()
    if args.json:
        sys.stdout.buffer.write(encode(report) + b"\n")
    else:
        sys.stdout.write(summary(report))
    return 0 if report.ok else 1


def cmd_checkpoint(args: argparse.Namespace) -> int:
    """Sign the head of the log now and print the checkpoint, to keep outside the service."""
    timeline = _open(args, existing=True)
    try:
        checkpoint = make_checkpoint(timeline)
    except (EmptyLog, LogTampered) as error:
        _say(f"error: {error.detail}")
        return 1
    finally:
        timeline.close()
    sys.stdout.buffer.write(dump_checkpoint(checkpoint))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the HTTP API and the web page, in one process or several workers."""
    from service.http.app import settings_from_environment  # the web stack: only to serve

    settings_from_environment()  # a setting that is not one is said before anything starts
    url = database_url(args.database)
    check_key(key_path(url))  # as is a signing key there that cannot be used
    try:
        check_free(args.host, args.port)
    except OSError as error:
        raise ConfigError(
            f"cannot listen on {args.host}:{args.port}: {error.strerror or error}"
        ) from None
    if args.no_projections:  # `timeline projections run` keeps the read models, and rebuilds
        Timeline(url).close()  # create the schema once, before any worker starts
        os.environ["TIMELINE_RUN_PROJECTIONS"] = "0"
    else:
        _rebuild_stale(Timeline(url))  # and create the schema once, before any worker starts
    os.environ["TIMELINE_DATABASE"] = url
    workers = args.workers or default_workers(url)
    _say(f"serving {url} on http://{args.host}:{args.port} with {workers} worker(s)")
    serve(args.host, args.port, workers=workers, log_level=args.log_level)
    return 0


def cmd_projections_run(args: argparse.Namespace) -> int:
    """Follow the log and keep the read models, until SIGINT or SIGTERM."""
    url = database_url(args.database)
    _rebuild_stale(_open(args, existing=True))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    _say(f"following the log of {url}")
    run_forever(url, stop, poll_seconds=args.poll_seconds)
    return 0


def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    """Clear the read models (or one) and fold the whole log again."""
    timeline = _open(args, existing=True)
    try:
        _rebuild(timeline.store, args.name)
    finally:
        timeline.close()
    return 0


def _rebuild(target: str | LogRecorder, names: str | Sequence[str] | None) -> None:
    """Rebuild with a progress bar, and say how it went."""
    with _progress(None, "event", "rebuilding") as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = rebuild(target, names, progress=advance)
    _say(
        f"rebuilt {', '.join(result.names)}: {result.events:,} events in "
        f"{result.seconds:.1f} s ({result.events_per_second:,.0f} events/s)"
    )


def _rebuild_stale(timeline: Timeline) -> None:
    """Rebuild the read models that another version of their fold wrote, before serving or
    following the log from them; then close the timeline."""
    try:
        names = stale(timeline.store)
        if names:
            _say(
                f"the read models of {', '.join(names)} were written by another version of "
                "this service: rebuilding them from the log first"
            )
            _rebuild(timeline.store, names)
    finally:
        timeline.close()


def _public_key(text: str) -> str:
    """An argument type: an Ed25519 public key as 64 hexadecimal digits, as checkpoints give it."""
    key = text.strip().lower()
    if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
        raise argparse.ArgumentTypeError(f"{text!r}: an Ed25519 public key is 64 hex digits")
    return key


def _whole(least: int, most: int | None = None) -> Callable[[str], int]:
    """An argument type: a whole number from `least` to `most`."""
    span = f"from {least} to {most}" if most is not None else f"at least {least}"

    def parse(text: str) -> int:
        value = int(text) if text.isascii() and text.isdigit() else None
        if value is None or value < least or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"{text!r}: a whole number {span}")
        return value

    return parse


def _poll_seconds(text: str) -> float:
    """An argument type: seconds between reads of the log, from 0.01 to 3600."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.01 <= value <= 3600:  # nan fails too; 0 or less would spin a core
        raise argparse.ArgumentTypeError(f"{text!r}: a number of seconds from 0.01 to 3600")
    return value


def _principal(text: str) -> str:
    try:
        return check_principal(text)
    except TokenError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every verb."""
    parser = argparse.ArgumentParser(
        prog="timeline",
        description="Event-sourced timeline of reported arms-transfer developments.",
        epilog=EXIT_STATUS,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database",
        metavar="URL",
        help="sqlite:///path.db or postgresql://user@host:port/db "
        "(default: $TIMELINE_DATABASE, else sqlite:///timeline.db)",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    serve = verbs.add_parser("serve", parents=[common], help="serve the HTTP API")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=_whole(1, 65535),
        default=8000,
        help="TCP port, 1 to 65535 (default: %(default)s)",
    )
    serve.add_argument(
        "--workers",
        type=_whole(1),
        help="server processes, at least 1 "
        "(default: 1 on SQLite, one per usable CPU up to 8 on PostgreSQL)",
    )
    serve.add_argument(
        "--no-projections",
        action="store_true",
        help="do not keep the read models here (run `timeline projections run` instead)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=LOG_LEVELS, help="server log (default: %(default)s)"
    )
    serve.set_defaults(run=cmd_serve)

    seed = verbs.add_parser("seed", parents=[common], help="load the bundled corpus")
    seed.set_defaults(run=cmd_seed)

    load = verbs.add_parser("import", parents=[common], help="import events from NDJSON")
    load.add_argument(
        "file", help="NDJSON file, one event as posted per line; - reads standard input"
    )
    load.add_argument(
        "--skip-bad-lines", action="store_true", help="import the valid lines, report the rest"
    )
    load.add_argument(
        "--recorded-by",
        type=_principal,
        default="import",
        help="principal to record as recorded_by, 1 to 100 printable characters "
        "(default: %(default)s)",
    )
    load.set_defaults(run=cmd_import)

    dump = verbs.add_parser("export", parents=[common], help="export events as NDJSON")
    dump.add_argument("--output", "-o", help="file to write (default: standard output)")
    dump.add_argument("--after", type=_whole(0), default=0, help="start after this position")
    dump.set_defaults(run=cmd_export)

    init = verbs.add_parser("init", parents=[common], help="create the database schema")
    init.set_defaults(run=cmd_init)

    check = verbs.add_parser("verify", parents=[common], help="verify the log's hash chain")
    check.add_argument("--checkpoint", metavar="FILE", help="a checkpoint JSON file kept outside")
    check.add_argument(
        "--public-key",
        metavar="HEX",
        type=_public_key,
        help="the key the checkpoint must be signed with (each checkpoint names it); "
        "without it, the checkpoint's own key is taken on trust",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(run=cmd_verify)

    sign = verbs.add_parser("checkpoint", parents=[common], help="sign the head of the log now")
    sign.set_defaults(run=cmd_checkpoint)

    projections = verbs.add_parser("projections", help="read models: run or rebuild")
    projection_verbs = projections.add_subparsers(dest="projections_verb", required=True)
    follow = projection_verbs.add_parser("run", parents=[common], help="follow the log")
    follow.add_argument(
        "--poll-seconds",
        type=_poll_seconds,
        default=0.1,
        help="how often the log is read for new events, in seconds (default: %(default)s)",
    )
    follow.set_defaults(run=cmd_projections_run)
    again = projection_verbs.add_parser("rebuild", parents=[common], help="rebuild from 0")
    again.add_argument("name", nargs="?", choices=NAMES, help="one projection (default: all)")
    again.set_defaults(run=cmd_projections_rebuild)

    tokens = verbs.add_parser("tokens", help="API tokens: create, list, revoke")
    token_verbs = tokens.add_subparsers(dest="tokens_verb", required=True, metavar="VERB")
    create = token_verbs.add_parser("create", parents=[common], help="create a token")
    create.add_argument(
        "--name", required=True, type=_principal, help="who or what uses it; recorded_by"
    )
    create.add_argument("--role", required=True, choices=ROLES, help="what the token may do")
    create.set_defaults(run=cmd_tokens_create)
    listing = token_verbs.add_parser("list", parents=[common], help="list tokens")
    listing.set_defaults(run=cmd_tokens_list)
    revoke = token_verbs.add_parser("revoke", parents=[common], help="revoke a token")
    revoke.add_argument("name", help="the token's name, as `tokens list` shows it")
    revoke.set_defaults(run=cmd_tokens_revoke)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `timeline` console script."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigError as error:
        _say(f"error: {error}")
        return 2
    except Busy as error:
        _say(
            f"error: the database is busy ({error}); another writer holds its lock, a rebuild "
            "say. Nothing was changed by this command: run it again later, or give the database "
            "URL a longer ?lock_timeout=SECONDS"
        )
        return 75  # EX_TEMPFAIL
    except Unavailable as error:
        _say(f"error: the database could not be reached or used ({error}); run the command again")
        return 75
    except KeyFileError as error:
        _say(f"error: {error}")
        return 74 if isinstance(error, KeyFileUnreadable) else 2
    except StorageFull as error:
        _say(
            f"error: the database's disk is full ({error}). Nothing was changed by this "
            "command: free space and run it again"
        )
        return 74  # EX_IOERR
    return code


if __name__ == "__main__":
    sys.exit(main())
