"""The one encoder and decoder of events, and validation errors that name the field at fault."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import msgspec

from events.base import FieldError
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


def _problem(error: msgspec.ValidationError) -> Problem:
    message, _, path = str(error).partition(" - at `")
    path = path.rstrip("`") or "$"
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
