"""No input makes the API answer 500: mutated event bodies, raw bytes and odd query values."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import bodies
from tests.api import Client, report_development

EXPECTED = {200, 201, 400, 404, 409, 413, 422}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["2024-02-30", "", "PRK", str(uuid.uuid4()), "development_reported"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children)
    ),
    max_leaves=10,
)


@pytest.fixture
def development_id(client: Client) -> str:
    return report_development(client)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a member of a JSON value."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, member in value.items():
            found += paths(member, (*prefix, key))
    elif isinstance(value, list):
        for index, member in enumerate(value):
            found += paths(member, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, development_id: str) -> Any:
    """A valid body with one member replaced, removed or added."""
    event_type = draw(st.sampled_from(bodies.EVENT_TYPES))
    body: Any = copy.deepcopy(bodies.body_of(event_type, development_id))
    path = draw(st.sampled_from(paths(body)))
    *parents, leaf = path
    target = body
    for step in parents:
        target = target[step]
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        target[leaf] = draw(json_values)
    elif action == "remove":
        del target[leaf]
    elif isinstance(target, dict):
        target[draw(st.text(max_size=8))] = draw(json_values)
    return body


def assert_answered(response: Any) -> None:
    assert response.status_code in EXPECTED, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


@FUZZ
@given(data=st.data())
def test_mutated_event_bodies_never_cause_a_server_error(
    client: Client, development_id: str, data: st.DataObject
) -> None:
    body = data.draw(mutated(development_id))

    assert_answered(client.post("/api/events", content=json.dumps(body).encode()))
    assert_answered(client.post("/api/events/batch", content=json.dumps({"events": [body]})))


@FUZZ
@given(content=st.binary(max_size=200))
def test_raw_bytes_never_cause_a_server_error(client: Client, content: bytes) -> None:
    assert_answered(client.post("/api/events", content=content))
    assert_answered(client.post("/api/events/batch", content=content))


@FUZZ
@given(after=st.text(max_size=20), limit=st.text(max_size=20), known_at=st.text(max_size=40))
def test_odd_query_values_never_cause_a_server_error(
    client: Client, development_id: str, after: str, limit: str, known_at: str
) -> None:
    assert_answered(client.get("/api/events", params={"after": after, "limit": limit}))
    response = client.get(
        f"/api/developments/{development_id}/history", params={"known_at": known_at}
    )
    assert_answered(response)
