"""The EDTF subset of DESIGN §2 for `occurred`: dates, ~ ? % markers and intervals."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events import Edtf, EdtfError, parse_edtf
from events.edtf import Precision

# --- single dates at each precision -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lower", "upper", "precision"),
    [
        ("2023", date(2023, 1, 1), date(2023, 12, 31), "year"),
        ("2023-09", date(2023, 9, 1), date(2023, 9, 30), "month"),
        ("2023-12", date(2023, 12, 1), date(2023, 12, 31), "month"),
        ("2023-09-13", date(2023, 9, 13), date(2023, 9, 13), "day"),
    ],
)
def test_plain_date_covers_every_day_of_its_precision(
    text: str, lower: date, upper: date, precision: Precision
) -> None:
    # when a date without markers is parsed
    parsed = parse_edtf(text)

    # then it spans its year, month or day, and is neither approximate nor uncertain
    assert parsed == Edtf(
        text=text,
        lower=lower,
        upper=upper,
        precision=precision,
        approximate=False,
        uncertain=False,
    )


@pytest.mark.parametrize(
    ("marker", "approximate", "uncertain"),
    [("", False, False), ("~", True, False), ("?", False, True), ("%", True, True)],
)
@pytest.mark.parametrize(
    ("date_text", "lower", "upper", "precision"),
    [
        ("2022", date(2022, 1, 1), date(2022, 12, 31), "year"),
        ("2022-11", date(2022, 11, 1), date(2022, 11, 30), "month"),
        ("2022-11-18", date(2022, 11, 18), date(2022, 11, 18), "day"),
    ],
)
def test_marker_sets_approximate_and_uncertain_without_moving_the_bounds(
    date_text: str,
    lower: date,
    upper: date,
    precision: Precision,
    marker: str,
    approximate: bool,
    uncertain: bool,
) -> None:
    # given a date at some precision with one of the markers ~ ? % (or none)
    text = date_text + marker

    # when it is parsed
    parsed = parse_edtf(text)

    # then the text is kept as given, the bounds are those of the bare date, and the flags follow
    # the marker: ~ approximate, ? uncertain, % both
    assert parsed == Edtf(text, lower, upper, precision, approximate, uncertain)


def test_month_precision_ends_on_the_last_day_of_a_30_day_month() -> None:
    assert parse_edtf("2022-09").upper == date(2022, 9, 30)


def test_february_of_a_leap_year_has_29_days() -> None:
    assert parse_edtf("2024-02").upper == date(2024, 2, 29)


def test_february_of_a_common_year_has_28_days() -> None:
    assert parse_edtf("2023-02").upper == date(2023, 2, 28)


def test_february_29_is_accepted_in_a_leap_year() -> None:
    parsed = parse_edtf("2024-02-29")

    assert (parsed.lower, parsed.upper, parsed.precision) == (
        date(2024, 2, 29),
        date(2024, 2, 29),
        "day",
    )


def test_february_29_is_accepted_in_a_leap_year_divisible_by_400() -> None:
    assert parse_edtf("2000-02-29").lower == date(2000, 2, 29)


@pytest.mark.parametrize("text", ["2023-02-29", "1900-02-29", "2100-02-29"])
def test_february_29_is_refused_outside_leap_years(text: str) -> None:
    with pytest.raises(EdtfError, match="not a real date"):
        parse_edtf(text)


# --- intervals ---------------------------------------------------------------------------------


def test_interval_from_a_month_to_a_day_spans_first_day_to_that_day() -> None:
    # given "since September 2023", said on 2024-02-23 (DOMAIN rule 4)
    parsed = parse_edtf("2023-09/2024-02-23")

    # then it runs from the first day of the start month to the day it was said
    assert parsed == Edtf(
        text="2023-09/2024-02-23",
        lower=date(2023, 9, 1),
        upper=date(2024, 2, 23),
        precision="day",
        approximate=False,
        uncertain=False,
    )


def test_interval_between_two_days() -> None:
    parsed = parse_edtf("2022-11-18/2022-11-19")

    assert (parsed.lower, parsed.upper, parsed.precision) == (
        date(2022, 11, 18),
        date(2022, 11, 19),
        "day",
    )


def test_interval_of_two_years_has_year_precision() -> None:
    parsed = parse_edtf("2022/2023")

    assert (parsed.lower, parsed.upper, parsed.precision) == (
        date(2022, 1, 1),
        date(2023, 12, 31),
        "year",
    )


def test_interval_takes_the_finest_precision_of_its_ends() -> None:
    assert parse_edtf("2022/2023-03").precision == "month"
    assert parse_edtf("2022-03-04/2023").precision == "day"


def test_interval_within_one_month_is_accepted() -> None:
    # a start at month precision and an end inside that month do not form a reversed interval
    parsed = parse_edtf("2023-09/2023-09-07")

    assert (parsed.lower, parsed.upper) == (date(2023, 9, 1), date(2023, 9, 7))


def test_interval_of_one_and_the_same_day_is_accepted() -> None:
    parsed = parse_edtf("2024-01-02/2024-01-02")

    assert parsed.lower == parsed.upper == date(2024, 1, 2)


def test_open_start_leaves_lower_unbounded() -> None:
    # given "months before the war", up to 2022-02-23
    parsed = parse_edtf("../2022-02-23")

    assert parsed == Edtf(
        text="../2022-02-23",
        lower=None,
        upper=date(2022, 2, 23),
        precision="day",
        approximate=False,
        uncertain=False,
    )


def test_open_end_leaves_upper_unbounded() -> None:
    parsed = parse_edtf("2022-07/..")

    assert parsed == Edtf(
        text="2022-07/..",
        lower=date(2022, 7, 1),
        upper=None,
        precision="month",
        approximate=False,
        uncertain=False,
    )


def test_unknown_end_leaves_upper_unbounded() -> None:
    parsed = parse_edtf("2023-09/")

    assert parsed == Edtf(
        text="2023-09/",
        lower=date(2023, 9, 1),
        upper=None,
        precision="month",
        approximate=False,
        uncertain=False,
    )


def test_unknown_start_leaves_lower_unbounded() -> None:
    parsed = parse_edtf("/2022-02-23")

    assert (parsed.lower, parsed.upper, parsed.precision) == (None, date(2022, 2, 23), "day")


def test_markers_on_either_end_of_an_interval_mark_the_whole_interval() -> None:
    # given an approximate start and an uncertain end
    parsed = parse_edtf("2022-12~/2023-03?")

    # then the bounds are those of the bare months and both flags are set
    assert parsed == Edtf(
        text="2022-12~/2023-03?",
        lower=date(2022, 12, 1),
        upper=date(2023, 3, 31),
        precision="month",
        approximate=True,
        uncertain=True,
    )


def test_approximate_ends_leave_the_interval_certain() -> None:
    parsed = parse_edtf("2022-12~/2023-03~")

    assert (parsed.approximate, parsed.uncertain) == (True, False)


def test_both_marker_on_an_open_interval_end() -> None:
    parsed = parse_edtf("../2022%")

    assert (parsed.lower, parsed.upper) == (None, date(2022, 12, 31))
    assert (parsed.approximate, parsed.uncertain) == (True, True)


def test_approximate_year_alone() -> None:
    parsed = parse_edtf("2022~")

    assert parsed == Edtf(
        text="2022~",
        lower=date(2022, 1, 1),
        upper=date(2022, 12, 31),
        precision="year",
        approximate=True,
        uncertain=False,
    )


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "yesterday",
        "23",
        "202",
        "20230",
        "2023-",
        "2023-9",
        "2023-1-01",
        "2023-01-1",
        "2023/01/01",
        "01-09-2023",
        "2023.09.01",
        "2023-09-01T00:00",
        "2023-09-01Z",
        "+2023",
        "-2023",
        "2023~~",
        "2023~?",
        "~2023",
        "2023 ",
        " 2023",
        "2023-09 ",
        "2023-09/2024 ",
        "2023-09\n",
        "2023-13",
        "2023-00",
        "2023-09-00",
        "2023-09-31",
        "2024-02-30",
        "0000",
        "2023-09/2024-02/2024-03",
        "2023//2024",
        "/",
        "../..",
        "../",
        "/..",
        "...",
        "2023/...",
        "2023/foo",
        "2023-13/2024",
        "2023/2024-13",
    ],
)
def test_text_outside_the_subset_is_refused(text: str) -> None:
    with pytest.raises(EdtfError):
        parse_edtf(text)


@pytest.mark.parametrize(
    "text",
    [
        "\uff12\uff10\uff12\uff13",  # fullwidth 2023
        "\u0662\u0660\u0662\u0663-\u0660\u0661",  # Arabic-Indic 2023-01
        "2023-\uff10\uff19",  # fullwidth month
    ],
)
def test_digits_of_other_scripts_are_refused(text: str) -> None:
    # `int()` understands these digits, but EDTF is ASCII
    with pytest.raises(EdtfError):
        parse_edtf(text)


@pytest.mark.parametrize("text", ["2024-02-23/2023-09", "2024/2023", "2023-09-02/2023-09-01"])
def test_interval_that_ends_before_it_starts_is_refused(text: str) -> None:
    with pytest.raises(EdtfError, match="ends before it starts"):
        parse_edtf(text)


@pytest.mark.parametrize(
    ("text", "lower", "upper"),
    [
        ("2024-06/2024", date(2024, 6, 1), date(2024, 12, 31)),  # ends within its end's year
        ("2024-03-15/2024-03", date(2024, 3, 15), date(2024, 3, 31)),
        ("2024/2024-01", date(2024, 1, 1), date(2024, 1, 31)),  # starts with its end's year
    ],
)
def test_interval_whose_start_lies_within_its_coarser_end_is_accepted(
    text: str, lower: date, upper: date
) -> None:
    parsed = parse_edtf(text)
    assert (parsed.lower, parsed.upper) == (lower, upper)


@pytest.mark.parametrize("text", ["/", "../..", "../", "/.."])
def test_interval_without_a_known_end_is_refused(text: str) -> None:
    with pytest.raises(EdtfError, match="at least one known end"):
        parse_edtf(text)


def test_interval_with_two_slashes_is_refused() -> None:
    with pytest.raises(EdtfError, match="exactly one '/'"):
        parse_edtf("2022/2023/2024")


def test_refusal_message_quotes_the_text() -> None:
    with pytest.raises(EdtfError, match="'2023-1-01'"):
        parse_edtf("2023-1-01")


def test_edtf_error_is_a_value_error() -> None:
    # callers that only know ValueError still catch it
    with pytest.raises(ValueError):
        parse_edtf("garbage")


# --- property ----------------------------------------------------------------------------------

_FORMATS: dict[Precision, str] = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d"}


@given(
    day=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    precision=st.sampled_from(["year", "month", "day"]),
    marker=st.sampled_from(["", "~", "?", "%"]),
)
def test_any_date_at_any_precision_parses_to_bounds_around_it(
    day: date, precision: Precision, marker: str
) -> None:
    # given a real date formatted at some precision, with or without a marker
    text = day.strftime(_FORMATS[precision]) + marker

    # when it is parsed
    parsed = parse_edtf(text)

    # then its bounds are ordered and contain the date, at the precision it was written in
    assert parsed.lower is not None and parsed.upper is not None
    assert parsed.lower <= day <= parsed.upper
    assert parsed.precision == precision
    assert parsed.text == text
    assert parsed.approximate is (marker in ("~", "%"))
    assert parsed.uncertain is (marker in ("?", "%"))
    if precision == "day":
        assert parsed.lower == parsed.upper == day
    if precision in ("year", "month"):
        assert parsed.lower.day == 1
        assert parsed.upper.month == (12 if precision == "year" else day.month)
        assert parsed.lower.month == (1 if precision == "year" else day.month)


@given(
    first=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    second=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
)
def test_any_ordered_pair_of_days_forms_an_interval_between_them(first: date, second: date) -> None:
    start, stop = sorted((first, second))

    parsed = parse_edtf(f"{start.isoformat()}/{stop.isoformat()}")

    assert (parsed.lower, parsed.upper, parsed.precision) == (start, stop, "day")
