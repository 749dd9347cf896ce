"""Bitemporal read models of the log, in the same database: timeline, deliveries, allegations.

`ProjectionRunner` follows the log and writes rows with its position in one transaction;
`ReadModels` answers each view as of (D, T); `rebuild` folds the log again from position 0.
"""

from projections.compare import LogMoved, snapshot, verify_rebuild
from projections.read_models import ReadModels, run_forever
from projections.rebuild import Rebuilt, rebuild
from projections.runner import NAMES, ProjectionRunner, ensure_schema, stale

__all__ = [
    "NAMES",
    "LogMoved",
    "ProjectionRunner",
    "ReadModels",
    "Rebuilt",
    "ensure_schema",
    "rebuild",
    "run_forever",
    "snapshot",
    "stale",
    "verify_rebuild",
]
