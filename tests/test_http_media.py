"""Write bodies must be labelled JSON: other media types and any content coding are 415."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from service.tokens import Tokens
from tests import bodies
from tests.api import Client, error_paths, fast_path, log_state, problem
from tests.bodies import encoded


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """These answers are given before the database is asked: SQLite alone tells them."""
    return f"sqlite:///{tmp_path}/timeline.db"


EVENT = encoded(bodies.development_reported())
BATCH = encoded(bodies.batch(bodies.development_reported()))
REFUSED_TYPES = [
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",  # what `curl -d` sends
    "multipart/form-data; boundary=x",
    "application/json-seq",
    "text/json",
    "application/json; charset=latin-1",
    "",
]


def _as_admin(client: Client) -> None:
    timeline = client.app.state.timeline
    client.headers["Authorization"] = f"Bearer {Tokens(timeline.store).create('root', 'admin')}"


@pytest.mark.parametrize("content_type", REFUSED_TYPES)
@pytest.mark.parametrize(("path", "body"), [("/api/events", EVENT), ("/api/events/batch", BATCH)])
def test_a_valid_write_labelled_as_another_media_type_is_415_naming_the_header(
    client: Client, path: str, body: bytes, content_type: str
) -> None:
    # given a log with nothing in it
    before = log_state(client)

    # when a valid body is posted labelled as something other than JSON
    response = client.post(path, content=body, headers={"Content-Type": content_type})

    # then it is refused as an unsupported media type naming the header, and nothing is stored
    document = problem(response, 415)
    assert document["type"] == "urn:timeline:problem:unsupported-media-type"
    assert error_paths(document) == ["header.content-type"]
    assert log_state(client) == before


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "identity, gzip"])
@pytest.mark.parametrize(("path", "body"), [("/api/events", EVENT), ("/api/events/batch", BATCH)])
def test_a_write_with_a_content_encoding_is_415_naming_the_header(
    client: Client, path: str, body: bytes, coding: str
) -> None:
    # given a log with nothing in it
    before = log_state(client)

    # when plain JSON is posted saying it is encoded (or gzip, actually encoded)
    sent = gzip.compress(body) if coding == "gzip" else body
    headers = {"Content-Type": "application/json", "Content-Encoding": coding}
    response = client.post(path, content=sent, headers=headers)

    # then it is refused naming Content-Encoding, saying only identity is accepted
    document = problem(response, 415)
    assert error_paths(document) == ["header.content-encoding"]
    assert response.headers["accept-encoding"] == "identity"
    assert log_state(client) == before


def test_gzip_labelled_plain_json_is_not_stored_even_by_the_fast_path(client: Client) -> None:
    # given an editor whose token the fast path already knows (one write went through it)
    headers = {"Content-Type": "application/json"}
    first = client.post("/api/events", content=EVENT, headers=headers)
    assert first.status_code == 201
    fast = fast_path(client)
    answered = fast.answered
    before = log_state(client)

    # when plain JSON comes labelled gzip, then as text/plain
    other = encoded(bodies.development_reported())
    gzipped = client.post(
        "/api/events", content=other, headers={**headers, "Content-Encoding": "gzip"}
    )
    plain = client.post("/api/events", content=other, headers={"Content-Type": "text/plain"})

    # then neither is stored, and the fast path answered neither
    problem(gzipped, 415)
    problem(plain, 415)
    assert log_state(client) == before
    assert fast.answered == answered
    # (though it answers the same event labelled JSON)
    assert client.post("/api/events", content=other, headers=headers).status_code == 201
    assert fast.answered == answered + 1


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        'Application/JSON;charset="UTF-8"',
        "application/merge-patch+json",
        "application/vnd.timeline+json; version=1",
        None,  # no label: read as JSON (see service/http/media.py)
    ],
)
def test_a_write_labelled_json_or_not_labelled_is_stored(
    client: Client, content_type: str | None
) -> None:
    # given a log with nothing in it
    before = log_state(client)
    headers = {} if content_type is None else {"Content-Type": content_type}

    # when a valid event is posted as JSON (or without Content-Type), with identity coding
    response = client.post(
        "/api/events", content=EVENT, headers={**headers, "Content-Encoding": "identity"}
    )

    # then it is stored
    assert response.status_code == 201, response.text
    assert ("content-type" in response.request.headers) == (content_type is not None)
    assert log_state(client).events == before.events + 1


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_verify_refuses_a_checkpoint_labelled_as_another_media_type(
    client: Client, content_type: str
) -> None:
    # given an admin and a signed checkpoint
    _as_admin(client)
    assert client.post("/api/events", content=EVENT).status_code == 201
    kept = client.post("/api/checkpoints").content
    assert client.post("/api/verify", content=kept).status_code == 200

    # when the checkpoint is posted back labelled as something else, or gzip-encoded
    labelled = client.post("/api/verify", content=kept, headers={"Content-Type": content_type})
    encoded_ = client.post(
        "/api/verify",
        content=kept,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )

    # then both are 415 naming the header at fault
    assert error_paths(problem(labelled, 415)) == ["header.content-type"]
    assert error_paths(problem(encoded_, 415)) == ["header.content-encoding"]


def test_a_caller_without_a_token_hears_401_before_415(client: Client) -> None:
    # given no token
    del client.headers["Authorization"]

    # when a write is posted as text/plain
    response = client.post("/api/events", content=EVENT, headers={"Content-Type": "text/plain"})

    # then the missing token is what the answer says
    problem(response, 401)


def test_openapi_documents_415_on_every_route_that_reads_a_json_body(client: Client) -> None:
    # when the OpenAPI document is read
    paths = client.get("/api/schema/openapi.json").json()["paths"]

    # then each JSON-body write documents the 415 problem
    for path in ("/api/events", "/api/events/batch", "/api/verify"):
        responses = paths[path]["post"]["responses"]
        assert "application/problem+json" in responses["415"]["content"], path
