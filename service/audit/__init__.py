"""Audit: verify the hash chain of the stored log, sign checkpoints, prove an event's inclusion."""

from service.audit.changes import ChangesPage, changes_between, changes_csv
from service.audit.checkpoints import (
    Checkpoint,
    CheckpointFileError,
    EmptyLog,
    LogTampered,
    UnknownCheckpoint,
    checkpoint_at,
    dump_checkpoint,
    latest_checkpoint,
    load_checkpoint,
    make_checkpoint,
    maybe_checkpoint,
    read_checkpoint_file,
    sign_head,
    verify_checkpoint_signature,
)
from service.audit.keys import (
    KEY_FILE_ENV,
    KeyFileError,
    KeyFileUnreadable,
    Signer,
    check_key,
    key_path,
    signer_for,
)
from service.audit.periodic import periodic_checkpoints
from service.audit.proofs import InclusionProof, inclusion_proof, verify_event_proof
from service.audit.verify import CheckpointCheck, VerifyReport, summary, verify

__all__ = [
    "KEY_FILE_ENV",
    "ChangesPage",
    "Checkpoint",
    "CheckpointCheck",
    "CheckpointFileError",
    "EmptyLog",
    "InclusionProof",
    "KeyFileError",
    "KeyFileUnreadable",
    "LogTampered",
    "Signer",
    "UnknownCheckpoint",
    "VerifyReport",
    "changes_between",
    "changes_csv",
    "check_key",
    "checkpoint_at",
    "dump_checkpoint",
    "inclusion_proof",
    "key_path",
    "latest_checkpoint",
    "load_checkpoint",
    "make_checkpoint",
    "maybe_checkpoint",
    "periodic_checkpoints",
    "read_checkpoint_file",
    "sign_head",
    "signer_for",
    "summary",
    "verify",
    "verify_checkpoint_signature",
    "verify_event_proof",
]
