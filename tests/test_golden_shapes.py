"""Golden files pin the stored shape of every event type: a struct change that alters bytes fails.

Each `golden/<tag>.json` is the exact stored encoding (`encode(decode_event(body))`) of one fully
populated example, plus a trailing newline. If one of these tests fails, stored events would change
shape: add a field with a default or a new event type instead (STYLE, habit 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from msgspec import inspect

from events import TAGS, AnyEvent, decode_event, encode

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_FILES = sorted(GOLDEN.glob("*.json"))


def stored(path: Path) -> bytes:
    """The golden bytes of a file, without its trailing newline."""
    return path.read_bytes().removesuffix(b"\n")


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[path.stem for path in GOLDEN_FILES])
def test_golden_event_reencodes_to_the_same_bytes(path: Path) -> None:
    # given the stored encoding of an event
    golden = stored(path)

    # when it is decoded and encoded again
    reencoded = encode(decode_event(golden))

    # then not one byte differs
    assert reencoded == golden


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[path.stem for path in GOLDEN_FILES])
def test_golden_file_is_named_after_its_event_type(path: Path) -> None:
    event = decode_event(stored(path))

    assert str(event.__struct_config__.tag) == path.stem


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[path.stem for path in GOLDEN_FILES])
def test_golden_file_is_one_compact_line(path: Path) -> None:
    raw = path.read_bytes()

    assert raw.endswith(b"\n")
    assert b"\n" not in raw.removesuffix(b"\n")


def test_golden_files_cover_every_event_type() -> None:
    assert {path.stem for path in GOLDEN_FILES} == set(TAGS)


def _struct_fields(info: inspect.Type, found: set[tuple[str, str]]) -> None:
    """Every (struct, field) pair reachable from a type."""
    match info:
        case inspect.Metadata():
            _struct_fields(info.type, found)
        case inspect.UnionType():
            for member in info.types:
                _struct_fields(member, found)
        case inspect.ListType() | inspect.VarTupleType():
            _struct_fields(info.item_type, found)
        case inspect.StructType():
            pairs = {(info.cls.__name__, field.encode_name) for field in info.fields}
            if pairs <= found:  # already walked
                return
            found |= pairs
            for field in info.fields:
                _struct_fields(field.type, found)


def _present_fields(value: Any, info: inspect.Type, found: set[tuple[str, str]]) -> None:
    """The (struct, field) pairs a JSON value actually sets, walked along its type."""
    match info:
        case inspect.Metadata():
            _present_fields(value, info.type, found)
        case inspect.UnionType():
            for member in info.types:
                if isinstance(member, inspect.StructType) and (
                    member.tag_field is None or value.get(member.tag_field) == member.tag
                ):
                    _present_fields(value, member, found)
        case inspect.ListType() | inspect.VarTupleType() if isinstance(value, list):
            for item in value:
                _present_fields(item, info.item_type, found)
        case inspect.StructType() if isinstance(value, dict):
            for field in info.fields:
                if field.encode_name in value:
                    found.add((info.cls.__name__, field.encode_name))
                    _present_fields(value[field.encode_name], field.type, found)


def test_golden_files_together_set_every_field_of_every_struct() -> None:
    # given every field any event can store, nested values included
    event_type = inspect.type_info(AnyEvent)
    every_field: set[tuple[str, str]] = set()
    _struct_fields(event_type, every_field)

    # when the golden files are walked along the event types
    present: set[tuple[str, str]] = set()
    for path in GOLDEN_FILES:
        _present_fields(json.loads(stored(path)), event_type, present)

    # then each field appears in at least one golden file, so each stored shape is pinned
    assert every_field - present == set()


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[path.stem for path in GOLDEN_FILES])
def test_golden_event_sets_every_top_level_field_of_its_type(path: Path) -> None:
    event = decode_event(stored(path))

    keys = set(json.loads(stored(path)))

    assert keys == {"type"} | {field.encode_name for field in msgspec.structs.fields(event)}
