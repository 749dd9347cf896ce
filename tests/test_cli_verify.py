"""`timeline verify` as an operator runs it, in its own process, on SQLite and on PostgreSQL: it
exits 0 only for an intact log (that still extends the checkpoint given) and otherwise names the
first bad position and the kind of tampering, in its summary and in its JSON report."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from projections import ProjectionRunner, stale
from projections.schema import DELIVERY_ROWS, DEVELOPMENTS, TRACKING
from service.application import Timeline
from tests.procs import timeline_process
from tests.test_audit_support import Tamperer, record_log, tampered_log

ROWS = 12


class Run(NamedTuple):
    """How a `timeline` command ended: its exit status and what it wrote."""

    code: int
    out: str
    err: str

    def lines(self) -> list[str]:
        """Standard output, line by line."""
        return self.out.splitlines()

    def report(self) -> dict[str, Any]:
        """Standard output as the JSON report of `--json`."""
        decoded: dict[str, Any] = json.loads(self.out)
        return decoded


def timeline_command(*args: str) -> Run:
    """Run `timeline ARGS` in its own process to its end, whatever its exit status."""
    done = timeline_process(*args)
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture(autouse=True)
def signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The key `timeline checkpoint` signs with, in the test's folder (not the working one)."""
    path = tmp_path / "timeline.key"
    monkeypatch.setenv("TIMELINE_KEY_FILE", str(path))
    return path


@pytest.fixture
def verify_command(database_url: str) -> Callable[..., Run]:
    """`timeline verify --database URL ARGS`."""
    return lambda *args: timeline_command("verify", "--database", database_url, *args)


@pytest.fixture
def tamper(database_url: str, timeline: Timeline) -> Iterator[Tamperer]:
    yield from tampered_log(database_url, timeline, ROWS)


@pytest.fixture
def checkpoint_file(database_url: str, tamper: Tamperer, tmp_path: Path) -> Path:
    """The checkpoint of the log's head, saved from `timeline checkpoint` to a file."""
    signed = timeline_command("checkpoint", "--database", database_url)
    assert signed.code == 0, signed.err
    path = tmp_path / "checkpoint.json"
    path.write_text(signed.out)
    return path


def test_untouched_log_is_intact_and_exits_zero(
    tamper: Tamperer, verify_command: Callable[..., Run]
) -> None:
    # Given a log written by the service and never touched
    # When an operator verifies it, for a person and as JSON
    text, as_json = verify_command(), verify_command("--json")
    # Then both exit 0 and say every row verified, naming nothing bad
    assert text.code == 0, text.err
    assert text.lines()[0].startswith(f"intact: {ROWS} rows verified up to position {ROWS} in ")
    assert len(text.lines()) == 2 and text.lines()[1].startswith("head ")
    assert as_json.code == 0, as_json.err
    report = as_json.report()
    assert (report["ok"], report["checked"], report["position"]) == (True, ROWS, ROWS)
    assert (report["problem"], report["first_bad_position"]) == (None, None)
    assert text.lines()[1] == f"head {report['head']}"


TAMPERING: list[Any] = [
    pytest.param(lambda tamper: tamper.edit_payload_byte(7), "changed", 7, id="edited-payload"),
    pytest.param(lambda tamper: tamper.delete_row(5), "deleted", 5, id="deleted-row"),
    pytest.param(lambda tamper: tamper.swap_rows(6, 7), "reordered", 6, id="swapped-rows"),
    pytest.param(lambda tamper: tamper.forge(), "inserted", ROWS + 1, id="forged-row"),
]


@pytest.mark.parametrize(("tampering", "kind", "position"), TAMPERING)
def test_tampered_log_exits_non_zero_naming_the_first_bad_position_and_kind(
    tamper: Tamperer,
    verify_command: Callable[..., Run],
    tampering: Callable[[Tamperer], object],
    kind: str,
    position: int,
) -> None:
    # Given a log edited in the database behind the service's back
    tampering(tamper)
    # When an operator verifies it
    text, as_json = verify_command(), verify_command("--json")
    # Then both exit 1; everything before the bad position verified, and the break is named
    assert text.code == 1, text.err
    verified = position - 1
    assert text.lines()[0].startswith(
        f"NOT INTACT: {verified} rows verified up to position {verified} in "
    )
    assert text.lines()[2].startswith(f"{kind} at position {position}: ")
    assert as_json.code == 1, as_json.err
    report = as_json.report()
    assert report["ok"] is False
    assert (report["problem"], report["first_bad_position"]) == (kind, position)
    assert text.lines()[2] == f"{kind} at position {position}: {report['detail']}"


def test_checkpoint_the_log_still_extends_exits_zero(
    timeline: Timeline, checkpoint_file: Path, verify_command: Callable[..., Run]
) -> None:
    # Given a checkpoint kept outside at position 12, and more events written since
    record_log(timeline, 3)
    # When the log is verified against it
    run = verify_command("--checkpoint", str(checkpoint_file))
    # Then the whole log verifies and still extends the checkpoint
    assert run.code == 0, run.err
    assert run.lines()[0].startswith(f"intact: {ROWS + 3} rows verified up to position {ROWS + 3}")
    assert run.lines()[-1] == (
        f"checkpoint at position {ROWS}: signature valid, still a prefix of the log "
        f"(the log still extends the checkpoint at position {ROWS})"
    )


def test_a_checkpoint_signed_with_another_key_than_the_pinned_one_is_not_trusted(
    checkpoint_file: Path, verify_command: Callable[..., Run]
) -> None:
    # Given the kept checkpoint and the public key it should have been signed with
    key: str = json.loads(checkpoint_file.read_text())["public_key"]
    # When the log is verified against it with that key pinned, or with another one
    pinned = verify_command("--checkpoint", str(checkpoint_file), "--public-key", key.upper())
    other = verify_command("--checkpoint", str(checkpoint_file), "--public-key", "ab" * 32)
    alone = verify_command("--public-key", key)
    # Then the right key verifies; another is refused before anything is read: a checkpoint
    # signed by whoever holds some key proves nothing of the log
    assert pinned.code == 0, pinned.err
    assert other.code == 1 and other.out == ""
    assert f"NOT TRUSTED: the checkpoint was signed with public key {key}" in other.err
    assert alone.code == 2 and "give the checkpoint too" in alone.err


def test_altered_checkpoint_file_fails_its_signature_and_exits_non_zero(
    checkpoint_file: Path, verify_command: Callable[..., Run]
) -> None:
    # Given the kept checkpoint with one hex digit of its signature changed
    kept = json.loads(checkpoint_file.read_text())
    signature: str = kept["signature"]
    kept["signature"] = signature[:40] + ("1" if signature[40] != "1" else "2") + signature[41:]
    checkpoint_file.write_text(json.dumps(kept))
    # When the untouched log is verified against it
    text = verify_command("--checkpoint", str(checkpoint_file))
    as_json = verify_command("--checkpoint", str(checkpoint_file), "--json")
    # Then it exits 1 naming the signature INVALID, though the log extends what the file says
    assert text.code == 1, text.err
    assert text.lines()[0].startswith("NOT INTACT: ")
    assert text.lines()[2].startswith("bad_signature: ")
    assert text.lines()[-1].startswith(
        f"checkpoint at position {ROWS}: signature INVALID, still a prefix of the log"
    )
    report = as_json.report()
    assert (as_json.code, report["ok"], report["problem"]) == (1, False, "bad_signature")
    assert report["checkpoint"]["signature_valid"] is False


def test_rewritten_and_relinked_log_is_no_longer_a_prefix_of_the_checkpoint(
    tamper: Tamperer, checkpoint_file: Path, verify_command: Callable[..., Run]
) -> None:
    # Given someone who edits an earlier event AND recomputes every link after it
    tamper.edit_payload_byte(4)
    tamper.relink()
    # the chain alone cannot tell; the checkpoint this service stored and signed can
    stored = verify_command()
    assert stored.code == 1 and stored.lines()[2].startswith("diverged: ")
    # When the log is verified against the checkpoint kept before the rewrite
    run = verify_command("--checkpoint", str(checkpoint_file))
    # Then it exits 1: the log diverged at or before the checkpoint and no longer extends it
    assert run.code == 1, run.err
    assert run.lines()[0].startswith("NOT INTACT: ")
    assert run.lines()[2].startswith(
        f"diverged: the log was rewritten at or before position {ROWS}"
    )
    assert run.lines()[-1].startswith(
        f"checkpoint at position {ROWS}: signature valid, NOT a prefix of the log"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "error: cannot read"), ('{"position": "last"}', "error: not a timeline checkpoint")],
    ids=["missing", "not-a-checkpoint"],
)
def test_checkpoint_file_that_cannot_be_read_is_an_error_not_a_verdict(
    tamper: Tamperer,
    verify_command: Callable[..., Run],
    tmp_path: Path,
    content: str | None,
    message: str,
) -> None:
    path = tmp_path / "kept.json"
    if content is not None:
        path.write_text(content)
    run = verify_command("--checkpoint", str(path))
    assert (run.code, run.out) == (2, "")
    assert message in run.err


def test_read_models_edited_in_the_database_are_found_by_verify_read_models(
    timeline: Timeline, tamper: Tamperer, verify_command: Callable[..., Run]
) -> None:
    # Given read models caught up with the log, then a title edited in their rows only
    ProjectionRunner(timeline.store).catch_up()
    untouched = verify_command("--read-models")
    tamper.run(f"UPDATE {DEVELOPMENTS.name} SET title = %s WHERE position = 1", ("FORGED",))
    # When the log and the read models are verified, as text, then again as JSON
    forged = verify_command("--read-models")
    tamper.run(f"UPDATE {DEVELOPMENTS.name} SET title = %s WHERE position = 1", ("FORGED",))
    as_json = verify_command("--read-models", "--json")
    after = verify_command("--read-models")
    # Then the log is intact but the read models differed, and are the log's again after
    assert untouched.code == 0 and "every row agrees" in untouched.err
    assert forged.code == 1 and f"read models DIFFERED in {DEVELOPMENTS.name}" in forged.err
    assert forged.lines()[0].startswith("NOT INTACT")
    report = as_json.report()
    assert as_json.code == 1 and report["ok"] is False
    assert report["read_models"]["agree"] is False
    assert list(report["read_models"]["differ"]) == [DEVELOPMENTS.name]
    assert after.code == 0


def test_read_models_that_differ_make_the_verdict_on_standard_output_not_intact(
    timeline: Timeline, tamper: Tamperer, verify_command: Callable[..., Run]
) -> None:
    # Given read models caught up with the log, then a title edited in their rows only
    ProjectionRunner(timeline.store).catch_up()
    tamper.run(f"UPDATE {DEVELOPMENTS.name} SET title = %s WHERE position = 1", ("FORGED",))
    # When the log and the read models are verified, by a script reading standard output
    run = verify_command("--read-models")
    # Then the verdict it reads is NOT INTACT (it read "intact", only standard error said the
    # read models differed), and a line says which ones and that the log itself verified
    assert run.code == 1, run.err
    assert run.lines()[0].startswith(f"NOT INTACT: {ROWS} rows verified up to position {ROWS} ")
    assert run.lines()[-1].startswith(f"read models differed from the log in {DEVELOPMENTS.name}:")
    assert "intact" not in run.out.replace("NOT INTACT", "")


def test_checkpoint_refuses_to_sign_a_log_cut_back_below_the_last_checkpoint(
    database_url: str, tamper: Tamperer, checkpoint_file: Path
) -> None:
    # Given a checkpoint of the head at 12, then rows 11 and 12 deleted from both tables
    tamper.delete_row(ROWS)
    tamper.delete_row(ROWS - 1)
    # When an operator signs the head
    run = timeline_command("checkpoint", "--database", database_url)
    # Then it exits 1, signing nothing, and names the checkpoint beyond the head
    assert (run.code, run.out) == (1, ""), run.err
    assert f"checkpoint at position {ROWS} lies beyond the log's head at position {ROWS - 2}" in (
        run.err
    )


def test_verify_read_models_leaves_out_a_projection_another_version_folded_and_says_so(
    timeline: Timeline, tamper: Tamperer, verify_command: Callable[..., Run]
) -> None:
    # Given read models caught up, the deliveries' rows then written by another version's fold
    ProjectionRunner(timeline.store).catch_up()
    tamper.run(f"UPDATE {TRACKING} SET fold = 0 WHERE name = %s", ("deliveries",))
    tamper.run(f"DELETE FROM {DELIVERY_ROWS.name}")
    # When the log and the read models are verified
    run = verify_command("--read-models")
    # Then the developments are compared and agree; the deliveries are said to be outdated,
    # not to differ, and are left for the rebuild that the service runs
    assert run.code == 0, run.err
    assert "deliveries were written by another version of this service" in run.err
    assert "every row of the others agrees" in run.err and "DIFFERED" not in run.err
    assert stale(timeline.store) == ["deliveries"]
    # and the JSON report names them as not compared (it said they agreed; upgrade audit)
    report = json.loads(verify_command("--read-models", "--json").out)
    assert report["read_models"] == {"agree": True, "differ": {}, "not_compared": ["deliveries"]}
    tamper.run(f"UPDATE {TRACKING} SET fold = 0 WHERE name = %s", ("developments",))
    report = json.loads(verify_command("--read-models", "--json").out)
    assert report["read_models"]["agree"] is None  # none compared: neither agree nor differ
    assert report["read_models"]["not_compared"] == ["developments", "deliveries"]
