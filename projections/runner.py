"""The projection runner: follows the log, writes read-model rows with its position, exactly once.

Each batch is folded in memory, then written in one transaction together with the projection's
new tracking position, after checking that the position is still the one the batch started
from (another runner, or a rebuild, may have moved it: the batch is then dropped and the states
are read back). A crash before the commit leaves nothing; the next run starts from the position.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Collection, Sequence

from projections.buffer import RowBuffer
from projections.deliveries import DeliveriesProjection
from projections.developments import DevelopmentsProjection
from projections.dialect import Dialect, rows_of
from projections.entries import Entry, LogReader, commits
from projections.projection import Moved, Outdated, Projection
from projections.schema import FOLDS, TRACKING, complete, create
from service.errors import StorageError, Unavailable
from service.store.log import Cursor, LogRecorder

logger = logging.getLogger(__name__)

NAMES: tuple[str, ...] = ("developments", "deliveries")
BATCH_SIZE = 2000
POLL_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 30.0


def make_projections(dialect: Dialect, names: Sequence[str] | None = None) -> list[Projection]:  # type: ignore[type-arg]
    """The named projections (all when `names` is None), in a stable order."""
    wanted = NAMES if names is None else tuple(names)
    unknown = set(wanted) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown projection {sorted(unknown)[0]!r}; known: {', '.join(NAMES)}")
    built: list[Projection] = []  # type: ignore[type-arg]
    for name in NAMES:
        if name in wanted:
            kind = DevelopmentsProjection if name == "developments" else DeliveriesProjection
            built.append(kind(dialect))
    return built


def ensure_schema(store: LogRecorder) -> None:
    """Create the read-model tables and tracking rows that do not exist yet."""
    dialect = Dialect(store)
    if complete(dialect) and set(NAMES) <= _tracked(store):
        return  # nothing to make: no lock taken
    with dialect.write() as cursor:
        create(dialect, cursor)
        for name in NAMES:
            cursor.execute(
                dialect.sql(
                    f"INSERT INTO {TRACKING} (name, position, generation, fold) "
                    "VALUES (%s, 0, 0, %s) ON CONFLICT (name) DO NOTHING"
                ),
                (name, FOLDS[name]),
            )


def _tracked(store: LogRecorder) -> set[str]:
    with store.read_transaction() as cursor:
        cursor.execute(f"SELECT name FROM {TRACKING}")
        return {str(row[0]) for row in rows_of(cursor)}


def stale(store: LogRecorder) -> list[str]:
    """The projections whose rows another version of their fold wrote (see `FOLDS`)."""
    ensure_schema(store)
    with store.read_transaction() as cursor:
        cursor.execute(f"SELECT name, fold FROM {TRACKING}")
        folds = dict(rows_of(cursor))
    return [name for name in NAMES if folds.get(name) != FOLDS[name]]


def read_tracking(dialect: Dialect, cursor: Cursor) -> dict[str, tuple[int, int]]:
    """Every projection's (position, generation)."""
    cursor.execute(f"SELECT name, position, generation FROM {TRACKING}")
    return {row[0]: (int(row[1]), int(row[2])) for row in rows_of(cursor)}


class ProjectionRunner:
    """Keeps the read models of one database current; thread-safe, one batch at a time."""

    def __init__(
        self,
        store: LogRecorder,
        *,
        batch_size: int = BATCH_SIZE,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.store = store
        self.dialect = Dialect(store)
        self.reader = LogReader(store)
        self.projections = make_projections(self.dialect)
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.positions = dict.fromkeys(NAMES, 0)  # committed up to here, as last seen
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        ensure_schema(store)

    # --- one batch -------------------------------------------------------------------------

    def tracking(self) -> dict[str, tuple[int, int]]:
        """Every projection's (position, generation), as committed."""
        with self.store.read_transaction() as cursor:
            return read_tracking(self.dialect, cursor)

    @property
    def position(self) -> int:
        """Every projection has committed up to here (as last seen)."""
        return min(self.positions.values())

    def step(self) -> int:
        """Fold at most one batch into each projection; the number of events folded."""
        with self._lock:
            return self._step(NAMES)

    def _step(self, names: Collection[str]) -> int:
        """One batch into each of the projections `names`; those another version's fold
        wrote are left as they are and the others folded: they are `Outdated` once the others
        have nothing to fold (so that a runner goes on at its pace meanwhile)."""
        tracking = self.tracking()
        pages: dict[int, list[Entry]] = {}
        folded = 0
        outdated = []
        for projection in self.projections:
            if projection.name not in names:
                continue
            position, generation = tracking.get(projection.name, (0, 0))
            if projection.synced != (position, generation):
                projection.forget()
            if position not in pages:
                pages[position] = self.reader.page(position, self.batch_size)
            entries = pages[position]
            if entries:
                try:
                    self._advance(projection, position, generation, entries)
                except Moved:
                    continue
                except Outdated:
                    outdated.append(projection.name)
                    continue
                folded += len(entries)
                tracking[projection.name] = (entries[-1].position, generation)
        self.positions.update((name, tracking.get(name, (0, 0))[0]) for name in NAMES)
        if outdated and not folded:
            raise Outdated(outdated)
        return folded

    def _advance(
        self,
        projection: Projection,  # type: ignore[type-arg]
        position: int,
        generation: int,
        entries: Sequence[Entry],
    ) -> None:
        sql = self.dialect.sql
        lock = "" if self.dialect.sqlite else " FOR UPDATE"
        try:
            buffer = RowBuffer(self.dialect)
            projection.expected = (position, generation)
            projection.prepare(entries)
            for commit in commits(entries):
                projection.apply(commit, buffer)
            projection.save(buffer)
            last = entries[-1].position
            with self.dialect.write() as cursor:
                cursor.execute(
                    sql(f"SELECT position, generation, fold FROM {TRACKING} WHERE name = %s{lock}"),
                    (projection.name,),
                )
                found = rows_of(cursor)
                if found and found[0][2] != FOLDS[projection.name]:
                    # another version rebuilt them (one still running beside this one, or one
                    # started after it): this fold's rows on top of its would mix two rules
                    raise Outdated([projection.name])
                if not found or (found[0][0], found[0][1]) != (position, generation):
                    raise Moved(projection.name)
                buffer.flush(cursor)
                cursor.execute(
                    sql(f"UPDATE {TRACKING} SET position = %s WHERE name = %s"),
                    (last, projection.name),
                )
        except BaseException:
            projection.forget()  # memory may be ahead of the tables: read it back next time
            raise
        projection.synced = (last, generation)

    # --- following the log -----------------------------------------------------------------

    def catch_up(self, target: int | None = None, names: Collection[str] = NAMES) -> int:
        """Fold until each of the projections `names` (every one by default) has reached
        `target` (default: the head of the log)."""
        goal = self.store.last_position() if target is None else target
        folded = 0
        while self._reached(names) < goal:
            with self._lock:
                if self._reached(names) >= goal:
                    break
                done = self._step(names)
            folded += done
            if not done and self._reached(names) < goal:
                if self.store.last_position() < goal:
                    break  # the goal is past the head of the log: nothing more to fold
                time.sleep(0.005)  # another runner holds the batch: let it commit
        return folded

    def _reached(self, names: Collection[str]) -> int:
        return min(self.positions[name] for name in names)

    def ensure(self, target: int, names: Collection[str] = NAMES) -> None:
        """Read-your-writes: return once the read models of the projections `names` (every one
        by default) reflect every event up to `target`.

        It asks the tables where they are, never trusting where this runner got to: a rebuild
        may have ended before that (at the head it read before its lock, while this runner
        went on), and its rows then lack what this runner had folded. Rows another version of
        a fold wrote are `Outdated`; the other projections' views answer meanwhile.
        """
        with self.store.read_transaction() as cursor:
            cursor.execute(f"SELECT name, position, fold FROM {TRACKING}")
            tracking = rows_of(cursor)
        # Never an answer from rows folded by another rule, nor new events folded onto them:
        # a process serving without its own runner waits for the runner's rebuild
        outdated = [n for n, _, fold in tracking if n in names and fold != FOLDS.get(n)]
        if outdated:
            raise Outdated(sorted(outdated))
        self.positions.update((n, int(position)) for n, position, _ in tracking if n in NAMES)
        if self._reached(names) < target:
            self.catch_up(target, names)

    def run(self, stop: threading.Event) -> None:
        """Follow the log until `stop` is set, polling when idle; errors back off and retry."""
        backoff = self.poll_seconds
        while not stop.is_set():
            try:
                folded = self.step()
            except Exception as error:
                if isinstance(error, StorageError | Outdated):  # conditions, not faults: no trace
                    logger.warning("projection runner: %s; retrying in %.1f s", error, backoff)
                else:
                    logger.exception("projection runner failed; retrying in %.1f s", backoff)
                if isinstance(error, Unavailable):  # the pool's other connections most likely
                    # broke too (PostgreSQL ended them all): replace them now, rather than meet
                    # each in turn, each after a longer wait
                    with contextlib.suppress(Exception):
                        self.store.discard_broken()
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = self.poll_seconds
            if not folded:
                stop.wait(self.poll_seconds)

    def start(self) -> None:
        """Follow the log in a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), name="projection-runner", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the background thread, letting its batch finish; False when it still runs
        after `timeout` seconds (a batch stuck on the database, say)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            logger.warning(
                "projection runner: still running %.0f s after it was told to stop", timeout
            )
            return False
        return True
