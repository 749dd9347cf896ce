"""CSV answers: whether the caller asked for one, and the link to the next page (the table
itself: `service.spreadsheet`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Request
from litestar.params import QueryParameter

from service.http.params import InvalidParameter

CSV = "text/csv"
# `?format=`: a Literal, so that a wrong one is refused naming the values it may take
Format = Annotated[Literal["json", "csv"] | None, QueryParameter(description="json or csv")]


def preferred(request: Request[Any, Any, Any], offered: Sequence[str]) -> str:
    """Which of the `offered` media types the Accept header prefers (the first by default)."""
    try:
        return request.accept.best_match(list(offered), default=offered[0]) or offered[0]
    except (OverflowError, ValueError):  # Litestar turns q=inf into an int
        raise InvalidParameter("Accept", "a q value is not a number from 0 to 1") from None


def wants_csv(request: Request[Any, Any, Any], format: str | None) -> bool:
    """`?format=csv`, or else an Accept header that prefers CSV to JSON."""
    if format is not None:
        return format == "csv"
    return preferred(request, ["application/json", CSV]) == CSV


def next_link(
    request: Request[Any, Any, Any], following: Mapping[str, Any] | None
) -> dict[str, str]:
    """A `Link: <...>; rel="next"` header (RFC 8288) for a CSV page, whose body has no room for
    `next`: this request's URL with the parameters in `following` set (the cursor, and the
    times the page answered for, so the next page answers for the same ones). None when this
    is the last page."""
    if following is None:
        return {}
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in following]
    query = urlencode([*kept, *((k, str(v)) for k, v in following.items())])
    return {"Link": f'<{request.url.path}?{query}>; rel="next"'}
