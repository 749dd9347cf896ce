"""Jinja2 templates of the page, autoescaped, with the words and asset helpers they use."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2

from service.store.records import from_micros
from service.web import chart, words

HERE = Path(__file__).parent
STATIC = HERE / "static"
FIRST_DAY = date(2022, 1, 1)  # the slider's first day: the corpus starts in 2022
STATUSES = ("alleged", "corroborated", "disputed")
STANCES = ("supports", "contradicts", "denies", "not_observed", "qualifies")


@cache
def asset(name: str) -> str:
    """The URL of a static file, with a digest of its content so browsers refetch changes."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]
    return f"/static/{name}?v={digest}"


def state(as_of: date | None, known_at: str | None, **more: str | None) -> str:
    """The query string that keeps a view's state: `as_of=2024-03-01&known_at=…`, and `more`
    (the overview's `actor`); each left out when None or empty."""
    pairs = {"as_of": as_of.isoformat() if as_of else None, "known_at": known_at, **more}
    return urlencode({key: value for key, value in pairs.items() if value})


def known_at_input(known_at_us: int | None) -> str:
    """A `known_at` moment as a `datetime-local` value in UTC, seconds included."""
    if known_at_us is None:
        return ""
    return from_micros(known_at_us).strftime("%Y-%m-%dT%H:%M:%S")  # no float: exact to 9999


def known_at_exact(known_at_us: int | None) -> str:
    """A `known_at` moment to the microsecond (RFC 3339, `Z`), which the script keeps as given
    until the reader edits the field: the field itself holds whole seconds."""
    return "" if known_at_us is None else words.moment(from_micros(known_at_us))


def today() -> date:
    """Today, UTC: the default `as_of` and the slider's last day."""
    return datetime.now(UTC).date()


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.globals.update(
        asset=asset, state=state, words=words, chart=chart, FIRST_DAY=FIRST_DAY, STATUSES=STATUSES,
        STANCES=STANCES, today=today, known_at_input=known_at_input, known_at_exact=known_at_exact,
    )  # fmt: skip
    return environment


_templates = _environment()


def render(template: str, **context: Any) -> str:
    """A template rendered with `context`."""
    return _templates.get_template(template).render(**context)
