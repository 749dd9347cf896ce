"""`seen`, the fast test every new event takes, agrees with `unseen`, which names the fields;
`plainly_seen`, which reads the JSON text before either, never passes what `seen` refuses."""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from events import DevelopmentReported, InvalidEvent, decode_event, decode_new_batch
from events.values import Actors
from events.visible import plainly_seen, seen, unseen
from tests import bodies

# One character of every general category (the first of each), and the ones the rule is about
_SAMPLES = sorted(
    {next(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == category)
     for category in {unicodedata.category(chr(c)) for c in range(0x3100)}}
    | set(" \t\n\x7f\x85\u00a0\u00ad\u200b\u200d\u2028\u2029\u2060\u3000\ufeff\U000e0001")
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


def _body(field: str, text: str) -> dict[str, Any]:
    if field == "title":
        return bodies.development_reported(title=text)
    if field == "quote":
        return bodies.development_reported(report=bodies.report(quote=text))
    actors = {"supplier": text} if field == "supplier" else {"targets": ["UKR", text]}
    return bodies.development_reported(actors=actors)


def _json_texts(body: dict[str, Any]) -> list[str]:
    """The body as JSON in the ways clients write it: escaped to ASCII or not, compact or not,
    slashes escaped or not."""
    texts = [json.dumps(body, ensure_ascii=ascii) for ascii in (True, False)]
    texts.append(json.dumps(body, ensure_ascii=False, separators=(",", ":"), indent=1))
    return [*texts, texts[1].replace("/", "\\/")]


def _plain_but_not_seen(field: str, text: str) -> list[str]:
    """The JSON texts of a body holding `text` that `plainly_seen` passes but `seen` refuses."""
    wrong = []
    for data in _json_texts(_body(field, text)):
        try:
            event = decode_event(data)
        except InvalidEvent:  # refused by a pattern or a length: no further check runs
            continue
        if plainly_seen(data) and not seen(event):
            wrong.append(data)
    return wrong


@pytest.mark.parametrize("field", ["title", "quote", "supplier", "targets"])
def test_plainly_seen_passes_only_bodies_that_seen_passes(field: str) -> None:
    wrong = [(text, data) for text in ["", *_TEXTS] for data in _plain_but_not_seen(field, text)]

    assert wrong == []


@given(
    field=st.sampled_from(["title", "quote", "supplier", "targets"]),
    text=st.text(st.sampled_from([*_SAMPLES, "a", "\\", '"', "/", "Я"]), max_size=6),
)
@example(field="supplier", text="R\x7fUS")
@example(field="title", text="\u2028")
def test_plainly_seen_never_passes_what_seen_refuses(field: str, text: str) -> None:
    assert _plain_but_not_seen(field, text) == []


def test_ordinary_bodies_are_plainly_seen_and_blank_ones_are_not() -> None:
    lines = (Path(__file__).parent.parent / "service/seed/corpus.ndjson").read_text().splitlines()
    assert lines and all(plainly_seen(line) for line in lines)
    visible = json.dumps(_body("title", 'Россия — "quoted" / x'), ensure_ascii=False)
    assert plainly_seen(visible)
    for text in ["", " ", "   ", "\u200b", "a\u00a0", "a\nb", "R\x7fUS", "a\\b"]:
        assert not plainly_seen(json.dumps(_body("title", text), ensure_ascii=False)), text
    assert not plainly_seen('{"title": "\ud800"}')  # a lone surrogate: no UTF-8 to read


def test_a_batch_refuses_a_blank_title_though_the_others_are_plain() -> None:
    events = [bodies.development_reported(), bodies.development_reported(title="\u200b")]

    with pytest.raises(InvalidEvent) as refused:
        decode_new_batch(json.dumps({"events": events}))

    assert [p.path for p in refused.value.errors] == ["$.events[1].title"]
