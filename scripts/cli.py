"""The command line of every `python -m scripts.*` and `benchmarks.*` command."""

from __future__ import annotations

import argparse
from typing import Any


class _WithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's help with each option's default, except where the help
    names its default already or there is none to name (None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if "(default" in (action.help or "") or action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action) or ""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose help gives defaults; its sub-commands' too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _WithDefaults)
        super().__init__(*args, **kwargs)


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose `--help` describes the command by the first paragraph
    of its module's docstring `doc`, whole, and gives each option's default."""
    return _Parser(description=(doc or "").split("\n\n")[0])
