"""Query and path values: `as_of` (a date), `known_at` (a moment, microseconds), ids in paths."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, get_args
from uuid import UUID

from litestar.openapi.spec import OpenAPIFormat, OpenAPIType
from litestar.params import ParameterKwarg, PathParameter, QueryParameter

from service.store.log import LogRecorder
from service.store.records import MAX_POSITION, now_micros, to_micros

_DAY_US = 86_400_000_000
# Each pattern is also the document's (ECMA-262 reads it alike: ASCII digits, no flags).
DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# RFC 3339 date-time; a space in place of `+` is what an unencoded `+` in a query string becomes.
_MOMENT = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2}(?:\.\d+)?)([Zz]|[+ -]\d{2}:\d{2})", re.ASCII
)
_POSITION = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def documented(kind: OpenAPIType, **schema: Any) -> dict[str, Any]:
    """A parameter's `schema_extra`: its schema in the OpenAPI document, of one type. Litestar
    writes a parameter the handler takes as `X | None` as `oneOf [X, null]`, though a query
    string has no null (an absent parameter is absent), with its bounds beside the `oneOf`;
    and an `int` bound as a float (2**63 - 1 as 9.223372036854776e+18, which is past it)."""
    return {"one_of": None, "type": kind, **schema}


def whole(description: str, ge: int, le: int = MAX_POSITION) -> ParameterKwarg:
    """A whole-number query parameter from `ge` to `le` (a position, by default), checked and
    documented so."""
    extra = documented(OpenAPIType.INTEGER, minimum=ge, maximum=le)
    return QueryParameter(ge=ge, le=le, description=description, schema_extra=extra)


def choice(values: Any) -> dict[str, Any]:
    """`documented` of one of the strings of a `Literal`."""
    return documented(OpenAPIType.STRING, enum=list(get_args(values)))


# A date YYYY-MM-DD (`as_of`, `from`, `to`, ...) and a moment (`known_at`, `since`, `until`): a
# date, or an RFC 3339 time with its offset. The server also checks that the date is real.
A_DAY = documented(OpenAPIType.STRING, format=OpenAPIFormat.DATE, pattern=f"^{DATE.pattern}$")
A_MOMENT = documented(OpenAPIType.STRING, pattern=f"^(?:{DATE.pattern}|{_MOMENT.pattern})$")


class InvalidParameter(ValueError):
    """A query or path value that cannot be used; `name` is the parameter at fault."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


class RefusedParameter(InvalidParameter):
    """A query parameter the route does not take, or takes once and was given more: whatever
    its value, so the message says why in full (the problem does not call it a bad value)."""


# An id in a path: written one way only, as it is served (ASCII hex, 8-4-4-4-12), so a development
# has one URL (Python's UUID() also reads braces, `urn:uuid:` and non-ASCII digits), and anything
# else is a 400 naming the parameter, where the router's own `uuid` type answered 404.
UUID_TEXT = documented(OpenAPIType.STRING, format=OpenAPIFormat.UUID, pattern=f"^{_UUID.pattern}$")
IdInPath = Annotated[
    str,
    PathParameter(description="A UUID: 8-4-4-4-12 hexadecimal digits", schema_extra=UUID_TEXT),
]


# A position in a path, as it is served: one URL per checkpoint (Litestar's `int` also read
# `+45`, `045` and non-ASCII digits), and anything else a 400 naming the parameter.
PositionInPath = Annotated[
    str,
    PathParameter(
        description="A position of the log",
        schema_extra=documented(OpenAPIType.INTEGER, minimum=0, maximum=MAX_POSITION),
    ),
]


# A position in a header (`Last-Event-ID`), the spaces around it read past.
A_POSITION = documented(OpenAPIType.STRING, pattern=rf"^\s*(?:{_POSITION.pattern})\s*$")


def position_of(name: str, text: str) -> int:
    """A log position written as the service writes one: ASCII digits without a sign or a
    leading zero, at most 2**63 - 1; `InvalidParameter` otherwise."""
    if not _POSITION.fullmatch(text) or int(text) > MAX_POSITION:
        raise InvalidParameter(name, f"{text!r} is not a log position")
    return int(text)


def uuid_of(name: str, text: str) -> UUID:
    """The UUID an `IdInPath` parameter writes; `InvalidParameter` if it is written otherwise."""
    if not _UUID.fullmatch(text):
        raise InvalidParameter(name, f"{text!r} is not a UUID written as 8-4-4-4-12 hex digits")
    return UUID(text)


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(name, f"{text!r} is not a real date") from None


def parse_as_of(text: str | None) -> date:
    """`as_of` as a date (YYYY-MM-DD); absent means today, UTC."""
    if text is None:
        return datetime.now(UTC).date()
    if not DATE.fullmatch(text):
        raise InvalidParameter("as_of", f"{text!r} is not a date YYYY-MM-DD")
    return _day("as_of", text)


def settled_known_at(store: LogRecorder, name: str, text: str | None) -> int:
    """T for an answer that says the `known_at` it used: as asked when that is past, and when
    it is absent or after now, the system time of the last event recorded
    (`LogRecorder.settled_at`; now on an empty log). That answers as now does and answers the
    same when asked again, where now, or a time to come (`known_at` of today's date means its
    end), would take in a commit under way that read the clock before it, and every event
    recorded until then. Blocking: it may read the store."""
    try:
        moment = parse_known_at(text)
    except InvalidParameter as error:
        raise InvalidParameter(name, error.message) from None
    now = now_micros()
    if text is not None and moment < now:
        return moment
    settled = store.settled_at()
    return now if settled is None else settled


def settled_by(store: LogRecorder, moment: int) -> int:
    """`moment`, the end of a window that the next one starts from (`/api/changes`), or the
    time of the last event recorded when that is earlier. A commit under way when the window
    is read may have read the clock before `moment`, and become visible after: listed in
    neither this window nor the next (the consumer audit of session 21 missed 0.6% of events
    chaining windows `until` its own clock). Every event recorded by the last one's time is
    committed: a commit under way is recorded after it. Blocking: it reads the store."""
    settled = store.settled_at()
    return min(moment, 0 if settled is None else settled)  # none yet: a window of nothing


def parse_known_at(text: str | None) -> int:
    """`known_at` in microseconds since the epoch; absent means now.

    An RFC 3339 time must carry its offset (`Z` or `±HH:MM`); a date YYYY-MM-DD means the
    last microsecond of that day, UTC.
    """
    if text is None:
        return now_micros()
    if DATE.fullmatch(text):
        start_of_day = datetime.combine(_day("known_at", text), datetime.min.time(), UTC)
        return to_micros(start_of_day) + _DAY_US - 1
    match = _MOMENT.fullmatch(text)
    if match is None:
        raise InvalidParameter(
            "known_at",
            f"{text!r} is neither an RFC 3339 time with offset (2024-03-01T12:00:00Z) "
            "nor a date YYYY-MM-DD",
        )
    day, clock, offset = match.groups()
    offset = "+00:00" if offset in ("Z", "z") else offset.replace(" ", "+")
    if int(offset[1:3]) > 23 or int(offset[4:6]) > 59:  # Python says it in its own terms
        raise InvalidParameter(
            "known_at", f"{text!r}: the UTC offset must be between -23:59 and +23:59"
        )
    whole, _, fraction = clock.partition(".")
    clock = f"{whole}.{fraction[:6]:0<6}"  # RFC 3339 allows any precision; we keep microseconds
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}{offset}")
    except ValueError as error:
        raise InvalidParameter("known_at", f"{text!r} is not a real time ({error})") from None
    try:
        moment.astimezone(UTC)  # answers show it in UTC: an offset may push it past year 1 or 9999
    except OverflowError:
        raise InvalidParameter("known_at", f"{text!r} is not in years 1 to 9999 in UTC") from None
    return to_micros(moment)
