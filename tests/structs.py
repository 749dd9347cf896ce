"""Event structs for tests that work below the HTTP layer."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from events import Actors, DevelopmentReported, Report, Source


def a_report(originator: str = "US Government") -> Report:
    """A report without a figure, asserted on 2024-02-23."""
    return Report(
        source=Source(originator=originator, channel="briefing"), asserted_on=date(2024, 2, 23)
    )


def a_development(development_id: UUID | None = None) -> DevelopmentReported:
    """A transfer from PRK to RUS with one report."""
    return DevelopmentReported(
        development_id=development_id,
        kind="transfer",
        title="Containers of munitions",
        actors=Actors(supplier="PRK", recipient="RUS"),
        report=a_report(),
    )
