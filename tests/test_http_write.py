"""The write side through HTTP: receipts, refusals as problem details, idempotency, batches."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from events import decode_event
from service.application import Timeline
from service.store.log import LogRecorder
from tests import bodies
from tests.api import (
    EDITOR,
    RFC3339_UTC,
    Client,
    error_paths,
    log_state,
    post_batch,
    post_event,
    problem,
    report_development,
)
from tests.bodies import Body, body_of


def given_development(client: Client) -> str:
    """A development with one report, as every stream event below expects."""
    return report_development(client)


# --- accepted ----------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", bodies.EVENT_TYPES)
def test_every_event_type_is_stored_with_a_receipt_and_location(
    client: Client, event_type: str
) -> None:
    # given a development (for every type but the one that reports it)
    development_id = str(uuid.uuid4())
    if event_type != "development_reported":
        development_id = report_development(client, development_id=development_id)
    before = log_state(client)

    # when an event of this type is posted
    response = post_event(client, body_of(event_type, development_id))

    # then it is stored: 201 with a receipt pointing at the development
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert set(receipt) == {"event_id", "development_id", "version", "position", "recorded_at"}
    assert receipt["development_id"] == development_id
    assert receipt["version"] == (1 if event_type == "development_reported" else 2)
    assert receipt["position"] > before.last_position
    assert re.fullmatch(RFC3339_UTC, receipt["recorded_at"])
    uuid.UUID(receipt["event_id"])
    assert response.headers["location"] == f"/api/developments/{development_id}"
    assert log_state(client) == (before.events + 1, receipt["position"])


def test_server_makes_the_development_id_and_event_id_when_absent(client: Client) -> None:
    response = post_event(client, bodies.development_reported())

    receipt = response.json()
    assert response.status_code == 201
    assert uuid.UUID(receipt["development_id"]).version == 4
    assert uuid.UUID(receipt["event_id"]).version == 4


def test_event_is_recorded_by_the_name_of_the_callers_token(client: Client) -> None:
    report_development(client)

    [item] = client.get("/api/events").json()["items"]

    assert item["recorded_by"] == EDITOR


# --- refused at the edge: 400 ------------------------------------------------------------------

INVALID: list[tuple[str, str, Any, str]] = [
    # (event type, field, bad value, path named)
    ("development_reported", "kind", "rumour", "$.kind"),
    ("development_reported", "occurred", "autumn 2023", "$.occurred"),
    ("report_added", "report", {"source": bodies.source(), "asserted_on": "2023-02-30"}, ""),
    ("report_corrected", "report", 0, "$.report"),
    ("report_retracted", "effective_on", "yesterday", "$.effective_on"),
    ("development_corrected", "changes", {}, "$.changes"),
    ("status_changed", "status", "probable", "$.status"),
]


@pytest.mark.parametrize(("event_type", "field", "value", "path"), INVALID)
def test_invalid_event_is_refused_naming_the_field(
    client: Client, event_type: str, field: str, value: Any, path: str
) -> None:
    development_id = given_development(client)
    before = log_state(client)
    body = {**body_of(event_type, development_id), field: value}

    document = problem(post_event(client, body), 400)

    assert document["type"] == "urn:timeline:problem:invalid-event"
    assert error_paths(document) == [path or "$.report.asserted_on"]
    assert log_state(client) == before


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"title": "\u200b"}, "$.title"),  # a zero width space: the title shows nothing
        ({"title": "\ufeff \u2060"}, "$.title"),
        ({"actors": {"supplier": "R\u200bUS", "recipient": "RUS"}}, "$.actors.supplier"),
        ({"actors": {"supplier": "PRK", "targets": ["UKR", "\u200b"]}}, "$.actors.targets[1]"),
    ],
)
def test_text_that_shows_nothing_is_refused_in_a_new_event_naming_the_field(
    client: Client, fields: Body, path: str
) -> None:
    assert post_event(client, bodies.development_reported()).status_code == 201  # the token
    before = log_state(client)  # known now: the next single event takes the fast path
    single = post_event(client, bodies.development_reported(**fields))
    several = post_batch(
        client, bodies.development_reported(), bodies.development_reported(**fields)
    )

    assert error_paths(problem(single, 400)) == [path]
    assert error_paths(problem(several, 400)) == [path.replace("$", "$.events[1]", 1)]
    assert log_state(client) == before


@pytest.mark.parametrize(
    ("unit", "singular"),
    [("missiles", "missile"), ("containers", "container"), ("boxes", "box"),
     ("batteries", "battery"), ("uavs", "uav"), ("artillery_shells", "artillery_shell")],
)  # fmt: skip
def test_a_unit_written_as_a_plural_is_refused_naming_the_singular_and_nothing_is_stored(
    client: Client, unit: str, singular: str
) -> None:
    # given a development, and a report and a correction whose figure counts in a plural
    development_id = given_development(client)
    before = log_state(client)
    figure = {"unit": unit, "qualifier": "exact", "value": 3}
    reported = bodies.development_reported(report=bodies.report(figure=figure))
    added = bodies.report_added(development_id, report=bodies.report(figure=figure))
    corrected = bodies.report_corrected(development_id, changes={"figure": figure})

    # when each is posted, alone and in a batch
    answers = [post_event(client, body) for body in (reported, added, corrected)]
    several = post_batch(client, bodies.development_reported(), reported)

    # then each is a 422 naming the unit and saying the singular, and nothing is stored
    paths = [error_paths(problem(answer, 422)) for answer in answers]
    assert paths == [["$.report.figure.unit"], ["$.report.figure.unit"], ["$.changes.figure.unit"]]
    assert error_paths(problem(several, 422)) == ["$.events[1].report.figure.unit"]
    assert f"write the unit as a singular noun, '{singular}'" in answers[0].text
    assert log_state(client) == before


def test_a_plural_unit_for_a_development_or_report_that_is_not_there_is_a_404(
    client: Client,
) -> None:
    # the missing development or report is said first, as for any other event
    figure = {"unit": "rockets", "qualifier": "exact", "value": 3}
    development_id = given_development(client)
    before = log_state(client)
    unknown = str(uuid.uuid4())
    answers = [
        post_event(client, bodies.report_added(unknown, report=bodies.report(figure=figure))),
        post_event(client, bodies.report_corrected(unknown, changes={"figure": figure})),
        post_event(client, bodies.report_corrected(development_id, 9, changes={"figure": figure})),
    ]
    types = [problem(answer, 404)["type"].rsplit(":", 1)[-1] for answer in answers]
    assert types == ["unknown-development", "unknown-development", "unknown-report"]
    assert unknown in answers[0].json()["detail"] and "9" in answers[2].json()["detail"]
    assert log_state(client) == before


@pytest.mark.parametrize("unit", ["missile", "railcar", "series", "ammunition", "artillery_shell"])
def test_a_unit_not_the_plural_of_a_counted_unit_is_stored(client: Client, unit: str) -> None:
    figure = {"unit": unit, "qualifier": "exact", "value": 3}
    body = bodies.development_reported(report=bodies.report(figure=figure))
    answer = post_event(client, body)
    assert answer.status_code == 201, answer.text
    # and it reads back as posted, not made singular
    assert _read_back(client, answer)["report"]["figure"]["unit"] == unit


def test_an_event_stored_with_a_plural_unit_before_the_rule_is_read_and_replayed(
    client: Client,
) -> None:
    # given an event stored before plurals were refused (as an import of such a log stores it)
    figure = {"unit": "missiles", "qualifier": "exact", "value": 3}
    body = bodies.development_reported(
        event_id=str(uuid.uuid4()), report=bodies.report(figure=figure)
    )
    timeline: Timeline = client.app.state.timeline
    [stored] = timeline.append([decode_event(json.dumps(body))], "alice", plural_units=True)

    # when the client that posted it sends it again, its outcome unknown to it
    again = post_event(client, body)

    # then it is the replay of the stored event, not a refusal; and the log reads it back
    assert again.status_code == 200
    assert again.json()["position"] == stored.receipt.position
    items = client.get("/api/events").json()["items"]
    [item] = [i for i in items if i["position"] == stored.receipt.position]
    assert item["event"]["report"]["figure"]["unit"] == "missiles"


def _read_back(client: Client, answer: Any) -> dict[str, Any]:
    """The event of a 201 as the log gives it back."""
    position = answer.json()["position"]
    page = client.get("/api/events", params={"after": position - 1, "limit": 1}).json()
    [item] = page["items"]
    assert item["position"] == position
    event: dict[str, Any] = item["event"]
    return event


def test_a_key_given_twice_is_refused_naming_it_and_nothing_is_stored(client: Client) -> None:
    # msgspec alone would store the last `status`: which of the two was meant cannot be told
    assert post_event(client, bodies.development_reported()).status_code == 201  # the token
    before = log_state(client)  # known now: the next single event takes the fast path
    text = json.dumps(bodies.development_reported(status="alleged"))
    twice = text.replace('"status": "alleged"', '"status": "alleged", '
                         '"status": "refuted"')  # fmt: skip
    assert twice != text
    json_type = {"Content-Type": "application/json"}

    single = client.post("/api/events", content=twice, headers=json_type)
    several = client.post(
        "/api/events/batch", content=f'{{"events": [{text}, {twice}]}}', headers=json_type
    )

    for response, path in [(single, "$"), (several, "$.events[1]")]:
        document = problem(response, 400)
        assert document["type"] == "urn:timeline:problem:invalid-event"
        assert document["errors"] == [
            {
                "path": f"{path}.status",
                "message": "`status` is given more than once in this object",
            }
        ]
    assert log_state(client) == before


def test_text_with_a_zero_width_joiner_inside_is_stored(client: Client) -> None:
    # an emoji sequence or a soft hyphen inside a title is text that shows
    title = "Drones \u2014 Shahed\u00ad136 \U0001f6e9\u200d"
    answer = post_event(client, bodies.development_reported(title=title))
    assert answer.status_code == 201, answer.text
    # and it reads back exactly as posted: nothing stripped or normalised
    assert _read_back(client, answer)["title"] == title


def test_missing_required_field_is_named(client: Client) -> None:
    body = bodies.development_reported()
    del body["title"]

    document = problem(post_event(client, body), 400)

    assert error_paths(document) == ["$.title"]


def test_unknown_field_is_refused(client: Client) -> None:
    given_development(client)
    before = log_state(client)
    body = {**bodies.development_reported(), "colour": "red"}

    document = problem(post_event(client, body), 400)

    assert error_paths(document) == ["$.colour"]
    assert log_state(client) == before


def test_unknown_event_type_is_refused(client: Client) -> None:
    given_development(client)
    before = log_state(client)
    body = {**bodies.development_reported(), "type": "development_rumoured"}

    document = problem(post_event(client, body), 400)

    assert error_paths(document) == ["$.type"]
    assert log_state(client) == before


def test_a_reason_holding_nul_is_refused_and_the_views_go_on_answering(client: Client) -> None:
    # Given a development, when a status change's reason holds a NUL character (which a
    # PostgreSQL text column cannot hold: stored, it would stop the read models there for good)
    development = given_development(client)
    before = log_state(client)
    body = {**bodies.status_changed(development), "reason": "Panel report\x00"}

    document = problem(post_event(client, body), 400)

    # Then it is refused naming the field, nothing is stored and every view still answers
    assert error_paths(document) == ["$.reason"]
    assert log_state(client) == before
    assert client.get(f"/api/developments/{development}").status_code == 200
    assert client.get("/api/views/allegations").status_code == 200


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b'{"type": "development_reported",}', b"\xff\xfe", b'"\\ud800"', b"[]", b"null"],
)
def test_body_that_is_not_an_event_object_is_refused(client: Client, content: bytes) -> None:
    response = client.post("/api/events", content=content)

    document = problem(response, 400)

    assert document["errors"][0]["path"] == "$"
    assert log_state(client) == (0, 0)


@pytest.mark.parametrize("path", ["/api/events", "/api/events/batch"])
def test_json_nested_past_the_recursion_limit_is_malformed(client: Client, path: str) -> None:
    nested = b'{"type": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    body = nested if path == "/api/events" else b'{"events": [' + nested + b"]}"

    document = problem(client.post(path, content=body), 400)

    assert document["type"] == "urn:timeline:problem:malformed-json"
    assert "nested too deeply" in document["errors"][0]["message"]
    assert log_state(client) == (0, 0)


def test_malformed_json_is_its_own_problem_type(client: Client) -> None:
    document = problem(client.post("/api/events", content=b'{"type": '), 400)

    assert document["type"] == "urn:timeline:problem:malformed-json"
    assert document["title"] == "Malformed JSON"


# --- idempotency -------------------------------------------------------------------------------


def test_same_event_id_and_body_again_answers_the_original_receipt(client: Client) -> None:
    # given an event stored under a client-chosen event_id
    body = bodies.development_reported(event_id=str(uuid.uuid4()))
    first = post_event(client, body)
    assert first.status_code == 201
    before = log_state(client)

    # when it is posted again
    again = post_event(client, body)

    # then 200 with the original receipt, and nothing new is stored
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert log_state(client) == before


def test_an_event_posted_again_as_the_log_gives_it_back_is_a_replay_of_it(
    client: Client,
) -> None:
    # Given an event posted without ids: the server made its event_id and development_id
    first = post_event(client, bodies.development_reported())
    [item] = client.get("/api/events").json()["items"]
    before = log_state(client)
    # When it is posted again as the log gives it back, ids filled in, and then changed
    again = post_event(client, item["event"])
    changed = post_event(client, {**item["event"], "title": "Another title"})
    # Then the first is the same event (200, its receipt) and the second a conflict
    assert (again.status_code, again.json()) == (200, first.json())
    assert problem(changed, 409)["type"] == "urn:timeline:problem:idempotency-mismatch"
    assert log_state(client) == before


def test_same_event_id_with_another_body_is_a_conflict(client: Client) -> None:
    event_id = str(uuid.uuid4())
    post_event(client, bodies.development_reported(event_id=event_id))
    before = log_state(client)

    document = problem(
        post_event(client, bodies.development_reported(event_id=event_id, title="Other")), 409
    )

    assert document["type"] == "urn:timeline:problem:idempotency-mismatch"
    assert error_paths(document) == ["$.event_id"]
    assert log_state(client) == before


# --- refused by the domain ---------------------------------------------------------------------


def refused(client: Client, body: Body, status: int, kind: str, path: str) -> None:
    """Post `body`; it must be refused with this status, problem type and path, storing nothing."""
    before = log_state(client)
    document = problem(post_event(client, body), status)
    assert document["type"] == f"urn:timeline:problem:{kind}"
    assert error_paths(document) == [path]
    assert log_state(client) == before


def test_stale_expected_version_is_a_conflict(client: Client) -> None:
    development_id = given_development(client)
    post_event(client, bodies.report_added(development_id, expected_version=1))

    body = bodies.status_changed(development_id, expected_version=1)

    refused(client, body, 409, "version-conflict", "$.expected_version")


def test_current_expected_version_is_accepted(client: Client) -> None:
    development_id = given_development(client)

    response = post_event(client, bodies.status_changed(development_id, expected_version=1))

    assert response.status_code == 201
    assert response.json()["version"] == 2


def test_reporting_an_existing_development_id_is_a_conflict(client: Client) -> None:
    development_id = given_development(client)

    body = bodies.development_reported(development_id=development_id)

    refused(client, body, 409, "development-exists", "$.development_id")


def test_event_about_an_unknown_development_is_not_found(client: Client) -> None:
    body = bodies.report_added(str(uuid.uuid4()))

    refused(client, body, 404, "unknown-development", "$.development_id")


def test_correcting_an_unknown_report_is_not_found(client: Client) -> None:
    development_id = given_development(client)

    body = bodies.report_corrected(development_id, number=2)

    refused(client, body, 404, "unknown-report", "$.report")


def test_retracting_a_report_twice_is_unprocessable(client: Client) -> None:
    development_id = given_development(client)
    assert post_event(client, bodies.report_retracted(development_id)).status_code == 201

    body = bodies.report_retracted(development_id, effective_on="2024-04-01")

    refused(client, body, 422, "already-retracted", "$.report")


def test_report_correction_that_changes_nothing_is_unprocessable(client: Client) -> None:
    development_id = given_development(client)

    body = bodies.report_corrected(development_id, changes={"asserted_on": "2023-10-13"})

    refused(client, body, 422, "nothing-to-change", "$.changes")


def test_development_correction_that_changes_nothing_is_unprocessable(client: Client) -> None:
    development_id = given_development(client)

    body = bodies.development_corrected(development_id, changes={"stage": "delivered"})

    refused(client, body, 422, "nothing-to-change", "$.changes")


@pytest.mark.parametrize(
    "resent",
    [
        lambda d: bodies.report_added(d, expected_version=1),  # 409 version conflict
        lambda d: bodies.report_retracted(d),  # 422 retracted twice
        lambda d: bodies.development_reported(development_id=str(uuid.uuid4())),  # 409 exists
    ],
    ids=["expected_version", "retracted_twice", "client_development_id"],
)
def test_a_resend_whose_first_commit_the_event_id_lookup_missed_is_a_replay(
    client: Client, monkeypatch: pytest.MonkeyPatch, resent: Any
) -> None:
    # Given an event stored under a client-chosen event_id
    development = report_development(client)
    body = {**resent(development), "event_id": str(uuid.uuid4())}
    first = post_event(client, body)
    assert first.status_code == 201, first.text
    before = log_state(client)
    # When it is sent again, and the lookup of its event id reads a snapshot from before that
    # commit while the read of its development's stream sees it: on PostgreSQL, a decision
    # without the lock reads each from the last commit (another writer's, in between)
    lookup = LogRecorder.select_by_event_ids

    def missed(self: LogRecorder, ids: Any, cursor: Any = None) -> Any:
        return {} if cursor is None else lookup(self, ids, cursor)

    monkeypatch.setattr(LogRecorder, "select_by_event_ids", missed)
    again = post_event(client, body)
    # Then it is still the same event: 200 with the original receipt, nothing stored
    assert (again.status_code, again.json()) == (200, first.json()), again.text
    assert log_state(client) == before
