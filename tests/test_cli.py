"""The `timeline` command: seed, import, export and tokens, on a real database.

Most verbs run in this process through `main`; listing and revoking tokens run as the installed
`timeline` command in a process of its own, as an operator types them.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import json
import os
import pty
import re
import socket
import subprocess
import sys
import termios
from collections.abc import Sequence
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from events import decode_event
from service.application import Timeline
from service.cli import main
from service.cli.common import _progress
from service.config import redacted, sqlite_file
from service.errors import DomainError
from service.ingest import import_events
from service.tokens import Tokens
from service.writing import Outcome, Request
from tests import bodies
from tests.api import serve
from tests.pgserver import free_port
from tests.procs import TIMELINE, create_token, timeline_process

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


def test_seeding_a_database_an_earlier_corpus_seeded_stores_nothing_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a database seeded by an earlier version, whose corpus had only some of these events
    database = f"sqlite:///{tmp_path}/earlier.db"
    earlier = CORPUS.read_bytes().splitlines()[:30]
    timeline = Timeline(database)
    try:
        import_events(timeline, earlier, recorded_by="seed")
    finally:
        timeline.close()
    # When this version seeds it (as `make run` does each time)
    assert main(["seed", "--database", database]) == 0
    # Then it says why it stores nothing, and the log is as it was
    err = capsys.readouterr().err
    assert f"holds 30 of the bundled corpus's {SEED_LINES} events" in err
    assert "Nothing was stored" in err
    assert events_in(database) == 30


def test_an_import_with_a_bad_line_names_it_and_stores_nothing(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = database_url
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


def test_an_import_that_skips_every_line_exits_1_so_a_script_notices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/import.db"
    bad = json.dumps({**bodies.development_reported(), "kind": "rumour"})
    source = tmp_path / "events.ndjson"
    source.write_text(f"{bad}\nnot json\n")
    # When a file of bad lines alone (the wrong file, say) is imported skipping bad lines
    assert main(["import", str(source), "--skip-bad-lines", "--database", database]) == 1
    # Then each is named, and the import says it imported nothing
    err = capsys.readouterr().err
    assert "skipped line 1: $.kind" in err and "skipped line 2" in err
    assert "no line could be imported: every one was skipped" in err
    assert events_in(database) == 0
    # while one whose good lines are all there already is a success: nothing was missing
    good = json.dumps(bodies.development_reported())
    source.write_text(f"{good}\n")
    assert main(["import", str(source), "--database", database]) == 0
    source.write_text(f"{good}\n{bad}\n")
    assert main(["import", str(source), "--skip-bad-lines", "--database", database]) == 0


def test_an_import_skipping_a_bad_line_of_a_file_already_imported_succeeds(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file of two events with ids and one bad line, imported once skipping the bad line
    first = json.dumps(bodies.development_reported(event_id="5d1f0f7e-0000-4000-8000-0000000000a1"))
    second = json.dumps(
        bodies.development_reported(event_id="5d1f0f7e-0000-4000-8000-0000000000a2")
    )
    source = tmp_path / "events.ndjson"
    source.write_text(f"{first}\nnot json\n{second}\n")
    assert main(["import", str(source), "--skip-bad-lines", "--database", database_url]) == 0
    capsys.readouterr()
    # When the same file is imported again
    again = main(["import", str(source), "--skip-bad-lines", "--database", database_url])
    # Then it succeeds: nothing was stored because nothing was missing, not because all was bad
    err = capsys.readouterr().err
    assert again == 0
    assert "0 event(s) stored, 2 already present, 1 line(s) skipped" in err
    assert "every one was skipped" not in err
    assert events_in(database_url) == 2


def test_an_import_with_21_bad_lines_names_the_first_20_and_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file of 21 lines that are not JSON
    source = tmp_path / "events.ndjson"
    source.write_text("not json\n" * 21)
    # When it is imported
    code = main(["import", str(source), "--database", f"sqlite:///{tmp_path}/import.db"])
    # Then lines 1 to 20 are named, the 21st is counted, and nothing was imported
    err = capsys.readouterr().err
    assert code == 1
    named = [int(n) for n in re.findall(r"^error: line (\d+): ", err, flags=re.MULTILINE)]
    assert named == list(range(1, 21))
    assert "error: … and 1 more bad lines\n" in err
    assert "nothing was imported" in err


def test_skipped_lines_are_reported_in_line_order_whatever_refused_them(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file whose line 2 the domain refuses (a report on a development never reported)
    # and whose line 3 is not JSON
    orphan = bodies.report_added("5d1f0f7e-0000-4000-8000-000000000000")
    source = tmp_path / "events.ndjson"
    source.write_text(
        f"{json.dumps(bodies.development_reported())}\n{json.dumps(orphan)}\nnot json\n"
    )
    # When it is imported skipping bad lines
    code = main(["import", str(source), "--skip-bad-lines", "--database", database_url])
    # Then the skipped lines are reported by line number: 2, then 3
    err = capsys.readouterr().err
    assert code == 0
    skipped = re.findall(r"^skipped line (\d+): (\S+):", err, flags=re.MULTILINE)
    assert skipped == [("2", "$.development_id"), ("3", "$")]
    assert "1 event(s) stored, 0 already present, 2 line(s) skipped" in err
    assert events_in(database_url) == 1


@pytest.mark.parametrize(
    "nesting",
    ['{"a":' * 1000 + "1" + "}" * 1000, '{"position": 1, "event": ' + "[" * 1000 + "]" * 1001],
)
def test_an_import_with_a_line_nested_too_deeply_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], nesting: str
) -> None:
    database = f"sqlite:///{tmp_path}/import.db"
    source = tmp_path / "events.ndjson"
    source.write_text(f"{json.dumps(bodies.development_reported())}\n{nesting}\n")
    # When the file is imported, then with --skip-bad-lines
    refused = main(["import", str(source), "--database", database])
    refusal = capsys.readouterr().err
    skipped = main(["import", str(source), "--skip-bad-lines", "--database", database])
    # Then the deep line is named, not a traceback; and it alone is left out
    assert refused == 1 and "line 2: $" in refusal and "nested too deeply" in refusal
    assert skipped == 0 and "skipped line 2: $" in capsys.readouterr().err
    assert events_in(database) == 1


_FIRST = json.dumps(bodies.development_reported(title="First"))


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (json.dumps(bodies.development_reported(title="\u200b")), "$.title: shows nothing"),
        (
            _FIRST.replace('"title": "First"', '"title": "First", "title": "Second"'),
            "$.title: `title` is given more than once",
        ),
    ],
    ids=["text that shows nothing", "a key given twice"],
)
def test_an_import_line_refused_as_a_body_would_be_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, said: str
) -> None:
    database = f"sqlite:///{tmp_path}/import.db"
    source = tmp_path / "events.ndjson"
    source.write_text(f"{_FIRST}\n{line}\n")

    assert main(["import", str(source), "--database", database]) == 1

    assert f"line 2: {said}" in capsys.readouterr().err
    assert events_in(database) == 0


def test_an_import_refused_by_the_domain_names_the_line(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = database_url
    orphan = bodies.report_added("5d1f0f7e-0000-4000-8000-000000000000")
    source = tmp_path / "events.ndjson"
    source.write_text(json.dumps(bodies.development_reported()) + "\n" + json.dumps(orphan) + "\n")
    assert main(["import", str(source), "--database", database]) == 1
    assert "line 2: $.development_id" in capsys.readouterr().err
    assert events_in(database) == 0


def test_an_export_imports_into_an_empty_database_as_the_same_events(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # from a SQLite file into another, and into PostgreSQL
    first, second = f"sqlite:///{tmp_path}/a.db", database_url
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


def test_a_retry_of_the_body_first_posted_is_a_replay_on_an_imported_copy_too(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an event posted with the client's event_id and no development_id (the server made
    # it), and a retry of its body, on a SQLite file, exported and imported into another
    first = f"sqlite:///{tmp_path}/first.db"
    body = bodies.development_reported(event_id=str(uuid4()))
    with serve(first) as client:
        receipt = client.post("/api/events", json=body).json()
        assert client.post("/api/events", json=body).status_code == 200
    exported = tmp_path / "export.ndjson"
    assert main(["export", "--database", first, "-o", str(exported)]) == 0
    assert main(["import", str(exported), "--database", database_url]) == 0
    capsys.readouterr()
    # When the same body is posted again to the copy, and one with another title
    with serve(database_url) as client:
        again = client.post("/api/events", json=body)
        changed = client.post("/api/events", json={**body, "title": "Another title"})
    # Then the first is that event (200: its ids; the copy recorded it at the import), where
    # the copy's digest is of the event as stored, the development id filled in; the second
    # is a conflict still
    assert again.status_code == 200, again.text
    assert {k: again.json()[k] for k in ("event_id", "development_id", "version")} == {
        k: receipt[k] for k in ("event_id", "development_id", "version")
    }
    assert changed.status_code == 409


def _moved(
    first: str, second: str, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, int, str, int]:
    """`first` exported beside it, then imported into `second` without --as-stored and with
    it: the export, the first import's exit status and what it said, the second's status."""
    exported = Path(sqlite_file(first) or "").with_suffix(".ndjson")
    assert main(["export", "--database", first, "-o", str(exported)]) == 0
    capsys.readouterr()
    refused = main(["import", str(exported), "--database", second])
    said = capsys.readouterr().err
    return (
        exported,
        refused,
        said,
        main(["import", str(exported), "--database", second, "--as-stored"]),
    )


def test_an_export_holding_units_stored_as_plurals_imports_with_as_stored_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a log that stored a unit in the plural before such units were refused (what
    # --plural-units, the option's earlier name, still lets in)
    first, second = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    figure = {"unit": "missiles", "qualifier": "exact", "value": 3}
    posted = tmp_path / "posted.ndjson"
    posted.write_text(json.dumps(bodies.development_reported(report=bodies.report(figure=figure))))
    assert main(["import", str(posted), "--database", first, "--plural-units"]) == 0

    # When its export is imported into a new database, then back into its own
    exported, refused, said, whole = _moved(first, second, capsys)
    again = main(["import", str(exported), "--database", first])

    # Then without --as-stored nothing is stored, the line and the option named; with it the
    # event is stored as it was; and back in its own database it is already present
    assert refused == 1
    assert "line 1: $.report.figure.unit: 'missiles' is a plural" in said
    assert "--as-stored" in said
    assert (whole, again) == (0, 0)
    assert events_in(second) == 1 and events_in(first) == 1
    assert "0 event(s) stored, 1 already present" in capsys.readouterr().err


def test_an_export_holding_text_stored_before_it_was_refused_imports_with_as_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a log that stored, before session 12 refused them, an actor id hiding a zero-width
    # space and a title of one (the upgrade audit of session 21 could not move such a log)
    first, second = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    body = bodies.development_reported(title="\u200b")
    body["actors"] = {"supplier": "PRK\u200b", "recipient": "RUS"}
    timeline = Timeline(first)
    try:
        timeline.append([decode_event(json.dumps(body))], "alice")
    finally:
        timeline.close()

    # When its export is imported into a new database, without and with --as-stored
    _, refused, said, whole = _moved(first, second, capsys)

    # Then the first names the line's first such field and the option, and stores nothing;
    # the second stores the event as the log had it
    assert refused == 1
    assert "line 1: $.title: shows nothing" in said
    assert "--as-stored" in said
    assert whole == 0
    a, b = Timeline(first), Timeline(second)
    try:
        [kept] = a.store.select_records(limit=10)
        [moved] = b.store.select_records(limit=10)
        assert (moved.event_id, moved.state) == (kept.event_id, kept.state)
    finally:
        a.close()
        b.close()


def test_an_export_imported_back_into_its_own_database_is_all_already_present(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given events imported without ids: the server made their event_ids and development_ids
    database = database_url
    posted = tmp_path / "posted.ndjson"
    posted.write_text(json.dumps(bodies.development_reported()) + "\n")
    assert main(["import", str(posted), "--database", database]) == 0
    exported = tmp_path / "export.ndjson"
    assert main(["export", "--database", database, "-o", str(exported)]) == 0
    capsys.readouterr()
    # When the export is imported back into the same database
    assert main(["import", str(exported), "--database", database]) == 0
    # Then each of its events is the one already stored, and nothing is added
    assert "0 event(s) stored, 1 already present" in capsys.readouterr().err
    assert events_in(database) == 1


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


def test_tokens_list_warns_of_live_tokens_an_earlier_version_let_take_a_name_refused_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given tokens an earlier version made with names refused since: a reserved name in
    # another case, and a space at the end (the upgrade audit of session 21), beside a good one
    database = f"sqlite:///{tmp_path}/tokens.db"
    assert (
        main(["tokens", "create", "--name", "desk", "--role", "editor", "--database", database])
        == 0
    )
    timeline = Timeline(database)
    try:
        with timeline.store.transaction() as cursor:
            for name in ("Seed", "me "):
                cursor.execute(
                    "INSERT INTO api_tokens (name, role, token_hash, created_at) "
                    "VALUES (?, 'editor', ?, 0)",
                    (name, name.encode().hex()),
                )
    finally:
        timeline.close()
    capsys.readouterr()
    # When they are listed
    assert main(["tokens", "list", "--database", database]) == 0
    out, err = capsys.readouterr()
    # Then all three are listed, and each of the two is warned of, naming why
    assert [line.split("\t")[0] for line in out.splitlines()] == ["Seed", "desk", "me "]
    warnings = err.splitlines()
    assert len(warnings) == 2 and all("revoke it and make another" in line for line in warnings)
    assert "'Seed' is reserved (it reads as 'seed')" in err
    assert "'me ': a name has no space at its start or end" in err
    # and once revoked, no more
    assert main(["tokens", "revoke", "Seed", "--database", database]) == 0
    assert main(["tokens", "revoke", "me ", "--database", database]) == 0
    capsys.readouterr()
    assert main(["tokens", "list", "--database", database]) == 0
    assert "warning" not in capsys.readouterr().err


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


def test_skipping_refused_lines_decides_the_file_in_one_pass(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a file where every other line adds a report to a development never reported, and
    # where one event id comes again with another body (and once with the same: a replay)
    known = "5d1f0f7e-0000-4000-8000-00000000000a"
    first = bodies.development_reported(development_id=known, event_id=known)
    lines = [json.dumps(first)]
    for n in range(20):
        lines.append(json.dumps(bodies.report_added(f"5d1f0f7e-0000-4000-8000-{n:012}")))
        lines.append(json.dumps(bodies.report_added(known)))
    lines.append(json.dumps({**first, "title": "Another title"}))
    lines.append(json.dumps(first))
    attempts: list[int] = []
    append_group = Timeline.append_group

    def counted(self: Timeline, requests: Sequence[Request]) -> list[list[Outcome] | DomainError]:
        attempts.append(len(requests))
        return append_group(self, requests)

    monkeypatch.setattr(Timeline, "append_group", counted)

    # when it is imported, skipping bad lines
    data = "\n".join(lines).encode()
    report = import_events(timeline, data.splitlines(), recorded_by="import", skip_bad_lines=True)

    # then the whole file was decided once, in one transaction, not once per refused line
    assert len(attempts) == 1
    # and the stored events and the skipped lines are those of taking refusals out one by one
    assert (report.stored, report.already_present) == (21, 1)
    assert [(bad.line, bad.path) for bad in report.skipped] == [
        *((line, "$.development_id") for line in range(2, 42, 2)),
        (42, "$.event_id"),
    ]
    assert report.skipped[-1].message == f"event_id {known} was recorded with a different body"
    assert [r.version for r in timeline.store.select_records(limit=100)] == list(range(1, 22))


@pytest.mark.parametrize(
    "verb",
    [
        ["export"],
        ["verify"],
        ["checkpoint"],
        ["tokens", "list"],
        ["tokens", "revoke", "x"],
        ["projections", "rebuild"],
        ["projections", "run"],
    ],
)
def test_a_command_that_reads_refuses_a_missing_sqlite_file_and_creates_none(
    verb: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    assert main([*verb, "--database", f"sqlite:///{missing}"]) == 2
    assert f"error: no database at {missing}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
@pytest.mark.parametrize("verb", [["export"], ["verify"], ["tokens", "list"]])
def test_a_command_that_reads_refuses_a_database_without_a_timeline_and_creates_none(
    verb: list[str], postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # an empty PostgreSQL database: export answered 0, having made the log's tables in it
    assert main([*verb, "--database", postgres_url]) == 2
    said = capsys.readouterr().err
    assert "no timeline tables in" in said and "(this command creates none)" in said
    assert "CREATE_TABLE" not in said  # not set: the command's own rule, not a setting
    with psycopg.connect(postgres_url) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_an_export_to_a_mistyped_database_leaves_the_export_file_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = tmp_path / "export.ndjson"
    exported.write_text("yesterday's export\n")
    assert main(["export", "-o", str(exported), "--database", f"sqlite:///{tmp_path}/typo"]) == 2
    assert exported.read_text() == "yesterday's export\n"


@pytest.mark.parametrize("where", ["missing/export.ndjson", "."])
def test_an_export_that_cannot_be_written_is_a_one_line_error(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/a.db"
    main(["seed", "--database", database])
    capsys.readouterr()
    target = tmp_path / where
    assert main(["export", "-o", str(target), "--database", database]) == 74
    assert capsys.readouterr().err.startswith(f"error: cannot write {target}: ")


def test_an_import_that_cannot_be_read_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # /proc/self/mem is a file whose reading fails (EIO), as a failing disk's would
    database = f"sqlite:///{tmp_path}/a.db"
    assert main(["import", "/proc/self/mem", "--database", database]) == 74
    err = capsys.readouterr().err
    assert err == "error: cannot read /proc/self/mem: Input/output error; nothing was imported\n"


def test_an_import_of_a_missing_file_or_a_folder_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/a.db"
    assert main(["import", str(tmp_path / "nope.ndjson"), "--database", database]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}/nope.ndjson does not exist\n"
    assert main(["import", str(tmp_path), "--database", database]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path} is not a file\n"


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--log-level", "bogus", "invalid choice: 'bogus'"),
        ("--port", "99999", "'99999': a whole number from 1 to 65535"),
        ("--port", "0", "'0': a whole number from 1 to 65535"),
        ("--workers", "0", "'0': a whole number at least 1"),
    ],
)
def test_serve_refuses_an_option_it_cannot_use(
    option: str, value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", option, value])
    assert exited.value.code == 2
    assert f"argument {option}: {says}" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "x", str(2**63)])
def test_export_refuses_a_position_no_database_holds(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2**63 was an OverflowError traceback on SQLite
    database = f"sqlite:///{tmp_path}/export.db"
    assert main(["seed", "--database", database]) == 0
    with pytest.raises(SystemExit) as exited:
        main(["export", "--after", value, "--database", database])
    assert exited.value.code == 2
    assert f"argument --after: '{value}': a whole number from 0 to {2**63 - 1}" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "often"])
def test_projections_run_refuses_a_poll_interval_it_cannot_use(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # -1 and 0 spun a core; inf ended in a traceback
    with pytest.raises(SystemExit) as exited:
        main(["projections", "run", "--poll-seconds", value])
    assert exited.value.code == 2
    says = f"argument --poll-seconds: {value!r}: a number of seconds from 0.01 to 3600"
    assert says in capsys.readouterr().err


def test_serve_on_a_port_in_use_says_so_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a listener on a port, with SO_REUSEPORT as a server's workers have theirs
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        database = f"sqlite:///{tmp_path}/a.db"
        # When a server is started on it: refused before it opens the database or binds beside
        assert main(["serve", "--port", port, "--workers", "2", "--database", database]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert not (tmp_path / "a.db").exists()


def test_serve_check_says_whether_it_would_serve_and_serves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/a.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        # When `make run` checks a port a server holds: 2, before it makes a token
        assert main(["serve", "--check", "--port", port, "--database", database]) == 2
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    # and a free one (the listener closed): 0 at once, nothing served, no database made
    assert main(["serve", "--check", "--port", port, "--database", database]) == 0
    assert f"127.0.0.1:{port} is free to serve sqlite:///" in capsys.readouterr().err
    assert not (tmp_path / "a.db").exists()


def test_serve_check_fails_where_serving_could_not_open_the_database_and_makes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = str(free_port())
    # a folder that is not there: serving would stop at the database, so the check does
    missing = f"sqlite:///{tmp_path}/nowhere/a.db"
    assert main(["serve", "--check", "--port", port, "--database", missing]) == 2
    assert f"the SQLite database {tmp_path}/nowhere/a.db cannot be made" in capsys.readouterr().err
    # a file to be made by a process told to make none
    monkeypatch.setenv("CREATE_TABLE", "no")
    absent = f"sqlite:///{tmp_path}/a.db"
    assert main(["serve", "--check", "--port", port, "--database", absent]) == 2
    assert "CREATE_TABLE=no: this process creates none" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    # an empty file (SQLite's empty database) is left as it is: it was given a header
    monkeypatch.delenv("CREATE_TABLE")
    (tmp_path / "empty.db").touch()
    empty = f"sqlite:///{tmp_path}/empty.db"
    assert main(["serve", "--check", "--port", port, "--database", empty]) == 0
    assert [p.stat().st_size for p in tmp_path.iterdir()] == [0]
    (tmp_path / "empty.db").unlink()
    monkeypatch.setenv("CREATE_TABLE", "no")
    # and a timeline made by `init`, which passes either way
    assert main(["init", "--database", absent]) == 0
    assert main(["serve", "--check", "--port", port, "--database", absent]) == 0
    monkeypatch.delenv("CREATE_TABLE")
    assert main(["serve", "--check", "--port", port, "--database", absent]) == 0


@pytest.mark.postgres
def test_serve_check_fails_on_a_postgresql_database_that_refuses_or_cannot_be_reached(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # it said "free to serve" and exited 0 for both (found by the operations audit)
    port = str(free_port())
    missing = postgres_url.rsplit("/", 1)[0] + "/tl_no_such_database"
    assert main(["serve", "--check", "--port", port, "--database", missing]) == 2
    said = capsys.readouterr().err
    assert 'database "tl_no_such_database" does not exist' in said and "free to" not in said
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/timeline?connect_timeout=1"
    assert main(["serve", "--check", "--port", port, "--database", unreachable]) == 75
    assert "free to" not in capsys.readouterr().err
    # a database without the timeline's tables, which serving makes: it passes, making none
    assert main(["serve", "--check", "--port", port, "--database", postgres_url]) == 0
    with psycopg.connect(postgres_url) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_a_pool_size_that_is_not_a_number_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/timeline?pool_size=abc"
    assert main(["verify", "--database", url]) == 2
    assert "pool_size must be a whole number, at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["", "desk\x1b[2J", "x" * 101])
def test_recorded_by_follows_the_rules_of_token_names(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "events.ndjson"
    source.write_text(json.dumps(bodies.development_reported()) + "\n")
    database = f"sqlite:///{tmp_path}/a.db"
    with pytest.raises(SystemExit) as exited:
        main(["import", str(source), "--recorded-by", name, "--database", database])
    assert exited.value.code == 2
    assert "--recorded-by: a name is 1 to 100 printable characters" in capsys.readouterr().err
    assert not (tmp_path / "a.db").exists()


@pytest.mark.parametrize("name", ["anonymous", "seed", "alice", "gone"])
def test_an_import_may_not_be_recorded_by_a_reserved_name_or_a_token_s(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a live token alice and a revoked token gone
    database = f"sqlite:///{tmp_path}/a.db"
    assert (
        main(["tokens", "create", "--name", "alice", "--role", "editor", "--database", database])
        == 0
    )
    assert (
        main(["tokens", "create", "--name", "gone", "--role", "editor", "--database", database])
        == 0
    )
    assert main(["tokens", "revoke", "gone", "--database", database]) == 0
    source = tmp_path / "events.ndjson"
    source.write_text(json.dumps(bodies.development_reported()) + "\n")
    capsys.readouterr()
    # When an import is to be recorded in that name, it is refused and stores nothing
    assert main(["import", str(source), "--recorded-by", name, "--database", database]) == 2
    assert "nothing was imported" in capsys.readouterr().err
    assert events_in(database) == 0


def test_a_token_may_not_take_the_name_events_were_imported_as(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/a.db"
    source = tmp_path / "events.ndjson"
    source.write_text(json.dumps(bodies.development_reported()) + "\n")
    imported = ["import", str(source), "--recorded-by", "bulk loader", "--database", database]
    assert main(imported) == 0
    capsys.readouterr()
    created = ["tokens", "create", "--name", "bulk loader", "--role", "editor"]
    assert main([*created, "--database", database]) == 1
    assert "events were imported as recorded by 'bulk loader'" in capsys.readouterr().err


def test_an_invalid_token_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["tokens", "create", "--name", "", "--role", "editor"])
    assert exited.value.code == 2
    assert "a name is 1 to 100 printable characters" in capsys.readouterr().err


def test_an_import_file_may_start_with_a_byte_order_mark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "events.ndjson"
    source.write_bytes(b"\xef\xbb\xbf" + json.dumps(bodies.development_reported()).encode())
    database = f"sqlite:///{tmp_path}/a.db"
    assert main(["import", str(source), "--database", database]) == 0
    assert events_in(database) == 1


def test_import_dash_reads_standard_input(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/a.db"
    done = subprocess.run(
        [TIMELINE, "import", "-", "--database", database],
        input=CORPUS.read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert events_in(database) == SEED_LINES


def test_an_import_on_a_terminal_shows_the_storing_progress(tmp_path: Path) -> None:
    # given standard error on a terminal, where progress bars are shown
    parent, child = pty.openpty()
    termios.tcsetwinsize(child, (24, 120))  # a new terminal has no width to draw in
    database = f"sqlite:///{tmp_path}/a.db"
    with subprocess.Popen(
        [TIMELINE, "import", str(CORPUS), "--database", database], stderr=child
    ) as process:
        os.close(child)
        shown = b""
        with contextlib.suppress(OSError):  # the terminal closes with the process
            while chunk := os.read(parent, 4096):
                shown += chunk
        os.close(parent)
    # then storing has its bar, as reading has, counting the events
    assert process.returncode == 0
    text = shown.decode()
    assert "reading" in text and "storing: 100%" in text and f"{SEED_LINES}/{SEED_LINES}" in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_counts_one_in_the_singular_and_more_in_the_plural(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a bar on a terminal counting lines read, with no total known
    monkeypatch.setattr(sys, "stderr", _Terminal())
    bar = _progress(None, "line", "reading")
    # when it counts one, then two
    bar.update(1)
    one = str(bar)
    bar.update(1)
    two = str(bar)
    bar.close()
    # then one is a line and two are lines (it said "1 lines", and "43line" before session 21)
    assert one.startswith("reading: 1 line [") and two.startswith("reading: 2 lines [")


def test_a_progress_bar_given_its_total_later_shows_how_far_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a rebuild's bar, which learns its total from the first progress it is told
    monkeypatch.setattr(sys, "stderr", _Terminal())
    bar = _progress(None, "event", "rebuilding")
    # when the total is set and it advances
    bar.total = 4
    bar.update(1)
    shown = str(bar)
    bar.close()
    # then it shows the share done, counted against the total
    assert shown.startswith("rebuilding:  25%|") and "1/4" in shown and "events/s" in shown


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TIMELINE_REQUIRE_READ_TOKEN", "maybe"), ("CREATE_TABLE", "bogus")],
)
def test_serve_refuses_a_setting_it_cannot_use_before_it_starts_anything(
    variable: str, value: str, tmp_path: Path
) -> None:
    # CREATE_TABLE=bogus ended every command in a traceback; the other was said after "serving"
    database = f"sqlite:///{tmp_path}/a.db"

    served = _serve(database, {variable: value})

    assert served.returncode == 2
    assert f"{variable}={value!r}" in served.stderr and "serving" not in served.stderr
    assert not (tmp_path / "a.db").exists()


def _serve(database: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`timeline serve` in a process of its own, which must give up by itself (in 30 s)."""
    command = [TIMELINE, "serve", "--port", str(free_port()), "--database", database]
    return subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip


def test_a_create_table_setting_that_is_not_yes_or_no_is_named_by_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CREATE_TABLE", "bogus")
    assert main(["seed", "--database", f"sqlite:///{tmp_path}/a.db"]) == 2
    assert "CREATE_TABLE='bogus': expected yes or no" in capsys.readouterr().err
    monkeypatch.setenv("CREATE_TABLE", "No")  # the library's spellings, in any case
    assert main(["seed", "--database", f"sqlite:///{tmp_path}/a.db"]) == 2
    said = capsys.readouterr().err
    assert f"no database at {tmp_path}/a.db" in said and "run `timeline init` on it first" in said
    # and no file was left behind, which later commands took for a database without tables
    assert not (tmp_path / "a.db").exists()


def test_a_signing_key_that_cannot_be_used_is_said_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/a.db"
    assert main(["seed", "--database", database]) == 0
    capsys.readouterr()
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"garbage")
    # A key file that holds no key: a configuration error, for a checkpoint and for a server
    monkeypatch.setenv("TIMELINE_KEY_FILE", str(garbage))
    assert main(["checkpoint", "--database", database]) == 2
    assert f"{garbage} holds no unencrypted PEM private key" in capsys.readouterr().err
    served = _serve(database, {"TIMELINE_KEY_FILE": str(garbage)})
    assert served.returncode == 2
    assert f"{garbage} holds no" in served.stderr and "serving" not in served.stderr
    # A key file that cannot be read (a folder): 74, as for any file that cannot be read
    monkeypatch.setenv("TIMELINE_KEY_FILE", str(tmp_path))
    assert main(["checkpoint", "--database", database]) == 74
    assert f"signing key {tmp_path}: Is a directory" in capsys.readouterr().err


def test_a_public_key_to_pin_that_is_not_one_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["verify", "--checkpoint", "cp.json", "--public-key", "zz"])
    assert exited.value.code == 2
    assert "an Ed25519 public key is 64 hex digits" in capsys.readouterr().err


def test_the_log_s_ndjson_imports_as_its_events(database_url: str, tmp_path: Path) -> None:
    # Given the log of a database as GET /api/events gives it in NDJSON, one line malformed
    source = Timeline(database_url)
    import_events(source, CORPUS.read_bytes().splitlines()[:5], recorded_by="desk")
    with serve(database_url) as client:
        lines = client.get("/api/events", headers={"Accept": "application/x-ndjson"}).text
    source.close()
    log = tmp_path / "log.ndjson"
    log.write_text(lines + '{"position": 9, "event": {"type": "nothing"}}\n')
    target = f"sqlite:///{tmp_path}/copy.db"
    # When it is imported into another database: the malformed line is named
    assert main(["import", str(log), "--database", target, "--skip-bad-lines"]) == 0
    # Then it holds the same events, as an export of each gives them
    assert events_in(target) == 5
    exported = [
        _export(database_url, tmp_path / "a.ndjson"),
        _export(target, tmp_path / "b.ndjson"),
    ]
    assert exported[0] == exported[1]


def _export(database: str, path: Path) -> bytes:
    assert main(["export", "-o", str(path), "--database", database]) == 0
    return path.read_bytes()


@pytest.mark.parametrize(
    ("url", "printed"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql://u@h/db?password=pw&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        ("postgresql://u:pw@h/db?password=pw", "postgresql://u:***@h/db?password=***"),
        (
            "postgresql://u@h/db?password=pw&options=-c%20x",
            "postgresql://u@h/db?password=***&options=-c%20x",
        ),
        ("postgresql://u@h/db?options=-c%20x", "postgresql://u@h/db?options=-c%20x"),
        ("sqlite:///timeline.db", "sqlite:///timeline.db"),
    ],
)
def test_a_database_url_is_printed_without_its_password_wherever_it_is_given(
    url: str, printed: str
) -> None:
    # libpq takes a password in the query too: it was printed as given
    assert redacted(url) == printed


def test_a_checkpoint_refused_on_an_empty_log_makes_no_signing_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIMELINE_KEY_FILE", raising=False)
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    key = tmp_path / "empty.db.key"
    # Given an empty log, when a checkpoint is asked: refused, and no key is made for it
    assert main(["init", "--database", url]) == 0
    assert main(["checkpoint", "--database", url]) == 1
    assert "nothing has been recorded yet" in capsys.readouterr().err
    assert not key.exists()
    # once events are recorded, the first checkpoint signed makes it
    assert main(["seed", "--database", url]) == 0
    assert main(["checkpoint", "--database", url]) == 0
    assert key.exists()


def test_an_import_of_a_file_that_is_not_ndjson_text_says_what_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one event as NDJSON, and the same compressed, as UTF-16, and as a JSON page of the
    # log; and two files saved with a byte-order mark each, joined into one
    line = json.dumps(bodies.development_reported()) + "\n"
    page = {"items": [{"position": 1, "event": json.loads(line)}], "next": None}
    files = {
        "gz": gzip.compress(line.encode()),
        "utf16": line.encode("utf-16"),
        "utf16be": line.encode("utf-16-be"),
        "page": json.dumps(page).encode() + b"\n",
    }
    said = {}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        # When each is imported
        database = f"sqlite:///{tmp_path}/{name}.db"
        code = main(["import", str(tmp_path / name), "--database", database])
        said[name] = (code, capsys.readouterr().err.splitlines()[0])
    joined = tmp_path / "joined.ndjson"
    other = json.dumps(bodies.development_reported(title="Another")) + "\n"
    joined.write_bytes(codecs.BOM_UTF8 + line.encode() + codecs.BOM_UTF8 + other.encode())
    database = f"sqlite:///{tmp_path}/joined.db"
    stored = main(["import", str(joined), "--database", database])
    # Then each is refused in one line saying what the file is and what to do
    assert said == {
        "gz": (1, "error: line 1: $: the file is compressed with gzip: import "
                  "`zcat FILE | timeline import -`"),
        "utf16": (1, "error: line 1: $: the file is UTF-16 text: save it as UTF-8"),
        "utf16be": (1, "error: line 1: $: the line holds NUL bytes: it is not UTF-8 text "
                       "(UTF-16 without its mark, say)"),
        "page": (1, "error: line 1: $: a JSON page of GET /api/events, not NDJSON: ask it "
                    "with `Accept: application/x-ndjson`, or export with `timeline export`"),
    }  # fmt: skip
    # and the joined files are read whole, each one's mark as the first one's
    assert stored == 0 and events_in(database) == 2
    # and a file whose first line was damaged keeps the others, with --skip-bad-lines
    damaged = tmp_path / "damaged.ndjson"
    damaged.write_bytes(b'{"type": "devel\x00\x00' + b"\n" + line.encode())
    database = f"sqlite:///{tmp_path}/damaged.db"
    assert main(["import", str(damaged), "--skip-bad-lines", "--database", database]) == 0
    assert (
        events_in(database) == 1
        and "line 1: $: the line holds NUL bytes" in capsys.readouterr().err
    )
