"""The audit verbs: verify the log's hash chain, sign a checkpoint of its head."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from events import encode
from projections import NAMES, LogMoved, stale, verify_rebuild
from service.audit import (
    CheckpointFileError,
    EmptyLog,
    LogTampered,
    dump_checkpoint,
    make_checkpoint,
    read_checkpoint_file,
    summary,
    verify,
)
from service.cli.common import _open, _progress, _say
from service.errors import Busy


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
    differences, outdated = _read_models(args) if args.read_models and report.ok else (None, [])
    ok = report.ok and not differences
    if args.json:
        shown = msgspec.to_builtins(report)
        if differences is not None:
            # `agree` of those compared; null when none was
            agree = None if _none_compared(outdated) else not differences
            compared = {"agree": agree, "differ": differences, "not_compared": outdated}
            shown.update(ok=ok, read_models=compared)
        sys.stdout.buffer.write(encode(shown) + b"\n")
    else:
        sys.stdout.write(summary(report, list(differences or {})))
    return 0 if ok else 1


ATTEMPTS = 3  # comparisons of the read models tried while events keep being recorded


def _read_models(args: argparse.Namespace) -> tuple[dict[str, str], list[str]]:
    """Rebuild the read models from the verified log; what differed from the rows served before,
    by table (the hash chain covers the log, not the rows derived from it), and the projections
    not compared: written by another version, which are rebuilt before they are served."""
    timeline = _open(args, existing=True)
    try:
        outdated = stale(timeline.store)
        if outdated:  # `verify_rebuild` leaves them out
            _say(
                f"read models: {', '.join(outdated)} were written by another version of this "
                "service and are not compared (not served either: `timeline serve`, "
                "`timeline projections run` or `timeline projections rebuild` rebuilds them)"
            )
            if _none_compared(outdated):
                return {}, outdated
        for attempt in range(1, ATTEMPTS + 1):
            _say("read models: rebuilding them from the log to compare")
            try:
                differences = verify_rebuild(timeline.store)
                break
            except LogMoved as moved:
                if attempt == ATTEMPTS:
                    raise Busy(str(moved)) from None
                _say(f"read models: {moved}; again")
    finally:
        timeline.close()
    if not differences:
        others = "of the others " if outdated else ""
        _say(f"read models: every row {others}agrees with a rebuild from the log")
    for table, difference in differences.items():
        _say(f"read models DIFFERED in {table}: {difference[:300]}")
    if differences:
        _say("read models: the rows served before differed from the log's; they are rebuilt now")
    return differences, outdated


def _none_compared(outdated: list[str]) -> bool:
    """Whether every projection is outdated, so that none is compared."""
    return set(outdated) == set(NAMES)


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
