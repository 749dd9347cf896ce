"""The audit verbs: verify the log's hash chain, sign a checkpoint of its head."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from events import encode
from projections import verify_rebuild
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
    agree = _read_models_agree(args) if args.read_models and report.ok else True
    return 0 if report.ok and agree else 1


def _read_models_agree(args: argparse.Namespace) -> bool:
    """Rebuild the read models from the verified log and say whether the rows served before
    were those (the hash chain covers the log, not the rows derived from it)."""
    timeline = _open(args, existing=True)
    try:
        _say("read models: rebuilding them from the log to compare")
        differences = verify_rebuild(timeline.store)
    finally:
        timeline.close()
    if not differences:
        _say("read models: every row agrees with a rebuild from the log")
        return True
    for table, difference in differences.items():
        _say(f"read models DIFFERED in {table}: {difference[:300]}")
    _say("read models: the rows served before differed from the log's; they are rebuilt now")
    return False


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
