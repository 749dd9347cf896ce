"""`timeline backup`: a copy of a SQLite database that holds every event acknowledged before
it began, consistent while writers go on, never a partial file."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from events import decode_event
from service.application import Timeline
from service.cli import main
from tests import bodies
from tests.procs import wait_until


def _append_until(database: str, stop: threading.Event, acknowledged: list[int]) -> None:
    """Append one development at a time until `stop`, noting each acknowledged position."""
    timeline = Timeline(database)
    try:
        while not stop.is_set():
            event = decode_event(json.dumps(bodies.development_reported()))
            [outcome] = timeline.append([event], recorded_by="test")
            acknowledged.append(outcome.receipt.position)
    finally:
        timeline.close()


def _last_position(database: str) -> int:
    timeline = Timeline(database, existing=True)
    try:
        return timeline.store.last_position()
    finally:
        timeline.close()


def test_a_backup_taken_while_events_are_written_holds_every_one_acknowledged_before_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/live.db"
    assert main(["seed", "--database", database]) == 0
    # Given a writer appending events, most of them still in the WAL file, not the database's
    stop, acknowledged = threading.Event(), list[int]()
    writer = threading.Thread(target=_append_until, args=(database, stop, acknowledged))
    writer.start()
    try:
        started = wait_until(lambda: len(acknowledged) >= 50 or not writer.is_alive(), timeout=60)
        assert started and writer.is_alive(), f"the writer stopped at {len(acknowledged)} events"
        before = max(acknowledged)
        # When the database is backed up meanwhile
        code = main(["backup", str(tmp_path / "copy.db"), "--database", database])
    finally:
        stop.set()
        writer.join()
    said = capsys.readouterr().err
    copy = f"sqlite:///{tmp_path}/copy.db"
    # Then the copy holds the log up to one commit at least as late as every event
    # acknowledged before it began, says which, and verifies intact
    assert code == 0
    copied = _last_position(copy)
    assert copied >= before
    assert f"the log up to position {copied}" in said
    assert main(["verify", "--database", copy]) == 0
    assert not (tmp_path / "copy.db.partial").exists()


def test_a_backup_is_written_to_a_new_file_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/live.db"
    assert main(["seed", "--database", database]) == 0
    (tmp_path / "taken.db").write_text("keep me")

    assert main(["backup", str(tmp_path / "taken.db"), "--database", database]) == 2
    assert main(["backup", str(tmp_path / "live.db"), "--database", database]) == 2
    assert (
        main(["backup", str(tmp_path / "x.db"), "--database", f"sqlite:///{tmp_path}/no.db"]) == 2
    )

    assert (tmp_path / "taken.db").read_text() == "keep me"
    assert "a backup is written to a new file" in capsys.readouterr().err


def test_a_postgresql_database_is_pointed_to_pg_dump(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backup", "copy.db", "--database", "postgresql://u@127.0.0.1:1/db"]) == 2
    assert "pg_dump" in capsys.readouterr().err


def test_the_signing_key_is_copied_only_when_asked_and_kept_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/live.db"
    assert main(["seed", "--database", database]) == 0
    assert main(["checkpoint", "--database", database]) == 0  # makes the key
    capsys.readouterr()

    assert main(["backup", str(tmp_path / "plain.db"), "--database", database]) == 0
    warned = capsys.readouterr().err
    assert main(["backup", str(tmp_path / "keyed.db"), "--with-key", "--database", database]) == 0

    assert not (tmp_path / "plain.db.key").exists() and "is not in the backup" in warned
    key = tmp_path / "keyed.db.key"
    assert key.read_bytes() == (tmp_path / "live.db.key").read_bytes()
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_a_backup_never_writes_over_the_database_its_files_or_a_file_in_its_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a database whose name ends in .partial, and a file where a copy would be written
    live = tmp_path / "copy.db.partial"
    database = f"sqlite:///{live}"
    assert main(["seed", "--database", database]) == 0
    (tmp_path / "other.db.partial").write_text("keep me")
    size = live.stat().st_size
    # When backups would write over it, over its WAL file, or through that file in the way
    refused = [
        main(["backup", str(tmp_path / "copy.db"), "--database", database]),
        main(["backup", f"{live}-wal", "--database", database]),
        main(["backup", str(tmp_path / "other.db"), "--database", database]),
        main(["backup", str(tmp_path / "no" / "x.db"), "--database", database]),
    ]
    # Then each is refused and nothing is lost (the file in a folder that does not exist
    # cannot be written: 74, as `export -o` says of it)
    assert refused == [2, 2, 2, 74]
    assert live.stat().st_size == size and _last_position(database) > 0
    assert (tmp_path / "other.db.partial").read_text() == "keep me"
    assert "its folder does not exist" in capsys.readouterr().err


def test_the_signing_key_is_never_written_over_or_through_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/live.db"
    assert main(["seed", "--database", database]) == 0
    assert main(["checkpoint", "--database", database]) == 0
    (tmp_path / "elsewhere.txt").write_text("not a key")
    (tmp_path / "linked.db.key").symlink_to(tmp_path / "elsewhere.txt")

    code = main(["backup", str(tmp_path / "linked.db"), "--with-key", "--database", database])

    assert code == 2 and "the signing key was not copied" in capsys.readouterr().err
    assert (tmp_path / "elsewhere.txt").read_text() == "not a key"


def test_a_busy_database_exits_75_and_says_to_run_it_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a database that another process holds locked while the copy is taken
    database = f"sqlite:///{tmp_path}/live.db"
    assert main(["seed", "--database", database]) == 0
    capsys.readouterr()

    def locked(source: Path, target: Path) -> int:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr("service.cli.backup.backup_sqlite", locked)
    # When it is backed up
    code = main(["backup", str(tmp_path / "copy.db"), "--database", database])
    # Then the exit status is 75 (busy: run again), it says so, and no copy is left
    assert code == 75
    said = capsys.readouterr().err
    assert (
        "error: the database is busy (database is locked); nothing was written: run it again"
        in said
    )
    assert not (tmp_path / "copy.db").exists()
