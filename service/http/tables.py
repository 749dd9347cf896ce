"""CSV answers: whether the caller asked for one, and the link to the next page (the table
itself: `service.spreadsheet`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Request
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from service.http.openapi import answer_spec, text_answers
from service.http.params import InvalidParameter, choice

CSV = "text/csv"
OR_CSV = text_answers(CSV)  # documents the `?format=csv` answer beside the JSON one


def json_or_csv(shape: Any) -> ResponseSpec:
    """The 200 answer of a route that takes `format`: `shape` as JSON and, with `OR_CSV` as
    its `operation_class`, a CSV table."""
    return answer_spec(shape, description="JSON, or CSV for format=csv or Accept: text/csv")


# `?format=`: a Literal, so that a wrong one is refused naming the values it may take
Formats = Literal["json", "csv"]
Format = Annotated[
    Formats | None, QueryParameter(description="json or csv", schema_extra=choice(Formats))
]


_QVALUE = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?", re.ASCII)  # RFC 9110 §12.4.2


def preferred(request: Request[Any, Any, Any], offered: Sequence[str]) -> str:
    """Which of the `offered` media types the Accept header prefers (RFC 9110 §12.5.1): each
    takes the weight of the most specific range that matches it (`text/csv`, then `text/*`,
    then `*/*`), `q=0` meaning not acceptable. Of equal weights, the type a more specific range
    names wins (`text/csv, */*` is CSV), then the one listed first (`text/csv,
    application/json` is CSV), then the first offered, which is also the answer without a
    header or when none is acceptable (the header may be disregarded, rather than a 406). A q
    that is not a number from 0 to 1 with at most three decimals is a 400."""
    ranges: list[tuple[str, str, float]] = []  # in the order listed
    for header in request.headers.getall("accept", []):
        for item in header.split(","):
            media_range, *parameters = item.split(";")
            kind, _, subtype = media_range.strip().lower().partition("/")
            if not kind:
                continue
            weight = 1.0
            for parameter in parameters:
                name, _, value = parameter.partition("=")
                if name.strip().lower() == "q":
                    if not _QVALUE.fullmatch(value.strip()):
                        raise InvalidParameter(
                            "Accept", f"q={value.strip()} is not a number from 0 to 1"
                        )
                    weight = float(value)
            ranges.append((kind, subtype.strip(), weight))
    if not ranges:
        return offered[0]
    best, best_rank = offered[0], (0.0, 0, 0)
    for media_type in offered:
        kind, _, subtype = media_type.partition("/")
        matching = [
            (specific, weight, -listed)
            for listed, (range_kind, range_subtype, weight) in enumerate(ranges)
            if (specific := _specificity(kind, subtype, range_kind, range_subtype)) is not None
        ]
        if not matching:
            continue
        specific, weight, listed = max(matching)  # the most specific range names its weight
        rank = (weight, specific, listed)
        if weight > 0 and rank > best_rank:
            best, best_rank = media_type, rank
    return best


def _specificity(kind: str, subtype: str, range_kind: str, range_subtype: str) -> int | None:
    """How specifically a media range names a media type (2: exactly), None: not at all."""
    if (range_kind, range_subtype) == (kind, subtype):
        return 2
    if range_kind == kind and range_subtype == "*":
        return 1
    if (range_kind, range_subtype) == ("*", "*"):
        return 0
    return None


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
