"""Verify the stored log: recompute the chain from the start and check it against a checkpoint."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

import msgspec

from service.application import Timeline
from service.audit import ledger
from service.audit.chain import Progress, Walk, walk
from service.audit.checkpoints import Checkpoint, to_wire, verify_checkpoint_signature
from service.audit.rows import PAGE, extent

ProblemKind = Literal[
    "changed", "deleted", "inserted", "reordered", "truncated", "diverged", "bad_signature"
]


class CheckpointCheck(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the log still extends a checkpoint: same head and tree at its position, and a
    signature that verifies."""

    position: int
    head: str
    tree_size: int
    public_key: str
    signature_valid: bool
    extends: bool
    problem: ProblemKind | None
    detail: str

    @property
    def ok(self) -> bool:
        """Signed by its key, and still a prefix of the log."""
        return self.signature_valid and self.extends


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of recomputing the chain: where the log stops matching, if anywhere."""

    ok: bool
    checked: int
    position: int
    head: str
    first_bad_position: int | None
    problem: ProblemKind | None
    detail: str | None
    checkpoint: CheckpointCheck | None
    seconds: float


def _against(checkpoint: Checkpoint, walked: Walk) -> CheckpointCheck:
    signature_valid = verify_checkpoint_signature(checkpoint)
    at = checkpoint.position
    mark = walked.marks.get(at)
    problem: ProblemKind | None = None
    matches = (
        mark is not None
        and mark.link.hex() == checkpoint.head
        and mark.frontier.size == checkpoint.tree_size
        and mark.frontier.root().hex() == checkpoint.tree_root
    )
    if matches:
        detail = f"the log still extends the checkpoint at position {at}"
    elif mark is not None:
        problem = "diverged"
        detail = (
            f"the log was rewritten at or before position {at}: its head there is now "
            f"{mark.link.hex()}, the checkpoint signed {checkpoint.head}"
        )
    elif walked.problem is not None and walked.problem.position <= at:
        problem = walked.problem.kind
        detail = f"the chain breaks at position {walked.problem.position}, before position {at}"
    elif walked.last.position < at:
        problem = "truncated"
        detail = f"the log ends at position {walked.last.position}, before position {at}"
    else:
        problem = "diverged"
        detail = f"position {at} holds no row any more, yet the chain around it verifies"
    if not signature_valid:  # a checkpoint that is not genuine proves nothing of the log
        found = "" if problem is None else f" (compared all the same: {problem}, {detail})"
        problem = "bad_signature"
        detail = f"the checkpoint's signature does not verify with its public key{found}"
    return CheckpointCheck(
        position=at,
        head=checkpoint.head,
        tree_size=checkpoint.tree_size,
        public_key=checkpoint.public_key,
        signature_valid=signature_valid,
        extends=matches,  # whatever the signature: the log holds what the checkpoint says
        problem=problem,
        detail=detail,
    )


def verify(
    timeline: Timeline,
    checkpoint: Checkpoint | None = None,
    progress: Progress | None = None,
    *,
    page: int = PAGE,
) -> VerifyReport:
    """Recompute every link from the stored rows; name the first break and check `checkpoint`,
    by default the latest stored checkpoint of each key that signed one: a log cut back or
    rewritten behind one still chains from its start, and only the checkpoint shows what it
    lost.

    Reads both tables page by page up to the highest position either held when it began;
    `progress` is called with the number of rows of each page verified. The report's
    `checkpoint` is the first of those the log no longer extends, else the latest.
    """
    began = time.perf_counter()
    checkpoints = [checkpoint] if checkpoint else _stored_checkpoints(timeline)
    positions = frozenset(kept.position for kept in checkpoints)
    walked = walk(
        timeline.store,
        end=extent(timeline.store),
        tree_until=max(positions, default=0),
        marks=positions,
        progress=progress,
        page=page,
    )
    checks = [_against(kept, walked) for kept in checkpoints]
    check = next((c for c in checks if not c.ok), checks[0] if checks else None)
    broken = walked.problem
    first_bad: int | None = None
    problem: ProblemKind | None = None
    detail: str | None = None
    if broken is not None:
        first_bad, problem, detail = broken.position, broken.kind, broken.detail
    elif check is not None and not check.ok:
        problem, detail = check.problem, check.detail
        first_bad = walked.last.position + 1 if check.problem == "truncated" else None
    return VerifyReport(
        ok=broken is None and all(c.ok for c in checks),
        checked=walked.checked,
        position=walked.last.position,
        head=walked.last.link.hex(),
        first_bad_position=first_bad,
        problem=problem,
        detail=detail,
        checkpoint=check,
        seconds=round(time.perf_counter() - began, 6),
    )


def _stored_checkpoints(timeline: Timeline) -> list[Checkpoint]:
    """The latest checkpoint of every key, the latest first: once the key changed (a database
    served without its key file), what the earlier key signed must still hold, however many
    checkpoints the new one signed since."""
    return [to_wire(stored) for stored in ledger.latest_of_each_key(timeline.store)]


def summary(report: VerifyReport, read_models_differ: Sequence[str] = ()) -> str:
    """The report in a few lines for a person: the verdict first, then where and why;
    `read_models_differ` names the read models found to differ from the log (the verdict is
    what a script reads, so it says NOT INTACT for them too)."""
    rate = f"{report.checked / report.seconds:,.0f} rows/s" if report.seconds > 0 else "-"
    lines = [
        ("intact" if report.ok and not read_models_differ else "NOT INTACT")
        + f": {report.checked:,} rows verified up to position {report.position} "
        f"in {report.seconds:.2f} s ({rate})",
        f"head {report.head}",
    ]
    if report.problem is not None:
        where = report.first_bad_position
        lines.append(
            f"{report.problem}"
            + (f" at position {where}" if where is not None else "")
            + f": {report.detail}"
        )
    if report.checkpoint is not None:
        check = report.checkpoint
        signature = "valid" if check.signature_valid else "INVALID"
        lines.append(
            f"checkpoint at position {check.position}: signature {signature}, "
            + ("still a prefix of the log" if check.extends else "NOT a prefix of the log")
            + f" ({check.detail})"
        )
    if read_models_differ:
        lines.append(
            f"read models differed from the log in {', '.join(read_models_differ)}: the rows "
            "served before were not the log's (they are rebuilt from it now)"
        )
    return "\n".join(lines) + "\n"
