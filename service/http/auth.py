"""Who is calling: the principal recorded as `recorded_by` on every event stored."""

from __future__ import annotations

ANONYMOUS = "anonymous"


def provide_principal() -> str:
    """The caller's principal; everyone is anonymous until tokens arrive."""
    return ANONYMOUS
