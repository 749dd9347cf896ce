"""`timeline backup`: a copy of a SQLite database to keep, consistent while it is written to."""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
from pathlib import Path

from service.audit import key_path
from service.cli.common import _cannot, _say
from service.config import ConfigError, database_url, sqlite_file
from service.store.backup import backup_sqlite


def cmd_backup(args: argparse.Namespace) -> int:
    """Copy the database into a new file as of one commit, with its signing key if asked."""
    url = database_url(args.database)
    source = sqlite_file(url)
    if source is None:
        raise ConfigError(
            "timeline backup copies a SQLite database; back up a PostgreSQL one with pg_dump "
            "(the log, read models, tokens and checkpoints are all in it) and keep its "
            "signing key (TIMELINE_KEY_FILE) apart"
        )
    if not source.exists():
        raise ConfigError(f"no database at {source} ({url}): check --database or TIMELINE_DATABASE")
    target = Path(args.file)
    if target.exists() or target.resolve() == source.resolve():
        _say(f"error: {target} exists; a backup is written to a new file")
        return 2
    try:
        position = backup_sqlite(source, target)
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            _say(f"error: the database is busy ({error}); nothing was written: run it again")
            return 75
        _say(f"error: cannot back up {source}: {error}")
        return 74
    except OSError as error:
        return _cannot("write", str(target), error)
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
        shutil.copyfile(key, kept)
        os.chmod(kept, 0o600)
    except OSError as error:
        return _cannot("copy the signing key to", str(kept), error)
    _say(f"copied the signing key to {kept}: it signs checkpoints, so keep it as private")
    return 0
