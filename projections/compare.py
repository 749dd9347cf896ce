"""Checking a rebuild: every row of the read models, and a rebuild compared with the live rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projections.dialect import Dialect, rows_of
from projections.rebuild import rebuild
from projections.runner import NAMES, ProjectionRunner, make_projections, read_tracking, stale
from projections.schema import BOXES
from service.store.log import LogRecorder


class LogMoved(RuntimeError):
    """The log grew while the read models were compared with a rebuild: the rows compared were
    folded up to different positions, so the comparison says nothing."""


def snapshot(store: LogRecorder, names: Sequence[str] | None = None) -> dict[str, list[Any]]:
    """Every row of the named projections' tables, in a stable order, for comparisons."""
    return _snapshot(store, names)[0]


def _snapshot(
    store: LogRecorder, names: Sequence[str] | None
) -> tuple[dict[str, list[Any]], set[int]]:
    """`snapshot`, and the positions the projections' rows had folded, read with them."""
    dialect = Dialect(store)
    found: dict[str, list[Any]] = {}
    with dialect.read() as cursor:
        tracking = read_tracking(dialect, cursor)
        folded = {tracking.get(p.name, (0, 0))[0] for p in make_projections(dialect, names)}
        for projection in make_projections(dialect, names):
            tables = projection.tables
            if projection.name == "deliveries" and dialect.sqlite:
                tables += BOXES  # the R-trees of the rows' rectangles
            for table in tables:
                cursor.execute(f"SELECT * FROM {table}")
                found[table] = sorted(rows_of(cursor), key=repr)
    return found, folded


def verify_rebuild(store: LogRecorder, names: Sequence[str] | None = None) -> dict[str, str]:
    """Catch up, rebuild and compare with the rows before; what differs, by read-model table.

    The tables of states (`*_state`) are left out: they are the runner's memory between
    batches, not read models, and hold caches that depend on how the fold got there. So are
    projections whose rows another version's fold wrote (`stale`): they are not served, and
    differ by design; `serve`, `projections run` and `projections rebuild` rebuild them.
    """
    outdated = stale(store)
    names = [name for name in (NAMES if names is None else names) if name not in outdated]
    if not names:
        return {}
    ProjectionRunner(store).catch_up(names=names)
    before, folded = _snapshot(store, names)
    rebuilt = rebuild(store, names)
    after, folded_after = _snapshot(store, names)  # a runner may have folded more since
    if folded | folded_after != {rebuilt.position}:  # events recorded meanwhile: two positions
        raise LogMoved(
            f"the log grew while the read models were compared (folded to {sorted(folded)}, "
            f"rebuilt to {rebuilt.position}); compare again when fewer events are being written"
        )
    differences: dict[str, str] = {}
    for table, rows in before.items():
        if table.endswith("_state"):
            continue
        if rows != after[table]:
            missing = [row for row in rows if row not in after[table]][:3]
            extra = [row for row in after[table] if row not in rows][:3]
            differences[table] = f"live only: {missing!r}; rebuilt only: {extra!r}"
    return differences
