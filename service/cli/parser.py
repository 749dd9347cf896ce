"""The argument parser of every verb, and the entry point that runs one and maps its errors."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO, cast

from projections import NAMES
from service.audit import KeyFileError, KeyFileUnreadable
from service.cli.arguments import poll_seconds, principal, public_key, whole
from service.cli.audit import cmd_checkpoint, cmd_verify
from service.cli.backup import cmd_backup
from service.cli.common import ClosedOutput, _say
from service.cli.log import cmd_export, cmd_import, cmd_init, cmd_seed
from service.cli.serve import cmd_projections_rebuild, cmd_projections_run, cmd_serve
from service.cli.tokens import cmd_tokens_create, cmd_tokens_list, cmd_tokens_revoke
from service.config import ConfigError
from service.errors import Busy, ReadOnly, StorageFull, Unavailable
from service.store.records import MAX_POSITION
from service.tokens import ROLES

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")  # uvicorn's
EXIT_STATUS = (
    "exit status: 0 done; 1 refused (bad lines in an import, a log not intact, a token "
    "request); 2 a usage or configuration error (also: no database file for a command that "
    "works on an existing one, an input file or checkpoint path that does not exist, a port in "
    "use); 74 a file could not be read or written (the database too, when it may only be "
    "read; standard output), or the database's disk is full; 75 the database was busy or "
    "unreachable: run the command again; 130 interrupted (Ctrl-C; each write is whole or "
    "absent); 141 what read standard output went away"
)


# What each verb does, atop its own --help (its parent's list of verbs gives the short `help`).
DESCRIPTIONS = {
    "serve": "Serve the HTTP API and the web page, keeping the read models up to date unless "
    "told --no-projections.",
    "seed": "Load the bundled corpus of reporting; loading it again stores nothing new.",
    "import": "Import events from NDJSON, keeping their event ids: an event already stored is "
    "stored once, and a bad line stores nothing unless --skip-bad-lines.",
    "export": "Write the log's events as posted, one NDJSON line each in position order, as "
    "`timeline import` reads them.",
    "backup": "Copy a SQLite database as of one commit, while it is in use, to a new file; "
    "the signing key too with --with-key.",
    "init": "Create every table once (log, read models, tokens, checkpoints); run it after "
    "every upgrade.",
    "verify": "Recompute the log's hash chain and check it against a checkpoint (given, else "
    "the latest stored of each key that signed one); exit 0 when the log is intact.",
    "checkpoint": "Sign the head of the log now and print the checkpoint JSON to keep outside "
    "the service; a head signed already prints its checkpoint again.",
    "projections": "Keep the read models up to date, or fold the log into them again.",
    "projections run": "Keep the read models up to date by following the log (beside "
    "`timeline serve --no-projections`).",
    "projections rebuild": "Fold the log again from position 0 into the read models, every "
    "one or the one named, with progress.",
    "tokens": "Create, list and revoke API tokens.",
    "tokens create": "Create a token and print it once, alone on standard output; only its "
    "hash is stored.",
    "tokens list": "List every token: name, role, when made, whether revoked.",
    "tokens revoke": "Revoke a token by name.",
}


def _describe_verbs(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Give each verb under `parser` its description, and name the verbs where one is asked
    for, so that one left out reads `required: VERB (run or rebuild)`, not an attribute."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            *others, last = action.choices
            action.metavar = f"VERB ({', '.join(others)} or {last})"
            parser.usage = "%(prog)s [-h] [--database URL] VERB ..."  # the list wraps badly
            for name, child in action.choices.items():
                child.description = DESCRIPTIONS[f"{path}{name}"]
                _describe_verbs(child, f"{path}{name} ")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every verb."""
    parser = argparse.ArgumentParser(
        prog="timeline",
        description="Event-sourced timeline of reported arms-transfer developments.",
        epilog=EXIT_STATUS,
    )
    # before the verb or after it (`timeline --database URL export`); given after, it wins
    common = argparse.ArgumentParser(add_help=False)
    for taking, default in ((parser, None), (common, argparse.SUPPRESS)):
        taking.add_argument(
            "--database",
            metavar="URL",
            default=default,
            help="sqlite:///path.db or postgresql://user@host:port/db "
            "(default: $TIMELINE_DATABASE, else sqlite:///timeline.db)",
        )
    verbs = parser.add_subparsers(dest="verb", required=True)

    serve = verbs.add_parser("serve", parents=[common], help="serve the HTTP API")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=whole(1, 65535),
        default=8000,
        help="TCP port, 1 to 65535 (default: %(default)s)",
    )
    serve.add_argument(
        "--workers",
        metavar="N",
        type=whole(1),
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
    serve.add_argument(
        "--check",
        action="store_true",
        help="check the settings, the signing key, the database (it can be opened, or made, "
        "without making anything) and that the port is free, then exit without serving "
        "(0: it would serve)",
    )
    serve.set_defaults(run=cmd_serve)

    seed = verbs.add_parser("seed", parents=[common], help="load the bundled corpus")
    seed.set_defaults(run=cmd_seed)

    load = verbs.add_parser("import", parents=[common], help="import events from NDJSON")
    load.add_argument(
        "file",
        metavar="FILE",
        help="NDJSON file: one event per line, as posted (what export writes) or as the log's "
        "NDJSON gives it (GET /api/events); - reads standard input",
    )
    load.add_argument(
        "--skip-bad-lines", action="store_true", help="import the valid lines, report the rest"
    )
    load.add_argument(
        "--as-stored",
        "--plural-units",  # its name before session 21, when it let in plural units alone
        dest="as_stored",
        action="store_true",
        help="read each line as the log reads the events it stored, without the checks added "
        "for new events after a log may have stored some: a unit written as a plural "
        "('missiles'), text that shows nothing, an actor id holding an unseen character. For "
        "an export of a log that holds such events (new events should say 'missile')",
    )
    load.add_argument(
        "--recorded-by",
        metavar="NAME",
        type=principal,
        default="import",
        help="principal to record as recorded_by, 1 to 100 printable characters "
        "(default: %(default)s)",
    )
    load.set_defaults(run=cmd_import)

    dump = verbs.add_parser("export", parents=[common], help="export events as NDJSON")
    dump.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="file to write, put in place once whole (default, or -: standard output)",
    )
    dump.add_argument(
        "--after",
        metavar="POSITION",
        type=whole(0, MAX_POSITION),
        default=0,
        help="start after this position of the log (default: %(default)s, the whole log)",
    )
    dump.set_defaults(run=cmd_export)

    copy = verbs.add_parser(
        "backup", parents=[common], help="copy a SQLite database, consistent while in use"
    )
    copy.add_argument("file", metavar="FILE", help="the new file to write the copy to")
    copy.add_argument(
        "--with-key",
        action="store_true",
        help="copy the signing key too, beside the copy as FILE.key",
    )
    copy.set_defaults(run=cmd_backup)

    init = verbs.add_parser("init", parents=[common], help="create the database schema")
    init.set_defaults(run=cmd_init)

    check = verbs.add_parser("verify", parents=[common], help="verify the log's hash chain")
    check.add_argument("--checkpoint", metavar="FILE", help="a checkpoint JSON file kept outside")
    check.add_argument(
        "--public-key",
        metavar="HEX",
        type=public_key,
        help="the key the checkpoint must be signed with (each checkpoint names it); "
        "without it, the checkpoint's own key is taken on trust",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--read-models",
        action="store_true",
        help="also rebuild the read models from the verified log and say whether the rows "
        "served before were those (exit 1 if not; they are the rebuilt ones after)",
    )
    check.set_defaults(run=cmd_verify)

    sign = verbs.add_parser("checkpoint", parents=[common], help="sign the head of the log now")
    sign.set_defaults(run=cmd_checkpoint)

    # a group takes it too, between itself and its verb (`timeline tokens --database URL list`)
    projections = verbs.add_parser(
        "projections", parents=[common], help="read models: run or rebuild"
    )
    projection_verbs = projections.add_subparsers(dest="projections_verb", required=True)
    follow = projection_verbs.add_parser("run", parents=[common], help="follow the log")
    follow.add_argument(
        "--poll-seconds",
        metavar="SECONDS",
        type=poll_seconds,
        default=0.1,
        help="how often the log is read for new events, from 0.01 to 3600 (default: %(default)s)",
    )
    follow.set_defaults(run=cmd_projections_run)
    again = projection_verbs.add_parser("rebuild", parents=[common], help="rebuild from 0")
    again.add_argument("name", nargs="?", choices=NAMES, help="one projection (default: all)")
    again.set_defaults(run=cmd_projections_rebuild)

    tokens = verbs.add_parser("tokens", parents=[common], help="API tokens: create, list, revoke")
    token_verbs = tokens.add_subparsers(dest="tokens_verb", required=True)
    create = token_verbs.add_parser("create", parents=[common], help="create a token")
    create.add_argument(
        "--name", required=True, type=principal, help="who or what uses it; recorded_by"
    )
    create.add_argument("--role", required=True, choices=ROLES, help="what the token may do")
    create.set_defaults(run=cmd_tokens_create)
    listing = token_verbs.add_parser("list", parents=[common], help="list tokens")
    listing.set_defaults(run=cmd_tokens_list)
    revoke = token_verbs.add_parser("revoke", parents=[common], help="revoke a token")
    revoke.add_argument("name", metavar="NAME", help="the token's name, as `tokens list` shows it")
    revoke.set_defaults(run=cmd_tokens_revoke)
    _describe_verbs(parser)
    return parser


_RESULTS_ON_STANDARD_OUTPUT = frozenset({"export", "verify", "checkpoint", "tokens"})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `timeline` console script."""
    args = build_parser().parse_args(argv)
    if sys.stdout is None:  # its descriptor closed (`>&-`)
        # a verb whose results go there says it cannot write them; a server's access log goes
        # nowhere, as it would have
        closed = args.verb in _RESULTS_ON_STANDARD_OUTPUT
        sys.stdout = cast(TextIO, ClosedOutput()) if closed else open(os.devnull, "w")  # noqa: SIM115
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
    except ReadOnly as error:
        _say(
            f"error: the database may not be written ({error}). Nothing was changed by this "
            "command: let this user write the database file and its folder (on PostgreSQL, grant "
            "this role the privileges), or use another"
        )
        return 74  # EX_IOERR
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
    except KeyboardInterrupt:
        _say(
            "interrupted. Each write to the database is whole or not there at all: an import "
            "run again stores what is missing, once"
        )
        return 130  # 128 + SIGINT, as a shell reports it
    except BrokenPipeError:  # what reads standard output went away (`| head -1`): quiet
        _drop_output()
        return 141  # 128 + SIGPIPE, as a shell reports a command that died writing to a pipe
    except OSError as error:  # standard output or a file could not be written, say
        named = f": {error.filename}" if error.filename else ""
        _say(f"error: {error.strerror or error}{named}")
        return 74  # EX_IOERR
    return code


def _drop_output() -> None:
    """Point standard output at /dev/null, so that what is left in its buffer does not raise
    again at exit (where Python would print the error)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(null, sys.stdout.fileno())
    except (AttributeError, ValueError, OSError):  # no descriptor (replaced, or closed)
        pass
    finally:
        os.close(null)
