"""Figures stated by reports, and the bounds each qualifier implies."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from events.base import CODE, TEXT, FieldError, Value

Qualifier = Literal[
    "exact",
    "about",
    "at_least",
    "more_than",
    "up_to",
    "fewer_than",
    "range",
    "order_of_magnitude",
    "unspecified",
]
Basis = Literal["increment", "cumulative"]
Quantity = (
    Annotated[int, msgspec.Meta(ge=0, le=10**15)] | Annotated[float, msgspec.Meta(ge=0, le=1e15)]
)
Unit = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=40,
        pattern=CODE,
        description="A singular noun in snake_case: container, round, missile, uav, tonne, …",
    ),
]

# Units this field counts in, in the singular (DESIGN §3 names most of them). A new event is
# refused a unit written as one's plural (`service.domain.decide`): `missile` and `missiles`
# of one originator would be two delivery series, a running total in one spelling never
# replacing the figures in the other. Other words pass: a pattern cannot tell a plural.
UNITS = (
    "battery", "box", "container", "crate", "drone", "gun", "howitzer", "launcher", "missile",
    "piece", "railcar", "rocket", "round", "shell", "ship", "shipment", "system", "tank",
    "ton", "tonne", "train", "uav", "vehicle", "wagon",
)  # fmt: skip
_PLURALS = {
    plural: unit
    for unit in UNITS
    for plural in (unit + "s", unit + "es", unit[:-1] + "ies" if unit.endswith("y") else "")
    if plural
}


def singular_of(unit: str) -> str | None:
    """The singular of `unit` when it is the plural of a unit of `UNITS`, alone or after a
    qualifying word (`artillery_shells`: `artillery_shell`); None for any other unit."""
    head, _, last = unit.rpartition("_")
    singular = _PLURALS.get(last)
    if singular is None:
        return None
    return f"{head}_{singular}" if head else singular


_NEEDS_VALUE = frozenset(
    {"exact", "about", "at_least", "more_than", "up_to", "fewer_than", "order_of_magnitude"}
)


def _absent(*names: str) -> dict[str, Any]:
    """JSON Schema properties that are absent or null."""
    return {name: {"type": "null"} for name in names}


class Bounds(msgspec.Struct, frozen=True):
    """The interval [low, high] a figure allows; `high` is None when unbounded."""

    low: float
    high: float | None


def added(a: float, b: float) -> float:
    """`a + b` as the decimals the sources wrote: 1.1 + 2.2 is 3.3, where binary floats make it
    3.3000000000000003. Whole numbers add as floats, exactly up to 2**53."""
    if a % 1 == 0 and b % 1 == 0:  # whole, whether float or int
        return a + b
    return float(Decimal(repr(a)) + Decimal(repr(b)))


class Figure(Value, frozen=True):
    """A quantity a report states, with its qualifier and whether it is a running total."""

    unit: Unit
    qualifier: Qualifier = "exact"
    value: Quantity | None = None
    low: Quantity | None = None
    high: Quantity | None = None
    basis: Basis = "increment"
    text: Annotated[str, msgspec.Meta(max_length=500, pattern=TEXT)] | None = None

    def __post_init__(self) -> None:
        if self.qualifier in _NEEDS_VALUE:
            if self.value is None:
                raise FieldError("value", f"qualifier {self.qualifier!r} needs a value")
            for name in ("low", "high"):
                if getattr(self, name) is not None:
                    raise FieldError(name, f"qualifier {self.qualifier!r} takes value, not {name}")
        elif self.qualifier == "range":
            if self.value is not None:
                raise FieldError("value", "qualifier 'range' takes low and high, not value")
            if self.low is None:
                raise FieldError("low", "qualifier 'range' needs low")
            if self.high is None:
                raise FieldError("high", "qualifier 'range' needs high")
            if self.low > self.high:
                raise FieldError("low", f"low {self.low} is greater than high {self.high}")
        else:
            for name in ("value", "low", "high"):
                if getattr(self, name) is not None:
                    raise FieldError(name, "qualifier 'unspecified' takes no number")

    # The rule of `__post_init__` on the numbers each qualifier takes, as JSON Schema (in the
    # OpenAPI document); that `low` is not above `high` it cannot say.
    RULE: ClassVar[dict[str, Any]] = {
        "allOf": [
            {
                "if": {"properties": {"qualifier": {"enum": sorted(_NEEDS_VALUE)}}},
                "then": {
                    "required": ["value"],
                    "properties": {"value": {"type": "number"}, **_absent("low", "high")},
                },
            },
            {
                "if": {"required": ["qualifier"], "properties": {"qualifier": {"const": "range"}}},
                "then": {
                    "required": ["low", "high"],
                    "properties": {
                        "low": {"type": "number"},
                        "high": {"type": "number"},
                        **_absent("value"),
                    },
                },
            },
            {
                "if": {
                    "required": ["qualifier"],
                    "properties": {"qualifier": {"const": "unspecified"}},
                },
                "then": {"properties": _absent("value", "low", "high")},
            },
        ]
    }

    def bounds(self) -> Bounds | None:
        """The bounds this figure allows, or None for an unspecified quantity."""
        q, v = self.qualifier, self.value
        if q == "unspecified":
            return None
        if q == "range":
            assert self.low is not None and self.high is not None
            return Bounds(float(self.low), float(self.high))
        assert v is not None
        if q in ("exact", "about"):
            return Bounds(float(v), float(v))
        if q in ("at_least", "more_than"):
            return Bounds(float(v), None)
        if q in ("up_to", "fewer_than"):
            return Bounds(0.0, float(v))
        ten_times = float(Decimal(repr(float(v))).scaleb(1))  # 0.3 gives 3, not 3.0000000000000004
        return Bounds(float(v), ten_times)  # order_of_magnitude
