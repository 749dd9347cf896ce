"""Validation at the edge: every event type decodes when valid and names the field when not."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

import msgspec
import pytest

from events import (
    TAGS,
    AnyEvent,
    DevelopmentCorrected,
    DevelopmentReported,
    Event,
    InvalidEvent,
    Problem,
    ReportAdded,
    ReportCorrected,
    ReportRetracted,
    StatusChanged,
    decode_batch,
    decode_event,
    digest,
)
from events.codec import refuse_repeated_keys

Body = dict[str, Any]

DEVELOPMENT_ID = "0b0f7c1e-3c7a-4d2e-9a51-6f0e8e3b2a10"


def minimal_report() -> Body:
    """The smallest valid report: who said it, through which channel, and when."""
    return {
        "source": {"originator": "John Kirby", "channel": "briefing"},
        "asserted_on": "2023-10-13",
    }


def minimal(event_type: str) -> Body:
    """The smallest valid body of each event type."""
    bodies: dict[str, Body] = {
        "development_reported": {
            "type": "development_reported",
            "kind": "transfer",
            "title": "DPRK delivered munitions containers to Russia",
            "actors": {"supplier": "PRK"},
            "report": minimal_report(),
        },
        "report_added": {
            "type": "report_added",
            "development_id": DEVELOPMENT_ID,
            "report": minimal_report(),
        },
        "report_corrected": {
            "type": "report_corrected",
            "development_id": DEVELOPMENT_ID,
            "report": 1,
            "changes": {"asserted_on": "2022-09-22"},
            "reason": "KCNA dated the statement 2022-09-22",
        },
        "report_retracted": {
            "type": "report_retracted",
            "development_id": DEVELOPMENT_ID,
            "report": 1,
            "effective_on": "2024-03-01",
            "reason": "The originator withdrew the figure",
        },
        "development_corrected": {
            "type": "development_corrected",
            "development_id": DEVELOPMENT_ID,
            "changes": {"stage": "delivered"},
            "reason": "The briefing said delivered, not shipped",
        },
        "status_changed": {
            "type": "status_changed",
            "development_id": DEVELOPMENT_ID,
            "status": "corroborated",
            "effective_on": "2024-02-23",
            "reason": "State Department fact sheet confirms the deliveries",
        },
    }
    return bodies[event_type]


def with_value(body: Body, path: str, value: Any) -> Body:
    """A deep copy of `body` with the dotted `path` set to `value`."""
    changed = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    target = changed
    for name in parents:
        target = target[name]
    target[leaf] = value
    return changed


def without(body: Body, path: str) -> Body:
    """A deep copy of `body` without the field at the dotted `path`."""
    changed = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    target = changed
    for name in parents:
        target = target[name]
    del target[leaf]
    return changed


def decode(body: Body) -> AnyEvent:
    """Decode a body as the HTTP layer does, from JSON bytes."""
    return decode_event(json.dumps(body).encode())


def refusal(body: Body | str | bytes) -> InvalidEvent:
    """The error a body is refused with."""
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    with pytest.raises(InvalidEvent) as raised:
        decode_event(data)
    assert raised.value.errors, "a refusal names at least one problem"
    return raised.value


def refused_at(body: Body) -> str:
    """The path of the first problem a body is refused with; it must not be malformed."""
    error = refusal(body)
    assert error.malformed is False
    assert error.errors[0].message
    return error.errors[0].path


def report_body(**report: Any) -> Body:
    """A `report_added` body whose report has the given fields on top of the minimal ones."""
    return with_value(minimal("report_added"), "report", {**minimal_report(), **report})


STREAM_TYPES = [tag for tag in TAGS if tag != "development_reported"]


# --- every type decodes from its minimal body ---------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "cls"),
    [
        ("development_reported", DevelopmentReported),
        ("report_added", ReportAdded),
        ("report_corrected", ReportCorrected),
        ("report_retracted", ReportRetracted),
        ("development_corrected", DevelopmentCorrected),
        ("status_changed", StatusChanged),
    ],
)
def test_minimal_body_decodes_to_its_event_type(event_type: str, cls: type[Event]) -> None:
    event = decode(minimal(event_type))

    assert type(event) is cls
    assert event.event_id is None


def test_every_tag_has_a_minimal_body() -> None:
    assert set(TAGS) == {
        "development_reported",
        "report_added",
        "report_corrected",
        "report_retracted",
        "development_corrected",
        "status_changed",
    }


def test_development_reported_fills_in_the_design_defaults() -> None:
    # when a development is reported with only the required fields
    event = decode(minimal("development_reported"))

    # then the initial status, stance and source grading take their documented defaults
    assert isinstance(event, DevelopmentReported)
    assert event.development_id is None
    assert event.status == "alleged"
    assert (event.stage, event.item, event.occurred) == (None, None, None)
    assert event.report.stance == "supports"
    assert event.report.reliability == "F"
    assert event.report.credibility == 6
    assert event.report.asserted_on == date(2023, 10, 13)
    assert event.report.figure is None


def test_stream_event_carries_its_development_and_expected_version() -> None:
    body = {**minimal("status_changed"), "expected_version": 4}

    event = decode(body)

    assert isinstance(event, StatusChanged)
    assert event.development_id == UUID(DEVELOPMENT_ID)
    assert event.expected_version == 4
    assert event.effective_on == date(2024, 2, 23)


@pytest.mark.parametrize("event_type", TAGS)
def test_client_event_id_is_kept(event_type: str) -> None:
    event_id = "5f7d0b52-8a8e-4c8e-bf3a-0c3d4e6a7b81"

    event = decode({**minimal(event_type), "event_id": event_id})

    assert event.event_id == UUID(event_id)


def test_actors_may_be_only_targets() -> None:
    body = with_value(minimal("development_reported"), "actors", {"targets": ["UKR"]})

    event = decode(body)

    assert isinstance(event, DevelopmentReported)
    assert event.actors.targets == ("UKR",)


def test_report_correction_may_clear_optional_fields_with_null() -> None:
    body = with_value(minimal("report_corrected"), "changes", {"figure": None, "quote": None})

    event = decode(body)

    assert isinstance(event, ReportCorrected)
    assert event.changes.figure is None
    assert event.changes.quote is None


def test_development_correction_may_clear_optional_fields_with_null() -> None:
    changes = {"stage": None, "item": None, "occurred": None}
    body = with_value(minimal("development_corrected"), "changes", changes)

    event = decode(body)

    assert isinstance(event, DevelopmentCorrected)
    assert (event.changes.stage, event.changes.item, event.changes.occurred) == (None, None, None)


@pytest.mark.parametrize(
    "occurred",
    ["2023", "2022-09~", "2022-11-18/2022-11-19", "../2022-02-23", "2023-09/", "2022-07/.."],
)
def test_occurred_in_the_edtf_subset_is_accepted(occurred: str) -> None:
    body = {**minimal("development_reported"), "occurred": occurred}

    event = decode(body)

    assert isinstance(event, DevelopmentReported)
    assert event.occurred == occurred


# --- missing fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        ("development_reported", "type"),
        ("development_reported", "kind"),
        ("development_reported", "title"),
        ("development_reported", "actors"),
        ("development_reported", "report"),
        ("development_reported", "report.asserted_on"),
        ("development_reported", "report.source"),
        ("development_reported", "report.source.originator"),
        ("development_reported", "report.source.channel"),
        ("report_added", "development_id"),
        ("report_added", "report"),
        ("report_corrected", "development_id"),
        ("report_corrected", "report"),
        ("report_corrected", "changes"),
        ("report_corrected", "reason"),
        ("report_retracted", "development_id"),
        ("report_retracted", "report"),
        ("report_retracted", "effective_on"),
        ("report_retracted", "reason"),
        ("development_corrected", "development_id"),
        ("development_corrected", "changes"),
        ("development_corrected", "reason"),
        ("status_changed", "development_id"),
        ("status_changed", "status"),
        ("status_changed", "effective_on"),
        ("status_changed", "reason"),
    ],
)
def test_missing_required_field_is_refused_naming_it(event_type: str, field: str) -> None:
    # given a valid body without one required field
    body = without(minimal(event_type), field)

    # then the refusal's path is that field
    assert refused_at(body) == f"$.{field}"


def test_missing_item_category_is_refused_naming_it() -> None:
    body = {**minimal("development_reported"), "item": {"designation": "KN-23"}}

    assert refused_at(body) == "$.item.category"


def test_missing_figure_unit_is_refused_naming_it() -> None:
    assert refused_at(report_body(figure={"value": 1000})) == "$.report.figure.unit"


# --- unknown fields and types ------------------------------------------------------------------


@pytest.mark.parametrize("event_type", TAGS)
def test_unknown_top_level_field_is_refused_naming_it(event_type: str) -> None:
    body = {**minimal(event_type), "confidence": "high"}

    assert refused_at(body) == "$.confidence"


@pytest.mark.parametrize(
    ("event_type", "parent"),
    [
        ("development_reported", "actors"),
        ("development_reported", "report"),
        ("development_reported", "report.source"),
        ("report_added", "report"),
        ("report_added", "report.source"),
        ("report_corrected", "changes"),
        ("development_corrected", "changes"),
    ],
)
def test_unknown_nested_field_is_refused_naming_it(event_type: str, parent: str) -> None:
    body = with_value(minimal(event_type), f"{parent}.note", "x")

    assert refused_at(body) == f"$.{parent}.note"


def test_unknown_field_in_item_is_refused_naming_it() -> None:
    body = {**minimal("development_reported"), "item": {"category": "uav", "origin": "IRN"}}

    assert refused_at(body) == "$.item.origin"


def test_unknown_field_in_figure_is_refused_naming_it() -> None:
    body = report_body(figure={"unit": "container", "value": 1000, "estimate": "best"})

    assert refused_at(body) == "$.report.figure.estimate"


def test_unknown_field_in_corrected_source_is_refused_naming_it() -> None:
    source = {"originator": "KCNA", "channel": "state_media", "lang": "ko"}
    body = with_value(minimal("report_corrected"), "changes", {"source": source})

    assert refused_at(body) == "$.changes.source.lang"


def test_unknown_field_whose_name_is_not_an_identifier_is_quoted_in_the_path() -> None:
    body = {**minimal("status_changed"), "as of": "2024"}

    assert refused_at(body) == '$["as of"]'


def test_status_is_not_a_field_a_development_correction_can_change() -> None:
    # status has its own event; a correction of the development's coding cannot set it
    body = with_value(minimal("development_corrected"), "changes", {"status": "confirmed"})

    assert refused_at(body) == "$.changes.status"


def test_expected_version_is_refused_on_development_reported() -> None:
    body = {**minimal("development_reported"), "expected_version": 1}

    assert refused_at(body) == "$.expected_version"


def test_recorded_fields_set_by_the_server_are_refused_from_the_client() -> None:
    body = {**minimal("report_added"), "recorded_at": "2024-01-01T00:00:00Z"}

    assert refused_at(body) == "$.recorded_at"


@pytest.mark.parametrize("event_type", ["development_deleted", "ReportAdded", "", "report-added"])
def test_unknown_type_is_refused_naming_type(event_type: str) -> None:
    body = {**minimal("report_added"), "type": event_type}

    assert refused_at(body) == "$.type"


def test_unknown_type_is_refused_listing_the_event_types() -> None:
    error = refusal({**minimal("report_added"), "type": "report_removed"})

    assert error.errors[0].message == (
        "Invalid value 'report_removed': expected one of: development_reported, report_added, "
        "report_corrected, report_retracted, development_corrected, status_changed"
    )


@pytest.mark.parametrize("type_", [None, 3])
def test_missing_or_non_string_type_lists_the_event_types(type_: object) -> None:
    body = (
        without(minimal("report_added"), "type")
        if type_ is None
        else {**minimal("report_added"), "type": type_}
    )

    problem = refusal(body).errors[0]

    assert problem.path == "$.type"
    assert problem.message.endswith("one of: " + ", ".join(TAGS))


def test_unknown_type_in_a_batch_lists_the_event_types() -> None:
    events = [minimal("report_added"), {**minimal("report_added"), "type": "merged"}]

    problem = batch_refusal(batch(events)).errors[0]

    assert problem.message == "Invalid value 'merged': expected one of: " + ", ".join(TAGS)


def test_type_that_is_not_a_string_is_refused_naming_type() -> None:
    assert refused_at({**minimal("report_added"), "type": 3}) == "$.type"


def test_body_of_another_type_is_refused() -> None:
    # given a report_added body labelled as a status change
    body = {**minimal("report_added"), "type": "status_changed"}

    # then the refusal names the field status_changed does not know
    assert refused_at(body) == "$.report"


# --- malformed and non-object input ------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"not json",
        b'{"type": "report_added",}',
        b"{'type': 'report_added'}",
        json.dumps(minimal("report_added")).encode() + b" trailing",
        b'{"type": "\xff"}',
        json.dumps(minimal("report_added")).encode().replace(b"John", b"J\xc3\x28hn"),
    ],
)
def test_malformed_json_is_refused_as_malformed(data: bytes) -> None:
    error = refusal(data)

    assert error.malformed is True
    assert error.errors[0].path == "$"


def test_text_with_a_lone_surrogate_is_refused_as_malformed() -> None:
    text = json.dumps(minimal("report_added"), ensure_ascii=False).replace("John", "Jo\ud800hn")

    assert refusal(text).malformed is True


@pytest.mark.parametrize("escape", [r"\ud800", r"\uDBFF", r"\ud83d\u0041"])
def test_a_lone_surrogate_escape_is_named_not_called_truncated(escape: str) -> None:
    # msgspec reads six bytes past a high surrogate: near the end it says "truncated"
    event = minimal("report_added")
    report = event.pop("report")
    source = {"channel": "briefing", "originator": "John Kirby"}
    event["report"] = {"asserted_on": report["asserted_on"], "source": source}
    body = json.dumps(event).replace('"John Kirby"', '"Jo' + escape + '"')
    assert body.endswith(escape + '"}}}')  # the escape is the last string of the body

    error = refusal(body.encode())

    assert error.malformed is True
    assert "surrogate" in error.errors[0].message
    assert "truncated" not in error.errors[0].message


@pytest.mark.parametrize("second", ["status_changed", "report_added"])
def test_type_given_twice_with_different_values_says_so(second: str) -> None:
    body = json.dumps(minimal("development_reported"))
    first = '{"type": "development_reported"'
    body = body.replace(first, f'{first}, "type": "{second}"')

    error = refusal(body)

    assert error.errors[0].path == "$.type"
    assert "given more than once" in error.errors[0].message
    assert "expected one of" not in error.errors[0].message


def repeated(body: str) -> list[Problem]:
    """The problems `refuse_repeated_keys` names in a body msgspec reads."""
    # msgspec takes the body, keeping the last value of a repeated key
    (decode_batch if body.startswith('{"events"') else decode_event)(body)
    with pytest.raises(InvalidEvent) as raised:
        refuse_repeated_keys(body)
    return raised.value.errors


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ('"kind": "transfer"', '"kind": "transfer", "kind": "transfer"', "$.kind"),
        ('"supplier": "PRK"', '"supplier": "PRK", "supplier": "IRN"', "$.actors.supplier"),
        # the same key however its text is written: \u0073 is `s`
        ('"supplier": "PRK"', '"supplier": "PRK", "\\u0073upplier": "IRN"', "$.actors.supplier"),
        ('"channel": "briefing"', '"channel": "briefing" , "channel"  :"media"',
         "$.report.source.channel"),
    ],
)  # fmt: skip
def test_a_key_given_twice_in_one_object_is_refused_naming_it(
    old: str, new: str, path: str
) -> None:
    body = json.dumps(minimal("development_reported"))
    assert old in body

    [problem] = repeated(body.replace(old, new, 1))

    assert problem.path == path
    assert problem.message == f"`{path.rpartition('.')[2]}` is given more than once in this object"


def test_the_first_repeat_in_the_text_is_named_in_a_batch() -> None:
    event = json.dumps(minimal("development_reported"))
    twice = event.replace('"title": ', '"title": "first", "title": ', 1)

    [problem] = repeated(json.dumps({"events": [json.loads(event), "*"]}).replace('"*"', twice))

    assert problem.path == "$.events[1].title"


def test_the_same_key_in_different_objects_is_not_a_repeat() -> None:
    # each event of a batch has its own `type`; a title may read like a key
    event = {**minimal("development_reported"), "title": '"kind": "transfer"'}
    data = json.dumps({"events": [event, event]}, indent=2)
    assert data.count('"type"') == 2

    decode_batch(data)
    refuse_repeated_keys(data)  # does not raise


def test_a_repeated_key_that_is_not_a_name_is_quoted_in_its_path() -> None:
    with pytest.raises(InvalidEvent) as raised:
        refuse_repeated_keys('{"a": {"x y": 1, "x y": 2}}')

    assert raised.value.errors[0].path == '$.a["x y"]'


def test_a_truncated_body_is_still_called_truncated() -> None:
    body = json.dumps(minimal("report_added")).replace("John", r"Jo\\ud800hn")

    error = refusal(body.encode()[:-20])

    assert error.errors[0].message == "Input data was truncated"


@pytest.mark.parametrize("data", ["[]", "null", "42", '"report_added"'])
def test_json_that_is_not_an_object_is_invalid_but_not_malformed(data: str) -> None:
    error = refusal(data)

    assert error.malformed is False
    assert error.errors[0].path == "$"


def test_refusal_message_names_the_path() -> None:
    error = refusal(with_value(minimal("report_added"), "report.credibility", 9))

    assert "$.report.credibility" in str(error)


# --- string lengths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "field", "limit"),
    [
        ("development_reported", "title", 500),
        ("development_reported", "actors.supplier", 100),
        ("development_reported", "report.source.originator", 200),
        ("development_reported", "report.source.title", 500),
        ("development_reported", "report.quote", 5000),
        ("report_corrected", "reason", 2000),
        ("development_corrected", "changes.title", 500),
    ],
)
def test_string_at_its_length_limit_is_accepted_and_one_more_is_refused(
    event_type: str, field: str, limit: int
) -> None:
    body = minimal(event_type)

    # a title of exactly the limit, in characters rather than bytes, is accepted
    decode(with_value(body, field, "я" * limit))

    # one character more is refused, naming the field
    assert refused_at(with_value(body, field, "я" * (limit + 1))) == f"$.{field}"


def _url(length: int) -> str:
    return "https://x.org/" + "a" * (length - len("https://x.org/"))


@pytest.mark.parametrize(
    ("field", "make", "limit"),
    [
        ("report.figure.text", lambda n: "я" * n, 500),
        ("report.source.url", _url, 2000),
        ("item.category", lambda n: "c" * n, 60),
        ("actors.targets", lambda n: [f"T{i}" for i in range(n)], 50),
    ],
    ids=["figure.text", "source.url", "item.category", "targets"],
)
def test_value_of_a_shaped_field_at_its_limit_is_accepted_and_one_more_is_refused(
    field: str, make: Callable[[int], Any], limit: int
) -> None:
    body = minimal("development_reported")
    body["report"]["figure"] = {"unit": "round", "value": 10}
    body["item"] = {"category": "uav"}

    decode(with_value(body, field, make(limit)))

    assert refused_at(with_value(body, field, make(limit + 1))) == f"$.{field}"


@pytest.mark.parametrize(
    "field",
    ["title", "actors.supplier", "report.source.originator", "report.source.title", "report.quote"],
)
def test_empty_string_is_refused(field: str) -> None:
    assert refused_at(with_value(minimal("development_reported"), field, "")) == f"$.{field}"


@pytest.mark.parametrize("actor", ["recipient", "user", "end_user", "authority"])
def test_every_actor_role_is_bounded_to_100_characters(actor: str) -> None:
    body = with_value(minimal("development_reported"), f"actors.{actor}", "R" * 101)

    assert refused_at(body) == f"$.actors.{actor}"


def test_target_longer_than_100_characters_is_refused_naming_its_index() -> None:
    body = with_value(minimal("development_reported"), "actors.targets", ["UKR", "x" * 101])

    assert refused_at(body) == "$.actors.targets[1]"


def test_empty_reason_is_refused() -> None:
    assert refused_at(with_value(minimal("status_changed"), "reason", "")) == "$.reason"


@pytest.mark.parametrize("control", ["\n", "\t", "\x00", "\x7f"])
def test_title_with_a_control_character_is_refused(control: str) -> None:
    title = f"DPRK delivered{control}munitions"

    assert refused_at(with_value(minimal("development_reported"), "title", title)) == "$.title"


@pytest.mark.parametrize("control", ["\n", "\x7f"])
def test_corrected_title_with_a_control_character_is_refused(control: str) -> None:
    changes = {"title": f"DPRK delivered{control}munitions"}

    body = with_value(minimal("development_corrected"), "changes", changes)

    assert refused_at(body) == "$.changes.title"


@pytest.mark.parametrize("control", ["\x00", "\x1b", "\x7f"])
@pytest.mark.parametrize(
    ("event_type", "path", "text"),
    [
        ("status_changed", "reason", "Panel of experts {}report"),
        ("report_retracted", "reason", "Withdrawn {}by the originator"),
        ("report_added", "report.quote", "more than {}10,000 containers"),
        ("report_added", "report.source.url", "https://example.org/{}brief"),
        ("development_reported", "occurred", "2023-09{}"),
    ],
)
def test_free_text_with_a_control_character_other_than_a_line_break_is_refused(
    event_type: str, path: str, text: str, control: str
) -> None:
    # NUL in particular: a PostgreSQL text column cannot hold it, and a read model would fail
    body = minimal(event_type)
    if path.startswith("report."):
        body = report_body()
    body = with_value(body, path, text.format(control))

    assert refused_at(body) == "$." + path


def test_figure_text_with_a_nul_is_refused() -> None:
    figure = {"unit": "container", "value": 1000, "text": "more than\x001,000"}

    assert refused_at(report_body(figure=figure)) == "$.report.figure.text"


def test_reason_may_span_several_lines_with_tabs() -> None:
    event = decode(with_value(minimal("status_changed"), "reason", "Two sources:\n\tNIS, US"))

    assert isinstance(event, StatusChanged) and event.reason == "Two sources:\n\tNIS, US"


def test_quote_may_span_several_lines() -> None:
    event = decode(report_body(quote="First line.\nSecond line."))

    assert isinstance(event, ReportAdded)
    assert event.report.quote == "First line.\nSecond line."


@pytest.mark.parametrize("url", ["ftp://example.org/x", "example.org", "https://exa mple.org"])
def test_source_url_must_be_http(url: str) -> None:
    body = with_value(minimal("report_added"), "report.source.url", url)

    assert refused_at(body) == "$.report.source.url"


def test_item_category_must_be_snake_case_and_the_message_gives_no_unit_as_an_example() -> None:
    body = {**minimal("development_reported"), "item": {"category": "Ballistic Missile"}}

    assert refused_at(body) == "$.item.category"
    # `round` is a unit: it was offered as an example of what a category should look like
    message = refusal(body).errors[0].message
    assert (
        message
        == "must be a snake_case code: a-z, 0-9 or `_`, a letter or digit first, a letter in it"
    )


def test_a_unit_or_category_may_begin_with_a_calibre() -> None:
    figure = {"qualifier": "exact", "value": 40, "unit": "152mm_shell"}
    event = decode(report_body(figure=figure))
    assert isinstance(event, ReportAdded)
    assert event.report.figure is not None and event.report.figure.unit == "152mm_shell"
    reported = decode({**minimal("development_reported"), "item": {"category": "122mm_rocket"}})
    assert isinstance(reported, DevelopmentReported) and reported.item is not None
    assert reported.item.category == "122mm_rocket"


@pytest.mark.parametrize("code", ["152", "_shell", "2S19", "shell-152", "152mm shell"])
def test_a_unit_or_category_that_is_a_number_or_not_snake_case_is_refused(code: str) -> None:
    figure = {"qualifier": "exact", "value": 40, "unit": code}
    assert refused_at(report_body(figure=figure)) == "$.report.figure.unit"
    body = {**minimal("development_reported"), "item": {"category": code}}
    assert refused_at(body) == "$.item.category"


# --- enumerations and numbers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("development_reported", "kind", "delivery"),
        ("development_reported", "stage", "in_transit"),
        ("development_reported", "status", "likely"),
        ("development_reported", "report.source.channel", "tweet"),
        ("development_reported", "report.stance", "agrees"),
        ("development_reported", "report.reliability", "G"),
        ("development_reported", "report.reliability", "a"),
        ("status_changed", "status", "Confirmed"),
        ("report_corrected", "changes.stance", "rejects"),
        ("development_corrected", "changes.kind", "shipment"),
    ],
)
def test_value_outside_its_enumeration_is_refused(event_type: str, field: str, value: str) -> None:
    assert refused_at(with_value(minimal(event_type), field, value)) == f"$.{field}"


STANCES = "supports, contradicts, denies, not_observed, qualifies"
CHANNELS = (
    "statement, disclosure, testimony, fact_sheet, briefing, sanctions_designation, prosecutor, "
    "monitor_report, media, imagery, state_media, other"
)
KINDS = "transfer, use, assessment, compensation, sanction, finding, meeting, statement, other"
QUALIFIERS = (
    "exact, about, at_least, more_than, up_to, fewer_than, range, order_of_magnitude, unspecified"
)


@pytest.mark.parametrize(
    ("event_type", "field", "value", "allowed"),
    [
        ("report_added", "report.stance", "Denies", STANCES),
        ("report_added", "report.reliability", "b", "A, B, C, D, E, F"),
        ("report_added", "report.source.channel", "tweet", CHANNELS),
        ("development_reported", "kind", "delivery", KINDS),
        (
            "development_reported",
            "stage",
            "in_transit",
            "sought, negotiated, agreed, shipped, delivered, null",
        ),
        (
            "status_changed",
            "status",
            "Confirmed",
            "alleged, corroborated, confirmed, disputed, refuted, retracted, superseded, withdrawn",
        ),
        ("report_corrected", "changes.stance", "rejects", STANCES),
        ("development_corrected", "changes.kind", "shipment", KINDS),
    ],
)
def test_value_outside_its_enumeration_is_refused_listing_the_allowed_values(
    event_type: str, field: str, value: str, allowed: str
) -> None:
    error = refusal(with_value(minimal(event_type), field, value))

    assert error.errors[0].path == f"$.{field}"
    assert error.errors[0].message == f"Invalid enum value {value!r}: expected one of: {allowed}"


@pytest.mark.parametrize(
    ("field", "allowed"), [("qualifier", QUALIFIERS), ("basis", "increment, cumulative")]
)
def test_figure_enumeration_is_refused_listing_the_allowed_values(field: str, allowed: str) -> None:
    error = refusal(report_body(figure={"unit": "container", "value": 3, field: "roughly"}))

    assert error.errors[0].path == f"$.report.figure.{field}"
    assert error.errors[0].message == f"Invalid enum value 'roughly': expected one of: {allowed}"


def test_enumerated_field_of_the_wrong_json_type_lists_the_allowed_values() -> None:
    error = refusal(with_value(minimal("report_added"), "report.stance", 3))

    assert error.errors[0].message == f"Expected one of: {STANCES}, got `int`"


def test_missing_enumerated_field_lists_the_allowed_values() -> None:
    error = refusal(without(minimal("report_added"), "report.source.channel"))

    assert error.errors[0].path == "$.report.source.channel"
    assert error.errors[0].message == (
        f"Object missing required field `channel`: expected one of: {CHANNELS}"
    )


def test_unknown_field_named_like_an_enumerated_one_is_not_given_its_values() -> None:
    # status is a field of other event types, not of report_added
    error = refusal({**minimal("report_added"), "status": "confirmed"})

    assert error.errors[0].message == "Object contains unknown field `status`"


def test_other_refusals_keep_their_message() -> None:
    assert refusal({**minimal("report_added"), "development_id": "x"}).errors[0].message == (
        "Invalid UUID"
    )
    credibility = refusal(with_value(minimal("report_added"), "report.credibility", 9))
    assert credibility.errors[0].message == "Expected `int` <= 6"
    figure = refusal(report_body(figure={"value": 1000}))
    assert figure.errors[0].message == "Object missing required field `unit`"


@pytest.mark.parametrize(
    "kind",
    [
        "transfer",
        "use",
        "assessment",
        "compensation",
        "sanction",
        "finding",
        "meeting",
        "statement",
        "other",
    ],
)
def test_every_documented_kind_is_accepted(kind: str) -> None:
    event = decode(with_value(minimal("development_reported"), "kind", kind))

    assert isinstance(event, DevelopmentReported)
    assert event.kind == kind


@pytest.mark.parametrize(
    "channel",
    [
        "statement",
        "disclosure",
        "testimony",
        "fact_sheet",
        "briefing",
        "sanctions_designation",
        "prosecutor",
        "monitor_report",
        "media",
        "imagery",
        "state_media",
        "other",
    ],
)
def test_every_documented_channel_is_accepted(channel: str) -> None:
    event = decode(with_value(minimal("report_added"), "report.source.channel", channel))

    assert isinstance(event, ReportAdded)
    assert event.report.source.channel == channel


@pytest.mark.parametrize(
    "status",
    [
        "alleged",
        "corroborated",
        "confirmed",
        "disputed",
        "refuted",
        "retracted",
        "superseded",
        "withdrawn",
    ],
)
def test_every_documented_status_is_accepted(status: str) -> None:
    event = decode(with_value(minimal("status_changed"), "status", status))

    assert isinstance(event, StatusChanged)
    assert event.status == status


@pytest.mark.parametrize("credibility", [0, 7, -1, "6", 5.5])
def test_credibility_outside_1_to_6_is_refused(credibility: object) -> None:
    body = with_value(minimal("report_added"), "report.credibility", credibility)

    assert refused_at(body) == "$.report.credibility"


@pytest.mark.parametrize("credibility", [1, 6])
def test_credibility_at_its_ends_is_accepted(credibility: int) -> None:
    event = decode(with_value(minimal("report_added"), "report.credibility", credibility))

    assert isinstance(event, ReportAdded)
    assert event.report.credibility == credibility


@pytest.mark.parametrize("event_type", STREAM_TYPES)
@pytest.mark.parametrize("expected_version", [0, -1, 2**31 + 1, "3", 1.5, True])
def test_expected_version_must_be_a_positive_integer(
    event_type: str, expected_version: object
) -> None:
    body = {**minimal(event_type), "expected_version": expected_version}

    assert refused_at(body) == "$.expected_version"


@pytest.mark.parametrize("event_type", ["report_corrected", "report_retracted"])
@pytest.mark.parametrize("number", [0, -2, 100_001, "1", {"number": 1}])
def test_report_number_must_be_a_positive_integer(event_type: str, number: object) -> None:
    assert refused_at(with_value(minimal(event_type), "report", number)) == "$.report"


@pytest.mark.parametrize(
    "development_id", ["", "not-a-uuid", "0b0f7c1e-3c7a-4d2e-9a51-6f0e8e3b2a1", 12]
)
def test_development_id_must_be_a_uuid(development_id: object) -> None:
    body = with_value(minimal("report_added"), "development_id", development_id)

    assert refused_at(body) == "$.development_id"


def test_event_id_must_be_a_uuid() -> None:
    assert refused_at({**minimal("report_added"), "event_id": "42"}) == "$.event_id"


# --- cross-field rules -------------------------------------------------------------------------


def test_figure_without_value_for_its_qualifier_is_refused_on_value() -> None:
    body = report_body(figure={"unit": "container", "qualifier": "more_than"})

    assert refused_at(body) == "$.report.figure.value"


def test_figure_range_with_low_above_high_is_refused_on_low() -> None:
    body = report_body(figure={"unit": "round", "qualifier": "range", "low": 9, "high": 3})

    assert refused_at(body) == "$.report.figure.low"


def test_negative_figure_is_refused_on_value() -> None:
    assert refused_at(report_body(figure={"unit": "uav", "value": -1})) == "$.report.figure.value"


def test_corrected_figure_is_checked_like_a_reported_one() -> None:
    changes = {"figure": {"unit": "missile", "qualifier": "unspecified", "value": 24}}
    body = with_value(minimal("report_corrected"), "changes", changes)

    assert refused_at(body) == "$.changes.figure.value"


@pytest.mark.parametrize(
    ("changes", "path", "field"),
    [
        ({"figure": {"value": 3000}}, "$.changes.figure.unit", "figure"),
        ({"source": {"originator": "KCNA"}}, "$.changes.source.channel", "source"),
    ],
)
def test_partial_value_in_a_report_correction_says_it_is_replaced_whole(
    changes: Body, path: str, field: str
) -> None:
    # given a correction that sends only the part of the figure that changed
    problem = refusal(with_value(minimal("report_corrected"), "changes", changes)).errors[0]

    # then the refusal says the whole value is needed, not only that a field is missing
    name = path.rpartition(".")[2]
    assert problem.path == path
    assert problem.message == (
        f"Object missing required field `{name}`: "
        f"a correction replaces `{field}` whole, so give all its fields"
    )


@pytest.mark.parametrize("actors", [{}, {"targets": []}])
def test_actors_naming_nobody_are_refused(actors: Body) -> None:
    body = with_value(minimal("development_reported"), "actors", actors)

    assert refused_at(body) == "$.actors"


def test_corrected_actors_naming_nobody_are_refused() -> None:
    body = with_value(minimal("development_corrected"), "changes", {"actors": {}})

    assert refused_at(body) == "$.changes.actors"


@pytest.mark.parametrize("event_type", ["report_corrected", "development_corrected"])
def test_correction_changing_nothing_is_refused(event_type: str) -> None:
    assert refused_at(with_value(minimal(event_type), "changes", {})) == "$.changes"


@pytest.mark.parametrize("occurred", ["2023-13", "2023-1-01", "sometime in 2023", "2024/2023"])
def test_occurred_outside_the_edtf_subset_is_refused(occurred: str) -> None:
    body = {**minimal("development_reported"), "occurred": occurred}

    assert refused_at(body) == "$.occurred"


def test_corrected_occurred_outside_the_edtf_subset_is_refused() -> None:
    body = with_value(minimal("development_corrected"), "changes", {"occurred": "2023-02-29"})

    assert refused_at(body) == "$.changes.occurred"


def test_occurred_longer_than_64_characters_is_refused_before_it_is_parsed() -> None:
    # No text of the EDTF subset is that long: the bound keeps long texts from the parser
    [too_long] = refusal({**minimal("development_reported"), "occurred": "2" * 65}).errors
    [at_limit] = refusal({**minimal("development_reported"), "occurred": "2" * 64}).errors

    assert (too_long.path, too_long.message) == ("$.occurred", "Expected `str` of length <= 64")
    assert at_limit.path == "$.occurred" and "is not YYYY" in at_limit.message


# --- dates -------------------------------------------------------------------------------------

DATE_FIELDS = [
    ("report_added", "report.asserted_on"),
    ("report_added", "report.source.published_on"),
    ("report_retracted", "effective_on"),
    ("status_changed", "effective_on"),
    ("report_corrected", "changes.asserted_on"),
]


@pytest.mark.parametrize(("event_type", "field"), DATE_FIELDS)
@pytest.mark.parametrize(
    "day", ["2024-02-30", "2023-02-29", "2024-13-01", "2024-2-3", "24-02-03", "2024/02/03", ""]
)
def test_date_that_is_not_a_real_calendar_day_is_refused(
    event_type: str, field: str, day: str
) -> None:
    assert refused_at(with_value(minimal(event_type), field, day)) == f"$.{field}"


@pytest.mark.parametrize(("event_type", "field"), DATE_FIELDS)
@pytest.mark.parametrize("day", ["1800-01-01", "1899-12-31", "2101-01-01", "0001-01-01"])
def test_date_outside_1900_to_2100_is_refused(event_type: str, field: str, day: str) -> None:
    assert refused_at(with_value(minimal(event_type), field, day)) == f"$.{field}"


@pytest.mark.parametrize(("event_type", "field"), DATE_FIELDS)
@pytest.mark.parametrize("day", ["1900-01-01", "2024-02-29", "2100-12-31"])
def test_date_inside_1900_to_2100_is_accepted(event_type: str, field: str, day: str) -> None:
    decoded: Any = msgspec.to_builtins(decode(with_value(minimal(event_type), field, day)))
    for name in field.split("."):
        decoded = decoded[name]
    assert decoded == day  # the day itself, read as a calendar day and written back


def test_date_with_a_time_is_refused() -> None:
    body = with_value(minimal("status_changed"), "effective_on", "2024-02-23T00:00:00Z")

    assert refused_at(body) == "$.effective_on"


@pytest.mark.parametrize(("event_type", "field"), DATE_FIELDS)
@pytest.mark.parametrize("day", ["01/09/2024", "2024-9-1", "2024-02-23T00:00:00Z", ""])
def test_date_in_another_format_is_refused_echoing_it_and_naming_yyyy_mm_dd(
    event_type: str, field: str, day: str
) -> None:
    problem = refusal(with_value(minimal(event_type), field, day)).errors[0]

    assert problem.path == f"$.{field}"
    assert problem.message == f"Invalid date {day!r}: expected a date YYYY-MM-DD"


def test_day_that_does_not_exist_is_refused_saying_so() -> None:
    body = with_value(minimal("report_added"), "report.asserted_on", "2024-02-30")

    assert refusal(body).errors[0].message == (
        "Invalid date '2024-02-30' (no such day): expected a date YYYY-MM-DD"
    )


def test_date_given_as_a_number_is_refused_naming_the_format() -> None:
    body = with_value(minimal("status_changed"), "effective_on", 20240223)

    assert refusal(body).errors[0].message == "Expected a date YYYY-MM-DD, got `int`"


def test_long_date_text_is_echoed_cut_short() -> None:
    body = with_value(minimal("status_changed"), "effective_on", "9" * 5000)

    message = refusal(body).errors[0].message

    assert message == f"Invalid date '{'9' * 60}'…: expected a date YYYY-MM-DD"


def test_bad_date_before_broken_json_still_names_the_format() -> None:
    # msgspec stops at the date, so the text after it is never read: nothing to echo
    data = b'{"type": "status_changed", "effective_on": "2024-9-1", broken'

    assert refusal(data).errors[0].message == "Invalid date: expected a date YYYY-MM-DD"


def test_bad_date_in_a_batch_is_echoed_from_its_event() -> None:
    bad = with_value(minimal("status_changed"), "effective_on", "2024-9-1")

    problem = batch_refusal(batch([minimal("report_added"), bad])).errors[0]

    assert problem.path == "$.events[1].effective_on"
    assert problem.message == "Invalid date '2024-9-1': expected a date YYYY-MM-DD"


def test_asserted_on_is_decoded_as_a_date() -> None:
    event = decode(with_value(minimal("report_added"), "report.asserted_on", "2024-02-29"))

    assert isinstance(event, ReportAdded)
    assert event.report.asserted_on == date(2024, 2, 29)


# --- batches -----------------------------------------------------------------------------------


def batch(events: list[Body]) -> bytes:
    """A batch body as posted."""
    return json.dumps({"events": events}).encode()


def batch_refusal(data: bytes | str) -> InvalidEvent:
    """The error a batch is refused with."""
    with pytest.raises(InvalidEvent) as raised:
        decode_batch(data)
    return raised.value


def test_batch_of_one_event_decodes() -> None:
    events = decode_batch(batch([minimal("development_reported")]))

    assert [type(event) for event in events] == [DevelopmentReported]


def test_batch_keeps_the_order_of_its_events() -> None:
    events = decode_batch(batch([minimal(tag) for tag in TAGS]))

    assert [str(event.__struct_config__.tag) for event in events] == list(TAGS)


def test_batch_of_1000_events_decodes() -> None:
    assert len(decode_batch(batch([minimal("report_added")] * 1000))) == 1000


def test_empty_batch_is_refused() -> None:
    error = batch_refusal(batch([]))

    assert error.malformed is False
    assert error.errors[0].path == "$.events"


def test_batch_of_1001_events_is_refused() -> None:
    error = batch_refusal(batch([minimal("report_added")] * 1001))

    assert error.errors[0].path == "$.events"


def test_bad_event_in_a_batch_is_named_by_its_index_and_field() -> None:
    # given a batch whose third event has a figure without the value its qualifier needs
    bad = report_body(figure={"unit": "container", "qualifier": "at_least"})
    events = [minimal("development_reported"), minimal("status_changed"), bad]

    # then the refusal names the index and the field
    assert batch_refusal(batch(events)).errors[0].path == "$.events[2].report.figure.value"


def test_unknown_field_in_a_batched_event_is_named_by_its_index() -> None:
    events = [minimal("report_added"), minimal("report_added"), minimal("report_added")]
    events[2]["note"] = "x"

    assert batch_refusal(batch(events)).errors[0].path == "$.events[2].note"


def test_unknown_type_in_a_batch_is_named_by_its_index() -> None:
    events = [minimal("report_added"), {**minimal("report_added"), "type": "merged"}]

    assert batch_refusal(batch(events)).errors[0].path == "$.events[1].type"


def test_batch_without_events_is_refused() -> None:
    assert batch_refusal(b"{}").errors[0].path == "$.events"


def test_batch_with_an_unknown_field_is_refused() -> None:
    data = json.dumps({"events": [minimal("report_added")], "atomic": True})

    assert batch_refusal(data).errors[0].path == "$.atomic"


def test_bare_list_is_not_a_batch() -> None:
    assert batch_refusal(json.dumps([minimal("report_added")])).errors[0].path == "$"


def test_malformed_batch_is_refused_as_malformed() -> None:
    assert batch_refusal(b'{"events": [').malformed is True


# --- digest ------------------------------------------------------------------------------------


def test_digest_ignores_explicit_defaults() -> None:
    # given the same report once with its defaults omitted and once with them spelled out
    implicit = minimal("development_reported")
    explicit = copy.deepcopy(implicit)
    explicit["status"] = "alleged"
    explicit["actors"]["targets"] = []
    explicit["report"].update(stance="supports", reliability="F", credibility=6)

    # then both have the same fingerprint, so a retry with defaults spelled out is the same event
    assert digest(decode(implicit)) == digest(decode(explicit))


def test_digest_ignores_the_default_stance() -> None:
    given = with_value(minimal("report_added"), "report.stance", "supports")

    assert digest(decode(given)) == digest(decode(minimal("report_added")))


def test_digest_ignores_figure_defaults() -> None:
    plain = report_body(figure={"unit": "container", "value": 1000})
    spelled = report_body(
        figure={"unit": "container", "value": 1000, "qualifier": "exact", "basis": "increment"}
    )

    assert digest(decode(plain)) == digest(decode(spelled))


def test_digest_ignores_key_order_and_whitespace() -> None:
    body = minimal("status_changed")
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=4)

    assert digest(decode_event(reordered)) == digest(decode(body))


def test_digest_ignores_how_the_uuid_is_spelled() -> None:
    upper = with_value(minimal("report_added"), "development_id", DEVELOPMENT_ID.upper())

    assert digest(decode(upper)) == digest(decode(minimal("report_added")))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("report.stance", "denies"),
        ("report.credibility", 5),
        ("report.asserted_on", "2023-10-14"),
        ("report.source.originator", "Kirby"),
        ("expected_version", 2),
        ("event_id", "5f7d0b52-8a8e-4c8e-bf3a-0c3d4e6a7b81"),
    ],
)
def test_digest_differs_when_a_field_differs(field: str, value: object) -> None:
    body = minimal("report_added")

    assert digest(decode(with_value(body, field, value))) != digest(decode(body))


def test_digest_differs_between_event_types_with_the_same_fields() -> None:
    body = minimal("report_retracted")
    as_status = {**body, "type": "status_changed", "status": "retracted"}
    del as_status["report"]
    as_retraction = {**body}

    assert digest(decode(as_status)) != digest(decode(as_retraction))


def test_digest_is_a_sha256_hex_string() -> None:
    fingerprint = digest(decode(minimal("report_added")))

    assert len(fingerprint) == 64
    assert set(fingerprint) <= set("0123456789abcdef")
