"""What each field of a body expects, read from the struct types, for refusals that name the fix.

Built once at import by walking the types' annotations, so the allowed values of an
enumeration or the list of event types can never drift from the catalogue.
"""

from __future__ import annotations

import re
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import msgspec
from msgspec import UnsetType

_INDEX = re.compile(r"\[\d+\]")


class Expectation(msgspec.Struct, frozen=True):
    """What one field takes: its allowed values, or whether a correction replaces it whole."""

    choices: tuple[str, ...] = ()
    replaced_whole: bool = False


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types a field may hold, in declaration order, without `Annotated` constraints."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return tuple(member for arg in get_args(annotation) for member in _members(arg))
    return (annotation,)


def _walk(annotation: Any, path: str, found: dict[str, Expectation | None]) -> None:
    """Record what each field under `path` expects; a path read two ways records None."""
    members = _members(annotation)
    choices = [str(v) for m in members if get_origin(m) is Literal for v in get_args(m)]
    if choices and type(None) in members:
        choices.append("null")
    if choices:
        _note(found, path, Expectation(tuple(choices)))
    structs = [m for m in members if isinstance(m, type) and issubclass(m, msgspec.Struct)]
    if structs and UnsetType in members:
        _note(found, path, Expectation(replaced_whole=True))
    tagged = [s for s in structs if s.__struct_config__.tag_field is not None]
    if len(tagged) > 1:
        tag_field = tagged[0].__struct_config__.tag_field
        tags = tuple(str(s.__struct_config__.tag) for s in tagged)
        _note(found, f"{path}.{tag_field}", Expectation(tags))
    for struct in structs:
        hints = get_type_hints(struct, include_extras=True)
        for name, encoded in zip(
            struct.__struct_fields__, struct.__struct_encode_fields__, strict=True
        ):
            _walk(hints[name], f"{path}.{encoded}", found)
    for member in members:
        origin = get_origin(member)
        if origin is list or (origin is tuple and get_args(member)[-1:] == (...,)):
            _walk(get_args(member)[0], f"{path}[]", found)


def _note(found: dict[str, Expectation | None], path: str, expectation: Expectation) -> None:
    if path in found and found[path] != expectation:
        found[path] = None  # two event types read this path differently: promise neither
    else:
        found[path] = expectation


def expectations(*roots: Any) -> dict[str, Expectation]:
    """What each field path (list indexes written `[]`) under the given root types expects."""
    found: dict[str, Expectation | None] = {}
    for root in roots:
        _walk(root, "$", found)
    return {path: expected for path, expected in found.items() if expected is not None}


def lookup(table: dict[str, Expectation], path: str) -> Expectation | None:
    """What the field at a refusal's `path` expects, if the types say."""
    return table.get(_INDEX.sub("[]", path))
