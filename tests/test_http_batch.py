"""Batches and limits through HTTP: all or nothing, errors that name `$.events[i]`, body size."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests import bodies
from tests.api import (
    Client,
    error_paths,
    log_state,
    post_batch,
    post_event,
    problem,
    report_development,
    serve,
)

MiB = 1_048_576


def test_batch_is_stored_in_order_with_one_receipt_per_event(client: Client) -> None:
    # given a batch that reports a development and then adds to its stream
    development_id = str(uuid.uuid4())
    events = [bodies.body_of(event_type, development_id) for event_type in bodies.EVENT_TYPES]

    # when it is posted
    response = post_batch(client, *events)

    # then every event is stored, in order, with versions 1..6 and increasing positions
    assert response.status_code == 201, response.text
    receipts = response.json()["receipts"]
    assert [r["version"] for r in receipts] == [1, 2, 3, 4, 5, 6]
    assert {r["development_id"] for r in receipts} == {development_id}
    positions = [r["position"] for r in receipts]
    assert positions == sorted(set(positions))
    assert log_state(client) == (6, positions[-1])


def test_batch_of_replays_answers_200_with_the_original_receipts(client: Client) -> None:
    events = [
        bodies.development_reported(event_id=str(uuid.uuid4())),
        bodies.development_reported(event_id=str(uuid.uuid4())),
    ]
    first = post_batch(client, *events)
    assert first.status_code == 201

    again = post_batch(client, *events)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert log_state(client).events == 2


def test_batch_with_one_new_event_among_replays_answers_201(client: Client) -> None:
    replay = bodies.development_reported(event_id=str(uuid.uuid4()))
    post_event(client, replay)

    response = post_batch(client, replay, bodies.development_reported())

    assert response.status_code == 201
    assert log_state(client).events == 2


def test_batch_with_an_invalid_event_stores_nothing_and_names_its_index(client: Client) -> None:
    # given a batch whose third event has an unknown stance
    development_id = str(uuid.uuid4())
    bad = bodies.report_added(development_id, report=bodies.report(stance="rumoured"))
    events = [
        bodies.development_reported(development_id=development_id),
        bodies.status_changed(development_id),
        bad,
        bodies.development_corrected(development_id),
    ]

    # when it is posted, then it is refused naming $.events[2] and nothing is stored
    document = problem(post_batch(client, *events), 400)

    assert error_paths(document) == ["$.events[2].report.stance"]
    assert log_state(client) == (0, 0)


def test_batch_refused_by_the_domain_stores_nothing_and_names_its_index(client: Client) -> None:
    # given a batch whose third event retracts a report the development does not have
    development_id = str(uuid.uuid4())
    events = [
        bodies.development_reported(development_id=development_id),
        bodies.report_added(development_id),
        bodies.report_retracted(development_id, report=3),
    ]

    # when it is posted, then 404 names $.events[2].report and the first two are not stored
    document = problem(post_batch(client, *events), 404)

    assert document["type"] == "urn:timeline:problem:unknown-report"
    assert error_paths(document) == ["$.events[2].report"]
    assert "event 2" in document["detail"]
    assert log_state(client) == (0, 0)
    assert client.get(f"/api/developments/{development_id}/history").status_code == 404


def test_batch_with_a_conflict_at_index_1_names_it(client: Client) -> None:
    development_id = report_development(client)
    before = log_state(client)
    events = [
        bodies.status_changed(development_id, expected_version=1),
        bodies.development_reported(development_id=development_id),
    ]

    document = problem(post_batch(client, *events), 409)

    assert error_paths(document) == ["$.events[1].development_id"]
    assert log_state(client) == before


def test_event_id_used_twice_in_one_batch_is_a_conflict(client: Client) -> None:
    event_id = str(uuid.uuid4())
    events = [
        bodies.development_reported(event_id=event_id),
        bodies.development_reported(event_id=event_id, title="Another"),
    ]

    document = problem(post_batch(client, *events), 409)

    assert error_paths(document) == ["$.events[1].event_id"]
    assert log_state(client) == (0, 0)


@pytest.mark.parametrize("size", [0, 1001])
def test_batch_outside_1_to_1000_events_is_refused(client: Client, size: int) -> None:
    events = [bodies.development_reported() for _ in range(size)]

    document = problem(post_batch(client, *events), 400)

    assert error_paths(document) == ["$.events"]
    assert log_state(client) == (0, 0)


def test_batch_body_must_be_an_object_with_events_only(client: Client) -> None:
    body = {"events": [bodies.development_reported()], "dry_run": True}

    response = client.post("/api/events/batch", content=json.dumps(body).encode())

    assert error_paths(problem(response, 400)) == ["$.dry_run"]


# --- body size ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/events", "/api/events/batch"])
def test_body_over_one_mebibyte_is_too_large(client: Client, path: str) -> None:
    body = bodies.development_reported(title="x" * MiB)

    response = client.post(path, content=json.dumps(body).encode())

    document = problem(response, 413)
    assert document["title"] == "Request Entity Too Large"
    # the body is left unread: the connection is closed rather than read on as a request
    assert response.headers["connection"] == "close"
    assert log_state(client) == (0, 0)


def test_body_limit_is_checked_on_the_bytes_read_without_content_length(
    database_url: str,
) -> None:
    # given an app with a small limit and a body streamed without a Content-Length
    body = json.dumps(bodies.development_reported(title="x" * 600)).encode()

    def chunks() -> Iterator[bytes]:
        yield body[:300]
        yield body[300:]

    with serve(database_url, max_body_bytes=500) as client:
        # when it is posted, then it is refused as too large, and the connection closed
        response = client.post("/api/events", content=chunks())
        problem(response, 413)
        assert response.headers["connection"] == "close"
        assert log_state(client) == (0, 0)


def test_body_at_the_limit_is_read(database_url: str) -> None:
    body = json.dumps(bodies.development_reported()).encode()

    with serve(database_url, max_body_bytes=len(body)) as client:
        assert client.post("/api/events", content=body).status_code == 201


def test_the_same_event_twice_in_a_batch_is_stored_once_and_answered_twice(
    client: Client,
) -> None:
    # as two overlapping exports, concatenated, give it (it was a 409)
    event = bodies.development_reported(event_id=str(uuid.uuid4()))

    response = post_batch(client, event, event)

    assert response.status_code == 201, response.text
    first, second = response.json()["receipts"]
    assert first == second
    assert log_state(client).events == 1


def test_one_event_id_twice_in_a_batch_with_two_bodies_is_a_conflict(client: Client) -> None:
    event_id = str(uuid.uuid4())
    one = bodies.development_reported(event_id=event_id)
    other = bodies.development_reported(event_id=event_id, title="Another title")

    document = problem(post_batch(client, one, other), 409)

    assert document["type"] == "urn:timeline:problem:idempotency-mismatch"
    assert error_paths(document) == ["$.events[1].event_id"]
    assert log_state(client).events == 0
