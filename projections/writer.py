"""A rebuild's writes to a SQLite file, made by a child process beside the fold, into tables of
their own: appends and the runner go on meanwhile, and readers see the old rows until the swap.

In one process, inserts in a thread would take the GIL back from the fold at every row; a child
has its own interpreter. The parent sends statements as msgpack frames over a pipe (a thread
of its own feeds the pipe). The child writes the rebuilt tables under shadow names
(`tl_segments` is written as `tl_segments__rebuild`, every statement's table names mapped). It
commits between frames once it has held the write lock for `HOLD_SECONDS`, or when the parent
has sent nothing for `IDLE_SECONDS`, then pauses so that writers waiting for the lock get it.
`swap` takes the lock for the rest: it renames the live tables aside and the shadows (with the
indexes built on them) in their place, and runs what follows (the tracking) in that
transaction, which `commit` commits; the tables replaced are then dropped, a transaction each.
If the parent goes away before the commit, the live tables are as they were; what a rebuild
left behind is dropped by the next one. One rebuild of a database at a time: the child holds a
lock on a file beside it.

The child is this file run as a script, so it imports only the standard library and `msgspec`.
"""

from __future__ import annotations

import fcntl
import os
import queue
import re
import select
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import msgspec

_LENGTH = 8  # bytes of a frame's length, big-endian
SHADOW = "__rebuild"  # the suffix of a table being rebuilt
REPLACED = "__replaced"  # the suffix of a table a rebuild replaced, until it is dropped
FRAME_ROWS = 10_000  # rows in one frame: one `executemany` holds the lock while it runs
HOLD_SECONDS = 0.5  # the longest the shadows' writes hold the write lock between commits
IDLE_SECONDS = 0.25  # how long the parent may send nothing before the shadows' writes commit
# A pause after each commit of the shadows' writes, for writers waiting for the lock: SQLite's
# busy handler looks again after sleeping up to 100 ms, and would find it taken again. The
# child checkpoints what it wrote meanwhile (a checkpoint does not hold the write lock), so
# that the next writer's commit does not: an append's commit checkpointed the log's WAL in
# its own time (a wait of 5.7 s beside a rebuild of 1M events before the child did).
YIELD_SECONDS = 0.12
_ANOTHER = "AnotherRebuild"


def lock_file(database: str) -> str:
    """The file whose lock one rebuild of `database` holds."""
    return f"{database}-rebuild.lock"


class ChildCursor:
    """The write side of a rebuild on SQLite: `execute` and `executemany` run in the child on
    shadows of `tables`, made by the `creates` statements (`CREATE … IF NOT EXISTS name`)."""

    def __init__(
        self, database: str, timeout: float, tables: Sequence[str], creates: Sequence[str]
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", __file__, database, str(timeout)],  # -I: no other imports
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,  # a frame reaches the child as it is sent, not when a buffer fills
        )
        self._encode = msgspec.msgpack.Encoder().encode
        self._frames: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._broken = False
        self._feeder = threading.Thread(target=self._feed, name="rebuild-feeder", daemon=True)
        self._feeder.start()
        self._send("shadow", "", [list(tables), list(creates)])

    def _feed(self) -> None:
        pipe = self.process.stdin
        assert pipe is not None
        while (frame := self._frames.get()) is not None:
            if self._broken:
                continue
            try:
                data = memoryview(len(frame).to_bytes(_LENGTH, "big") + frame)
                while data:  # unbuffered: a write may take part of it
                    data = data[pipe.write(data) or 0 :]
            except (BrokenPipeError, ValueError):  # the child stopped: it says why on stdout
                self._broken = True
        try:
            pipe.close()
        except BrokenPipeError:
            self._broken = True

    def _send(self, *frame: Any) -> None:
        if self._broken:
            self._fail()
        self._frames.put(self._encode(frame))

    def execute(self, query: str, params: Any = ()) -> None:
        """Run one statement in the child."""
        self._send("one", query, params)

    def executemany(self, query: str, params_seq: Any) -> None:
        """Run one statement for each row in the child, `FRAME_ROWS` rows to a frame."""
        rows = params_seq if isinstance(params_seq, list) else list(params_seq)
        for start in range(0, len(rows), FRAME_ROWS):
            self._send("many", query, rows[start : start + FRAME_ROWS])

    def swap(self) -> None:
        """Put the shadows in place of the live tables, in the transaction that `commit`
        commits; what is sent after this runs in it, on the tables by their own names."""
        self._send("swap", "", None)

    def fetchall(self) -> Any:
        """Nothing is read back from the child."""
        raise TypeError("a rebuild's writer returns no rows")

    def fetchone(self) -> Any:
        """Nothing is read back from the child."""
        raise TypeError("a rebuild's writer returns no rows")

    def commit(self) -> None:
        """Commit everything sent, once the child has run it; raise what it failed with."""
        self._send("commit", "", None)
        self._finish()
        if self._answer != b"ok":
            self._fail()

    def abort(self) -> None:
        """Stop the child without committing the swap: the live tables stay as they were."""
        self._finish()

    def _finish(self) -> None:
        if hasattr(self, "_answer"):
            return
        self._frames.put(None)
        self._feeder.join()
        stdout = self.process.stdout
        assert stdout is not None
        self._answer = stdout.read()
        stdout.close()
        self.process.wait()

    def _fail(self) -> None:
        # imported here: the child, run as a script, cannot import it
        from service.errors import Busy, StorageFull, Unavailable

        self._finish()
        if not self._answer and self.process.returncode < 0:  # killed: the OOM killer, say
            raise Unavailable(
                f"the rebuild's writer was killed (signal {-self.process.returncode}) before it "
                "said the rebuilt tables were in place: run it again"
            )
        message = self._answer.decode(errors="replace") or f"exit {self.process.returncode}"
        if message.startswith(_ANOTHER):
            raise Busy(f"another rebuild of this database is running: {message}")
        if message.startswith("OperationalError: database is locked"):
            raise Busy(f"the rebuild's writer waited for the write lock: {message}")
        if message.startswith("OperationalError: database or disk is full"):
            raise StorageFull(f"the rebuild's writer had no room to write: {message}")
        raise RuntimeError(f"the rebuild's writer failed: {message}")


def _lock(database: str, timeout: float) -> int:
    """Take the rebuild lock of `database`, waiting up to `timeout` seconds; its descriptor."""
    # read-only suffices for flock: another user who may write the database may rebuild it too
    descriptor = os.open(lock_file(database), os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return descriptor
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(descriptor)
                raise RuntimeError(
                    f"{_ANOTHER}: {lock_file(database)} is held past {timeout:g} s"
                ) from None
            time.sleep(0.05)


class _Shadows:
    """The shadows of `tables`: statements mapped onto them, made, swapped in."""

    def __init__(self, tables: Sequence[str]) -> None:
        self.tables = list(tables)
        self.swapped = False
        names = "|".join(re.escape(table) for table in sorted(tables, key=len, reverse=True))
        self._pattern = re.compile(rf"\b({names})\b")

    def map(self, statement: str) -> str:
        """`statement` on the shadows."""
        return self._pattern.sub(rf"\1{SHADOW}", statement)

    def make(self, cursor: sqlite3.Cursor, creates: Sequence[str]) -> None:
        """Empty shadows, by the `creates` statements of the tables; what an earlier rebuild
        left (shadows, tables it replaced) is dropped."""
        for table in self.tables:
            cursor.execute(f"DROP TABLE IF EXISTS {table}{SHADOW}")
            cursor.execute(f"DROP TABLE IF EXISTS {table}{REPLACED}")
        for create in creates:
            cursor.execute(self.map(create))

    def swap(self, cursor: sqlite3.Cursor) -> None:
        """Rename each table aside (dropped after the commit) and its shadow in its place,
        indexes and all: no page is written but the schema's."""
        for table in self.tables:
            cursor.execute(f"ALTER TABLE {table} RENAME TO {table}{REPLACED}")
            cursor.execute(f"ALTER TABLE {table}{SHADOW} RENAME TO {table}")
        self.swapped = True

    def drop_replaced(self, cursor: sqlite3.Cursor) -> None:
        """Drop the tables the swap replaced, a transaction and a pause each (freeing the pages
        of a large table takes a while); one left by an error is dropped by the next rebuild."""
        try:
            for table in self.tables:
                began = time.monotonic()
                cursor.execute(f"DROP TABLE IF EXISTS {table}{REPLACED}")
                if time.monotonic() - began > YIELD_SECONDS / 2:  # others may have waited
                    _pause(cursor)
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as error:  # the rebuild is in place: this is only space not freed
            print(
                f"rebuild: the tables it replaced are not all dropped yet ({error}); the next "
                "rebuild drops them",
                file=sys.stderr,
            )


class _Frames:
    """Frames read from the parent's pipe, unbuffered, so that `waiting` sees what is sent."""

    def __init__(self, descriptor: int) -> None:
        self.descriptor = descriptor
        self._decode = msgspec.msgpack.Decoder(tuple[str, str, Any]).decode

    def waiting(self, seconds: float) -> bool:
        """Whether the next frame starts arriving within `seconds`."""
        return bool(select.select([self.descriptor], [], [], seconds)[0])

    def _exactly(self, size: int) -> bytes | None:
        parts, left = [], size
        while left:
            part = os.read(self.descriptor, min(left, 1 << 20))
            if not part:
                return None  # the parent closed the pipe
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    def next(self) -> tuple[str, str, Any] | None:
        """The next frame; None once the parent has closed the pipe."""
        header = self._exactly(_LENGTH)
        body = None if header is None else self._exactly(int.from_bytes(header, "big"))
        return None if body is None else self._decode(body)


def _pause(cursor: sqlite3.Cursor) -> None:
    """Let writers waiting for the lock in, checkpointing meanwhile (see `YIELD_SECONDS`)."""
    began = time.monotonic()
    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
    time.sleep(max(0.0, YIELD_SECONDS - (time.monotonic() - began)))


def main(database: str, timeout: float) -> int:
    """Run the statements read from stdin: on shadows, committing between frames once the write
    lock was held `HOLD_SECONDS` or the parent sent nothing for `IDLE_SECONDS`; then the swap
    and what follows in one transaction, committed when told to; then drop the replaced
    tables, one transaction each."""
    frames, answer = _Frames(sys.stdin.fileno()), sys.stdout.buffer
    try:
        held = _lock(database, timeout)
    except OSError as error:  # the lock file cannot be made (a folder not writable, a link)
        answer.write(f"{type(error).__name__}: {error}".encode())
        return 1
    except RuntimeError as error:
        answer.write(str(error).encode())
        return 1
    connection = sqlite3.connect(database, timeout=timeout, isolation_level=None, uri=True)
    try:
        cursor = connection.cursor()
        cursor.execute("PRAGMA cache_size = -262144")  # 256 MiB: build indexes in memory
        # the shadows' commits need not reach the disk before the swap's, which does
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA wal_autocheckpoint = 0")  # it checkpoints at each pause
        shadows: _Shadows | None = None
        began = 0.0  # when the open transaction on the shadows began
        while True:
            if (
                connection.in_transaction
                and shadows is not None
                and not shadows.swapped
                and (time.monotonic() - began >= HOLD_SECONDS or not frames.waiting(IDLE_SECONDS))
            ):
                cursor.execute("COMMIT")
                _pause(cursor)
            frame = frames.next()
            if frame is None:
                connection.rollback()  # the parent went away without committing
                return 1
            op, statement, params = frame
            if op == "commit":
                if connection.in_transaction:
                    cursor.execute("COMMIT")
                answer.write(b"ok")
                answer.flush()
                if shadows is not None:
                    shadows.drop_replaced(cursor)
                return 0
            if op == "swap" and connection.in_transaction:
                cursor.execute("COMMIT")
            if op == "swap":  # this transaction reaches the disk before it is acknowledged
                cursor.execute("PRAGMA synchronous = FULL")
            if not connection.in_transaction:
                cursor.execute("BEGIN IMMEDIATE")
                began = time.monotonic()
            if op == "shadow":
                shadows = _Shadows(params[0])
                shadows.make(cursor, params[1])
                cursor.execute("COMMIT")
            elif op == "swap":
                assert shadows is not None
                shadows.swap(cursor)
            else:
                if shadows is not None and not shadows.swapped:
                    statement = shadows.map(statement)
                if op == "many":
                    cursor.executemany(statement, params)
                else:
                    cursor.execute(statement, params)
    except Exception as error:  # the parent raises it
        answer.write(f"{type(error).__name__}: {error}".encode())
        return 1
    finally:
        connection.close()
        os.close(held)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
