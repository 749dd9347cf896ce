"""A consistent copy of a SQLite database while it is being written to.

Copying the file (`cp timeline.db`) is not one: in WAL mode the latest commits live in
`timeline.db-wal` until a checkpoint moves them into the file, so a copy of the file alone
misses events that were acknowledged, and its hash chain still verifies (a shorter log is a
prefix). SQLite's online backup copies every page as one read transaction sees them: the log
as of one commit, WAL included, while writers go on.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from service.store.log import RECORDS

LOCK_WAIT_SECONDS = 30.0


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy the database at `source` into the new file `target`; the last position copied.

    The copy is written beside `target` (`partial_of`, which must not exist) and renamed onto it
    once complete, so `target` is never a partial database.
    """
    partial = partial_of(target)
    origin = sqlite3.connect(source, timeout=LOCK_WAIT_SECONDS)
    try:
        copy = sqlite3.connect(partial)
        try:
            origin.backup(copy)  # every page in one step: one read transaction, one moment
            row = copy.execute(f"SELECT MAX(position) FROM {RECORDS}").fetchone()
        finally:
            copy.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        origin.close()
    os.replace(partial, target)
    return int(row[0] or 0)


def partial_of(target: Path) -> Path:
    """Where the copy is written until it is complete."""
    return target.with_name(target.name + ".partial")


def files_of(database: Path) -> list[Path]:
    """A SQLite database's file and the files SQLite keeps beside it."""
    return [database] + [database.with_name(database.name + end) for end in SIDE_FILES]


SIDE_FILES = ("-wal", "-shm", "-journal")
