"""Builders of valid event bodies as posted to the API: plain dicts, ready for `json.dumps`.

Every builder takes keyword overrides that replace its fields whole.
"""

from __future__ import annotations

import json
from typing import Any

Body = dict[str, Any]

EVENT_TYPES = (
    "development_reported",
    "report_added",
    "report_corrected",
    "report_retracted",
    "development_corrected",
    "status_changed",
)


def source(**fields: Any) -> Body:
    """Who said it and through which channel: the White House briefing of 13 October 2023."""
    return {"originator": "John Kirby", "channel": "briefing", **fields}


def report(**fields: Any) -> Body:
    """A report of that briefing: DPRK delivered more than 1,000 containers of munitions."""
    return {
        "source": source(),
        "asserted_on": "2023-10-13",
        "figure": {"unit": "container", "qualifier": "more_than", "value": 1000},
        **fields,
    }


def development_reported(**fields: Any) -> Body:
    """A new development: DPRK delivered munitions containers to Russia."""
    return {
        "type": "development_reported",
        "kind": "transfer",
        "title": "DPRK delivered munitions containers to Russia",
        "stage": "delivered",
        "actors": {"supplier": "PRK", "recipient": "RUS"},
        "item": {"category": "munitions_unspecified"},
        "occurred": "2023-09/2023-10",
        "report": report(),
        **fields,
    }


def report_added(development_id: str, **fields: Any) -> Body:
    """A second report: the State Department fact sheet of 23 February 2024."""
    return {
        "type": "report_added",
        "development_id": development_id,
        "report": report(
            source=source(originator="US State Department", channel="fact_sheet"),
            asserted_on="2024-02-23",
            figure={"unit": "container", "qualifier": "more_than", "value": 10_000},
        ),
        **fields,
    }


def report_corrected(development_id: str, number: int = 1, **fields: Any) -> Body:
    """Our coding of report `number` was wrong: it said about 1,000 containers, not more."""
    return {
        "type": "report_corrected",
        "development_id": development_id,
        "report": number,
        "changes": {"figure": {"unit": "container", "qualifier": "about", "value": 1000}},
        "reason": "The briefing said about 1,000 containers",
        **fields,
    }


def report_retracted(development_id: str, number: int = 1, **fields: Any) -> Body:
    """The originator withdrew report `number` from 1 March 2024."""
    return {
        "type": "report_retracted",
        "development_id": development_id,
        "report": number,
        "effective_on": "2024-03-01",
        "reason": "The originator withdrew the figure",
        **fields,
    }


def development_corrected(development_id: str, **fields: Any) -> Body:
    """Our coding of the development was wrong: the item is artillery ammunition."""
    return {
        "type": "development_corrected",
        "development_id": development_id,
        "changes": {"item": {"category": "artillery_ammunition"}},
        "reason": "The containers held artillery ammunition",
        **fields,
    }


def status_changed(development_id: str, **fields: Any) -> Body:
    """Our judgement: corroborated from 23 February 2024."""
    return {
        "type": "status_changed",
        "development_id": development_id,
        "status": "corroborated",
        "effective_on": "2024-02-23",
        "reason": "The State Department fact sheet corroborates the briefing",
        **fields,
    }


def body_of(event_type: str, development_id: str) -> Body:
    """A valid body of `event_type` for a development reported with `development_reported()`."""
    if event_type == "development_reported":
        return development_reported(development_id=development_id)
    builders = {
        "report_added": report_added,
        "report_corrected": report_corrected,
        "report_retracted": report_retracted,
        "development_corrected": development_corrected,
        "status_changed": status_changed,
    }
    return builders[event_type](development_id)


def batch(*events: Body) -> Body:
    """The body of `POST /api/events/batch`."""
    return {"events": list(events)}


def encoded(body: Body) -> bytes:
    """A body as the bytes sent."""
    return json.dumps(body).encode()
