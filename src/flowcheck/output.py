"""Printing: the only module (with commands/) that writes to the terminal.

Every message goes through :func:`flowcheck.terminal.printable` (a message is one line: a
name in it cannot start another, nor colour it), and both consoles are
:class:`~flowcheck.terminal.SafeConsole`, which escapes any control character that
reaches them anyway. Commands that print a machine-supplied name themselves pass it
through :func:`printable`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.text import Text

from flowcheck.terminal import SafeConsole, printable

__all__ = ["err", "error", "info", "out", "print_json", "printable", "warn"]

out = SafeConsole(highlight=False, soft_wrap=True)
err = SafeConsole(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """One line on stderr, never a traceback."""
    # Messages quote user input (state keys, paths, "[tool.flowcheck]"): never markup.
    err.print(Text.assemble(("error:", "bold red"), " ", printable(message)))


def warn(message: str) -> None:
    err.print(Text.assemble(("warning:", "yellow"), " ", printable(message)))


def info(message: str) -> None:
    err.print(printable(message), markup=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
