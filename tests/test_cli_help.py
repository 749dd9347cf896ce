"""What `timeline` says of itself: each verb's help, its options' names, a verb left out, and
the README's synopses, which must name every option a verb takes."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.cli import build_parser, main

README = Path(__file__).parent.parent / "README.md"


def verb_parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """`parser` and every verb's under it, each with the words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from verb_parsers(child, (*path, name))


def takes_a_verb(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(action, argparse._SubParsersAction) for action in parser._actions)


def test_every_option_of_every_verb_has_help() -> None:
    for _, parser in verb_parsers(build_parser()):
        for action in parser._actions:
            verbs = isinstance(action, argparse._SubParsersAction)  # each verb has its help
            assert verbs or action.help, f"{parser.prog} {action.dest} has no help"


def test_every_verb_s_help_opens_with_what_it_does() -> None:
    for path, parser in verb_parsers(build_parser()):
        # each verb's --help says what it does, under its usage
        assert parser.description, f"timeline {' '.join(path)} --help says nothing of what it does"
        assert parser.description in " ".join(parser.format_help().split())
    checkpoint = dict(verb_parsers(build_parser()))[("checkpoint",)]
    assert "a head signed already prints its checkpoint again" in str(checkpoint.description)


@pytest.mark.parametrize(
    ("verbs", "choices"),
    [
        (
            [],
            "serve, seed, import, export, backup, init, verify, checkpoint, projections or tokens",
        ),
        (["projections"], "run or rebuild"),
        (["tokens"], "create, list or revoke"),
    ],
)
def test_a_verb_left_out_is_asked_for_with_the_verbs_it_may_be(
    verbs: list[str], choices: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `timeline projections` alone said "required: projections_verb", an attribute's name
    with pytest.raises(SystemExit) as exited:
        main(verbs)
    assert exited.value.code == 2
    said = capsys.readouterr().err
    assert f"error: the following arguments are required: VERB ({choices})\n" in said
    # the database before the verb, at any level, or after the last
    assert f"usage: timeline {' '.join([*verbs, ''])}[-h] [--database URL] VERB ...\n" in said


@pytest.mark.parametrize(
    ("verbs", "usage"),
    [
        (["export"], "[--output FILE] [--after POSITION]"),
        (["import"], "[--recorded-by NAME] FILE"),
        (["projections", "run"], "[--poll-seconds SECONDS]"),
        (["serve"], "[--workers N]"),
        (["backup"], "[--with-key] FILE"),
        (["tokens", "revoke"], "[--database URL] NAME"),
    ],
)
def test_an_option_s_value_is_named_for_what_it_is(
    verbs: list[str], usage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # --output OUTPUT, --after AFTER, --recorded-by RECORDED_BY, --poll-seconds POLL_SECONDS
    with pytest.raises(SystemExit) as exited:
        main([*verbs, "--help"])
    assert exited.value.code == 0
    assert usage in " ".join(capsys.readouterr().out.split())


def test_no_usage_names_a_value_by_its_attribute() -> None:
    for path, parser in verb_parsers(build_parser()):
        attribute = re.search(r"\b[A-Z]+_[A-Z_]+\b", parser.format_usage())
        assert attribute is None, f"timeline {' '.join(path)}: {attribute and attribute[0]}"


def test_the_readme_synopsis_of_each_verb_names_every_option_it_takes() -> None:
    # Given the synopses of the README's Command line section, one line a verb
    section = README.read_text().split("\n## Command line\n", 1)[1]
    synopses = section.split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    assert any("--database URL" in line for line in synopses)  # every verb's, said once
    for path, parser in verb_parsers(build_parser()):
        if takes_a_verb(parser):
            continue
        verb = "timeline " + " ".join(path)
        [line] = [line for line in synopses if re.match(rf"{re.escape(verb)}(\s|$)", line)]
        synopsis = line.split("#", 1)[0]
        # Then each of its options is there, with the name of its value when it has one
        for action in parser._actions:
            if not action.option_strings or action.dest in ("help", "database"):
                continue
            value = f" {action.metavar}" if action.metavar else ""
            shown = [f"{option}{value}" for option in action.option_strings]
            assert any(text in synopsis for text in shown), f"{verb}: {shown[0]} not in README"


def test_the_help_names_every_exit_status_a_verb_returns() -> None:
    # Given every status the command line's code returns
    cli = Path(__file__).parent.parent / "service" / "cli"
    returned = {
        int(code)
        for source in cli.glob("*.py")
        for code in re.findall(r"\breturn (\d+)\b", source.read_text())
    }
    assert {0, 1, 2, 74, 75} <= returned  # the search finds them where they are
    # Then `timeline --help` says what each means (it left out 130 and 141)
    shown = " ".join(build_parser().format_help().split())
    for code in sorted(returned):
        assert re.search(rf"[:;] {code} \w", shown), f"exit status {code} is not explained"
