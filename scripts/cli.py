"""The command line of every `python -m scripts.*` and `benchmarks.*` command."""

from __future__ import annotations

import argparse
from typing import Any


class _WithDefaults(argparse.HelpFormatter):
    """Adds each option's default to its help, unless the help names it or
    there is none to name (None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or any(action.default is v for v in (None, False, argparse.SUPPRESS)):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose help gives defaults; its sub-commands' too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _WithDefaults)
        super().__init__(*args, **kwargs)


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose `--help` describes the command by the first paragraph
    of its module's docstring `doc`, whole, and gives each option's default."""
    return _Parser(description=(doc or "").split("\n\n")[0])
