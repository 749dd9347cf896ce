"""The `timeline` command: seed, import, export and tokens, on a real database.

Most verbs run in this process through `main`; listing and revoking tokens run as the installed
`timeline` command in a process of its own, as an operator types them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from service.application import Timeline
from service.cli import main
from service.tokens import Tokens
from tests import bodies
from tests.procs import create_token, timeline_process

CORPUS = Path(__file__).parent.parent / "service/seed/corpus.ndjson"
MINUTE = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}"  # how `tokens list` shows a time
SEED_LINES = sum(1 for line in CORPUS.read_bytes().split(b"\n") if line.strip())


def events_in(database: str) -> int:
    timeline = Timeline(database)
    try:
        return len(timeline.store.select_records(limit=100_000))
    finally:
        timeline.close()


def test_seeding_twice_stores_the_corpus_once(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed", "--database", database_url]) == 0
    assert f"{SEED_LINES} event(s) stored, 0 already present" in capsys.readouterr().err
    assert main(["seed", "--database", database_url]) == 0
    assert f"0 event(s) stored, {SEED_LINES} already present" in capsys.readouterr().err
    assert events_in(database_url) == SEED_LINES


def test_an_import_with_a_bad_line_names_it_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/import.db"
    good = json.dumps(bodies.development_reported())
    bad = json.dumps({**bodies.development_reported(), "kind": "rumour"})
    source = tmp_path / "events.ndjson"
    source.write_text(f"{good}\n\n{bad}\n{good}\n")
    # When the file is imported
    assert main(["import", str(source), "--database", database]) == 1
    # Then the bad line is named by number and field, and nothing was stored
    err = capsys.readouterr().err
    assert "line 3: $.kind" in err and "nothing was imported" in err
    assert events_in(database) == 0
    # And with --skip-bad-lines the good lines are stored and the bad one reported
    assert main(["import", str(source), "--skip-bad-lines", "--database", database]) == 0
    assert "skipped line 3: $.kind" in capsys.readouterr().err
    assert events_in(database) == 2


def test_an_import_refused_by_the_domain_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/import.db"
    orphan = bodies.report_added("5d1f0f7e-0000-4000-8000-000000000000")
    source = tmp_path / "events.ndjson"
    source.write_text(json.dumps(bodies.development_reported()) + "\n" + json.dumps(orphan) + "\n")
    assert main(["import", str(source), "--database", database]) == 1
    assert "line 2: $.development_id" in capsys.readouterr().err
    assert events_in(database) == 0


def test_an_export_imports_into_an_empty_database_as_the_same_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    main(["seed", "--database", first])
    exported = tmp_path / "export.ndjson"
    assert main(["export", "--database", first, "-o", str(exported)]) == 0
    assert main(["import", str(exported), "--database", second]) == 0
    capsys.readouterr()
    a, b = Timeline(first), Timeline(second)
    rows_a, rows_b = a.store.select_records(limit=1000), b.store.select_records(limit=1000)
    assert [(r.event_id, r.development_id, r.version, r.state) for r in rows_a] == [
        (r.event_id, r.development_id, r.version, r.state) for r in rows_b
    ]
    a.close()
    b.close()


def test_tokens_create_prints_the_token_alone_on_standard_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/tokens.db"
    command = ["tokens", "create", "--name", "desk", "--role", "editor", "--database", database]
    assert main(command) == 0
    out, err = capsys.readouterr()
    secret = out.strip()
    assert out == secret + "\n" and secret.startswith("tl_") and "desk" in err
    timeline = Timeline(database)
    token = Tokens(timeline.store).authenticate(secret)
    assert token is not None and token.role == "editor"
    timeline.close()


def test_a_database_url_of_an_unknown_kind_is_a_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["seed", "--database", "mysql://localhost/db"]) == 2
    assert "sqlite:///path.db or postgresql://" in capsys.readouterr().err


def stored_hashes(database: str) -> list[str]:
    """The token hashes as stored in the database."""
    timeline = Timeline(database)
    try:
        with timeline.store.read_transaction() as cursor:
            cursor.execute("SELECT token_hash FROM api_tokens")
            return [str(row["token_hash"]) for row in cursor.fetchall()]
    finally:
        timeline.close()


def test_tokens_list_shows_names_roles_and_revocation_but_no_secret_or_hash(
    database_url: str,
) -> None:
    # given two tokens made at the command line, one of them since revoked
    desk = create_token(database_url, "desk", "editor")
    ops = create_token(database_url, "ops", "admin")
    assert timeline_process("tokens", "revoke", "ops", "--database", database_url).returncode == 0

    # when they are listed
    listed = timeline_process("tokens", "list", "--database", database_url)

    # then each is one line, by name: its name, its role, when it was made, whether it is live
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [row[:2] for row in rows] == [["desk", "editor"], ["ops", "admin"]]
    assert all(re.fullmatch(MINUTE, row[2]) for row in rows)
    assert rows[0][3] == "live" and re.fullmatch(f"revoked {MINUTE}", rows[1][3])
    # and neither a secret nor a stored hash is shown
    shown = listed.stdout + listed.stderr
    hashes = stored_hashes(database_url)
    assert len(hashes) == 2
    for hidden in (desk, ops, desk.removeprefix("tl_"), ops.removeprefix("tl_"), *hashes):
        assert hidden not in shown


def test_a_token_revoked_at_the_command_line_no_longer_authenticates(database_url: str) -> None:
    # given a live editor token
    secret = create_token(database_url, "intern", "editor")
    timeline = Timeline(database_url)
    try:
        tokens = Tokens(timeline.store)
        assert tokens.authenticate(secret) is not None

        # when an operator revokes it by name
        revoked = timeline_process("tokens", "revoke", "intern", "--database", database_url)

        # then the command says so and the secret authenticates no more
        assert revoked.returncode == 0, revoked.stderr
        assert "token 'intern' revoked" in revoked.stderr and revoked.stdout == ""
        assert tokens.authenticate(secret) is None
    finally:
        timeline.close()


def test_revoking_an_unknown_token_name_fails_and_says_which_name(database_url: str) -> None:
    create_token(database_url, "desk", "editor")

    revoked = timeline_process("tokens", "revoke", "nobody", "--database", database_url)

    assert revoked.returncode == 1
    assert revoked.stderr.strip() == "error: no token named 'nobody'"
    assert revoked.stdout == ""
    # and the tokens there are untouched
    listed = timeline_process("tokens", "list", "--database", database_url)
    assert listed.stdout.startswith("desk\teditor\t") and listed.stdout.endswith("\tlive\n")
