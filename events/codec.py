"""The one encoder and decoder of events, and validation errors that name the field at fault."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any

import msgspec

from events.base import CODE, LINE, TEXT, URL, FieldError
from events.catalogue import AnyEvent
from events.expected import expectations, lookup


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


_NAMED_FIELD = re.compile(r"Object (missing required|contains unknown) field `(.*)`", re.S)


# What each pattern of the catalogue means, for people reading a refusal.
_PATTERNS = {
    CODE: "must be a snake_case code: a-z, 0-9 or `_`, a letter or digit first, a letter in it",
    URL: "must be an http:// or https:// URL without spaces or control characters",
    TEXT: "must be text: not blank, no control characters but tabs and line breaks",
    LINE: "must be one line of text: not blank, no control characters",
}
_REGEX_MESSAGE = re.compile(r"Expected `str` matching regex '(.*)'")

# What each field of a body expects, from the struct types; read only when a body is refused.
_EXPECTED = expectations(AnyEvent, Batch)
_WRONG_TYPE = re.compile(r"Expected `[^`]*`(, got `[^`]*`)?")
_BAD_ENUM = re.compile(r"Invalid (?:enum )?value .*", re.S)

# The formats msgspec reads times in, named as the query parameters name them.
_TEMPORAL = {
    "date": "a date YYYY-MM-DD",
    "time": "a time HH:MM:SS with an optional offset, such as 12:00:00Z",
    "datetime": "an RFC 3339 time with offset, such as 2024-03-01T12:00:00Z",
}
_BAD_TEMPORAL = re.compile(r"Invalid RFC3339 encoded (date|time|datetime)")
_WRONG_TEMPORAL = re.compile(r"Expected `(date|time|datetime)`(, got `[^`]*`)?")
_SHAPE = {"date": re.compile(r"\d{4}-\d{2}-\d{2}")}
_STEP = re.compile(r"\.(\w+)|\[(\d+)\]")


def _value_at(data: bytes | str, path: str) -> Any:
    """The JSON value at a refusal's `path`, or None when it cannot be read back."""
    try:
        value = msgspec.json.decode(data)
    except (ValueError, RecursionError):  # msgspec stopped at the error: the rest may be broken
        return None
    for name, index in _STEP.findall(path):
        try:
            value = value[name] if name else value[int(index)]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _temporal(kind: str, data: bytes | str, path: str) -> str:
    """A refusal of a date or time that echoes the text and names the format expected."""
    text = _value_at(data, path)
    if not isinstance(text, str):
        return f"Invalid {kind}: expected {_TEMPORAL[kind]}"
    shape = _SHAPE.get(kind)
    why = " (no such day)" if shape and shape.fullmatch(text) else ""
    shown = repr(text) if len(text) <= 60 else repr(text[:60]) + "…"
    return f"Invalid {kind} {shown}{why}: expected {_TEMPORAL[kind]}"


def in_words(message: str) -> str:
    """msgspec's message for a string not matching a pattern of the catalogue, said in words
    (`must be one line of text: ...`); any other message as it is."""
    regex = _REGEX_MESSAGE.fullmatch(message)
    if regex is None:
        return message
    # msgspec shows the pattern with its backslashes doubled
    return _PATTERNS.get(regex.group(1).replace("\\\\", "\\"), message)


def _member(path: str, name: str) -> str:
    """The JSONPath of an object's member `name`."""
    return f"{path}.{name}" if name.isidentifier() else f"{path}[{json.dumps(name)}]"


def _problem(error: msgspec.ValidationError, data: bytes | str) -> Problem:
    message, _, path = str(error).partition(" - at `")
    message = in_words(message)
    path = path.rstrip("`") or "$"
    named = _NAMED_FIELD.fullmatch(message)
    parent = path
    if named:  # msgspec puts a missing or unknown field's name in the message, not the path
        name = named.group(2)
        path = _member(path, name)
    cause = error.__cause__
    if isinstance(cause, FieldError):
        message = cause.message
        if cause.field:
            path = f"{path}.{cause.field}"
        return Problem(path=path, message=message)
    return Problem(path=path, message=_with_fix(message, path, parent, data, named))


def _with_fix(
    message: str, path: str, parent: str, data: bytes | str, named: re.Match[str] | None
) -> str:
    """msgspec's message with what the field expects, when the types or the format say."""
    temporal = _BAD_TEMPORAL.fullmatch(message)
    if temporal:
        return _temporal(temporal.group(1), data, path)
    wrong = _WRONG_TEMPORAL.fullmatch(message)
    if wrong:
        return f"Expected {_TEMPORAL[wrong.group(1)]}{wrong.group(2) or ''}"
    missing = named is not None and named.group(1) == "missing required"
    if missing:
        whole = lookup(_EXPECTED, parent)
        if whole and whole.replaced_whole:
            field = parent.rpartition(".")[2]
            return f"{message}: a correction replaces `{field}` whole, so give all its fields"
    expected = lookup(_EXPECTED, path)
    if not expected or not expected.choices:
        return message
    choices = ", ".join(expected.choices)
    wrong = _WRONG_TYPE.fullmatch(message)
    if wrong:
        return f"Expected one of: {choices}{wrong.group(1) or ''}"
    if missing or _BAD_ENUM.fullmatch(message):
        if path.endswith(".type") and _value_of(message) in expected.choices:
            # the first `type` chose the event; a second one that names another cannot be it
            return f"{message}: `type` is given more than once, with different values"
        return f"{message}: expected one of: {choices}"
    return message


# A high surrogate escape (after an even run of backslashes) not followed by a low one: msgspec
# calls that "Input data was truncated"
_LONE_SURROGATE = re.compile(
    rb"(?<!\\)(?:\\\\)*(\\u[dD][89abAB][0-9a-fA-F]{2})(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
)


def _malformed(message: str, data: bytes | str) -> str:
    """msgspec's message for JSON it could not parse, naming a lone surrogate for what it is."""
    if message == "Input data was truncated":
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        lone = _LONE_SURROGATE.search(raw)
        if lone:
            escape = lone.group(1).decode()
            return f"JSON is malformed: a lone utf-16 surrogate {escape} (byte {lone.start(1)})"
    return message


def _value_of(message: str) -> str | None:
    """The value a msgspec "Invalid value 'x'" message names, when it is a string."""
    found = re.fullmatch(r"Invalid (?:enum )?value '(.*)'", message, re.S)
    return None if found is None else found.group(1)


def decode_json(decoder: msgspec.json.Decoder[Any], data: bytes | str) -> Any:
    """Decode a JSON body with `decoder`, raising `InvalidEvent` that names the field at fault
    (`malformed`: not JSON at all)."""
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as error:
        raise InvalidEvent([_problem(error, data)]) from None
    except msgspec.DecodeError as error:
        raise InvalidEvent([Problem("$", _malformed(str(error), data))], malformed=True) from None
    except UnicodeError:  # msgspec lets invalid UTF-8 inside a string escape as this
        raise InvalidEvent(
            [Problem("$", "JSON is malformed: not valid UTF-8")], malformed=True
        ) from None
    except RecursionError:  # arrays or objects nested past Python's recursion limit
        raise InvalidEvent(
            [Problem("$", "JSON is malformed: nested too deeply")], malformed=True
        ) from None


class _Pairs(list[tuple[str, Any]]):
    """A JSON object read as its key-value pairs in order, a repeated key kept."""


class _Repeated(Exception):
    pass


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> None:
    if len(pairs) != len({key for key, _ in pairs}):
        raise _Repeated


_UNREPEATED = json.JSONDecoder(object_pairs_hook=_refuse_repeats)


def refuse_repeated_keys(data: bytes | str) -> None:
    """Raise `InvalidEvent` naming the first key given twice in one object of a JSON body that
    msgspec has read: it keeps the last value, so `"status": "alleged", "status": "refuted"`
    would be read as one of the two without a word."""
    try:
        # msgspec read it as UTF-8 (a msgspec.Raw too); a decoder made once costs half as much
        text = data if isinstance(data, str) else bytes(data).decode()
        _UNREPEATED.decode(text)
    except _Repeated:
        found = _first_repeat(json.loads(text, object_pairs_hook=_Pairs), "$")
        if found is not None:
            path, key = found
            message = f"`{key}` is given more than once in this object"
            raise InvalidEvent([Problem(path, message)]) from None
    except (ValueError, RecursionError):  # read by msgspec but not by json: nothing to add
        return


def _first_repeat(value: Any, path: str) -> tuple[str, str] | None:
    """The path and key of the first key, in the order of the text, given twice in its object."""
    if isinstance(value, _Pairs):
        keys: set[str] = set()
        for key, item in value:
            at = _member(path, key)
            if key in keys:
                return at, key
            keys.add(key)
            found = _first_repeat(item, at)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_repeat(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def decode_event(data: bytes | str) -> AnyEvent:
    """Decode and validate one event, raising `InvalidEvent` that names the field at fault."""
    event: AnyEvent = decode_json(_event_decoder, data)
    return event


def decode_batch(data: bytes | str) -> list[AnyEvent]:
    """Decode and validate a batch body `{"events": [...]}` (1 to 1,000 events)."""
    batch: Batch = decode_json(_batch_decoder, data)
    return batch.events


def encode(value: Any) -> bytes:
    """Encode any struct or plain value as compact JSON with a stable key order."""
    return _encoder.encode(value)


def digest(event: AnyEvent) -> str:
    """A stable fingerprint of an event's fields, for idempotency checks."""
    return hashlib.sha256(_encoder.encode(event)).hexdigest()
