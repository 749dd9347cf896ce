"""A rebuild's writes to a SQLite file, made by a child process beside the fold.

In one process, inserts in a thread would take the GIL back from the fold at every row; a child
has its own interpreter. The parent sends statements as msgpack frames over a pipe (a thread
of its own feeds the pipe); the child runs them in one transaction holding the database's write
lock, commits when told and answers `ok`, or the error. If the parent goes away before telling
it to commit, the child rolls back: nothing of the rebuild is kept.

The child is this file run as a script, so it imports only `sqlite3` and `msgspec`.
"""

from __future__ import annotations

import queue
import sqlite3
import subprocess
import sys
import threading
from typing import Any

import msgspec

_LENGTH = 8  # bytes of a frame's length, big-endian


class ChildCursor:
    """The write side of a rebuild on SQLite: `execute` and `executemany` run in the child."""

    def __init__(self, database: str, timeout: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", __file__, database, str(timeout)],  # -I: no other imports
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._encode = msgspec.msgpack.Encoder().encode
        self._frames: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._broken = False
        self._feeder = threading.Thread(target=self._feed, name="rebuild-feeder", daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        pipe = self.process.stdin
        assert pipe is not None
        while (frame := self._frames.get()) is not None:
            if self._broken:
                continue
            try:
                pipe.write(len(frame).to_bytes(_LENGTH, "big"))
                pipe.write(frame)
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
        """Run one statement for each row in the child."""
        self._send("many", query, params_seq if isinstance(params_seq, list) else list(params_seq))

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
        """Stop the child without committing: its transaction rolls back."""
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
        from service.errors import Busy, StorageFull

        self._finish()
        message = self._answer.decode(errors="replace") or f"exit {self.process.returncode}"
        if message.startswith("OperationalError: database is locked"):
            raise Busy(f"the rebuild's writer waited for the write lock: {message}")
        if message.startswith("OperationalError: database or disk is full"):
            raise StorageFull(f"the rebuild's writer had no room to write: {message}")
        raise RuntimeError(f"the rebuild's writer failed: {message}")


def main(database: str, timeout: float) -> int:
    """Run the statements read from stdin in one transaction; commit when told to."""
    decode = msgspec.msgpack.Decoder(tuple[str, str, Any]).decode
    source, answer = sys.stdin.buffer, sys.stdout.buffer
    connection = sqlite3.connect(database, timeout=timeout, isolation_level=None, uri=True)
    try:
        cursor = connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        while header := source.read(_LENGTH):
            op, statement, params = decode(source.read(int.from_bytes(header, "big")))
            if op == "many":
                cursor.executemany(statement, params)
            elif op == "one":
                cursor.execute(statement, params)
            else:
                cursor.execute("COMMIT")
                answer.write(b"ok")
                return 0
        connection.rollback()  # the parent went away without committing
        return 1
    except Exception as error:  # the parent raises it
        answer.write(f"{type(error).__name__}: {error}".encode())
        return 1
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
