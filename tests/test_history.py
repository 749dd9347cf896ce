"""What each event of a stream changed: the pure diff behind a development's history."""

from __future__ import annotations

import uuid

from events import AnyEvent, decode_event
from service.history import Change, history_changes
from tests import bodies
from tests.bodies import Body, encoded

DEVELOPMENT = str(uuid.uuid4())


def stream(*events: Body) -> list[AnyEvent]:
    """A development's stream, from bodies as posted (the first reports the development)."""
    first = bodies.development_reported(development_id=DEVELOPMENT)
    return [decode_event(encoded(body)) for body in (first, *events)]


def test_new_development_and_new_report_change_no_existing_field() -> None:
    changes = history_changes(stream(bodies.report_added(DEVELOPMENT)))

    assert changes == [None, None]


def test_report_correction_pairs_the_old_value_with_the_new() -> None:
    corrected = bodies.report_corrected(
        DEVELOPMENT, changes={"asserted_on": "2023-10-12", "quote": "more than 1,000 containers"}
    )

    [_, changes] = history_changes(stream(corrected))

    assert changes == [
        Change("asserted_on", "2023-10-13", "2023-10-12"),
        Change("quote", None, "more than 1,000 containers"),
    ]


def test_second_correction_starts_from_the_first_ones_value() -> None:
    events = stream(
        bodies.report_corrected(DEVELOPMENT, changes={"stance": "qualifies"}),
        bodies.report_corrected(DEVELOPMENT, changes={"stance": "denies"}),
    )

    assert history_changes(events)[2] == [Change("stance", "qualifies", "denies")]


def test_correction_lists_only_the_fields_whose_value_changed() -> None:
    corrected = bodies.report_corrected(
        DEVELOPMENT, changes={"asserted_on": "2023-10-13", "reliability": "B"}
    )

    assert history_changes(stream(corrected))[1] == [Change("reliability", "F", "B")]


def test_correction_of_the_second_report_compares_with_that_report() -> None:
    events = stream(
        bodies.report_added(DEVELOPMENT),
        bodies.report_corrected(DEVELOPMENT, number=2, changes={"asserted_on": "2024-02-24"}),
    )

    assert history_changes(events)[2] == [Change("asserted_on", "2024-02-23", "2024-02-24")]


def test_development_correction_pairs_each_field_with_its_previous_coding() -> None:
    corrected = bodies.development_corrected(
        DEVELOPMENT,
        changes={
            "title": "DPRK delivered artillery ammunition to Russia",
            "actors": {"supplier": "PRK", "recipient": "RUS", "user": "RUS"},
            "stage": None,
        },
    )

    assert history_changes(stream(corrected))[1] == [
        Change(
            "title",
            "DPRK delivered munitions containers to Russia",
            "DPRK delivered artillery ammunition to Russia",
        ),
        Change("stage", "delivered", None),
        Change(
            "actors",
            {"supplier": "PRK", "recipient": "RUS"},
            {"supplier": "PRK", "recipient": "RUS", "user": "RUS"},
        ),
    ]


def test_retraction_sets_its_effective_on_from_nothing() -> None:
    changes = history_changes(stream(bodies.report_retracted(DEVELOPMENT)))

    assert changes[1] == [Change("retraction.effective_on", None, "2024-03-01")]


def test_a_status_change_replaces_the_status_in_effect_on_its_date() -> None:
    # given a development reported as corroborated, then judged three times
    first = bodies.development_reported(development_id=DEVELOPMENT, status="corroborated")
    events = [
        decode_event(encoded(body))
        for body in (
            first,
            bodies.status_changed(DEVELOPMENT, status="confirmed", effective_on="2024-03-01"),
            # recorded later, effective earlier: it replaced what held in December, not March
            bodies.status_changed(DEVELOPMENT, status="disputed", effective_on="2023-12-01"),
            # effective the same day as the March one: it replaces that one
            bodies.status_changed(DEVELOPMENT, status="refuted", effective_on="2024-03-01"),
        )
    ]

    changes = history_changes(events)

    assert changes[1:] == [
        [Change("status", "corroborated", "confirmed")],
        [Change("status", "corroborated", "disputed")],
        [Change("status", "confirmed", "refuted")],
    ]
