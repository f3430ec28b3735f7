"""Printing: the only module (with commands/) that writes to the terminal.

Names in messages come from machines and files written by someone else (state ids,
events, guard names, descriptions, payload values). Printed raw, a newline in a state
id starts a line that reads like one of ours, and an escape sequence paints it red:
:func:`shown` renders such text so that every control character is visible instead
(``\\n``, ``\\x1b``, ``\\u2028``). :func:`error`, :func:`warn` and :func:`info` pass
the whole message through it (a message is one line), and both consoles escape every
control character but the line breaks of what they lay out, whatever prints through them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment
from rich.text import Text

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(text: object) -> str:
    """``text`` as a terminal may print it: every character that is not printable (C0 and
    C1 controls, DEL, line and paragraph separators, bidirectional and other format
    characters) written as a visible escape, the rest as it is.

    This is the one way a machine-supplied name reaches a text message: a name cannot
    start a line of its own, move the cursor or change colours."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else _escape(c) for c in value)


def _escape(c: str) -> str:
    named = _NAMED.get(c)
    if named is not None:
        return named
    code = ord(c)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _lines_shown(text: str) -> str:
    """Like :func:`shown`, but keeping line breaks: for text already laid out in lines."""
    if text.isprintable():
        return text
    return "\n".join(shown(line) for line in text.split("\n"))


class _Console(Console):
    """A console that never writes a control character it did not make itself: styles
    and cursor moves are rich's own (segment styles, control segments); the text of a
    segment is escaped with :func:`shown`, line breaks kept."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        safe = (
            seg if seg.control or seg.text.isprintable()
            else Segment(_lines_shown(seg.text), seg.style, seg.control)
            for seg in buffer
        )
        return super()._render_buffer(safe)


out = _Console(highlight=False, soft_wrap=True)
err = _Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """One line on stderr, never a traceback."""
    # Messages quote user input (state keys, paths, "[tool.flowcheck]"): never markup.
    err.print(Text.assemble(("error:", "bold red"), " ", shown(message)))


def warn(message: str) -> None:
    err.print(Text.assemble(("warning:", "yellow"), " ", shown(message)))


def info(message: str) -> None:
    err.print(shown(message), markup=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
