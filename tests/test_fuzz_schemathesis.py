"""Fuzzing: schemathesis against the served OpenAPI document, hypothesis on the event decoder.

Schemathesis goes through the ASGI app, on SQLite and on PostgreSQL, with an admin token so that
the admin endpoints run their handlers rather than stop at the role check: for every operation the
document describes, requests generated from it (valid and invalid ones) never get a 5xx, and every
answer has a documented status, media type and shape. The decoder properties: whatever decodes is
stored as bytes that decode to the same event, and whatever is refused names a field of its body
(in a batch, of its first invalid event).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from events import AnyEvent, InvalidEvent, decode_batch, decode_event, digest, encode
from service.application import Timeline
from service.http import create_app
from service.tokens import Tokens
from tests import bodies

OPENAPI = "/api/schema/openapi.json"
# Requests per operation and mode. PostgreSQL gets half as many: the handlers and the document are
# the same on both, so its run is there for faults of its recorder, and each request pays round
# trips to the server; both runs together stay under a minute.
EXAMPLES = {"sqlite": 20, "postgres": 10}
# A rebuild folds the log again into fresh tables, up to 0.3 s even on this six-event log (the
# full count of them added about 9 s to the file), and its one parameter takes three values: a few
# requests check its answers against the document; tests/test_http_maintenance.py does the rest.
FEWER_EXAMPLES = {"POST /api/projections/rebuild": 3}
REQUEST_SECONDS = 20.0  # an answer that takes longer is a failure too
STREAM_SECONDS = 0.3
Operation = APIOperation[Any, Any, Any, Any]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class Served(NamedTuple):
    app: Litestar
    token: str
    examples: int


@pytest.fixture
def served(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The app on a database holding one development with every kind of event.

    One per test: schemathesis's pytest plugin ends every ASGI app's lifespan after each test.
    """
    # the admin token signs checkpoints: with a key of this test's, not ./timeline.key
    monkeypatch.setenv("TIMELINE_KEY_FILE", str(tmp_path / "timeline.key"))
    timeline = Timeline(database_url)
    development_id = "0b0f7c1e-3c7a-4d2e-9a51-6f0e8e3b2a10"
    history = [bodies.development_reported(development_id=development_id)]
    history += [bodies.body_of(kind, development_id) for kind in bodies.EVENT_TYPES[1:]]
    timeline.append([decode_event(bodies.encoded(body)) for body in history], "seed")
    token = Tokens(timeline.store).create("fuzzer", "admin")
    examples = EXAMPLES["postgres" if database_url.startswith("postgresql") else "sqlite"]
    yield Served(create_app(timeline), token, examples)
    shutdown_lifespans()  # the ASGI client started the app; stop its writer and runner


@pytest.fixture
def api_schema(served: Served) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi(OPENAPI, served.app)


def operations(api_schema: schemathesis.BaseSchema) -> list[Operation]:
    """Every operation the served document describes (each one well-formed)."""
    found = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        found.append(result.ok())
    return found


def takes_input(operation: Operation) -> bool:
    """Whether the operation has parameters or a body that an invalid request could break."""
    return "parameters" in operation.definition.raw or "requestBody" in operation.definition.raw


def streams(operation: Operation) -> bool:
    """Whether the operation answers an endless stream of server-sent events."""
    answer = operation.definition.raw["responses"].get("200", {})
    return "text/event-stream" in answer.get("content", {})


def fuzz(operation: Operation, mode: GenerationMode, served: Served) -> None:
    """Send generated requests of one operation and validate every answer."""
    # an event stream never ends: validate what it sent in its first moments
    timeout = STREAM_SECONDS if streams(operation) else REQUEST_SECONDS

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=FEWER_EXAMPLES.get(operation.label, served.examples),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Case[Operation]) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {served.token}"}, checks=CHECKS, timeout=timeout
        )

    check()


def test_the_document_describes_the_write_read_view_and_admin_operations(
    api_schema: schemathesis.BaseSchema,
) -> None:
    labels = {operation.label for operation in operations(api_schema)}

    assert {
        "POST /api/events",
        "POST /api/events/batch",
        "GET /api/events",
        "GET /api/developments",
        "GET /api/developments/{development_id}",
        "GET /api/developments/{development_id}/history",
        "GET /api/views/deliveries",
        "GET /api/views/allegations",
        "GET /api/health",
        "GET /api/verify",
        "POST /api/verify",
        "POST /api/checkpoints",
        "POST /api/projections/rebuild",
    } <= labels


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_generated_requests_get_no_server_error_and_documented_answers(
    api_schema: schemathesis.BaseSchema,
    served: Served,
    mode: GenerationMode,
    subtests: pytest.Subtests,
) -> None:
    # given every operation of the served OpenAPI document (that takes input, for invalid ones)
    for operation in operations(api_schema):
        if mode is GenerationMode.NEGATIVE and not takes_input(operation):
            continue
        with subtests.test(msg=operation.label):
            # when requests generated from it are sent, then each answer passes the checks
            fuzz(operation, mode, served)


# --- hypothesis on the event decoder --------------------------------------------------------------

DECODER = settings(max_examples=100, deadline=None)


def mostly(valid: st.SearchStrategy[Any], wrong: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nineteen times in twenty a valid value, else a wrong one: most bodies are near misses."""
    return st.integers(0, 19).flatmap(lambda draw: wrong if draw == 0 else valid)


def one_of_or(values: tuple[str, ...], wrong: str) -> st.SearchStrategy[str]:
    """One of the documented values, now and then one that is not."""
    return mostly(st.sampled_from(values), st.just(wrong))


def range_figure(low: int, more: int) -> dict[str, Any]:
    """A figure between two bounds, the higher never below the lower."""
    return {"unit": "round", "qualifier": "range", "low": low, "high": low + more}


WORD = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12)
TEXT = mostly(
    WORD | st.sampled_from(["PRK", "RUS", "US Government", "Ким Чен Ын"]),
    st.text(max_size=12) | st.sampled_from(["", " ", "a\nb", "x" * 600]),
)
DAY = mostly(
    st.dates(date(1900, 1, 1), date(2100, 12, 31)).map(str),
    st.sampled_from(["2023-02-30", "", "1899-12-31", "2023-10-13T12:00:00", "13/10/2023"]),
)
UUID_TEXT = mostly(st.uuids().map(str), st.sampled_from(["not-a-uuid", "", "12345"]))
NUMBER = mostly(st.integers(1, 4), st.sampled_from([0, -1, 1.5, "2"]))
QUANTITY = mostly(st.integers(0, 20_000) | st.floats(0, 1e6), st.sampled_from([-1, "10", None]))
FIGURE = mostly(
    st.one_of(
        st.fixed_dictionaries(
            {
                "unit": st.sampled_from(["container", "round", "missile"]),
                "qualifier": st.sampled_from(["exact", "about", "at_least", "up_to"]),
                "value": QUANTITY,
            },
            optional={"basis": one_of_or(("increment", "cumulative"), "total"), "text": TEXT},
        ),
        st.builds(range_figure, st.integers(0, 10_000), st.integers(0, 10_000)),
        st.just({"unit": "uav", "qualifier": "unspecified"}),
    ),
    st.fixed_dictionaries(
        {"unit": st.sampled_from(["container", "Containers", ""])},
        optional={
            "qualifier": st.sampled_from(["exact", "range", "roughly"]),
            "value": QUANTITY,
            "low": QUANTITY,
            "high": QUANTITY,
        },
    ),
)
SOURCE = st.fixed_dictionaries(
    {"originator": TEXT, "channel": one_of_or(("briefing", "media", "imagery"), "rumour")},
    optional={
        "title": TEXT,
        "url": mostly(st.just("https://example.org/a"), st.sampled_from(["ftp://x", "http://a b"])),
        "published_on": DAY,
    },
)
REPORT_FIELDS = {
    "stance": one_of_or(("supports", "denies", "qualifies"), "agrees"),
    "quote": TEXT,
    "figure": FIGURE,
    "reliability": one_of_or(("A", "C", "F"), "G"),
    "credibility": mostly(st.integers(1, 6), st.sampled_from([0, 7])),
}
REPORT = st.fixed_dictionaries({"source": SOURCE, "asserted_on": DAY}, optional=REPORT_FIELDS)
ACTORS = mostly(
    st.fixed_dictionaries(
        {"supplier": TEXT}, optional={"recipient": TEXT, "targets": st.lists(TEXT, max_size=3)}
    ),
    st.fixed_dictionaries({}, optional={"user": TEXT, "commander": TEXT}),
)
DEVELOPMENT_FIELDS = {
    "kind": one_of_or(("transfer", "use", "sanction"), "rumour"),
    "title": TEXT,
    "actors": ACTORS,
    "stage": one_of_or(("shipped", "delivered"), "lost"),
    "item": st.fixed_dictionaries({"category": one_of_or(("uav", "launcher"), "UAV")}),
    "occurred": one_of_or(("2023", "2023-09~", "2023-09/2024-02-23", "../2022"), "2023-13"),
}
COMMON = {"event_id": UUID_TEXT}
STREAM = {"development_id": UUID_TEXT}
BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "development_reported": st.fixed_dictionaries(
        {"type": st.just("development_reported"), "report": REPORT}
        | {k: DEVELOPMENT_FIELDS[k] for k in ("kind", "title", "actors")},
        optional={
            **COMMON,
            "development_id": UUID_TEXT,
            "stage": DEVELOPMENT_FIELDS["stage"],
            "item": DEVELOPMENT_FIELDS["item"],
            "occurred": DEVELOPMENT_FIELDS["occurred"],
            "status": one_of_or(("alleged", "disputed"), "likely"),
        },
    ),
    "report_added": st.fixed_dictionaries(
        {"type": st.just("report_added"), **STREAM, "report": REPORT},
        optional={**COMMON, "expected_version": NUMBER},
    ),
    "report_corrected": st.fixed_dictionaries(
        {
            "type": st.just("report_corrected"),
            **STREAM,
            "report": NUMBER,
            "changes": st.fixed_dictionaries({}, optional=REPORT_FIELDS),
            "reason": TEXT,
        },
        optional=COMMON,
    ),
    "report_retracted": st.fixed_dictionaries(
        {
            "type": st.just("report_retracted"),
            **STREAM,
            "report": NUMBER,
            "effective_on": DAY,
            "reason": TEXT,
        },
        optional=COMMON,
    ),
    "development_corrected": st.fixed_dictionaries(
        {
            "type": st.just("development_corrected"),
            **STREAM,
            "changes": st.fixed_dictionaries({}, optional=DEVELOPMENT_FIELDS),
            "reason": TEXT,
        },
        optional=COMMON,
    ),
    "status_changed": st.fixed_dictionaries(
        {
            "type": st.just("status_changed"),
            **STREAM,
            "status": one_of_or(("corroborated", "refuted"), "likely"),
            "effective_on": DAY,
            "reason": TEXT,
        },
        optional=COMMON,
    ),
}
BODIES = st.one_of(*BY_TYPE.values())
_STEP = re.compile(r'\.([A-Za-z_]\w*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def steps(path: str) -> list[str | int]:
    """The keys and indexes of a refusal's path: `$.events[2]["a b"]` -> ["events", 2, "a b"]."""
    assert path.startswith("$"), path
    found: list[str | int] = []
    rest = path[1:]
    while rest:
        match = _STEP.match(rest)
        assert match is not None, f"{path!r} is not a path"
        name, index, quoted = match.groups()
        found.append(int(index) if index else json.loads(quoted) if quoted else name)
        rest = rest[match.end() :]
    return found


def outcome(body: Any) -> AnyEvent | InvalidEvent:
    """The decoded event, or the refusal."""
    try:
        return decode_event(json.dumps(body))
    except InvalidEvent as refusal:
        return refusal


def assert_names_a_field_of(refusal: InvalidEvent, body: Any) -> None:
    """Each error's path leads to a place in `body`: its last step's parent is there."""
    assert not refusal.malformed and refusal.errors
    for error in refusal.errors:
        assert error.message
        parent = body
        for step in steps(error.path)[:-1]:
            parent = parent[step]
        assert isinstance(parent, dict | list), error.path


@pytest.mark.parametrize("event_type", bodies.EVENT_TYPES)
@DECODER
@given(data=st.data())
def test_a_decoded_event_of_each_type_stores_as_bytes_that_decode_to_the_same_event(
    event_type: str, data: st.DataObject
) -> None:
    # given a body of that type which decodes (hypothesis fails if too few of them do)
    decoded = outcome(data.draw(BY_TYPE[event_type]))
    assume(not isinstance(decoded, InvalidEvent))
    assert not isinstance(decoded, InvalidEvent)
    assert json.loads(encode(decoded))["type"] == event_type

    stored = encode(decoded)

    assert decode_event(stored) == decoded
    assert encode(decode_event(stored)) == stored
    assert digest(decode_event(stored)) == digest(decoded)


@DECODER
@given(body=BODIES)
def test_a_refused_event_names_a_field_in_its_body(body: Any) -> None:
    decoded = outcome(body)

    if isinstance(decoded, InvalidEvent):
        assert_names_a_field_of(decoded, body)


@DECODER
@given(events=st.lists(BODIES, min_size=1, max_size=4))
def test_a_batch_is_refused_at_its_first_invalid_event(events: list[Any]) -> None:
    refused = [i for i, body in enumerate(events) if isinstance(outcome(body), InvalidEvent)]

    try:
        decoded = decode_batch(json.dumps({"events": events}))
    except InvalidEvent as refusal:
        assert refused, "the batch was refused though each of its events decodes"
        assert steps(refusal.errors[0].path)[:2] == ["events", refused[0]]
        assert_names_a_field_of(refusal, {"events": events})
    else:
        assert not refused
        assert [encode(event) for event in decoded] == [
            encode(decode_event(json.dumps(body))) for body in events
        ]
