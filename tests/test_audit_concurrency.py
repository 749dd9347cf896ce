"""Verification and checkpoints while writers keep appending: never a false alarm."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service.application import Timeline
from service.audit import VerifyReport, make_checkpoint, verify, verify_checkpoint_signature
from service.audit.checkpoints import Checkpoint
from service.audit.keys import Signer, load_or_create_key
from tests.test_audit_support import a_development


def test_log_verifies_and_is_signed_while_writers_append(
    timeline: Timeline, tmp_path: Path
) -> None:
    # Given four writers appending batches of three events
    signer = Signer(load_or_create_key(tmp_path / "timeline.key"))
    timeline.append([a_development()], "analyst")
    stop = threading.Event()

    def write() -> int:
        written = 0
        while not stop.is_set() and written < 150:
            timeline.append([a_development() for _ in range(3)], "analyst")
            written += 3
        return written

    def audit() -> tuple[list[VerifyReport], list[Checkpoint]]:
        reports, checkpoints = [], []
        for _ in range(6):
            reports.append(verify(timeline, page=7))
            checkpoints.append(make_checkpoint(timeline, signer))
        return reports, checkpoints

    # When two auditors verify and sign meanwhile
    with ThreadPoolExecutor(6) as pool:
        writers = [pool.submit(write) for _ in range(4)]
        auditors = [pool.submit(audit) for _ in range(2)]
        results = [auditor.result() for auditor in auditors]
        stop.set()
        written = sum(writer.result() for writer in writers)
    # Then every report is intact, every checkpoint verifies, and the log still extends them all
    reports = [report for found, _ in results for report in found]
    checkpoints = [checkpoint for _, found in results for checkpoint in found]
    assert all(report.ok for report in reports), [r for r in reports if not r.ok][:1]
    assert all(verify_checkpoint_signature(c, signer.public_key) for c in checkpoints)
    final = [verify(timeline, checkpoint) for checkpoint in checkpoints]
    assert all(report.ok and report.checkpoint is not None for report in final)
    assert final[0].checked == written + 1
