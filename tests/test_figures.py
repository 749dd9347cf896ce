"""Figures and the bounds each qualifier implies (DESIGN §3, the qualifier table)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from events import Bounds, FieldError, Figure
from events.figures import Qualifier, added

_figure_decoder = msgspec.json.Decoder(Figure)


def figure(**fields: Any) -> Figure:
    """Decode a figure from JSON fields, as the wire does, so validation runs."""
    return _figure_decoder.decode(msgspec.json.encode({"unit": "container", **fields}))


def refusal(**fields: Any) -> FieldError:
    """The field error behind a refused figure."""
    with pytest.raises(msgspec.ValidationError) as raised:
        figure(**fields)
    cause = raised.value.__cause__
    assert isinstance(cause, FieldError), f"expected a FieldError, got {cause!r}"
    return cause


# --- bounds ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qualifier", "value", "expected"),
    [
        ("exact", 1000, Bounds(1000.0, 1000.0)),
        ("about", 1000, Bounds(1000.0, 1000.0)),
        ("at_least", 24, Bounds(24.0, None)),
        ("more_than", 10_000, Bounds(10_000.0, None)),
        ("up_to", 300, Bounds(0.0, 300.0)),
        ("fewer_than", 300, Bounds(0.0, 300.0)),
        ("order_of_magnitude", 1_000_000, Bounds(1_000_000.0, 10_000_000.0)),
    ],
)
def test_value_qualifier_gives_the_bounds_of_the_design_table(
    qualifier: Qualifier, value: int, expected: Bounds
) -> None:
    # given a figure with a qualifier that takes a value
    stated = figure(qualifier=qualifier, value=value)

    # then its bounds are those of DESIGN §3
    assert stated.bounds() == expected


def test_exact_is_the_default_qualifier() -> None:
    # given "5 railcars" with no qualifier
    stated = figure(unit="railcar", value=5)

    assert stated.qualifier == "exact"
    assert stated.bounds() == Bounds(5.0, 5.0)


def test_range_gives_low_and_high() -> None:
    stated = figure(qualifier="range", low=12, high=36)

    assert stated.bounds() == Bounds(12.0, 36.0)


def test_range_with_equal_ends_is_a_single_point() -> None:
    stated = figure(qualifier="range", low=7, high=7)

    assert stated.bounds() == Bounds(7.0, 7.0)


def test_unspecified_has_no_bounds() -> None:
    # given "a significant number" of shells
    stated = figure(unit="round", qualifier="unspecified")

    # then it counts as a report but adds nothing
    assert stated.bounds() is None


def test_fractional_value_keeps_its_fraction() -> None:
    stated = figure(unit="tonne", qualifier="about", value=2.5)

    assert stated.bounds() == Bounds(2.5, 2.5)


def test_zero_is_a_valid_value() -> None:
    # "not a single container" is a figure too
    assert figure(value=0).bounds() == Bounds(0.0, 0.0)


def test_order_of_magnitude_of_zero_stays_zero() -> None:
    assert figure(qualifier="order_of_magnitude", value=0).bounds() == Bounds(0.0, 0.0)


def test_bounds_are_floats_even_for_integer_values() -> None:
    bounds = figure(qualifier="more_than", value=1000).bounds()

    assert bounds is not None
    assert isinstance(bounds.low, float)
    assert bounds.high is None


# --- required and forbidden numbers per qualifier ----------------------------------------------

_VALUE_QUALIFIERS: list[Qualifier] = [
    "exact",
    "about",
    "at_least",
    "more_than",
    "up_to",
    "fewer_than",
    "order_of_magnitude",
]


@pytest.mark.parametrize("qualifier", _VALUE_QUALIFIERS)
def test_value_qualifier_without_value_is_refused_on_value(qualifier: Qualifier) -> None:
    error = refusal(qualifier=qualifier)

    assert error.field == "value"
    assert qualifier in error.message


@pytest.mark.parametrize("qualifier", _VALUE_QUALIFIERS)
@pytest.mark.parametrize("extra", ["low", "high"])
def test_value_qualifier_refuses_low_and_high(qualifier: Qualifier, extra: str) -> None:
    # given a value qualifier that also names a low or a high
    error = refusal(qualifier=qualifier, value=10, **{extra: 5})

    # then the stray bound is named
    assert error.field == extra


@pytest.mark.parametrize("qualifier", _VALUE_QUALIFIERS)
def test_value_qualifier_with_only_low_and_high_is_refused_on_value(qualifier: Qualifier) -> None:
    assert refusal(qualifier=qualifier, low=1, high=2).field == "value"


def test_range_without_low_is_refused_on_low() -> None:
    assert refusal(qualifier="range", high=10).field == "low"


def test_range_without_high_is_refused_on_high() -> None:
    assert refusal(qualifier="range", low=10).field == "high"


def test_range_with_a_value_is_refused_on_value() -> None:
    assert refusal(qualifier="range", value=5, low=1, high=10).field == "value"


@pytest.mark.parametrize(("low", "high"), [(36, 12), (7.5, 7), (7, 6.999)])
def test_range_with_low_above_high_is_refused_on_low(low: float, high: float) -> None:
    error = refusal(qualifier="range", low=low, high=high)

    assert error.field == "low"
    assert "greater than high" in error.message


def test_range_with_low_equal_to_high_is_taken() -> None:
    assert Figure(unit="uav", qualifier="range", low=7, high=7).bounds() == Bounds(7.0, 7.0)


@pytest.mark.parametrize("number", ["value", "low", "high"])
def test_unspecified_refuses_any_number(number: str) -> None:
    assert refusal(qualifier="unspecified", **{number: 1}).field == number


# --- numbers, units, basis ---------------------------------------------------------------------


@pytest.mark.parametrize("number", [-1, -0.5])
@pytest.mark.parametrize("field", ["value", "low", "high"])
def test_negative_numbers_are_refused(field: str, number: float) -> None:
    fields: dict[str, Any] = {"qualifier": "range", "low": 0, "high": 10}
    if field == "value":
        fields = {"qualifier": "exact"}
    fields[field] = number

    with pytest.raises(msgspec.ValidationError, match=rf"\$\.{field}"):
        figure(**fields)


def test_number_above_a_quadrillion_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.value"):
        figure(value=10**15 + 1)


def test_boolean_is_not_a_number() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.value"):
        figure(value=True)


def test_numeric_string_is_not_a_number() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.value"):
        figure(value="1000")


def test_basis_defaults_to_increment() -> None:
    assert figure(value=1000).basis == "increment"


def test_cumulative_basis_is_kept() -> None:
    stated = figure(qualifier="more_than", value=10_000, basis="cumulative")

    assert stated.basis == "cumulative"
    assert stated.bounds() == Bounds(10_000.0, None)


def test_unknown_basis_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.basis"):
        figure(value=1, basis="total")


def test_unknown_qualifier_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.qualifier"):
        figure(value=1, qualifier="roughly")


@pytest.mark.parametrize("unit", ["", "Containers", "152", "shell rounds", "x" * 41])
def test_unit_that_is_not_a_snake_case_noun_is_refused(unit: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.unit"):
        figure(unit=unit, value=1)


def test_figure_without_unit_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="unit"):
        _figure_decoder.decode(b'{"value": 1}')


def test_figure_text_keeps_the_wording() -> None:
    stated = figure(unit="round", qualifier="order_of_magnitude", value=1_000_000, text="millions")

    assert stated.text == "millions"


def test_figure_text_longer_than_500_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.text"):
        figure(value=1, text="x" * 501)


def test_defaults_are_omitted_when_stored() -> None:
    # given a figure that states only its unit and value
    stated = figure(value=1000)

    # then the stored form carries neither the default qualifier nor the default basis
    assert msgspec.json.encode(stated) == b'{"unit":"container","value":1000}'


@pytest.mark.parametrize(
    ("a", "b", "total"),
    [
        (1.1, 2.2, 3.3),  # binary floats: 3.3000000000000003
        (0.1, 0.2, 0.3),
        (3.3, 0.1, 3.4),
        (1000.0, 24.0, 1024.0),
        (1000, 0.5, 1000.5),  # an int, as a piece built by hand may hold
        (999_999_999_999_999.0, 1.0, 1_000_000_000_000_000.0),
    ],
)
def test_figures_add_as_the_decimals_written(a: float, b: float, total: float) -> None:
    assert added(a, b) == total
    assert repr(added(a, b)) == repr(total)
