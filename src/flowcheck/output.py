"""Printing: the only module (with commands/) that writes to the terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """One or two lines on stderr, never a traceback."""
    # Messages quote user input (state keys, paths, "[tool.flowcheck]"): never markup.
    err.print(Text.assemble(("error:", "bold red"), " ", message))


def warn(message: str) -> None:
    err.print(Text.assemble(("warning:", "yellow"), " ", message))


def info(message: str) -> None:
    err.print(message, markup=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
