"""Shared bases: the value-struct configuration and validation errors that name the field."""

from __future__ import annotations

import msgspec


class FieldError(ValueError):
    """A cross-field rule broken inside a struct; `field` is the name of the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Value(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    omit_defaults=True,
    gc=False,
):
    """Base of every value type: immutable, strict on input, compact when stored.

    Not tracked by the garbage collector (`gc=False`): values hold only strings, numbers,
    tuples and other values, so they cannot form a cycle, and a batch decodes thousands.
    """
