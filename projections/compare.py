"""Checking a rebuild: every row of the read models, and a rebuild compared with the live rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projections.dialect import Dialect, rows_of
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner, make_projections
from projections.schema import BOX
from service.store.log import LogRecorder


def snapshot(store: LogRecorder, names: Sequence[str] | None = None) -> dict[str, list[Any]]:
    """Every row of the named projections' tables, in a stable order, for comparisons."""
    dialect = Dialect(store)
    found: dict[str, list[Any]] = {}
    with store.read_transaction() as cursor:
        for projection in make_projections(dialect, names):
            tables = projection.tables
            if projection.name == "deliveries" and dialect.sqlite:
                tables += (BOX,)  # the R-tree of the rows' rectangles
            for table in tables:
                cursor.execute(f"SELECT * FROM {table}")
                found[table] = sorted(rows_of(cursor), key=repr)
    return found


def verify_rebuild(store: LogRecorder, names: Sequence[str] | None = None) -> dict[str, str]:
    """Catch up, rebuild and compare with the rows before; what differs, by read-model table.

    The tables of states (`*_state`) are left out: they are the runner's memory between
    batches, not read models, and hold caches that depend on how the fold got there.
    """
    ProjectionRunner(store).catch_up()
    before = snapshot(store, names)
    rebuild(store, names)
    after = snapshot(store, names)
    differences: dict[str, str] = {}
    for table, rows in before.items():
        if table.endswith("_state"):
            continue
        if rows != after[table]:
            missing = [row for row in rows if row not in after[table]][:3]
            extra = [row for row in after[table] if row not in rows][:3]
            differences[table] = f"live only: {missing!r}; rebuilt only: {extra!r}"
    return differences
