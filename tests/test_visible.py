"""`seen`, the fast test every new event takes, agrees with `unseen`, which names the fields."""

from __future__ import annotations

import sys
import unicodedata

import msgspec
import pytest

from events import DevelopmentReported, decode_event
from events.values import Actors
from events.visible import seen, unseen
from tests import bodies

# One character of every general category (the first of each), and the ones the rule is about
_SAMPLES = sorted(
    {next(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == category)
     for category in {unicodedata.category(chr(c)) for c in range(0x3100)}}
    | set(" \t\n\u00a0\u00ad\u200b\u200d\u2028\u2029\u2060\u3000\ufeff\U000e0001")
)  # fmt: skip
_UNSEEN = {"Cc", "Cf", "Zl", "Zp", "Zs"}  # a text of these alone shows nothing
_HIDING = _UNSEEN - {"Zs"}  # an actor id holding one of these hides it
_TEXTS = [
    text
    for c in _SAMPLES
    for text in (c, c * 3, f" {c}", f"{c} ", f"a{c}", f"{c}a", f"R{c}US", f"{c}\u200b")
]


def _event() -> DevelopmentReported:
    event = decode_event(msgspec.json.encode(bodies.development_reported()))
    assert isinstance(event, DevelopmentReported)
    return event


@pytest.mark.parametrize("field", ["title", "supplier", "targets"])
def test_seen_is_true_exactly_where_unseen_names_nothing(field: str) -> None:
    event = _event()
    disagree = []
    for text in ["", *_TEXTS]:
        if field == "title":
            changed = msgspec.structs.replace(event, title=text)
        else:
            actors = Actors(supplier=text) if field == "supplier" else Actors(targets=("UKR", text))
            changed = msgspec.structs.replace(event, actors=actors)
        named = list(unseen(changed, "$"))
        categories = {unicodedata.category(c) for c in text}
        refused = categories <= _UNSEEN or (field != "title" and bool(categories & _HIDING))
        if seen(changed) != (not named) or bool(named) != refused:
            disagree.append((text, named))

    assert disagree == []
    assert not seen(msgspec.structs.replace(event, title="\u200b"))  # the test can fail


def test_an_event_of_visible_text_is_seen() -> None:
    assert seen(_event())
    assert list(unseen(_event(), "$")) == []
