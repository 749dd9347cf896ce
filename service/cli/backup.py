"""`timeline backup`: a copy of a SQLite database to keep, consistent while it is written to."""

from __future__ import annotations

import argparse
import os
import sqlite3
from pathlib import Path

from service.audit import key_path
from service.cli.common import _cannot, _own_files, _say
from service.config import ConfigError, database_url, sqlite_file
from service.store.backup import backup_sqlite, partial_of


def cmd_backup(args: argparse.Namespace) -> int:
    """Copy the database into a new file as of one commit, with its signing key if asked."""
    url = database_url(args.database)
    source = sqlite_file(url)
    if source is None and url.startswith("sqlite"):
        raise ConfigError(f"{url!r} is held in memory: there is no file to back up")
    if source is None:
        raise ConfigError(
            "timeline backup copies a SQLite database; back up a PostgreSQL one with pg_dump "
            "(the log, read models, tokens and checkpoints are all in it) and keep its "
            "signing key (TIMELINE_KEY_FILE) apart"
        )
    if not source.exists():
        raise ConfigError(f"no database at {source} ({url}): check --database or TIMELINE_DATABASE")
    target = Path(args.file)
    taken = _own_files(url)
    for path in (target, partial_of(target)):
        if path.exists() or path.is_symlink() or path.resolve() in taken:
            _say(
                f"error: {path} exists or is the database's own; a backup is written to a new file"
            )
            return 2
    if not target.resolve().parent.is_dir():  # a file that cannot be written, as for export
        _say(f"error: cannot write {target}: its folder does not exist")
        return 74
    try:
        position = backup_sqlite(source, target)
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            _say(f"error: the database is busy ({error}); nothing was written: run it again")
            return 75
        _say(f"error: cannot back up {source} to {target}: {error}")
        return 74
    except OSError as error:
        return _cannot("write", str(error.filename or target), error)
    _say(f"backed up {source} to {target}: the log up to position {position}")
    key = key_path(url)
    if not key.exists():
        return 0
    if not args.with_key:
        _say(
            f"the signing key {key} is not in the backup: keep a copy of it apart, or pass "
            f"--with-key to copy it beside the backup (as {target}.key)"
        )
        return 0
    kept = Path(f"{target}.key")
    try:
        secret = key.read_bytes()
        # a new file only, private from its creation, never through a link
        opened = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(opened, "wb") as written:
            written.write(secret)
    except FileExistsError:
        _say(f"error: {kept} exists: the signing key was not copied (the backup was)")
        return 2
    except OSError as error:
        return _cannot("copy the signing key to", str(kept), error)
    _say(f"copied the signing key to {kept}: it signs checkpoints, so keep it as private")
    return 0
