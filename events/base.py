"""Shared bases: the value-struct configuration and validation errors that name the field."""

from __future__ import annotations

import msgspec

# Patterns of free text, named in refusals by `events.codec`.
LINE = r"^(?=.*\S)[^\x00-\x1f\x7f]*$"  # one line of text, not blank, no control characters
# Text of several lines, not blank: tabs and line breaks, no other control character (PostgreSQL's
# text columns cannot hold NUL, and the read models keep reasons in such columns).
TEXT = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
URL = r"^https?://[^\s\x00-\x1f\x7f]+$"
# A code: units and item categories. A digit may come first (`152mm_shell`, `122mm_rocket`: a
# calibre leads in this field's names); a letter somewhere, so that a number is not a code.
CODE = r"^(?=[a-z0-9_]*[a-z])[a-z0-9][a-z0-9_]*$"


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
