"""Row changes waiting to be written: inserts, closes of system-time ranges, other statements.

A row closed before it was written is written once, closed. A rebuild writes closed rows as
they close and, with `spill`, rows that have stayed open a while; the few of those that close
later are updated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from projections.dialect import Dialect
from projections.schema import CLOSED_BOX, CURRENT_BOX, DELIVERY_ROWS, Table
from projections.state import POS_MAX
from projections.tracks import TRACKS_PER_SERIES
from service.store.log import Cursor

_json = msgspec.json.Encoder()


class RowBuffer:
    """Inserts and closes of versioned rows, and plain statements, in the order of a batch."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.tables: dict[str, Table] = {}
        self.open: dict[str, dict[int, list[Any]]] = {}  # inserted, not written, still open
        self.done: dict[str, list[list[Any]]] = {}  # inserted and closed, not written
        self.closes: dict[str, list[tuple[int, int]]] = {}  # (pos_to, id) of written rows
        self.statements: list[tuple[str | Table, list[Sequence[Any]]]] = []
        self.count = 0  # rows inserted since the last `spill`
        self.spilled: dict[str, int] = {}  # by table: the last row id inserted at the last spill

    def insert(self, table: Table, row: list[Any]) -> None:
        """A new row; `row[0]` is its id when the table has a system-time range."""
        self.count += 1
        name = table.name
        if table.pos_to < 0:
            done = self.done.get(name)
            if done is None:
                done = self.done[name] = []
                self.tables[name] = table
            done.append(row)
            return
        pending = self.open.get(name)
        if pending is None:
            pending = self.open[name] = {}
            self.tables[name] = table
        pending[row[0]] = row

    def close(self, table: Table, row_id: int, pos_to: int) -> None:
        """End the system-time range of a row at `pos_to`."""
        name = table.name
        self.tables[name] = table
        pending = self.open.get(name)
        row = pending.pop(row_id, None) if pending else None
        if row is None:
            self.closes.setdefault(name, []).append((pos_to, row_id))
            return
        row[table.pos_to] = pos_to
        self.done.setdefault(name, []).append(row)

    def execute(self, statement: str, params: Sequence[Sequence[Any]]) -> None:
        """Any other statement, run after the rows are written, in the order given."""
        self.statements.append((statement, list(params)))

    def add(self, table: Table, rows: Sequence[Sequence[Any]]) -> None:
        """Whole rows of a table without ids, inserted in order with the other statements."""
        self.statements.append((table, list(rows)))

    def spill(self) -> RowBuffer:
        """A buffer of what may be written now, taken from this one.

        That is every closed row, every close and statement, and the rows still open that were
        inserted before the previous spill: a row that stayed open that long rarely closes, and
        when it does `close` finds it gone and updates it.
        """
        taken = RowBuffer(self.dialect)
        taken.tables = dict(self.tables)
        taken.done, taken.closes, taken.statements = self.done, self.closes, self.statements
        self.done, self.closes, self.statements, self.count = {}, {}, [], 0
        for name, by_id in self.open.items():
            mark = self.spilled.get(name, 0)
            old: list[int] = []
            for row_id in by_id:  # inserted in id order
                if row_id > mark:
                    break
                old.append(row_id)
            taken.open[name] = {row_id: by_id.pop(row_id) for row_id in old}
            if by_id:
                self.spilled[name] = next(reversed(by_id))
        return taken

    def flush(self, cursor: Cursor) -> None:
        """Write what is buffered."""
        sql = self.dialect.sql
        for name, rows in self.done.items():
            self._insert(cursor, self.tables[name], rows)
        self.done = {}
        for name, by_id in self.open.items():
            self._insert(cursor, self.tables[name], list(by_id.values()))
        self.open = {}
        for name, closes in self.closes.items():
            pos_to = self.tables[name].columns[self.tables[name].pos_to]
            if not closes:
                continue
            if not self.dialect.sqlite:  # one statement over arrays, not one per row
                cursor.execute(
                    f"UPDATE {name} SET {pos_to} = u.pos_to "
                    "FROM unnest(%b::bigint[], %b::bigint[]) AS u(pos_to, id) "
                    f"WHERE {name}.id = u.id",
                    ([pos for pos, _ in closes], [row_id for _, row_id in closes]),
                )
                continue
            cursor.executemany(sql(f"UPDATE {name} SET {pos_to} = %s WHERE id = %s"), closes)
            if name == DELIVERY_ROWS.name:  # the row's rectangle moves to the closed tree
                boxes = [(pos - 1, row_id) for pos, row_id in closes]
                cursor.executemany(
                    sql(
                        f"INSERT INTO {CLOSED_BOX} SELECT id, valid_lo, valid_hi, pos_lo, %s, "
                        f"variant_lo, variant_hi FROM {CURRENT_BOX} WHERE id = %s"
                    ),
                    boxes,
                )
                ids = [(row_id,) for _, row_id in closes]
                cursor.executemany(sql(f"DELETE FROM {CURRENT_BOX} WHERE id = %s"), ids)
        self.closes = {}
        for statement, params in self.statements:
            if not params:
                continue
            if isinstance(statement, Table):
                self._insert(cursor, statement, params)
            else:
                cursor.executemany(sql(statement), params)
        self.statements = []
        self.count = 0

    def _insert(self, cursor: Cursor, table: Table, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if not self.dialect.sqlite:
            # One statement for all the rows: PostgreSQL reads them from one JSON document into
            # the table's own row type, where a statement per row costs it (and the client)
            # far more. Rows hold numbers, text, UUIDs and nulls, which JSON carries exactly.
            columns = ", ".join(table.columns)
            document = _json.encode([dict(zip(table.columns, row, strict=True)) for row in rows])
            cursor.execute(
                f"INSERT INTO {table.name} ({columns}) SELECT {columns} "
                f"FROM json_populate_recordset(NULL::{table.name}, %s::json)",
                (document.decode(),),
            )
            return
        cursor.executemany(self.dialect.sql(table.insert_sql()), rows)
        if table.name == DELIVERY_ROWS.name and self.dialect.sqlite:
            # (id, track_id, valid_from, valid_to, pos_from, pos_to) -> the closed intervals
            # of an R-tree (`schema.BOXES`), the track's variant a third dimension
            boxes: dict[str, list[tuple[int, ...]]] = {CLOSED_BOX: [], CURRENT_BOX: []}
            for r in rows:
                variant = r[1] % TRACKS_PER_SERIES
                box = (r[0], r[2], r[3] - 1, r[4], r[5] - 1, variant, variant)
                boxes[CURRENT_BOX if r[5] == POS_MAX else CLOSED_BOX].append(box)
            for name, found in boxes.items():
                if found:
                    marks = ", ".join(["%s"] * 7)
                    cursor.executemany(
                        self.dialect.sql(f"INSERT INTO {name} VALUES ({marks})"), found
                    )
