"""Who a write is recorded by, and what an import lets in (found by mutation testing).

A batch is recorded by the caller's token as a single event is (DESIGN §3: `recorded_by` is the
caller's principal); `import_events` refuses a unit in the plural as the API does, unless the
file is read as the log stored it.
"""

from __future__ import annotations

import json

import pytest

from service.application import Timeline
from service.ingest import ImportFailed, import_events
from tests import bodies
from tests.api import EDITOR, Client, post_batch


def test_a_batch_is_recorded_by_the_name_of_the_callers_token(client: Client) -> None:
    # Given a client holding the editor token `newsroom`
    # When it posts a batch of two events
    response = post_batch(client, bodies.development_reported(), bodies.development_reported())
    assert response.status_code == 201, response.text
    # Then both are recorded by the token's name, not as anonymous
    items = client.get("/api/events").json()["items"]
    assert [item["recorded_by"] for item in items] == [EDITOR, EDITOR]


def test_import_events_refuses_a_unit_in_the_plural_unless_read_as_stored(
    timeline: Timeline,
) -> None:
    # Given an NDJSON line whose figure counts in `missiles`, after a valid line
    figure = {"unit": "missiles", "qualifier": "exact", "value": 3}
    plural = bodies.development_reported(report=bodies.report(figure=figure))
    lines = [json.dumps(bodies.development_reported()).encode(), json.dumps(plural).encode()]
    # When it is imported as new events
    with pytest.raises(ImportFailed) as failed:
        import_events(timeline, lines, recorded_by="import")
    # Then line 2 is refused at the unit and nothing is stored
    [bad] = failed.value.bad
    assert (bad.line, bad.path) == (2, "$.report.figure.unit")
    assert "is a plural" in bad.message
    assert timeline.store.select_records() == []
    # And read as the log stored it (an export), both lines are stored as they are
    report = import_events(timeline, lines, recorded_by="import", as_stored=True)
    assert (report.stored, report.already_present) == (2, 0)
