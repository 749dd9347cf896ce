"""CSV answers: whether the caller asked for one."""

from __future__ import annotations

from typing import Any

from litestar import Request

CSV = "text/csv"


def wants_csv(request: Request[Any, Any, Any], format: str | None) -> bool:
    """`?format=csv`, or else an Accept header that prefers CSV to JSON."""
    if format is not None:
        return format == "csv"
    return request.accept.best_match(["application/json", CSV], default="application/json") == CSV
