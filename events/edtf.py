"""The EDTF subset used for `occurred`: dates, approximate/uncertain markers and intervals."""

from __future__ import annotations

import calendar
import functools
import re
from datetime import date
from typing import Literal

import msgspec

Precision = Literal["year", "month", "day"]

# ASCII only: `\d` alone also matches other scripts' digits (fullwidth, Arabic-Indic, …).
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?([~?%]?)", re.ASCII)


class EdtfError(ValueError):
    """Raised when a text is not in the supported EDTF subset."""


class Edtf(msgspec.Struct, frozen=True):
    """A parsed `occurred` value: the text as given and the range of days it covers.

    `lower`/`upper` are the first and last possible day; `None` means unknown or open.
    `precision` is the finest precision of the given ends.
    """

    text: str
    lower: date | None
    upper: date | None
    precision: Precision
    approximate: bool
    uncertain: bool


class _End(msgspec.Struct, frozen=True):
    lower: date
    upper: date
    precision: Precision
    approximate: bool
    uncertain: bool


def _parse_date(text: str) -> _End:
    match = _DATE.fullmatch(text)
    if match is None:
        raise EdtfError(f"{text!r} is not YYYY, YYYY-MM or YYYY-MM-DD (optionally ~, ? or %)")
    year_s, month_s, day_s, marker = match.groups()
    year = int(year_s)
    if year < 1:
        raise EdtfError(f"{text!r}: year 0000 is not supported")
    try:
        if month_s is None:
            lower, upper, precision = date(year, 1, 1), date(year, 12, 31), "year"
        elif day_s is None:
            month = int(month_s)
            last = calendar.monthrange(year, month)[1] if 1 <= month <= 12 else 0
            lower, upper, precision = date(year, month, 1), date(year, month, last), "month"
        else:
            lower = upper = date(year, int(month_s), int(day_s))
            precision = "day"
    except ValueError as error:
        raise EdtfError(f"{text!r} is not a real date ({error})") from None
    return _End(
        lower=lower,
        upper=upper,
        precision=precision,  # type: ignore[arg-type]
        approximate=marker in ("~", "%"),
        uncertain=marker in ("?", "%"),
    )


_ORDER: dict[Precision, int] = {"year": 0, "month": 1, "day": 2}


@functools.lru_cache(maxsize=4096)  # the same texts recur on every decode of a stream
def parse_edtf(text: str) -> Edtf:
    """Parse `text`, raising `EdtfError` when it is outside the supported subset."""
    if "/" not in text:
        end = _parse_date(text)
        return Edtf(text, end.lower, end.upper, end.precision, end.approximate, end.uncertain)
    if text.count("/") != 1:
        raise EdtfError(f"{text!r}: an interval has exactly one '/'")
    start_text, stop_text = text.split("/")
    if start_text in ("", "..") and stop_text in ("", ".."):
        raise EdtfError(f"{text!r}: an interval needs at least one known end")
    start = None if start_text in ("", "..") else _parse_date(start_text)
    stop = None if stop_text in ("", "..") else _parse_date(stop_text)
    if start is not None and stop is not None and start.lower > stop.upper:
        raise EdtfError(f"{text!r}: the interval ends before it starts")
    ends = [end for end in (start, stop) if end is not None]
    return Edtf(
        text=text,
        lower=start.lower if start else None,
        upper=stop.upper if stop else None,
        precision=max((end.precision for end in ends), key=_ORDER.__getitem__),
        approximate=any(end.approximate for end in ends),
        uncertain=any(end.uncertain for end in ends),
    )
