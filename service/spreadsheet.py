"""CSV text that a spreadsheet opens as the text it is: every CSV the service answers is written
by `csv_table`."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

# A cell a spreadsheet would run as a formula (OWASP, "CSV Injection"): `=`, `+`, `-`, `@`, and
# tab and carriage return, which some spreadsheets skip before looking for one.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_SPACES = " \n"  # before one: a spreadsheet (or an import that trims cells) may skip them too
# ... unless it is a number as it is written (-5, +1.5e3): a spreadsheet reads that as the number
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def safe_cell(value: Any) -> Any:
    """A cell's value, with a text a spreadsheet would take for a formula prefixed by `'`
    (`=HYPERLINK(...)` becomes `'=HYPERLINK(...)`), so it shows as the text it is. Numbers, and
    text that is a number as written, stay as they are; true and false are spelled as in the JSON
    answers, not Python's `True` and `False`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if (
        isinstance(value, str)
        and value.lstrip(_SPACES).startswith(_FORMULA)
        and not _NUMBER.fullmatch(value.strip(_SPACES))  # ` -5` is a number to them too
    ):
        return "'" + value
    return value


def csv_table(rows: Iterable[Sequence[Any]]) -> str:
    """Rows (the first one the column names) as CSV text, CRLF-terminated, every cell through
    `safe_cell`: every CSV the API answers is written here."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return out.getvalue()
