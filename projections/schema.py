"""The read-model tables, in the database of the log, for SQLite and PostgreSQL.

Every versioned row carries its system-time range `[pos_from, pos_to)` as log positions (open:
`POS_MAX`) and, where it has one, its valid-time range `[valid_from, valid_to)` as day ordinals
(open: `DAY_MAX`). A query at (D, T) first turns T into P, the last position recorded by T, and
then asks for rows with `pos_from <= P < pos_to` and `valid_from <= D < valid_to`.
"""

from __future__ import annotations

from dataclasses import dataclass

from projections.dialect import Dialect, rows_of
from projections.state import POS_MAX
from service.store.log import Cursor, created

_SCHEMA_LOCK = 7_263_941_002  # advisory lock id: one process creates the read models at a time


@dataclass(frozen=True)
class Table:
    """A read-model table: its columns in row order and where `pos_to` sits (-1: no range)."""

    name: str
    columns: tuple[str, ...]
    pos_to: int = -1

    def insert_sql(self) -> str:
        """INSERT of one whole row."""
        marks = ", ".join(["%s"] * len(self.columns))
        return f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({marks})"


TRACKING = "tl_tracking"
# The version of each projection's fold: bump it when a change makes the fold write other rows
# for the same log (a rule of DESIGN §4 read otherwise). The tracking row says which version
# wrote the rows (0: one older than this column); `timeline serve` and `timeline projections
# run` rebuild a projection whose rows another version wrote before they begin. Bump it too
# when rows move to other tables (deliveries 5: SQLite's two R-trees replaced one), a table
# is added (developments 4: `tl_actor_developments`), or columns (developments 5: the segments'
# `occurred_lower` and `occurred_upper`, `_ADDED_COLUMNS`). Both 6: actor ids and originators
# compare without the spaces around them (`state.name_key`); both 7: nor the runs of spaces in
# them, their format characters or their compatibility forms (NFKC). Deliveries 8: figures add
# as decimals (`events.figures.added`: 1.1 + 2.2 is 3.3, not 3.3000000000000003).
FOLDS = {"developments": 7, "deliveries": 8}

DEVELOPMENTS = Table(
    "tl_developments",
    (
        "id",
        "development_id",
        "pos_from",
        "pos_to",
        "position",
        "kind",
        "title",
        "stage",
        "actors",
        "item",
        "occurred",
        "initial_status",
    ),
    pos_to=3,
)
REPORTS = Table(
    "tl_reports",
    (
        "id",
        "development_id",
        "number",
        "pos_from",
        "pos_to",
        "position",
        "report",
        "corrections",
        "retracted_on",
        "retraction_reason",
        "retraction_position",
    ),
    pos_to=4,
)
STATUS_CHANGES = Table(
    "tl_status_changes", ("development_id", "position", "effective_on", "status", "reason")
)
SEGMENTS = Table(
    "tl_segments",
    (
        "id",
        "development_id",
        "position",
        "valid_from",
        "valid_to",
        "pos_from",
        "pos_to",
        "first_reported_on",
        "last_reported_on",
        "reports",
        "status",
        "status_since",
        "supports",
        "contradicts",
        "denies",
        "not_observed",
        "qualifies",
        "kind",
        "actor_key",
        "occurred_lower",
        "occurred_upper",
    ),
    pos_to=6,
)
DEV_STATES = Table("tl_dev_state", ("development_id", "state"))
# The latest `first_reported_on` of any segment written by a position: no row known at P starts
# later, so a list walking `first_reported_on` stops there instead of at D (known_at in the past).
FRONTIER = Table("tl_frontier", ("position", "first_reported_on"))
# Every actor a development ever named (casefolded): a filter on an actor few developments name
# reads their rows, where walking the timeline's order index would pass everyone else's.
ACTOR_DEVELOPMENTS = Table("tl_actor_developments", ("actor", "development_id"))

SERIES = Table(
    "tl_delivery_series", ("series_id", "supplier", "recipient", "category", "unit", "originator")
)
PIECES = Table(
    "tl_delivery_pieces",
    (
        "track_id",
        "position",
        "valid_from",
        "valid_to",
        "asserted_on",
        "cumulative",
        "low",
        "high",
        "bounded",
    ),
)
DELIVERY_ROWS = Table(
    "tl_delivery_rows",
    (
        "id",
        "track_id",
        "valid_from",
        "valid_to",
        "pos_from",
        "pos_to",
        "low",
        "high",
        "reports",
        "last_asserted_on",
    ),
    pos_to=5,
)
DELIVERY_STATES = Table("tl_delivery_dev_state", ("development_id", "state"))
# SQLite: R-trees over the delivery rows' rectangles in (valid time, system time), with the
# status variant of their track as a third dimension (`projections.tracks`), so a view reads
# only its variant's rows. Closed rows and rows still current have a tree each, as on
# PostgreSQL (below): at 1M events a stab of the one tree of earlier versions, whose current
# rows reached the top of system time, took 3x as long. A row's rectangle moves from the
# current tree to the closed one when its system-time range is closed.
CLOSED_BOX = "tl_delivery_closed_box"
CURRENT_BOX = "tl_delivery_current_box"
BOXES = (CLOSED_BOX, CURRENT_BOX)


TABLES = f"""
CREATE TABLE IF NOT EXISTS {TRACKING} (name {{text}} PRIMARY KEY, position {{int}} NOT NULL,
  generation {{int}} NOT NULL, fold {{int}} NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS {DEV_STATES.name} (development_id {{uuid}} PRIMARY KEY,
  state {{blob}} NOT NULL);
CREATE TABLE IF NOT EXISTS {DEVELOPMENTS.name} (id {{pk}}, development_id {{uuid}} NOT NULL,
  pos_from {{int}} NOT NULL, pos_to {{int}} NOT NULL, position {{int}} NOT NULL,
  kind {{text}} NOT NULL, title {{text}} NOT NULL, stage {{text}}, actors {{text}} NOT NULL,
  item {{text}}, occurred {{text}}, initial_status {{text}} NOT NULL);
CREATE TABLE IF NOT EXISTS {REPORTS.name} (id {{pk}}, development_id {{uuid}} NOT NULL,
  number {{int}} NOT NULL, pos_from {{int}} NOT NULL, pos_to {{int}} NOT NULL,
  position {{int}} NOT NULL, report {{text}} NOT NULL, corrections {{int}} NOT NULL,
  retracted_on {{int}}, retraction_reason {{text}}, retraction_position {{int}});
CREATE TABLE IF NOT EXISTS {STATUS_CHANGES.name} (development_id {{uuid}} NOT NULL,
  position {{int}} NOT NULL, effective_on {{int}} NOT NULL, status {{text}} NOT NULL,
  reason {{text}} NOT NULL, PRIMARY KEY (development_id, position));
CREATE TABLE IF NOT EXISTS {SEGMENTS.name} (id {{pk}}, development_id {{uuid}} NOT NULL,
  position {{int}} NOT NULL, valid_from {{int}} NOT NULL, valid_to {{int}} NOT NULL,
  pos_from {{int}} NOT NULL, pos_to {{int}} NOT NULL, first_reported_on {{int}} NOT NULL,
  last_reported_on {{int}} NOT NULL, reports {{int}} NOT NULL, status {{text}} NOT NULL,
  status_since {{int}} NOT NULL, supports {{int}} NOT NULL, contradicts {{int}} NOT NULL,
  denies {{int}} NOT NULL, not_observed {{int}} NOT NULL, qualifies {{int}} NOT NULL,
  kind {{text}} NOT NULL, actor_key {{text}} NOT NULL, occurred_lower {{int}},
  occurred_upper {{int}});
CREATE TABLE IF NOT EXISTS {FRONTIER.name} (position {{int}} PRIMARY KEY,
  first_reported_on {{int}} NOT NULL);
CREATE TABLE IF NOT EXISTS {ACTOR_DEVELOPMENTS.name} (actor {{text}} NOT NULL,
  development_id {{uuid}} NOT NULL, PRIMARY KEY (actor, development_id)){{keyed}};
CREATE TABLE IF NOT EXISTS {DELIVERY_STATES.name} (development_id {{uuid}} PRIMARY KEY,
  state {{blob}} NOT NULL);
CREATE TABLE IF NOT EXISTS {SERIES.name} (series_id {{int}} PRIMARY KEY, supplier {{text}},
  recipient {{text}}, category {{text}}, unit {{text}} NOT NULL, originator {{text}} NOT NULL);
CREATE TABLE IF NOT EXISTS {PIECES.name} (track_id {{int}} NOT NULL,
  position {{int}} NOT NULL, valid_from {{int}} NOT NULL, valid_to {{int}} NOT NULL,
  asserted_on {{int}} NOT NULL, cumulative {{int}} NOT NULL, low {{real}}, high {{real}},
  bounded {{int}} NOT NULL, PRIMARY KEY (track_id, position, valid_from));
CREATE TABLE IF NOT EXISTS {DELIVERY_ROWS.name} (id {{pk}}, track_id {{int}} NOT NULL,
  valid_from {{int}} NOT NULL, valid_to {{int}} NOT NULL, pos_from {{int}} NOT NULL,
  pos_to {{int}} NOT NULL, low {{real}} NOT NULL, high {{real}}, reports {{int}} NOT NULL,
  last_asserted_on {{int}} NOT NULL)
"""

# Secondary indexes, by projection: a rebuild on SQLite drops them and builds them at the end.
# `tl_segments_order` serves the ORDER BY of the timeline and the allegations board and carries
# the range columns, so rows of other times are skipped inside the index.
INDEXES: dict[str, list[str]] = {
    "developments": [
        f"CREATE INDEX IF NOT EXISTS tl_developments_at ON {DEVELOPMENTS.name} "
        "(development_id, pos_from)",
        f"CREATE INDEX IF NOT EXISTS tl_reports_at ON {REPORTS.name} "
        "(development_id, number, pos_from)",
        f"CREATE INDEX IF NOT EXISTS tl_segments_order ON {SEGMENTS.name} "
        "(first_reported_on, position, pos_from, pos_to, valid_from, valid_to, status, kind)",
        # a development's current segments, for a runner folding a state it lacks
        f"CREATE INDEX IF NOT EXISTS tl_segments_at ON {SEGMENTS.name} (development_id, pos_to)",
    ],
    "deliveries": [
        f"CREATE INDEX IF NOT EXISTS tl_delivery_rows_open ON {DELIVERY_ROWS.name} "
        "(track_id, pos_to)",
    ],
}
# A delivery row's rectangle in (valid time, system time), for PostgreSQL's GiST indexes.
PG_BOX = "box(point(valid_from, pos_from), point(valid_to - 1, pos_to - 1))"
# Rows still current (system time open) and closed rows are indexed apart: the open rows reach
# the top of system time, and in one tree with the closed ones they made every node overlap
# every query (1M events: 127 index pages read per query in one tree, 7 in the two). Each index
# carries the columns the view reads, so it is answered by an index-only scan: at 1M events the
# rows found at one point lay on ~36 heap pages, mostly outside the server's cache.
_COVER = (
    "INCLUDE (track_id, low, high, reports, last_asserted_on, valid_from, valid_to, pos_from, "
    "pos_to)"
)
PG_CURRENT_COVER = "tl_delivery_rows_current_cover"
PG_BOX_INDEXES = (
    # the indexes of earlier versions: one tree, then two without the columns
    "DROP INDEX IF EXISTS tl_delivery_rows_box",
    "DROP INDEX IF EXISTS tl_delivery_rows_closed_box",
    "DROP INDEX IF EXISTS tl_delivery_rows_current_box",
    f"CREATE INDEX IF NOT EXISTS tl_delivery_rows_closed_cover ON {DELIVERY_ROWS.name} "
    f"USING gist ({PG_BOX}) {_COVER} WHERE pos_to < {POS_MAX}",
    f"CREATE INDEX IF NOT EXISTS {PG_CURRENT_COVER} ON {DELIVERY_ROWS.name} "
    f"USING gist ({PG_BOX}) {_COVER} WHERE pos_to = {POS_MAX}",
)
SQLITE_BOXES = tuple(
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {box} USING rtree_i32(id, valid_lo, valid_hi, "
    "pos_lo, pos_hi, variant_lo, variant_hi)"
    for box in BOXES
)
# The one R-tree of earlier versions, and what a rebuild of theirs may have left of it: dropped
# by the rebuild of the deliveries in the transaction that puts the two trees in place (with
# the fold that says so), never before, so that an earlier version still running, or run
# again, finds its tree until then, and then finds its fold outdated and rebuilds.
SQLITE_OLD_BOXES = tuple(
    f"DROP TABLE IF EXISTS tl_delivery_box{suffix}" for suffix in ("", "__rebuild", "__replaced")
)


# On SQLite an index has a second name: a rebuild of a file builds the indexes of the tables it
# will swap in under the names the live tables' indexes do not have (SQLite cannot rename an
# index), so it builds them before taking the write lock for the swap. Queries never name one.
SECOND = "_2"


def index_names(projection: str) -> list[str]:
    """Names of a projection's secondary indexes (the first of the two on SQLite)."""
    return [created(statement) for statement in INDEXES[projection]]


def under_second_name(statement: str) -> str:
    """An index's `CREATE INDEX` statement, naming it by its second name."""
    name = created(statement)
    return statement.replace(f" {name} ON ", f" {name}{SECOND} ON ", 1)


def create(dialect: Dialect, cursor: Cursor) -> None:
    """Create every read-model table and index that does not exist yet (under either name)."""
    if not dialect.sqlite:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
    for statement in dialect.ddl(TABLES).split(";"):
        cursor.execute(statement)
    _add_columns(dialect, cursor)
    seconds: set[str] = set()
    if dialect.sqlite:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        seconds = {row[0] for row in rows_of(cursor)}
    for statements in INDEXES.values():
        for statement in statements:
            if created(statement) + SECOND not in seconds:
                cursor.execute(statement)
    for statement in SQLITE_BOXES if dialect.sqlite else PG_BOX_INDEXES:
        cursor.execute(statement)


def made(dialect: Dialect) -> set[str]:
    """The tables and indexes `create` makes on this engine."""
    statements = [*dialect.ddl(TABLES).split(";"), *(s for v in INDEXES.values() for s in v)]
    statements += list(SQLITE_BOXES if dialect.sqlite else PG_BOX_INDEXES)
    return {created(s) for s in statements if "CREATE" in s and "IF NOT EXISTS" in s}


def complete(dialect: Dialect) -> bool:
    """Whether everything `create` makes is there, with the current columns: read without a
    lock, so a process starting beside a rebuild (which holds the locks DDL waits for) opens."""
    wanted = made(dialect)
    indexes = {created(s) for statements in INDEXES.values() for s in statements}
    found = dialect.store.existing(wanted | {index + SECOND for index in indexes})
    found |= {index for index in indexes if index + SECOND in found}
    if not wanted <= found:
        return False
    with dialect.store.read_transaction() as cursor:
        columns = _added_columns_found(dialect, cursor)
        return all(column in columns[table] for table, column, _ in _ADDED_COLUMNS)


# Columns added to tables after they were first made, and their types: `create` adds them to a
# table made before. The tracking's `fold` comes in at 0, so the rows are rebuilt; so does a
# table of a projection whose fold version went up with its new columns (developments 5).
_ADDED_COLUMNS = (
    (TRACKING, "fold", "{int} NOT NULL DEFAULT 0"),
    (SEGMENTS.name, "occurred_lower", "{int}"),
    (SEGMENTS.name, "occurred_upper", "{int}"),
)


def _columns(dialect: Dialect, cursor: Cursor, table: str) -> set[str]:
    if dialect.sqlite:
        cursor.execute(f"PRAGMA table_info({table})")
        return {row[1] for row in rows_of(cursor)}
    cursor.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    )
    return {row[0] for row in rows_of(cursor)}


def _added_columns_found(dialect: Dialect, cursor: Cursor) -> dict[str, set[str]]:
    """The columns of each table `_ADDED_COLUMNS` names, read once per table."""
    tables = dict.fromkeys(table for table, _, _ in _ADDED_COLUMNS)
    return {table: _columns(dialect, cursor, table) for table in tables}


def _add_columns(dialect: Dialect, cursor: Cursor) -> None:
    """Add the columns of `_ADDED_COLUMNS` that a table made by an older version lacks."""
    found = _added_columns_found(dialect, cursor)
    for table, column, kind in _ADDED_COLUMNS:
        if column not in found[table]:
            cursor.execute(f"ALTER TABLE {table} ADD COLUMN {column} {dialect.ddl(kind)}")
