"""Printing: the only module (with commands/) that writes to the terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """One or two lines on stderr, never a traceback."""
    err.print(f"[bold red]error:[/] {message}", markup=True)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}", markup=True)


def info(message: str) -> None:
    err.print(message, markup=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
