"""The one encoder and decoder of events, and validation errors that name the field at fault."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any

import msgspec

from events.base import LINE, TEXT, URL, FieldError
from events.catalogue import AnyEvent


class Problem(msgspec.Struct, frozen=True):
    """One validation failure: a JSONPath to the field at fault and what is wrong with it."""

    path: str
    message: str


class InvalidEvent(ValueError):
    """Raised when a body is not valid JSON or not a valid event; `errors` name the fields."""

    def __init__(self, errors: list[Problem], *, malformed: bool = False) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in errors))
        self.errors = errors
        self.malformed = malformed


class Batch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of `POST /api/events/batch`."""

    events: Annotated[list[AnyEvent], msgspec.Meta(min_length=1, max_length=1000)]


_encoder = msgspec.json.Encoder(order="deterministic")
_event_decoder = msgspec.json.Decoder(AnyEvent)
_batch_decoder = msgspec.json.Decoder(Batch)


_NAMED_FIELD = re.compile(r"Object (?:missing required|contains unknown) field `(.*)`", re.S)


# What each pattern of the catalogue means, for people reading a refusal.
_PATTERNS = {
    "^[a-z][a-z0-9_]*$": "must be a lower-case snake_case word, such as `munitions_unspecified`",
    URL: "must be an http:// or https:// URL without spaces or control characters",
    TEXT: "must be text: not blank, no control characters but tabs and line breaks",
    LINE: "must be one line of text: not blank, no control characters",
}
_REGEX_MESSAGE = re.compile(r"Expected `str` matching regex '(.*)'")


def _problem(error: msgspec.ValidationError) -> Problem:
    message, _, path = str(error).partition(" - at `")
    regex = _REGEX_MESSAGE.fullmatch(message)
    if regex:
        # msgspec shows the pattern with its backslashes doubled
        message = _PATTERNS.get(regex.group(1).replace("\\\\", "\\"), message)
    path = path.rstrip("`") or "$"
    named = _NAMED_FIELD.fullmatch(message)
    if named:  # msgspec puts a missing or unknown field's name in the message, not the path
        name = named.group(1)
        path += f".{name}" if name.isidentifier() else f"[{json.dumps(name)}]"
    cause = error.__cause__
    if isinstance(cause, FieldError):
        message = cause.message
        if cause.field:
            path = f"{path}.{cause.field}"
    return Problem(path=path, message=message)


def _decode(decoder: msgspec.json.Decoder[Any], data: bytes | str) -> Any:
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as error:
        raise InvalidEvent([_problem(error)]) from None
    except msgspec.DecodeError as error:
        raise InvalidEvent([Problem("$", str(error))], malformed=True) from None
    except UnicodeError:  # msgspec lets invalid UTF-8 inside a string escape as this
        raise InvalidEvent(
            [Problem("$", "JSON is malformed: not valid UTF-8")], malformed=True
        ) from None
    except RecursionError:  # arrays or objects nested past Python's recursion limit
        raise InvalidEvent(
            [Problem("$", "JSON is malformed: nested too deeply")], malformed=True
        ) from None


def decode_event(data: bytes | str) -> AnyEvent:
    """Decode and validate one event, raising `InvalidEvent` that names the field at fault."""
    event: AnyEvent = _decode(_event_decoder, data)
    return event


def decode_batch(data: bytes | str) -> list[AnyEvent]:
    """Decode and validate a batch body `{"events": [...]}` (1 to 1,000 events)."""
    batch: Batch = _decode(_batch_decoder, data)
    return batch.events


def encode(value: Any) -> bytes:
    """Encode any struct or plain value as compact JSON with a stable key order."""
    return _encoder.encode(value)


def digest(event: AnyEvent) -> str:
    """A stable fingerprint of an event's fields, for idempotency checks."""
    return hashlib.sha256(_encoder.encode(event)).hexdigest()
