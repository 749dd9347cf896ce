"""Lists of the developments read model at (D, P): the timeline and the allegations board.

P is the last position recorded by T. Lists walk `tl_segments_order` from the cursor on, so a
page costs the same however long the history is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from math import isqrt
from typing import Any

from projections.dialect import Dialect, rows_of
from projections.query_rows import development_fields, development_row, recorded_counts
from projections.results import Allegation, Page
from projections.schema import ACTOR_DEVELOPMENTS, DEVELOPMENTS, FRONTIER, SEGMENTS
from projections.state import ACTOR_SEPARATOR, STANCES, name_key, valid_day
from service.store.log import Cursor

ALLEGATION_STATUSES = ("alleged", "corroborated", "disputed")
MAX_LIMIT = 500
PAGE = 100  # items on a page unless a limit is asked


class InvalidCursor(ValueError):
    """A `cursor` that this service did not hand out."""


def encode_cursor(first_reported_on: date, position: int) -> str:
    """The cursor after a row: its date and position, readable and URL-safe."""
    return f"{first_reported_on.isoformat()}~{position}"


_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2})~(\d{1,18})", re.ASCII)


def decode_cursor(text: str) -> tuple[int, int]:
    """(day ordinal, position) from a cursor, in the one form `encode_cursor` writes."""
    match = _CURSOR.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        return date.fromisoformat(match.group(1)).toordinal(), int(match.group(2))
    except ValueError:
        raise InvalidCursor(f"{text!r} is not a cursor this service handed out") from None


def _like(actor: str) -> str:
    escaped = name_key(actor).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{ACTOR_SEPARATOR}{escaped}{ACTOR_SEPARATOR}%"


FEW = 2_000  # developments an actor names at most for its filter to start from them
# Walking the order index reads about (page / share of developments naming the actor) rows,
# reading an actor's developments about `SEGMENTS_EACH` rows per development, then sorts them:
# the second wins while its developments number fewer than sqrt(page / SEGMENTS_EACH * all)
# 4, not the ~2.3 segments a development has, for the sort: measured at 100k events, 1,300
# developments read 10% slower than the walk, 500 two to five times faster
SEGMENTS_EACH = 4


def _named_by_few(dialect: Dialect, cursor: Cursor, actor: str, limit: int) -> list[Any] | None:
    """The developments that ever named `actor` (by `name_key`), when few enough that reading
    their rows beats walking the order index to find them; None when they are not."""
    cursor.execute(f"SELECT max(id) FROM {DEVELOPMENTS.name}")  # about how many there are
    every = rows_of(cursor)[0][0] or 0
    few = min(FEW, isqrt(int(max(limit, 100) / SEGMENTS_EACH * every)))
    key = name_key(actor)
    # whether there are more than `few`, stepping the index without reading them: reading
    # 2,001 rows to find out cost 0.49 ms at 1M events, the step 0.05 ms
    table = ACTOR_DEVELOPMENTS.name
    cursor.execute(
        dialect.sql(f"SELECT 1 FROM {table} WHERE actor = %s LIMIT 1 OFFSET %s"), (key, few)
    )
    if rows_of(cursor):
        return None
    cursor.execute(dialect.sql(f"SELECT development_id FROM {table} WHERE actor = %s"), (key,))
    return [row[0] for row in rows_of(cursor)]


def _segments(
    dialect: Dialect,
    cursor: Cursor,
    *,
    day: int,
    position: int,
    limit: int,
    after: str | None,
    statuses: Sequence[str] = (),
    kind: str | None = None,
    actor: str | None = None,
    from_: date | None = None,
    to: date | None = None,
    occurred_from: date | None = None,
    occurred_to: date | None = None,
) -> tuple[list[tuple[Any, ...]], str | None]:
    where = [
        "first_reported_on <= %s",
        "valid_from <= %s",
        "valid_to > %s",
        "pos_from <= %s",
        "pos_to > %s",
    ]
    start = None if after is None else decode_cursor(after)
    cursor.execute(
        dialect.sql(
            f"SELECT first_reported_on FROM {FRONTIER.name} WHERE position <= %s "
            "ORDER BY position DESC LIMIT 1"
        ),
        (position,),
    )
    frontier = rows_of(cursor)
    if not frontier:
        return [], None  # no development was visible on any day by P
    params: list[Any] = [min(day, frontier[0][0]), day, day, position, position]
    if statuses:
        where.append(f"status IN ({', '.join(['%s'] * len(statuses))})")
        params.extend(statuses)
    if kind is not None:
        where.append("kind = %s")
        params.append(kind)
    if actor is not None:
        where.append("actor_key LIKE %s ESCAPE '\\'")
        params.append(_like(actor))
        named = _named_by_few(dialect, cursor, actor, limit)
        if named is not None:  # their rows by `tl_segments_at`, then sorted
            if not named:
                return [], None  # no development ever named it
            if dialect.sqlite:
                where.append(f"development_id IN ({', '.join(['%s'] * len(named))})")
                params.extend(named)
            else:  # one array: the planner looks each up, where a join scanned the table
                where.append("development_id = ANY(%s)")
                params.append(named)
    if from_ is not None:
        where.append("first_reported_on >= %s")
        params.append(from_.toordinal())
    if to is not None:
        where.append("first_reported_on <= %s")
        params.append(to.toordinal())
    if occurred_from is not None:  # the days `occurred` allows overlap the window's
        where.append("occurred_upper >= %s")
        params.append(occurred_from.toordinal())
    if occurred_to is not None:
        where.append("occurred_lower <= %s")
        params.append(occurred_to.toordinal())
    if start is not None:
        where.append("(first_reported_on, position) > (%s, %s)")
        params.extend(start)
    cursor.execute(
        dialect.sql(
            "SELECT development_id, position, first_reported_on, last_reported_on, reports, "
            "status, status_since, supports, contradicts, denies, not_observed, qualifies, kind "
            f"FROM {SEGMENTS.name} WHERE {' AND '.join(where)} "
            "ORDER BY first_reported_on, position LIMIT %s"
        ),
        (*params, min(limit, MAX_LIMIT) + 1),
    )
    rows = rows_of(cursor)
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = encode_cursor(date.fromordinal(rows[-1][2]), rows[-1][1])
    return rows, following


def timeline(
    dialect: Dialect,
    *,
    as_of: date,
    position: int,
    limit: int = PAGE,
    after: str | None = None,
    kind: str | None = None,
    actor: str | None = None,
    status: str | None = None,
    from_: date | None = None,
    to: date | None = None,
    occurred_from: date | None = None,
    occurred_to: date | None = None,
) -> Page:
    """Visible developments as of (D, P), by first_reported_on then position; `from_` and `to`
    bound `first_reported_on`, `occurred_from` and `occurred_to` the days `occurred` allows
    (a development whose period overlaps theirs; none without `occurred`)."""
    with dialect.read() as cursor:
        segments, following = _segments(
            dialect,
            cursor,
            day=valid_day(as_of),
            position=position,
            limit=limit,
            after=after,
            statuses=() if status is None else (status,),
            kind=kind,
            actor=actor,
            from_=from_,
            to=to,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
        )
        keys = [row[0] for row in segments]
        fields = development_fields(dialect, cursor, keys, position)
        counts = recorded_counts(dialect, cursor, keys, position)
    items = [
        development_row(
            dialect,
            fields[row[0]],
            counts[row[0]],
            status=row[5],
            reported=(row[2], row[3], row[4]),
        )
        for row in segments
    ]
    return Page(items=items, next=following)


def allegations(
    dialect: Dialect,
    *,
    as_of: date,
    position: int,
    limit: int = PAGE,
    after: str | None = None,
    kind: str | None = None,
    actor: str | None = None,
) -> Page:
    """Visible developments alleged, corroborated or disputed as of (D, P)."""
    with dialect.read() as cursor:
        segments, following = _segments(
            dialect,
            cursor,
            day=valid_day(as_of),
            position=position,
            limit=limit,
            after=after,
            statuses=ALLEGATION_STATUSES,
            kind=kind,
            actor=actor,
        )
        fields = development_fields(dialect, cursor, [row[0] for row in segments], position)
    items = [
        Allegation(
            development_id=dialect.store.id_value(row[0]),
            position=row[1],
            title=fields[row[0]][2],
            kind=row[12],
            status=row[5],
            status_since=date.fromordinal(row[6]),
            first_reported_on=date.fromordinal(row[2]),
            age_days=as_of.toordinal() - row[2],
            stances=dict(zip(STANCES, row[7:12], strict=True)),
        )
        for row in segments
    ]
    return Page(items=items, next=following)
