"""Example bodies for the OpenAPI page, so that "Try it out" starts from a real event."""

from __future__ import annotations

from typing import Any

DEVELOPMENT_ID = "0b0f7c1e-3c7a-4d2e-9a51-6f0e8e3b2a10"

REPORTED: dict[str, Any] = {
    "type": "development_reported",
    "development_id": DEVELOPMENT_ID,
    "kind": "transfer",
    "title": "DPRK delivered munitions containers to Russia",
    "stage": "delivered",
    "actors": {"supplier": "PRK", "recipient": "RUS"},
    "item": {"category": "munitions_unspecified"},
    "occurred": "2023-09/2023-10",
    "report": {
        "source": {"originator": "John Kirby", "channel": "briefing"},
        "asserted_on": "2023-10-13",
        "figure": {"unit": "container", "qualifier": "more_than", "value": 1000},
    },
}
REPORT_ADDED: dict[str, Any] = {
    "type": "report_added",
    "development_id": DEVELOPMENT_ID,
    "report": {
        "source": {"originator": "US State Department", "channel": "fact_sheet"},
        "asserted_on": "2024-02-23",
        "figure": {"unit": "container", "qualifier": "more_than", "value": 10000},
    },
}
STATUS_CHANGED: dict[str, Any] = {
    "type": "status_changed",
    "development_id": DEVELOPMENT_ID,
    "status": "corroborated",
    "effective_on": "2024-02-23",
    "reason": "The State Department fact sheet corroborates the briefing",
}

EVENT_EXAMPLES = {
    "development_reported": REPORTED,
    "report_added": REPORT_ADDED,
    "status_changed": STATUS_CHANGED,
}
BATCH_EXAMPLES = {"a development and its second report": {"events": [REPORTED, REPORT_ADDED]}}
