"""One development as of (D, P): its fields, its status, every report recorded by P."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import msgspec

from events import Report
from projections.dialect import Dialect, rows_of
from projections.query_rows import development_fields, development_row, recorded_counts
from projections.results import Detail, ReportRow, Retraction
from projections.schema import REPORTS, STATUS_CHANGES
from projections.state import status_run

_report_decoder = msgspec.json.Decoder(Report)


def development(
    dialect: Dialect, development_id: UUID, *, as_of: date, position: int
) -> Detail | None:
    """One development as of (D, P) with every report recorded by P; None if none was."""
    key = dialect.store.id_param(development_id)
    day = as_of.toordinal()
    sql = dialect.sql
    with dialect.read() as cursor:
        fields = development_fields(dialect, cursor, [key], position).get(key)
        if fields is None:
            return None
        counts = recorded_counts(dialect, cursor, [key], position)[key]
        cursor.execute(
            sql(
                "SELECT number, position, report, corrections, retracted_on, retraction_reason, "
                f"retraction_position FROM {REPORTS.name} WHERE development_id = %s "
                "AND pos_from <= %s AND pos_to > %s ORDER BY number"
            ),
            (key, position, position),
        )
        report_rows = rows_of(cursor)
        cursor.execute(
            sql(
                f"SELECT effective_on, status FROM {STATUS_CHANGES.name} "
                "WHERE development_id = %s AND position <= %s AND effective_on <= %s "
                "ORDER BY effective_on, position"
            ),
            (key, position, day),
        )
        status, since = status_run(fields[7], [(row[0], row[1]) for row in rows_of(cursor)])
    reports = [_report_row(row, day) for row in report_rows]
    active = [r.report.asserted_on for r in reports if r.active]
    first = min(active, default=None)
    reported = (first.toordinal(), max(active).toordinal(), len(active)) if first else None
    row = development_row(dialect, fields, counts, status=status, reported=reported)
    since_day = first if since is None else date.fromordinal(since)
    return Detail(development=row, visible=bool(active), status_since=since_day, reports=reports)


def reports_of(
    dialect: Dialect, development_ids: Sequence[UUID], *, as_of: date, position: int
) -> dict[UUID, list[ReportRow]]:
    """The reports recorded by P of each development, as `development` lists them, in one
    query per few hundred developments (a page of the timeline, say)."""
    day = as_of.toordinal()
    keys = {
        dialect.store.id_param(development_id): development_id for development_id in development_ids
    }
    found: dict[UUID, list[ReportRow]] = {development_id: [] for development_id in development_ids}
    query = (
        "SELECT development_id, number, position, report, corrections, retracted_on, "
        f"retraction_reason, retraction_position FROM {REPORTS.name} "
        "WHERE development_id IN ({marks}) AND pos_from <= %s AND pos_to > %s"
    )
    with dialect.read() as cursor:
        for row in dialect.select_in(cursor, query, list(keys), (position, position)):
            found[keys[row[0]]].append(_report_row(row[1:], day))
    for reports in found.values():
        reports.sort(key=lambda report: report.number)
    return found


def _report_row(row: Sequence[Any], day: int) -> ReportRow:
    report = _report_decoder.decode(row[2])
    retracted_on = row[4]
    retraction = None
    if retracted_on is not None:
        retraction = Retraction(
            effective_on=date.fromordinal(retracted_on), reason=row[5], position=row[6]
        )
    active = report.asserted_on.toordinal() <= day and (retracted_on is None or retracted_on > day)
    return ReportRow(
        number=row[0],
        position=row[1],
        report=report,
        active=active,
        retraction=retraction,
        corrections=row[3],
    )
