"""Text for a terminal: what a machine or a file supplies, with its control characters
made visible.

Names in messages and reports come from machines and files written by someone else
(state ids, events, guard names, descriptions, payload values). Printed raw, a newline
in a state id starts a line that reads like one of flowcheck's own, and an escape
sequence paints it red. :func:`printable` is the one function that renders such text for a
terminal; :class:`SafeConsole` is a rich console that escapes whatever control
character reaches it anyway (keeping the line breaks of what it lays out).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.segment import Segment

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object) -> str:
    """``text`` as a terminal may print it: every character that is not printable (C0 and
    C1 controls, DEL, line and paragraph separators, bidirectional and other format
    characters) written as a visible escape (``\\n``, ``\\x1b``, ``\\u2028``), the rest as
    it is. A name printable this way cannot start a line of its own, move the cursor or change
    colours."""
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


def printable_lines(text: str) -> str:
    """Like :func:`printable`, keeping line breaks: for text already laid out in lines."""
    if text.isprintable():
        return text
    return "\n".join(printable(line) for line in text.split("\n"))


class SafeConsole(Console):
    """A console that never writes a control character it did not make itself: styles
    and cursor moves are rich's own (segment styles, control segments); the text of a
    segment goes through :func:`printable_lines`."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        safe = (
            seg if seg.control or seg.text.isprintable()
            else Segment(printable_lines(seg.text), seg.style, seg.control)
            for seg in buffer
        )
        return super()._render_buffer(safe)
