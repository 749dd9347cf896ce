"""Text that shows nothing, refused in new events where the patterns of `events.base` let it in.

Those patterns ask for one character that is not whitespace, and Python counts format
characters (U+200B zero width space, U+2060 word joiner, U+FEFF) as such: a title of one zero
width space passed, and so did an actor id `R\u200bUS` that no filter for `RUS` finds. Stored
events are decoded by the patterns alone (tightening them would make stored events unreadable),
so this check runs on new input only: the API's bodies and the lines of an import. So does the
refusal of a key given twice in one object, which msgspec would read as its last value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import msgspec

from events.catalogue import AnyEvent
from events.codec import InvalidEvent, Problem, decode_batch, decode_event, refuse_repeated_keys
from events.values import Actors

_UNSEEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs"})  # controls, format characters, separators
SHOWS_NOTHING = "shows nothing"  # in each refusal of text that shows nothing
HIDES = "holds an unseen character"  # in each refusal of an actor id that hides one


def decode_new_event(data: bytes | str) -> AnyEvent:
    """`decode_event` of a body or line to store, refusing text that shows nothing and a key
    given twice."""
    event = decode_event(data)
    refuse_repeated_keys(data)
    if not plainly_seen(data) and not seen(event):
        _refuse(list(unseen(event, "$")))
    return event


def decode_new_batch(data: bytes | str) -> list[AnyEvent]:
    """`decode_batch` of a body to store, refusing text that shows nothing and a key given
    twice."""
    events = decode_batch(data)
    refuse_repeated_keys(data)
    if not plainly_seen(data) and not all(map(seen, events)):
        _refuse([p for i, event in enumerate(events) for p in unseen(event, f"$.events[{i}]")])
    return events


# In a JSON text msgspec has read, what could make a string show nothing or an actor id hide a
# character: an escape other than `\"`, `\\` and `\/` (each makes a visible character), a
# string of nothing or of spaces (which may also match across an escaped quote: that only
# sends the text to `seen`), and DEL (the one control character JSON lets in raw; msgspec
# refuses the others inside a string). Each is looked for on its own, led by a literal that
# `re` skips to: one alternation of them tried every position (3 ms for the batch benchmark's
# body, against 1 ms).
_DOUBTFUL = tuple(re.compile(p) for p in (rb'\\[^"\\/]', rb'""', rb'"  *"'))
_NON_ASCII = re.compile("[^\x00-\x7f]+")


def plainly_seen(data: bytes | str) -> bool:
    """Whether the JSON text `data`, which msgspec has read, shows at once that every text in
    it shows something and no actor id in it hides a character, so that `seen` would pass its
    events: no doubtful escape or blank string (`_DOUBTFUL`), no DEL, and no character outside
    ASCII in `_UNSEEN`. False when that is not plain from the text; `seen` then decides.

    Most bodies are plain: the batch benchmark's 1,000 events take 1 ms here against
    `seen`'s 6 ms, which ran on the server's event loop for every batch.
    """
    try:
        raw = data.encode() if isinstance(data, str) else bytes(data)
    except UnicodeError:  # a lone surrogate: let `seen` look
        return False
    if b"\x7f" in raw or any(doubtful.search(raw) for doubtful in _DOUBTFUL):
        return False
    if raw.isascii():  # printable but for the space: the blank strings are ruled out
        return True
    odd = set("".join(_NON_ASCII.findall(raw.decode(errors="replace"))))
    return not any(unicodedata.category(c) in _UNSEEN for c in odd)


def _refuse(problems: list[Problem]) -> None:
    if problems:
        raise InvalidEvent(problems)


def _shows(text: str) -> bool:
    """Whether a character of `text` is not in `_UNSEEN`. Most texts start with one: a printable
    character other than the space is in none of those categories, and `isprintable` is C."""
    first = text[:1]
    if first and first != " " and first.isprintable():
        return True
    return not all(unicodedata.category(c) in _UNSEEN for c in text)


def _hides(actor: str) -> str | None:
    """The first character of an actor id in `_UNSEEN` but a space separator, if any."""
    if actor.isprintable():  # none in Cc, Cf, Zl or Zp
        return None
    return next((c for c in actor if unicodedata.category(c) in _UNSEEN - {"Zs"}), None)


def seen(value: Any) -> bool:
    """Whether `unseen` finds nothing in `value`: its test without paths, generators or a call
    per field, since every new event takes it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            if not _shows(item):
                return False
        elif isinstance(item, Actors):
            for ids in msgspec.structs.astuple(item):
                for actor in ids if type(ids) is tuple else () if ids is None else (ids,):
                    if _hides(actor) is not None or not _shows(actor):
                        return False
        elif isinstance(item, msgspec.Struct):
            stack += msgspec.structs.astuple(item)
        elif type(item) is tuple or type(item) is list:
            stack += item
    return True


def unseen(value: Any, path: str) -> Iterator[Problem]:
    """A problem for each text of `value` that shows nothing, and each actor id that hides a
    character (which a reader, and a filter, would take for another actor)."""
    if isinstance(value, str):
        if not _shows(value):
            yield Problem(path, f"{SHOWS_NOTHING}: only spaces, zero-width or format characters")
    elif isinstance(value, Actors):
        for name in value.__struct_fields__:
            yield from _actor_ids(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield from unseen(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            yield from unseen(item, f"{path}[{index}]")


def _actor_ids(value: Any, path: str) -> Iterator[Problem]:
    ids = value if isinstance(value, tuple) else () if value is None else (value,)
    for index, actor in enumerate(ids):
        at = f"{path}[{index}]" if isinstance(value, tuple) else path
        hidden = _hides(actor)
        if hidden is not None:
            yield Problem(at, f"an actor id {HIDES} (U+{ord(hidden):04X})")
        else:
            yield from unseen(actor, at)
