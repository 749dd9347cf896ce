"""The command line when things go wrong around it: an output path that is the database's own,
a file that is not a database, a URL that cannot be read, standard output that cannot be
written, an interruption. Each is one line on standard error and an exit status, never a
traceback, and nothing is lost or stored in part."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from events import encode as encode_event
from service.cli import log, main
from service.tokens import Tokens
from tests.pgserver import free_port
from tests.procs import TIMELINE, wait_until
from tests.test_cli import SEED_LINES, events_in


@pytest.fixture
def seeded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A seeded SQLite database with a signing key beside it."""
    database = f"sqlite:///{tmp_path}/seeded.db"
    assert main(["seed", "--database", database]) == 0
    assert main(["checkpoint", "--database", database]) == 0
    capsys.readouterr()
    return database


@pytest.mark.parametrize("own", ["seeded.db", "seeded.db-wal", "seeded.db.key"])
def test_an_export_onto_the_database_s_own_files_or_its_key_is_refused(
    seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], own: str
) -> None:
    key = (tmp_path / "seeded.db.key").read_bytes()
    # When the export is asked to write over one of them (it emptied the database before)
    code = main(["export", "--database", seeded, "-o", str(tmp_path / own)])
    # Then it is refused, naming it, and the log and its key are as they were
    assert code == 2
    assert "is the database's own file or its signing key" in capsys.readouterr().err
    assert events_in(seeded) == SEED_LINES
    assert (tmp_path / "seeded.db.key").read_bytes() == key
    assert main(["verify", "--database", seeded]) == 0


def test_an_interrupted_export_leaves_the_file_it_was_to_replace_as_it_was(
    seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    # Given an earlier export, and an export that is interrupted at its tenth event
    earlier = tmp_path / "export.ndjson"
    assert main(["export", "--database", seeded, "-o", str(earlier)]) == 0
    kept = earlier.read_bytes()
    encoded = 0

    def encode(event: Any) -> bytes:
        nonlocal encoded
        encoded += 1
        if encoded == 10:
            raise KeyboardInterrupt
        return encode_event(event)

    monkeypatch.setattr(log, "encode", encode)
    capsys.readouterr()
    code = main(["export", "--database", seeded, "-o", str(earlier)])
    # Then it says so; the earlier file is whole, and no part of the new one is left beside it
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert earlier.read_bytes() == kept and len(kept.splitlines()) == SEED_LINES
    assert sorted(path.name for path in tmp_path.iterdir() if "export" in path.name) == [
        "export.ndjson"
    ]


def test_an_export_to_a_dash_goes_to_standard_output(
    seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--database", seeded, "-o", "-"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == SEED_LINES
    assert not (Path.cwd() / "-").exists() and not (tmp_path / "-").exists()


@pytest.mark.parametrize(
    "content", [b"notes, not a database\n", b"SQLite format 3\x00" + b"\x07" * 90]
)
@pytest.mark.parametrize("command", [["export"], ["tokens", "list"], ["verify"], ["seed"]])
def test_a_file_that_is_not_a_database_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, command: list[str]
) -> None:
    # Given a text file, and a SQLite header over garbage, where a database was named
    file = tmp_path / "notes.db"
    file.write_bytes(content)
    # When a command is run on it
    code = main([*command, "--database", f"sqlite:///{file}"])
    # Then it names the file and says what is wrong with it, and leaves it as it was
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {file} is not a SQLite database, or it is damaged")
    assert len(err.splitlines()) == 1
    assert file.read_bytes() == content


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("postgresql://desk:s3cret@127.0.0.1:99999/db", "Port out of range"),
        ("postgresql://desk:s3cret@127.0.0.1:five/db", "Port could not be cast"),
        ("postgresql://desk:s3cret@[::1/db", "Invalid IPv6 URL"),
        ("", "--database is empty"),
    ],
)
def test_a_database_url_that_cannot_be_read_is_one_line_without_its_password(
    capsys: pytest.CaptureFixture[str], url: str, why: str
) -> None:
    assert main(["export", "--database", url]) == 2
    err = capsys.readouterr().err
    assert why in err and "s3cret" not in err and len(err.splitlines()) == 1


class _Refusing:
    """A standard output whose reader went away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def flush(self) -> None:
        pass


def test_a_token_that_cannot_be_shown_is_not_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite:///{tmp_path}/tokens.db"
    command = ["tokens", "create", "--name", "ci", "--role", "admin", "--database", database]
    # When the token cannot be written to standard output
    with monkeypatch.context() as patched:
        patched.setattr("sys.stdout", _Refusing())
        refused = main(command)
    # Then it fails saying none was stored, and the name is still free for the next try
    assert refused == 74
    assert "none was kept" in capsys.readouterr().err
    assert main(["tokens", "list", "--database", database]) == 0
    assert capsys.readouterr().out == ""
    assert main(command) == 0
    secret = capsys.readouterr().out.strip()
    from service.application import Timeline

    timeline = Timeline(database)
    try:
        token = Tokens(timeline.store).authenticate(secret)
        assert token is not None and token.name == "ci"
    finally:
        timeline.close()


def test_a_listing_whose_reader_went_away_ends_quietly(seeded: str) -> None:
    # Given a token to list, and standard output a pipe whose reader is gone (`| head -0`)
    assert main(["tokens", "create", "--name", "ci", "--role", "reader", "--database", seeded]) == 0
    read, write = os.pipe()
    os.close(read)
    try:
        listing = subprocess.run(
            [TIMELINE, "tokens", "list", "--database", seeded],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    # Then it ends as a command killed by the broken pipe would, without a traceback
    assert listing.returncode == 141
    assert listing.stderr == ""


def test_an_import_reads_a_named_pipe(
    seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an export, sent through a named pipe, as `<(zcat export.ndjson.gz)` would
    exported = tmp_path / "export.ndjson"
    assert main(["export", "--database", seeded, "-o", str(exported)]) == 0
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    feeder = threading.Thread(target=lambda: fifo.write_bytes(exported.read_bytes()), daemon=True)
    feeder.start()
    # When it is imported into a new database
    code = main(["import", str(fifo), "--database", f"sqlite:///{tmp_path}/copy.db"])
    if feeder.is_alive():  # the pipe was not read: its writer waits for a reader
        fifo.read_bytes()
    feeder.join()
    # Then every event is stored
    assert code == 0
    assert f"{SEED_LINES} event(s) stored" in capsys.readouterr().err


def test_the_database_may_be_named_before_the_verb(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `timeline --database URL export` read the URL as the verb; after the verb, it wins
    assert main(["--database", seeded, "export"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == SEED_LINES
    assert main(["--database", "sqlite:///elsewhere.db", "export", "--database", seeded]) == 0
    assert len(capsys.readouterr().out.splitlines()) == SEED_LINES
    # and between a group and its verb (`tokens --database URL list` read the URL as the verb),
    # where the last one given wins too
    made = ["create", "--name", "analyst", "--role", "reader"]
    assert main(["tokens", "--database", seeded, *made]) == 0
    capsys.readouterr()
    elsewhere = ["--database", "sqlite:///elsewhere.db"]
    assert main([*elsewhere, "tokens", *elsewhere, "list", "--database", seeded]) == 0
    assert "analyst" in capsys.readouterr().out
    assert main(["projections", "--database", seeded, "rebuild", "deliveries"]) == 0
    assert "deliveries" in capsys.readouterr().err


def test_a_refused_import_or_token_makes_no_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file whose one line is not an event, and a database file not made yet
    source = tmp_path / "events.ndjson"
    source.write_text('{"type": "rumour"}\n')
    database = tmp_path / "new.db"
    # When it is imported there, and a token of a reserved name is asked there
    imported = main(["import", str(source), "--database", f"sqlite:///{database}"])
    token = ["tokens", "create", "--name", "Seed", "--role", "editor"]
    created = main([*token, "--database", f"sqlite:///{database}"])
    # Then both are refused, saying why, and no database was made for them
    err = capsys.readouterr().err
    assert (imported, created) == (1, 1)
    assert "line 1:" in err and "nothing was imported" in err
    assert "'Seed' is reserved (it reads as 'seed')" in err
    assert not database.exists()


def test_an_export_goes_straight_into_a_pipe_and_through_a_link_to_its_file(
    seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a named pipe being read (`-o >(gzip > f.gz)`), and a link to a private export
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()), daemon=True)
    reader.start()
    real = tmp_path / "kept" / "export.ndjson"
    real.parent.mkdir()
    real.write_text("yesterday's export\n")
    real.chmod(0o600)
    link = tmp_path / "latest.ndjson"
    link.symlink_to(real)
    # When the log is exported into each
    into_pipe = main(["export", "--database", seeded, "-o", str(fifo)])
    reader.join(timeout=60)
    through_link = main(["export", "--database", seeded, "-o", str(link)])
    # Then the pipe was written as it is, and the link still leads to the file, which holds
    # the export with its own permissions
    assert (into_pipe, through_link) == (0, 0), capsys.readouterr().err
    assert len(read[0].splitlines()) == SEED_LINES and fifo.is_fifo()
    assert link.is_symlink() and link.resolve() == real
    assert len(real.read_bytes().splitlines()) == SEED_LINES
    assert real.stat().st_mode & 0o777 == 0o600


def test_an_export_is_written_under_a_name_of_its_own_beside_its_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a database whose file is named as a partial export of `events` could be, and what
    # an export killed earlier left beside `export.ndjson`
    database = f"sqlite:///{tmp_path}/events.partial"
    assert main(["seed", "--database", database]) == 0
    left = tmp_path / ".export.ndjson.killed.partial"
    left.write_text("an export killed midway\n")
    capsys.readouterr()
    # When the log is exported to `events` and to `export.ndjson`
    codes = [main(["export", "--database", database, "-o", str(tmp_path / name)])
             for name in ("events", "export.ndjson")]  # fmt: skip
    # Then both are written whole, and the database and what was left are as they were
    assert codes == [0, 0], capsys.readouterr().err
    for name in ("events", "export.ndjson"):
        assert len((tmp_path / name).read_bytes().splitlines()) == SEED_LINES
    assert events_in(database) == SEED_LINES
    assert left.read_text() == "an export killed midway\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".export.ndjson.killed.partial",
        "events",
        "events.partial",
        "export.ndjson",
    ]


def test_an_export_to_standard_output_by_its_path_appends_as_the_shell_asked(
    seeded: str, tmp_path: Path
) -> None:
    # Given a log file that standard output appends to (`>> app.log`)
    log = tmp_path / "app.log"
    log.write_text("before\n")
    # When the export is written to /dev/stdout
    with log.open("ab") as appended:
        run = subprocess.run(
            [TIMELINE, "export", "--database", seeded, "-o", "/dev/stdout"],
            stdout=appended,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    # Then it follows what was there, which it neither emptied nor replaced
    assert run.returncode == 0, run.stderr
    lines = log.read_bytes().splitlines()
    assert lines[0] == b"before" and len(lines) == 1 + SEED_LINES


@pytest.mark.parametrize(
    "command", [["verify"], ["verify", "--json"], ["checkpoint"], ["tokens", "list"], ["export"]]
)
def test_a_closed_standard_output_is_one_line_and_exit_74(seeded: str, command: list[str]) -> None:
    if command == ["tokens", "list"]:
        assert (
            main(["tokens", "create", "--name", "ci", "--role", "reader", "--database", seeded])
            == 0
        )
    run = subprocess.run(
        [TIMELINE, *command, "--database", seeded],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=lambda: os.close(1),  # `>&-`
    )
    assert run.returncode == 74, run.stderr
    assert run.stderr.splitlines()[-1].endswith("standard output is closed")
    assert "Traceback" not in run.stderr


def test_a_server_whose_standard_output_is_closed_serves_and_logs_no_error(
    seeded: str, tmp_path: Path
) -> None:
    # Given `timeline serve … >&-`, which logs each request to standard output at info level
    port = free_port()
    errors = tmp_path / "serve.err"
    with errors.open("wb") as said:
        server = subprocess.Popen(
            [TIMELINE, "serve", "--database", seeded, "--port", str(port), "--log-level", "info"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=said,
            preexec_fn=lambda: os.close(1),
            start_new_session=True,
        )
    try:
        # When it is asked a few times
        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).is_success
            except httpx.HTTPError:
                return server.poll() is not None

        assert wait_until(answers, timeout=30)
        assert server.poll() is None, errors.read_text()
        assert httpx.get(f"http://127.0.0.1:{port}/api/developments", timeout=10).is_success
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    # Then it served, and its access log went nowhere without an error about it
    text = errors.read_text()
    assert "Traceback" not in text and "Logging error" not in text, text
