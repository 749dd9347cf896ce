"""Audit through HTTP on SQLite and PostgreSQL: checkpoints, /api/verify, /api/changes, proofs."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.audit import Checkpoint
from service.audit.keys import Signer
from service.audit.proofs import InclusionProof, verify_event_proof
from service.http.params import parse_known_at
from service.http.shapes import format_micros
from tests import bodies
from tests.api import EDITOR, Client, next_link, post_event, problem, serve
from tests.test_audit_support import Tamperer


@pytest.fixture
def client(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("TIMELINE_KEY_FILE", str(tmp_path / "timeline.key"))
    with serve(database_url, role="admin") as client:
        yield client


@pytest.fixture
def tamper(database_url: str) -> Iterator[Tamperer]:
    tamperer = Tamperer(database_url)
    yield tamperer
    tamperer.close()


def given_a_corrected_development(client: Client) -> tuple[str, list[dict[str, Any]]]:
    """A development, a second report, a correction of report 1 and a status change."""
    development = str(uuid.uuid4())
    receipts = [
        post_event(client, body).json()
        for body in (
            bodies.development_reported(development_id=development),
            bodies.report_added(development),
            bodies.report_corrected(development),
            bodies.status_changed(development),
        )
    ]
    return development, receipts


def test_no_checkpoint_is_a_404_problem_until_one_is_made(client: Client) -> None:
    document = problem(client.get("/api/checkpoints/latest"), 404)
    assert document["type"] == "urn:timeline:problem:unknown-checkpoint"
    problem(client.get("/api/checkpoints/3"), 404)


def test_empty_log_cannot_be_checkpointed(client: Client) -> None:
    problem(client.post("/api/checkpoints"), 422)


def test_a_signing_key_that_cannot_be_used_is_a_503_that_names_no_server_file(
    client: Client, tmp_path: Path
) -> None:
    # Given a key file that holds no key (it was a 500)
    (tmp_path / "timeline.key").write_bytes(b"garbage")
    given_a_corrected_development(client)
    # When a checkpoint is asked for: 503, the cause in the server's log, nothing signed
    document = problem(client.post("/api/checkpoints"), 503)
    assert document["type"] == "urn:timeline:problem:signing-key-unusable"
    assert str(tmp_path) not in document["detail"]
    problem(client.get("/api/checkpoints/latest"), 404)


def test_checkpoint_made_on_demand_is_served_latest_and_by_position(client: Client) -> None:
    # Given four events
    given_a_corrected_development(client)
    # When a checkpoint is asked for, twice
    made = client.post("/api/checkpoints")
    again = client.post("/api/checkpoints")
    # Then the first makes it, the second answers the same one, and both reads serve it
    assert made.status_code == 201 and again.status_code == 200
    assert made.headers["location"] == "/api/checkpoints/4"
    assert again.json() == made.json()
    assert client.get("/api/checkpoints/latest").json() == made.json()
    assert client.get("/api/checkpoints/4").json() == made.json()
    assert made.json()["position"] == 4 and made.json()["tree_size"] == 4
    assert "PRIVATE" not in made.text


def test_a_checkpoint_at_the_largest_position_is_asked_as_one_that_is_not_there(
    client: Client,
) -> None:
    # (2**63 - 1 is a position either database can hold; one more is refused, as written)
    document = problem(client.get(f"/api/checkpoints/{2**63 - 1}"), 404)
    assert document["type"] == "urn:timeline:problem:unknown-checkpoint"
    problem(client.get(f"/api/checkpoints/{2**63}"), 400)


@pytest.mark.parametrize("written", ["+4", "04", "\u0664", "\uff14", "4.0", "9223372036854775808"])
def test_a_checkpoint_has_one_address_and_other_writings_of_its_position_are_refused(
    client: Client, written: str
) -> None:
    # Given a checkpoint at position 4
    given_a_corrected_development(client)
    assert client.post("/api/checkpoints").status_code == 201
    # When it is asked by its position written otherwise than the service writes it
    document = problem(client.get(f"/api/checkpoints/{written}"), 400)
    # Then that is a 400 naming the position (Arabic-Indic and full-width digits, a sign
    # and a leading zero were read as 4)
    assert document["errors"][0]["path"] == "position"
    assert f"{written!r} is not a log position" in document["detail"]


def test_only_an_admin_may_sign_and_verify_while_anyone_may_read_checkpoints(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIMELINE_KEY_FILE", str(tmp_path / "timeline.key"))
    with serve(database_url) as editor:
        given_a_corrected_development(editor)
        problem(editor.post("/api/checkpoints"), 403)
        problem(editor.get("/api/verify"), 403)
        problem(editor.post("/api/verify", json={"position": 1}), 403)
        del editor.headers["Authorization"]
        problem(editor.post("/api/checkpoints"), 401)
        problem(editor.get("/api/verify"), 401)
        problem(editor.get("/api/checkpoints/latest"), 404)


def test_verify_refuses_a_body_nested_past_the_recursion_limit(client: Client) -> None:
    # refused at its first byte: a checkpoint is an object, and its decoder reads no deeper
    for body in (
        b"[" * 10_000 + b"]" * 10_000,
        b'{"position": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    ):
        document = problem(client.post("/api/verify", content=body), 400)
        assert document["type"] == "urn:timeline:problem:invalid-body"
        assert document["detail"].startswith(("$: Expected `object`", "$.position: Expected `int`"))


def test_verify_reports_an_intact_log(client: Client) -> None:
    given_a_corrected_development(client)
    report = client.get("/api/verify").json()
    assert report["ok"] is True and report["checked"] == 4 and report["position"] == 4
    assert report["first_bad_position"] is None and report["problem"] is None
    assert len(report["head"]) == 64 and report["checkpoint"] is None


TAMPERING: list[Any] = [
    pytest.param(
        lambda tamper: tamper.edit_payload_byte(2, b"10000", b"10001"), "changed", 2, id="edited"
    ),
    pytest.param(lambda tamper: tamper.delete_row(5), "deleted", 5, id="deleted"),
    pytest.param(lambda tamper: tamper.swap_rows(6, 7), "reordered", 6, id="swapped"),
    pytest.param(lambda tamper: tamper.forge(), "inserted", 9, id="forged"),
]


@pytest.mark.parametrize(("tampering", "kind", "position"), TAMPERING)
def test_verify_names_each_kind_of_tampering_at_its_first_bad_position(
    client: Client,
    tamper: Tamperer,
    tampering: Callable[[Tamperer], object],
    kind: str,
    position: int,
) -> None:
    # Given eight events, then one kind of edit made in the database behind the service's back
    given_a_corrected_development(client)
    given_a_corrected_development(client)
    tampering(tamper)
    # When an admin asks for verification
    response = client.get("/api/verify")
    # Then the log is not intact, the break is named by kind and position, and what came before
    # it verified
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is False
    assert (report["problem"], report["first_bad_position"]) == (kind, position)
    assert (report["checked"], report["position"]) == (position - 1, position - 1)
    assert report["detail"]


def test_verify_against_a_stored_checkpoint_says_whether_the_log_extends_it(
    client: Client, tamper: Tamperer
) -> None:
    given_a_corrected_development(client)
    client.post("/api/checkpoints")
    intact = client.get("/api/verify", params={"checkpoint": 4}).json()
    tamper.set_state(1, tamper.state(1).replace(b"Russia", b"Prussia"))
    tamper.relink()
    rewritten = client.get("/api/verify", params={"checkpoint": 4}).json()
    assert intact["ok"] and intact["checkpoint"]["extends"] is True
    assert intact["checkpoint"]["signature_valid"] is True
    assert (rewritten["ok"], rewritten["problem"]) == (False, "diverged")
    assert rewritten["checkpoint"]["extends"] is False


def test_verify_against_an_unknown_stored_checkpoint_is_a_404_naming_the_parameter(
    client: Client,
) -> None:
    given_a_corrected_development(client)
    document = problem(client.get("/api/verify", params={"checkpoint": 99}), 404)
    assert [error["path"] for error in document["errors"]] == ["checkpoint"]


def test_verify_against_a_checkpoint_kept_outside(client: Client) -> None:
    # Given a checkpoint someone saved, then more events
    given_a_corrected_development(client)
    kept = client.post("/api/checkpoints").json()
    given_a_corrected_development(client)
    # When they post it back
    report = client.post("/api/verify", json=kept).json()
    forged = client.post("/api/verify", json={**kept, "position": 3}).json()
    # Then the log extends it; an altered copy fails its signature
    assert report["ok"] and report["checkpoint"]["extends"] and report["checked"] == 8
    assert not forged["ok"] and forged["checkpoint"]["signature_valid"] is False


def test_verify_refuses_a_body_that_is_not_a_checkpoint(client: Client) -> None:
    document = problem(client.post("/api/verify", json={"position": "last"}), 400)
    assert document["type"] == "urn:timeline:problem:invalid-body"
    assert document["errors"][0]["path"] == "$.position"


def test_verify_refuses_a_checkpoint_that_gives_a_key_twice(client: Client) -> None:
    given_a_corrected_development(client)
    kept = client.post("/api/checkpoints").json()
    text = json.dumps(kept)
    twice = text.replace('"position": ', '"position": 1, "position": ', 1)

    sent = client.post("/api/verify", content=twice, headers={"Content-Type": "application/json"})

    document = problem(sent, 400)
    assert document["type"] == "urn:timeline:problem:invalid-body"
    assert [error["path"] for error in document["errors"]] == ["$.position"]


@pytest.mark.parametrize(("body", "said"), [(b"", "truncated"), (b"{", "truncated")])
def test_verify_refuses_a_body_that_is_not_json_as_the_events_do(
    client: Client, body: bytes, said: str
) -> None:
    sent = client.post("/api/verify", content=body, headers={"Content-Type": "application/json"})
    document = problem(sent, 400)
    assert document["type"] == "urn:timeline:problem:malformed-json"
    [error] = document["errors"]
    assert error["path"] == "$" and said in error["message"] and "'data'" not in str(document)


def test_a_checkpoint_asked_with_a_body_is_refused_and_not_made(client: Client) -> None:
    post_event(client, bodies.development_reported())
    sent = client.post(
        "/api/checkpoints", content=b"garbage", headers={"Content-Type": "text/plain"}
    )
    assert problem(sent, 415)["errors"][0]["path"] == "body"
    problem(client.get("/api/checkpoints/latest"), 404)
    assert client.post("/api/checkpoints").status_code == 201


def test_changes_in_a_window_group_each_development_with_who_when_why_and_diffs(
    client: Client,
) -> None:
    # Given an older development recorded at T, then a corrected one
    older = post_event(client, bodies.development_reported()).json()
    development, receipts = given_a_corrected_development(client)
    # When the window is what was recorded after T
    page = client.get("/api/changes", params={"since": older["recorded_at"]}).json()
    # Then only the corrected development is listed, its events with the history's diffs
    [group] = page["developments"]
    assert group["development_id"] == development and page["next"] is None
    assert group["title"] == "DPRK delivered munitions containers to Russia"
    items = group["items"]
    assert [item["type"] for item in items] == [
        "development_reported",
        "report_added",
        "report_corrected",
        "status_changed",
    ]
    correction = items[2]
    assert correction["recorded_by"] == EDITOR
    assert correction["recorded_at"] == receipts[2]["recorded_at"]
    assert correction["event"]["reason"] == "The briefing said about 1,000 containers"
    [change] = correction["changes"]
    assert change["field"] == "figure" and change["after"]["qualifier"] == "about"
    assert items[3]["changes"] == [
        {"field": "status", "before": "alleged", "after": "corroborated"}
    ]


def test_changes_until_a_time_leave_out_what_came_after(client: Client) -> None:
    _, receipts = given_a_corrected_development(client)
    page = client.get(
        "/api/changes", params={"since": "2000-01-01", "until": receipts[1]["recorded_at"]}
    ).json()
    [group] = page["developments"]
    assert [item["version"] for item in group["items"]] == [1, 2]
    assert page["until"] == receipts[1]["recorded_at"]
    assert page["since"] == "1999-12-31T23:59:59.999999Z"  # a date: from its start


def test_changes_until_a_time_give_the_title_as_it_was_then(client: Client) -> None:
    # Given a development whose title was corrected after a window's end
    development, receipts = given_a_corrected_development(client)
    renamed = bodies.development_corrected(development, changes={"title": "Renamed later"})
    assert post_event(client, renamed).status_code == 201
    # When the window up to that end is asked, and the window up to now
    then = client.get(
        "/api/changes", params={"since": "2000-01-01", "until": receipts[-1]["recorded_at"]}
    ).json()
    now = client.get("/api/changes", params={"since": "2000-01-01"}).json()
    # Then the window gives the title known at its end, not the one corrected since
    [group] = then["developments"]
    assert group["title"] == "DPRK delivered munitions containers to Russia"
    assert [item["version"] for item in group["items"]] == [1, 2, 3, 4]
    assert now["developments"][0]["title"] == "Renamed later"


def test_changes_windows_chained_by_their_until_list_every_event_once(client: Client) -> None:
    # Given events recorded over three windows, each asked from the `until` of the one before
    seen: list[int] = []
    since = "2000-01-01"
    for _ in range(3):
        given_a_corrected_development(client)
        page = client.get("/api/changes", params={"since": since}).json()
        seen += [item["position"] for group in page["developments"] for item in group["items"]]
        since = page["until"]  # the last event recorded, when asked without `until`
    # Then each event was listed once: the `until` of one window is the `since` of the next
    log = client.get("/api/events", params={"limit": 1000}).json()["items"]
    assert sorted(seen) == [item["position"] for item in log] and len(seen) == 12


def test_changes_until_a_time_after_the_last_event_end_at_that_event(client: Client) -> None:
    # Given events, the last recorded at R, and a time U after R, past (a client's clock)
    _, receipts = given_a_corrected_development(client)
    last = receipts[-1]["recorded_at"]
    after = format_micros(parse_known_at(last) + 1)
    # When the window up to U is asked, then the next from the `until` it answered
    page = client.get("/api/changes", params={"since": "2000-01-01", "until": after}).json()
    table = client.get("/api/changes", params={"since": "2000-01-01", "until": after,
                                               "format": "csv"})  # fmt: skip
    backwards = {"since": format_micros(parse_known_at(last) + 2), "until": after}
    refused = client.get("/api/changes", params=backwards)
    given_a_corrected_development(client)
    following = client.get("/api/changes", params={"since": page["until"]}).json()
    # Then it answered up to R, not U: an event being committed as it was read may be recorded
    # by U but seen only after, and the next window, from U, would have left it out too
    assert page["until"] == last
    listed = [
        item["position"]
        for window in (page, following)
        for group in window["developments"]
        for item in group["items"]
    ]
    log = client.get("/api/events", params={"limit": 1000}).json()["items"]
    assert listed == [item["position"] for item in log] and len(listed) == 8
    # and a window after R that ends before it starts is still refused, not read as empty
    assert problem(refused, 400)["errors"][0]["path"] == "until"
    # and a time before R is answered as asked
    before = client.get(
        "/api/changes", params={"since": "2000-01-01", "until": receipts[1]["recorded_at"]}
    )
    assert before.json()["until"] == receipts[1]["recorded_at"]
    # and the CSV of that window said the window it answered, as the JSON does
    assert (table.headers["x-since"], table.headers["x-until"]) == (page["since"], last)
    assert len(list(csv.DictReader(io.StringIO(table.text)))) == 4


def test_changes_page_through_a_long_window(client: Client) -> None:
    given_a_corrected_development(client)
    given_a_corrected_development(client)
    positions: list[int] = []
    after: int | None = 0
    while after is not None:
        page = client.get(
            "/api/changes", params={"since": "2000-01-01", "limit": 3, "after": after}
        ).json()
        positions += [i["position"] for g in page["developments"] for i in g["items"]]
        after = page["next"]
    assert positions == list(range(1, 9))


def test_changes_as_csv_give_one_row_per_changed_field(client: Client) -> None:
    development, _ = given_a_corrected_development(client)
    client_csv = client.get("/api/changes", params={"since": "2000-01-01", "format": "csv"})
    assert client_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(client_csv.text)))
    assert [(row["position"], row["field"], row["report"]) for row in rows] == [
        ("1", "report", "1"),  # the development, with its first report
        ("2", "report", "2"),  # a second report added
        ("3", "figure", "1"),  # the first one corrected
        ("4", "status", ""),  # about the development, not a report
    ]
    # a report added is its row's `after`: who said what, when (the cells were empty)
    # as the log gives it, and the fields it left at their defaults, as a correction's diff has
    added = [msgspec.json.decode(row["after"]) for row in rows[:2]]
    logged = client.get("/api/events").json()["items"][:2]
    defaults = {"stance": "supports", "reliability": "F", "credibility": 6}
    reports = [{**defaults, **item["event"]["report"]} for item in logged]
    for report in reports:
        report["figure"] = {"basis": "increment", **report["figure"]}
    assert added == reports
    assert all(added[n]["source"]["originator"] and added[n]["asserted_on"] for n in (0, 1))
    assert rows[0]["before"] == rows[1]["before"] == ""
    assert rows[3]["before"] == "alleged" and rows[3]["after"] == "corroborated"
    assert rows[2]["reason"] == "The briefing said about 1,000 containers"
    assert msgspec.json.decode(rows[2]["after"])["qualifier"] == "about"
    assert {row["development_id"] for row in rows} == {development}


def test_changes_as_csv_link_to_the_next_page_of_the_same_window(client: Client) -> None:
    given_a_corrected_development(client)
    given_a_corrected_development(client)
    positions: list[str] = []
    url: str | None = "/api/changes?since=2000-01-01&limit=3&format=csv"
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        positions += [row["position"] for row in csv.DictReader(io.StringIO(response.text))]
        url = next_link(response)
        if len(positions) == 3:  # what is recorded after the first page is outside the window
            given_a_corrected_development(client)
    assert positions == [str(position) for position in range(1, 9)]


def test_changes_answer_csv_for_an_accept_header(client: Client) -> None:
    given_a_corrected_development(client)
    response = client.get(
        "/api/changes", params={"since": "2000-01-01"}, headers={"Accept": "text/csv"}
    )
    assert response.text.startswith("development_id,title,position")


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"since": "monday"}, "since"),
        ({"since": "2024-02-30"}, "since"),
        ({"since": "2024-03-01", "until": "yesterday"}, "until"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "since"),
        ({"since": "2024-03-01", "until": "9999-12-31T23:59:59-01:00"}, "until"),
        ({"since": "2024-03-02", "until": "2024-03-01"}, "until"),
    ],
)
def test_changes_refuse_a_window_they_cannot_read(
    client: Client, params: dict[str, str], name: str
) -> None:
    document = problem(client.get("/api/changes", params=params), 400)
    assert name in [error["path"] for error in document["errors"]]


def test_changes_need_the_start_of_the_window(client: Client) -> None:
    document = problem(client.get("/api/changes"), 400)
    assert "since" in document["detail"]


def test_event_proof_verifies_against_the_checkpoint_a_client_kept(client: Client) -> None:
    # Given events, a checkpoint saved by a client, and its trusted public key
    _, receipts = given_a_corrected_development(client)
    kept = msgspec.json.decode(client.post("/api/checkpoints").content, type=Checkpoint)
    trusted = bytes.fromhex(kept.public_key)
    # When the proof of the second event is fetched
    response = client.get(f"/api/events/{receipts[1]['event_id']}/proof")
    proof = msgspec.json.decode(response.content, type=InclusionProof)
    # Then it verifies offline; with its entry or path altered it does not
    assert proof.entry.position == 2 and proof.leaf_index == 1 and proof.tree_size == 4
    assert verify_event_proof(proof, kept, public_key=trusted)
    edited = msgspec.structs.replace(proof.entry, recorded_by="mallory")
    assert not verify_event_proof(msgspec.structs.replace(proof, entry=edited), kept, trusted)
    shortened = msgspec.structs.replace(proof, audit_path=proof.audit_path[:-1])
    assert not verify_event_proof(shortened, kept, trusted)
    # nor against another key than the one the client trusts: the checkpoint is signed by its
    # own key, which is not that one
    stranger = Signer(Ed25519PrivateKey.generate()).public_key
    assert not verify_event_proof(proof, kept, public_key=stranger)


def test_proof_of_an_event_newer_than_every_checkpoint_is_a_404(client: Client) -> None:
    given_a_corrected_development(client)
    client.post("/api/checkpoints")
    receipt = post_event(client, bodies.development_reported()).json()
    document = problem(client.get(f"/api/events/{receipt['event_id']}/proof"), 404)
    assert "POST /api/checkpoints" in document["detail"]


def test_proof_against_a_checkpoint_never_made_or_made_before_the_event_says_which(
    client: Client,
) -> None:
    given_a_corrected_development(client)
    client.post("/api/checkpoints")
    receipt = post_event(client, bodies.development_reported()).json()
    client.post("/api/checkpoints")
    never = problem(client.get(f"/api/events/{receipt['event_id']}/proof?checkpoint=3"), 404)
    assert never["detail"] == "no checkpoint was made at position 3"
    early = problem(client.get(f"/api/events/{receipt['event_id']}/proof?checkpoint=4"), 404)
    assert early["detail"] == "the checkpoint at 4 was made before position 5: ask for a later one"
    assert [error["path"] for error in early["errors"]] == ["checkpoint"]


def test_proof_of_an_unknown_event_is_a_404(client: Client) -> None:
    given_a_corrected_development(client)
    client.post("/api/checkpoints")
    problem(client.get(f"/api/events/{uuid.uuid4()}/proof"), 404)


def test_proof_served_from_a_tampered_log_does_not_verify(client: Client, tamper: Tamperer) -> None:
    _, receipts = given_a_corrected_development(client)
    kept = msgspec.json.decode(client.post("/api/checkpoints").content, type=Checkpoint)
    tamper.set_state(3, tamper.state(3).replace(b"about", b"above"))
    tamper.relink()
    response = client.get(f"/api/events/{receipts[2]['event_id']}/proof")
    proof = msgspec.json.decode(response.content, type=InclusionProof)
    assert not verify_event_proof(proof, kept, bytes.fromhex(kept.public_key))


def test_a_serving_app_signs_the_head_every_n_events(database_url: str) -> None:
    with serve(database_url, checkpoint_every=2, checkpoint_interval=0.05) as client:
        for _ in range(2):
            assert post_event(client, bodies.development_reported()).status_code == 201
        deadline = time.monotonic() + 10
        response = client.get("/api/checkpoints/latest")
        while response.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
            response = client.get("/api/checkpoints/latest")
        assert response.status_code == 200, response.text
        assert response.json()["position"] == 2


def test_a_log_cut_back_below_the_last_checkpoint_is_not_signed(
    client: Client, tamper: Tamperer
) -> None:
    # Given eight events signed at 8, then rows 7 and 8 deleted from both tables
    given_a_corrected_development(client)
    given_a_corrected_development(client)
    assert client.post("/api/checkpoints").json()["position"] == 8
    tamper.delete_row(8)
    tamper.delete_row(7)
    # When an admin asks for a checkpoint of the head
    document = problem(client.post("/api/checkpoints"), 422)
    # Then it is refused as a tampered log, naming the checkpoint beyond the head
    assert document["type"] == "urn:timeline:problem:log-tampered"
    assert "checkpoint at position 8 lies beyond the log's head at position 6" in document["detail"]
    assert client.get("/api/checkpoints/latest").json()["position"] == 8


def test_a_payload_stored_as_text_is_served_and_verify_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only SQLite lets a bytes column hold text
    monkeypatch.setenv("TIMELINE_KEY_FILE", str(tmp_path / "timeline.key"))
    database_url = f"sqlite:///{tmp_path}/timeline.db"
    with serve(database_url, role="admin") as client:
        # Given a development of four events, the payload of the second cast to text in place
        development, _ = given_a_corrected_development(client)
        tamper = Tamperer(database_url)
        tamper.run("UPDATE {events} SET state = CAST(state AS TEXT) WHERE {pos} = 2")
        tamper.close()
        # When the log and the development's history are read, and the log verified
        page = client.get("/api/events", params={"after": 1})
        history = client.get(f"/api/developments/{development}/history")
        report = client.get("/api/verify").json()
    # Then the readers answer the row as it reads (they failed with a 500), and verify says
    # the row is not the one recorded
    assert page.status_code == 200, page.text
    assert [item["position"] for item in page.json()["items"]] == [2, 3, 4]
    assert page.json()["items"][0]["type"] == "report_added"
    assert history.status_code == 200, history.text
    assert [item["position"] for item in history.json()["items"]] == [1, 2, 3, 4]
    assert (report["ok"], report["problem"], report["first_bad_position"]) == (False, "changed", 2)
