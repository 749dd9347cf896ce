"""Signed checkpoints: made from a verified chain, checked with the public key, kept in files, and
used to catch a rewritten log that the chain alone cannot; on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from service.application import Timeline
from service.audit import (
    Checkpoint,
    CheckpointFileError,
    dump_checkpoint,
    ledger,
    load_checkpoint,
    make_checkpoint,
    maybe_checkpoint,
    periodic_checkpoints,
    read_checkpoint_file,
    summary,
    verify,
    verify_checkpoint_signature,
)
from service.audit.checkpoints import (
    EmptyLog,
    LogTampered,
    latest_checkpoint,
    sign_head,
    signed_at_micros,
    signed_message,
)
from service.audit.keys import Signer, load_or_create_key
from service.audit.ledger import StoredCheckpoint
from service.audit.merkle import Frontier, inclusion_path, leaf_hash, tree_root
from service.audit.proofs import inclusion_proof, verify_event_proof
from tests.test_audit_support import Tamperer, a_development, record_log, tampered_log

ROWS = 12


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer(load_or_create_key(tmp_path / "keys" / "timeline.key"))


@pytest.fixture
def tamper(database_url: str, timeline: Timeline) -> Iterator[Tamperer]:
    yield from tampered_log(database_url, timeline, ROWS)


def altered(checkpoint: Checkpoint, **fields: object) -> Checkpoint:
    return msgspec.structs.replace(checkpoint, **fields)


def flip_hex(text: str, at: int = 0) -> str:
    return text[:at] + ("1" if text[at] != "1" else "2") + text[at + 1 :]


def test_checkpoint_signs_the_stored_head_and_tree_of_the_log(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    # Given a log of 12 events
    # When the head is signed
    checkpoint = make_checkpoint(timeline, signer)
    # Then it names the last position, its stored link and the root over every link
    records = timeline.store.select_records()
    assert checkpoint.position == ROWS and checkpoint.tree_size == ROWS
    assert checkpoint.head == records[-1].link.hex()
    assert checkpoint.tree_root == tree_root([leaf_hash(r.link) for r in records]).hex()
    assert checkpoint.public_key == signer.public_key.hex()
    assert checkpoint.signed_at.endswith("Z")
    assert verify_checkpoint_signature(checkpoint)
    assert verify_checkpoint_signature(checkpoint, public_key=signer.public_key)


@pytest.mark.parametrize(
    "change",
    ["head", "position", "tree_size", "tree_root", "signature", "signed_at", "public_key"],
)
def test_altered_checkpoint_fails_its_signature(
    timeline: Timeline, tamper: Tamperer, signer: Signer, tmp_path: Path, change: str
) -> None:
    checkpoint = make_checkpoint(timeline, signer)
    other = Signer(load_or_create_key(tmp_path / "other.key"))
    changes: dict[str, dict[str, object]] = {
        "head": {"head": flip_hex(checkpoint.head, 10)},
        "position": {"position": checkpoint.position - 1},
        "tree_size": {"tree_size": checkpoint.tree_size + 1},
        "tree_root": {"tree_root": flip_hex(checkpoint.tree_root)},
        "signature": {"signature": flip_hex(checkpoint.signature, 40)},
        "signed_at": {"signed_at": "2020-01-01T00:00:00.000000Z"},
        "public_key": {"public_key": other.public_key.hex()},
    }
    assert not verify_checkpoint_signature(altered(checkpoint, **changes[change]))


def test_checkpoint_signed_by_another_key_fails_when_the_trusted_key_is_pinned(
    timeline: Timeline, tamper: Tamperer, signer: Signer, tmp_path: Path
) -> None:
    stranger = Signer(load_or_create_key(tmp_path / "stranger.key"))
    checkpoint = make_checkpoint(timeline, stranger)
    assert verify_checkpoint_signature(checkpoint)
    assert not verify_checkpoint_signature(checkpoint, public_key=signer.public_key)


def test_signing_the_same_head_twice_answers_the_first_checkpoint(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    first = make_checkpoint(timeline, signer)
    assert make_checkpoint(timeline, signer) == first == latest_checkpoint(timeline)


def test_empty_log_has_no_head_to_sign(timeline: Timeline, signer: Signer) -> None:
    with pytest.raises(EmptyLog):
        make_checkpoint(timeline, signer)


def test_tampered_log_is_never_signed(timeline: Timeline, tamper: Tamperer, signer: Signer) -> None:
    tamper.edit_payload_byte(5)
    with pytest.raises(LogTampered, match="changed at position 5"):
        make_checkpoint(timeline, signer)


def test_log_tampered_after_the_last_checkpoint_is_not_signed_either(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    make_checkpoint(timeline, signer)
    record_log(timeline, 3)
    tamper.delete_record(ROWS + 2)
    with pytest.raises(LogTampered, match=f"deleted at position {ROWS + 2}"):
        make_checkpoint(timeline, signer)


def test_periodic_checkpoint_waits_until_n_events_since_the_last(
    timeline: Timeline, signer: Signer
) -> None:
    # Given checkpoints every 5 events
    record_log(timeline, 4)
    assert maybe_checkpoint(timeline, every=5, signer=signer) is None
    record_log(timeline, 1)
    first = maybe_checkpoint(timeline, every=5, signer=signer)
    record_log(timeline, 4)
    assert maybe_checkpoint(timeline, every=5, signer=signer) is None
    record_log(timeline, 3)
    second = maybe_checkpoint(timeline, every=5, signer=signer)
    # Then one was made at 5 and the next at 12, the first 5 or more positions after it
    assert first is not None and second is not None
    assert (first.position, second.position) == (5, 12)


def test_a_due_checkpoint_another_process_stored_meanwhile_is_not_made_again(
    timeline: Timeline, signer: Signer
) -> None:
    # Given a checkpoint due at 5, stored by one worker while another was still making its own
    # (each worker of each server asks every few seconds: four landed within 51 events)
    record_log(timeline, 5)
    theirs = make_checkpoint(timeline, signer)
    record_log(timeline, 3)
    # When the other, which found none stored when it decided, comes to store its own
    checkpoint, made = sign_head(timeline, signer, unless_after=0)
    # Then it stores none and answers the one made meanwhile
    assert (made, checkpoint) == (False, theirs)
    assert stored_positions(timeline) == [5]
    # and, nothing stored beyond what it decided on, it makes its own
    checkpoint, made = sign_head(timeline, signer, unless_after=5)
    assert made and checkpoint.position == 8


def test_workers_asking_at_once_make_one_due_checkpoint(timeline: Timeline, signer: Signer) -> None:
    record_log(timeline, 9)
    start = threading.Barrier(4)
    made: list[Checkpoint | None] = []

    def worker() -> None:  # each a server worker after an append of its own: heads differ
        start.wait()
        record_log(timeline, 1)
        made.append(maybe_checkpoint(timeline, every=5, signer=signer))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [checkpoint] = [c for c in made if c is not None]
    assert stored_positions(timeline) == [checkpoint.position]


def stored_positions(timeline: Timeline) -> list[int]:
    """The positions of every checkpoint stored."""
    with timeline.store.read_transaction() as cursor:
        cursor.execute(f"SELECT position FROM {ledger.TABLE} ORDER BY position")
        return [int(row["position"]) for row in cursor.fetchall()]


def test_later_checkpoint_carries_the_tree_on_from_the_earlier_one(
    timeline: Timeline, signer: Signer
) -> None:
    record_log(timeline, 7)
    make_checkpoint(timeline, signer)
    record_log(timeline, 6)
    later = make_checkpoint(timeline, signer)
    links = [leaf_hash(r.link) for r in timeline.store.select_records()]
    assert later.tree_size == 13 and later.tree_root == tree_root(links).hex()


def test_a_checkpoint_signed_with_another_key_than_the_last_one_says_so(
    timeline: Timeline, signer: Signer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a checkpoint, and a key file lost since (a database restored without it)
    record_log(timeline, 3)
    first = make_checkpoint(timeline, signer)
    record_log(timeline, 2)
    same = make_checkpoint(timeline, signer)
    assert "signing key changed" not in caplog.text
    record_log(timeline, 2)
    # When the next checkpoint is signed with the new key
    other = Signer(load_or_create_key(tmp_path / "new.key"))
    later = make_checkpoint(timeline, other)
    # Then it is made, and the log says the key changed, naming both
    assert later.public_key != first.public_key == same.public_key
    assert "the signing key changed" in caplog.text
    assert first.public_key in caplog.text and later.public_key in caplog.text


def test_tampered_stored_frontier_is_not_trusted_for_the_next_checkpoint(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    make_checkpoint(timeline, signer)
    tamper.run("UPDATE checkpoints SET frontier = %s", [bytes(64)])
    record_log(timeline, 2)
    later = make_checkpoint(timeline, signer)
    links = [leaf_hash(r.link) for r in timeline.store.select_records()]
    assert later.tree_root == tree_root(links).hex()


def test_checkpoint_file_round_trips_as_the_api_serves_it(
    timeline: Timeline, tamper: Tamperer, signer: Signer, tmp_path: Path
) -> None:
    checkpoint = make_checkpoint(timeline, signer)
    path = tmp_path / "checkpoint.json"
    path.write_bytes(dump_checkpoint(checkpoint))
    assert read_checkpoint_file(path) == checkpoint
    assert set(msgspec.json.decode(path.read_bytes())) == {
        "position",
        "tree_size",
        "head",
        "tree_root",
        "signed_at",
        "public_key",
        "signature",
    }


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"{}", b'{"position": 1}', b"[1, 2]"],
)
def test_file_that_is_not_a_checkpoint_is_refused_with_a_reason(content: bytes) -> None:
    with pytest.raises(CheckpointFileError, match="not a timeline checkpoint"):
        load_checkpoint(content)


def test_missing_checkpoint_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(CheckpointFileError, match=r"missing\.json"):
        read_checkpoint_file(tmp_path / "missing.json")


def test_log_that_grew_after_a_checkpoint_still_extends_it(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    # Given a checkpoint kept at position 12, and more events recorded since
    checkpoint = make_checkpoint(timeline, signer)
    record_log(timeline, 5)
    # Then the log verifies and still extends the checkpoint
    report = verify(timeline, checkpoint)
    assert report.ok and report.checked == ROWS + 5
    assert report.checkpoint is not None
    assert report.checkpoint.extends and report.checkpoint.signature_valid
    assert report.checkpoint.problem is None


def test_tampering_below_the_checkpoint_fails_the_prefix_check(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    checkpoint = make_checkpoint(timeline, signer)
    tamper.edit_payload_byte(4)
    report = verify(timeline, checkpoint)
    assert (report.ok, report.problem, report.first_bad_position) == (False, "changed", 4)
    assert report.checkpoint is not None and not report.checkpoint.extends


def test_tampering_above_the_checkpoint_leaves_it_a_prefix(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    checkpoint = make_checkpoint(timeline, signer)
    record_log(timeline, 3)
    tamper.edit_payload_byte(ROWS + 1)
    report = verify(timeline, checkpoint)
    assert (report.ok, report.problem, report.first_bad_position) == (False, "changed", ROWS + 1)
    assert report.checkpoint is not None and report.checkpoint.extends


def test_row_changed_exactly_at_the_checkpoint_position_is_reported_changed_not_truncated(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    # Given a checkpoint signed at position 12, and more events recorded since
    checkpoint = make_checkpoint(timeline, signer)
    record_log(timeline, 3)
    # When the row at the checkpoint's very position (a report from Kyiv) is changed
    tamper.edit_payload_byte(ROWS, b"Kyiv", b"Kyev")
    report = verify(timeline, checkpoint)
    # Then the checkpoint check names the change there, not a log cut short before it
    assert (report.ok, report.problem, report.first_bad_position) == (False, "changed", ROWS)
    assert report.checkpoint is not None
    assert (report.checkpoint.position, report.checkpoint.extends) == (ROWS, False)
    assert report.checkpoint.problem == "changed"
    assert report.checkpoint.detail == (
        f"the chain breaks at position {ROWS}, before position {ROWS}"
    )


def test_rewrite_with_recomputed_links_is_caught_by_an_older_checkpoint(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    # Given a checkpoint kept outside, then a payload edited and every link recomputed after it
    checkpoint = make_checkpoint(timeline, signer)
    tamper.edit_payload_byte(4)
    tamper.relink()
    # Then the chain is consistent again, but it no longer extends the checkpoint
    report = verify(timeline, checkpoint)
    assert not report.ok and report.problem == "diverged"
    assert report.checked == ROWS and report.first_bad_position is None
    assert report.checkpoint is not None and not report.checkpoint.extends
    assert f"at or before position {ROWS}" in report.checkpoint.detail


def test_deleting_the_newest_rows_is_caught_as_truncation(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    checkpoint = make_checkpoint(timeline, signer)
    tamper.delete_row(ROWS)
    tamper.delete_row(ROWS - 1)
    report = verify(timeline, checkpoint)
    assert (report.ok, report.problem, report.first_bad_position) == (False, "truncated", ROWS - 1)


def test_checkpoint_whose_signature_fails_does_not_verify_the_log(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    checkpoint = make_checkpoint(timeline, signer)
    report = verify(timeline, altered(checkpoint, signature=flip_hex(checkpoint.signature)))
    assert (report.ok, report.problem) == (False, "bad_signature")
    assert report.checkpoint is not None
    assert report.checkpoint.extends and not report.checkpoint.signature_valid


def test_checkpoint_with_an_altered_head_fails_its_signature_before_anything_else(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    # Given a kept checkpoint whose head was altered after it was signed
    real = make_checkpoint(timeline, signer)
    report = verify(timeline, altered(real, head=flip_hex(real.head)))
    # Then the checkpoint is not genuine, which says nothing against the log
    assert (report.ok, report.problem) == (False, "bad_signature")
    assert report.checkpoint is not None and report.checkpoint.detail is not None
    assert "compared all the same: diverged" in report.checkpoint.detail


def test_checkpoint_signed_by_another_key_over_a_head_this_log_never_had_is_diverged(
    timeline: Timeline, tamper: Tamperer, signer: Signer, tmp_path: Path
) -> None:
    # Given a genuine signature, by some other key, over a head this log never had
    real = make_checkpoint(timeline, signer)
    forger = Signer(load_or_create_key(tmp_path / "forger.key"))
    head = flip_hex(real.head)
    message = signed_message(
        real.position,
        real.tree_size,
        bytes.fromhex(head),
        bytes.fromhex(real.tree_root),
        signed_at_micros(real.signed_at),
    )
    forged = altered(
        real,
        head=head,
        public_key=forger.public_key.hex(),
        signature=forger.sign(message).hex(),
    )
    assert verify_checkpoint_signature(forged)
    # Then the log does not extend it
    report = verify(timeline, forged)
    assert (report.ok, report.problem) == (False, "diverged")


def test_background_checkpoints_sign_once_enough_events_came(
    timeline: Timeline, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a server running periodic checkpoints every 3 events, each of its ticks recorded
    ticks: list[Checkpoint | None] = []

    def tick(timeline: Timeline, every: int, signer: Signer | None = None) -> Checkpoint | None:
        made = maybe_checkpoint(timeline, every, signer)
        ticks.append(made)
        return made

    monkeypatch.setattr("service.audit.periodic.maybe_checkpoint", tick)

    async def ticked(count: int) -> None:
        while len(ticks) < count:
            await asyncio.sleep(0.02)

    async def signed() -> None:
        while ledger.latest(timeline.store) is None:
            await asyncio.sleep(0.02)

    async def serve_for_a_while() -> None:
        async with periodic_checkpoints(timeline, every=3, interval=0.02, signer=signer):
            # When 2 events are recorded, and a whole tick runs after them (the second tick
            # to end from now: the first may have begun before they were stored)
            await asyncio.to_thread(record_log, timeline, 2)
            await asyncio.wait_for(ticked(len(ticks) + 2), timeout=10)
            # Then nothing was signed
            assert ticks == [None] * len(ticks)
            assert ledger.latest(timeline.store) is None
            # When 2 more come in one write (the head jumps to 4), then the task signs it
            batch = [a_development(), a_development()]
            await asyncio.to_thread(timeline.append, batch, "analyst")
            await asyncio.wait_for(signed(), timeout=10)

    asyncio.run(serve_for_a_while())
    # Then the head was signed once 3 or more events had come
    assert latest_checkpoint(timeline).position == 4


def _rewrite_behind_a_checkpoint(timeline: Timeline, tamper: Tamperer, signer: Signer) -> None:
    """The service's checkpoint at ROWS, two events more, then a payload below it rewritten
    with every link recomputed (no key needed)."""
    make_checkpoint(timeline, signer)
    record_log(timeline, 2)
    tamper.edit_payload_byte(4)
    tamper.relink()


def test_rewrite_below_the_last_own_checkpoint_is_never_signed(
    timeline: Timeline, tamper: Tamperer, signer: Signer, tmp_path: Path
) -> None:
    # Given the service's checkpoint at 12, then a payload rewritten below it with every link
    # recomputed, and a checkpoint planted above it under another key
    _rewrite_behind_a_checkpoint(timeline, tamper, signer)
    stranger = Signer(load_or_create_key(tmp_path / "stranger.key"))
    frontier = Frontier(8, (bytes(32),))
    ledger.insert(
        timeline.store,
        StoredCheckpoint(
            position=ROWS + 2,
            tree_size=8,
            head=bytes(32),
            tree_root=frontier.root(),
            frontier=frontier,
            signed_at_us=0,
            public_key=stranger.public_key,
            signature=stranger.sign(signed_message(ROWS + 2, 8, bytes(32), frontier.root(), 0)),
        ),
    )
    record_log(timeline, 1)
    # Then the chain alone verifies, but not against the latest checkpoint stored; and the
    # service resumes from its own checkpoint, sees the chain no longer extends it, and
    # refuses to sign the rewritten log
    report = verify(timeline)
    assert report.first_bad_position is None and report.problem == "diverged"
    with pytest.raises(LogTampered, match=f"at position {ROWS + 1}"):
        make_checkpoint(timeline, signer)


def test_a_signed_head_deleted_and_its_position_taken_again_is_reported_not_re_served(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    # Given the service's checkpoint of its head, then that row deleted from both tables
    signed = make_checkpoint(timeline, signer)
    tamper.delete_row(ROWS)
    # When verified, and when a new event takes the deleted position and a checkpoint is asked
    cut = verify(timeline)
    record_log(timeline, 1)
    assert tamper.last_position() == ROWS
    taken = verify(timeline)
    # Then each verification says the log no longer extends that checkpoint
    assert (cut.ok, cut.problem) == (False, "truncated")
    assert (taken.ok, taken.problem) == (False, "diverged")
    # and the checkpoint of that position is refused, not answered for the new row
    with pytest.raises(LogTampered, match=f"checkpoint at position {ROWS} signed head"):
        make_checkpoint(timeline, signer)
    assert signed.position == ROWS


def test_proofs_read_chunk_roots_stored_by_checkpoints_and_verify(
    timeline: Timeline, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given chunks of 4 rows, and checkpoints at 10 and at 23 rows
    monkeypatch.setattr(ledger, "CHUNK", 4)
    record_log(timeline, 10)
    make_checkpoint(timeline, signer)
    assert ledger.chunks(timeline.store, 10)[1] == [4, 8]
    record_log(timeline, 13)
    kept = make_checkpoint(timeline, signer)
    roots, lasts = ledger.chunks(timeline.store, 23)
    links = [leaf_hash(r.link) for r in timeline.store.select_records()]
    assert lasts == [4, 8, 12, 16, 20]
    assert roots == [tree_root(links[i : i + 4]) for i in range(0, 20, 4)]
    for record in timeline.store.select_records():
        # When each event's proof is made
        proof = inclusion_proof(timeline, record.event_id)
        # Then it places the event and verifies against the checkpoint kept, with its key
        assert proof.leaf_index == record.position - 1 and proof.tree_size == 23
        assert verify_event_proof(proof, kept, signer.public_key)
        assert proof.audit_path == [p.hex() for p in inclusion_path(proof.leaf_index, links)]


def test_proofs_do_not_trust_chunk_roots_that_miss_the_signed_root(
    timeline: Timeline, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stored chunk root that was altered after the checkpoint stored it
    monkeypatch.setattr(ledger, "CHUNK", 4)
    record_log(timeline, 9)
    kept = make_checkpoint(timeline, signer)
    with timeline.store.write_transaction() as cursor:
        cursor.execute(
            timeline.store.sql(f"UPDATE {ledger.CHUNKS} SET root = %s WHERE chunk = 0"),
            (bytes(32),),
        )
    # When proofs are made of an event in that chunk and of one after it
    for record in timeline.store.select_records()[1::7]:
        proof = inclusion_proof(timeline, record.event_id)
        # Then they come from the rows themselves and verify
        assert verify_event_proof(proof, kept, signer.public_key)


def test_a_new_key_refuses_to_sign_a_log_rewritten_behind_the_old_keys_checkpoint(
    timeline: Timeline, tamper: Tamperer, signer: Signer, tmp_path: Path
) -> None:
    # Given the service's checkpoint at 12, then a payload rewritten below it with every link
    # recomputed, and the key file lost (a database served without it makes a new key)
    _rewrite_behind_a_checkpoint(timeline, tamper, signer)
    new_key = Signer(load_or_create_key(tmp_path / "new.key"))
    # When the new key is asked to sign the head
    # Then it refuses: the log no longer holds what the old key signed at 12
    with pytest.raises(LogTampered, match=f"no longer extends the checkpoint at position {ROWS}"):
        make_checkpoint(timeline, new_key)
    assert ledger.latest(timeline.store, public_key=new_key.public_key) is None


def test_a_new_key_signs_a_log_that_still_extends_the_old_keys_checkpoint(
    timeline: Timeline, tamper: Tamperer, signer: Signer, tmp_path: Path
) -> None:
    # Given the old key's checkpoint at 12 and two events recorded since
    old = make_checkpoint(timeline, signer)
    record_log(timeline, 2)
    # When a new key signs the head
    new = make_checkpoint(timeline, Signer(load_or_create_key(tmp_path / "new.key")))
    # Then it does, carrying the tree on over every row
    links = [leaf_hash(r.link) for r in timeline.store.select_records()]
    assert (new.position, new.tree_root) == (ROWS + 2, tree_root(links).hex())
    assert new.public_key != old.public_key


def test_verify_checks_the_old_keys_checkpoint_after_a_new_key_signed_a_rewrite(
    timeline: Timeline, tamper: Tamperer, signer: Signer, tmp_path: Path
) -> None:
    # Given the old key's checkpoint at 12, a payload rewritten below it and relinked, and a new
    # key's checkpoint of the rewritten head (signed while the old one was out of the table)
    _rewrite_behind_a_checkpoint(timeline, tamper, signer)
    kept = ledger.at_position(timeline.store, ROWS)
    assert kept is not None
    tamper.run("DELETE FROM checkpoints")
    new_key = Signer(load_or_create_key(tmp_path / "new.key"))
    newest = make_checkpoint(timeline, new_key)
    ledger.insert(timeline.store, kept)
    # When the log is verified against what the service stored
    report = verify(timeline)
    # Then the newest checkpoint holds, but the old key's proves the rewrite, and is named
    assert newest.position == ROWS + 2
    assert (report.ok, report.problem) == (False, "diverged")
    assert report.checkpoint is not None
    assert (report.checkpoint.position, report.checkpoint.public_key) == (
        ROWS,
        signer.public_key.hex(),
    )
    assert not report.checkpoint.extends and report.checkpoint.signature_valid


@pytest.mark.parametrize("signed_at_10", [False, True], ids=["head-unsigned", "head-signed"])
def test_a_log_cut_back_below_a_stored_checkpoint_is_never_signed(
    database_url: str, timeline: Timeline, signer: Signer, signed_at_10: bool
) -> None:
    # Given checkpoints at 12 (and at 10 too, or not), then rows 11 and 12 deleted from both
    # tables: the head is 10 and the log up to it still chains
    record_log(timeline, 10)
    if signed_at_10:
        make_checkpoint(timeline, signer)
    record_log(timeline, 2)
    make_checkpoint(timeline, signer)
    tamper = Tamperer(database_url)
    tamper.delete_row(12)
    tamper.delete_row(11)
    tamper.close()
    # When the head is to be signed (or its checkpoint answered again)
    # Then the service refuses, naming the checkpoint beyond the head
    with pytest.raises(
        LogTampered, match="checkpoint at position 12 lies beyond the log's head at position 10"
    ):
        make_checkpoint(timeline, signer)


def test_checkpoint_whose_stored_head_was_replaced_is_not_called_a_prefix(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    # Given the service's checkpoint, its head then replaced in the table
    make_checkpoint(timeline, signer)
    tamper.run("UPDATE checkpoints SET head = %s", [bytes(range(32))])
    # When the log is verified against it
    report = verify(timeline)
    # Then the signature fails, and the log does not hold that head: no prefix either
    assert (report.ok, report.problem) == (False, "bad_signature")
    assert report.checkpoint is not None
    assert not report.checkpoint.signature_valid and not report.checkpoint.extends
    assert "signature INVALID, NOT a prefix of the log" in summary(report)


def test_row_inserted_below_position_1_is_never_signed(
    timeline: Timeline, tamper: Tamperer, signer: Signer
) -> None:
    # Given a forged row at position 0, where the service never writes
    tamper.forge(0)
    # When the head is to be signed
    # Then the service refuses, naming the inserted row
    with pytest.raises(LogTampered, match="inserted at position 0"):
        make_checkpoint(timeline, signer)
