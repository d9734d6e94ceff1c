"""Every command's `--help` is whole: the description is its module's first
paragraph, ending as a sentence ends, and every option says what it is for."""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = sorted(
    f"{path.parent.name}.{path.stem}"
    for folder in ("scripts", "benchmarks")
    for path in (ROOT / folder).glob("*.py")
    if '__name__ == "__main__"' in (text := path.read_text())
    and ("cli.parser(" in text or "ArgumentParser(" in text)
)
"""The commands that take options, whichever way they build their parser."""


class _ParsedError(Exception):
    """Raised by the patched `parse_args`, carrying the command's parser."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def _parser_of(module: str, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser `module.main` builds, taken before it parses anything."""

    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _ParsedError(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(_ParsedError) as parsed:
        importlib.import_module(module).main()
    return parsed.value.parser


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and its sub-commands' parsers."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return [parser, *(p for a in subs for p in a.choices.values())]


def test_the_commands_are_found() -> None:
    assert {"scripts.train", "scripts.audit", "benchmarks.record", "benchmarks.compare"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("module", COMMANDS)
def test_help_is_whole(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parser = _parser_of(module, monkeypatch)
    first_paragraph = (importlib.import_module(module).__doc__ or "").split("\n\n")[0]
    assert parser.description == first_paragraph
    assert re.search(r"[.?!]\)?$", first_paragraph.strip()), f"{module}: {first_paragraph!r}"
    for each in _parsers(parser):
        silent = [
            a.option_strings or a.dest
            for a in each._actions
            if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction) and not a.help
        ]
        assert not silent, f"{each.prog}: options without help: {silent}"
