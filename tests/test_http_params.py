"""Query values on the two time axes: `known_at` as a moment and `as_of` as a date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from service.http.params import InvalidParameter, parse_as_of, parse_known_at
from service.http.shapes import format_time
from service.store.records import now_micros, to_micros


def micros(text: str) -> int:
    """An ISO time with offset as microseconds since the epoch."""
    return to_micros(datetime.fromisoformat(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T12:00:00Z", "2024-03-01T12:00:00+00:00"),
        ("2024-03-01t12:00:00z", "2024-03-01T12:00:00+00:00"),
        ("2024-03-01T12:00:00.123456Z", "2024-03-01T12:00:00.123456+00:00"),
        ("2024-03-01T12:00:00.5+02:00", "2024-03-01T10:00:00.500000+00:00"),
        ("2024-03-01T12:00:00.1234567891-05:30", "2024-03-01T17:30:00.123456+00:00"),
        # an unencoded `+` in a query string arrives as a space
        ("2024-03-01T12:00:00 02:00", "2024-03-01T10:00:00+00:00"),
        ("2024-03-01 12:00:00Z", "2024-03-01T12:00:00+00:00"),
    ],
)
def test_known_at_as_an_rfc3339_time_is_that_moment(text: str, expected: str) -> None:
    assert parse_known_at(text) == micros(expected)


def test_known_at_as_a_date_is_the_last_microsecond_of_that_day_utc() -> None:
    assert parse_known_at("2024-02-29") == micros("2024-03-01T00:00:00+00:00") - 1


def test_known_at_as_the_last_representable_date_still_parses() -> None:
    assert parse_known_at("9999-12-31") == micros("9999-12-31T23:59:59.999999+00:00")


def test_known_at_at_either_end_of_the_years_in_utc_still_parses() -> None:
    assert parse_known_at("0001-01-01T00:00:00Z") == micros("0001-01-01T00:00:00+00:00")
    assert parse_known_at("9999-12-31T23:59:59+01:00") == micros("9999-12-31T22:59:59+00:00")


def test_known_at_defaults_to_now() -> None:
    before = now_micros()

    known_at = parse_known_at(None)

    assert before <= known_at <= now_micros()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "now",
        "2024-03-01T12:00:00",  # no offset: ambiguous
        "2024-03-01T12:00Z",  # no seconds
        "2024-02-30",
        "2024-02-30T12:00:00Z",
        "2024-03-01T24:00:00Z",
        "2024-03-01T12:00:00+25:00",
        "20240301T120000Z",
        "\uff12\uff10\uff12\uff14-03-01",  # fullwidth digits
        "2024-03-01T12:00:00Z ",
        "0001-01-01T00:00:00+01:00",  # year 0 in UTC
        "9999-12-31T23:59:59-01:00",  # year 10000 in UTC
    ],
)
def test_invalid_known_at_names_the_parameter(text: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        parse_known_at(text)

    assert raised.value.name == "known_at"
    assert raised.value.message


@pytest.mark.parametrize("offset", ["+24:00", "-24:00", "+23:60", "+99:00"])
def test_a_known_at_offset_past_a_day_is_refused_saying_the_range(offset: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        parse_known_at(f"2024-03-01T12:00:00{offset}")

    assert "the UTC offset must be between -23:59 and +23:59" in raised.value.message


@pytest.mark.parametrize("offset", ["+23:59", "-23:59"])
def test_a_known_at_offset_of_just_under_a_day_is_taken(offset: str) -> None:
    sign = 1 if offset[0] == "+" else -1
    expected = to_micros(datetime(2024, 3, 1, 12, tzinfo=UTC)) - sign * (23 * 60 + 59) * 60_000_000

    assert parse_known_at(f"2024-03-01T12:00:00{offset}") == expected


def test_as_of_is_a_date() -> None:
    assert parse_as_of("2023-10-13") == date(2023, 10, 13)


def test_as_of_defaults_to_today_utc() -> None:
    before = datetime.now(UTC).date()

    as_of = parse_as_of(None)

    # (the day it was asked on, or the next one, if it began meanwhile)
    assert as_of in {before, datetime.now(UTC).date()}


@pytest.mark.parametrize(
    "text", ["", "2023-10", "2023-10-13T00:00:00Z", "2023-13-01", "13/10/2023"]
)
def test_invalid_as_of_names_the_parameter(text: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        parse_as_of(text)

    assert raised.value.name == "as_of"


@pytest.mark.parametrize(
    ("moment", "written"),
    [
        (datetime(2024, 2, 23, 10, 15, tzinfo=UTC), "2024-02-23T10:15:00.000000Z"),
        (datetime(2024, 2, 23, 10, 15, 0, 7, tzinfo=UTC), "2024-02-23T10:15:00.000007Z"),
        (
            datetime(2024, 2, 23, 12, 15, tzinfo=timezone(timedelta(hours=2))),
            "2024-02-23T10:15:00.000000Z",
        ),
    ],
)
def test_a_time_the_service_writes_is_utc_with_microseconds_always_the_same_width(
    moment: datetime, written: str
) -> None:
    assert format_time(moment) == written
