"""The trace format: NDJSON, one tracked event a line, as the exported ``track`` sink writes it.

Each line is a JSON object::

    {"session": "7f3c…", "flow": "checkout", "event": "STATE_ENTERED",
     "properties": {"flow": "checkout", "state": "paymentDetails"},
     "timestamp": "2025-05-01T09:30:12.345Z"}

- ``session``: a string the frontend makes once per visit (a tab). Every flow a visit runs
  writes under it; a flow started again in one session (a child flow run a second time, a
  wizard restarted) is a new *run* of that flow, delimited by its start event.
- ``flow``: the XState id of the flow whose ``track`` action sent the event (the exported
  machine's ``id``; the project's machine name is accepted too). The sink is given it when
  the machine is created: the properties alone cannot say (``AI_GENERATION_FAILED`` is sent
  by two flows, and a flow's own events carry no ``flow`` property).
- ``event`` and ``properties``: what ``track(event, properties)`` received. ``properties``
  may be left out (read as ``{}``).
- ``timestamp``: when it was sent, an ISO 8601 string or a number of milliseconds since
  the epoch (``Date.now()``).

Lines of one session stay in the order they were written; sessions may interleave. Blank
lines are skipped. Nothing here prints: a line that breaks the format raises
:class:`TraceFormatError` naming the file and the line.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

from flowcheck import inputs
from flowcheck.errors import FlowcheckError

STDIN = Path("-")
"""The path that reads the trace from standard input."""


class TraceFormatError(FlowcheckError):
    """A trace file that is not NDJSON of tracked events."""


class TraceEvent(NamedTuple):
    """One line of a trace: a tracked event of one flow in one session."""

    line: int
    session: str
    flow: str
    event: str
    properties: dict[str, Any]
    time: float
    """Seconds since the epoch."""


def read_events(path: Path) -> Iterator[TraceEvent]:
    """The events of an NDJSON trace file in file order (``-``: standard input; a name
    ending ``.gz`` is read through gzip), one line at a time: the file is never held in
    memory."""
    with _open(path) as stream:
        try:
            yield from parse(_lines(stream, str(path)), str(path))
        except (OSError, EOFError) as exc:  # a truncated or corrupt .gz, a read error
            raise TraceFormatError(f"{path}: cannot be read ({exc})") from exc


def _lines(stream: IO[bytes], name: str) -> Iterator[bytes]:
    """The lines of ``stream``, each at most the input limit long: a stream without line
    breaks (``/dev/zero``) is refused at its first line, never held in memory."""
    cap = inputs.limits().max_bytes
    readline = stream.readline
    number = 0
    while True:
        raw = readline(cap + 1)
        if not raw:
            return
        number += 1
        if len(raw) > cap:
            mb = cap / (1024 * 1024)
            raise TraceFormatError(
                f"{name}:{number}: a line longer than the input limit of {mb:g} MB; a trace "
                "has one JSON object a line (raise the limit with `flowcheck "
                "--max-input-mb N ...`)"
            )
        yield raw


def parse(stream: Iterable[bytes], name: str = "<trace>") -> Iterator[TraceEvent]:
    """The events of NDJSON lines (bytes, each ending in a line break or not); ``name`` is
    how errors name the stream."""
    # The C scanner under json.loads, called directly: most of the cost of a line is
    # json.loads' own bookkeeping around it (a million lines a run).
    scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
    for number, raw in enumerate(stream, 1):
        try:
            text = raw.decode()
            data, end = scan(text, 0)
            if end < len(text) and not text[end:].isspace():
                data = json.loads(text)  # raises "Extra data"
        except (StopIteration, ValueError) as exc:  # a blank line, leading blanks, not JSON
            if not raw.strip():
                continue
            data = _loads(raw, name, number, exc)
        except RecursionError as exc:
            raise TraceFormatError(f"{name}:{number}: JSON nested too deeply to read") from exc
        yield _event(data, name, number)


def _loads(raw: bytes, name: str, number: int, exc: Exception) -> Any:
    try:
        return json.loads(raw)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        reason = _reason(error)
    except RecursionError:
        reason = "nested too deeply to read"
    raise TraceFormatError(
        f"{name}:{number}: not a JSON object ({reason}); each line of a trace is one JSON "
        "object"
    ) from exc


def _open(path: Path) -> IO[bytes]:
    if path == STDIN:
        return sys.stdin.buffer
    try:
        raw = path.open("rb", buffering=1 << 20)
    except OSError as exc:
        raise TraceFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if path.suffix == ".gz":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at character {exc.pos + 1}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8: {exc.reason} at byte {exc.start + 1}"
    return str(exc)


def _event(data: Any, name: str, number: int) -> TraceEvent:
    if type(data) is not dict:
        raise TraceFormatError(
            f"{name}:{number}: a {_kind(data)}, not an object; each line of a trace is "
            '{"session", "flow", "event", "properties", "timestamp"}'
        )
    try:
        session = data["session"]
        flow = data["flow"]
        event = data["event"]
        stamp = data["timestamp"]
    except KeyError as exc:
        raise TraceFormatError(
            f"{name}:{number}: no {exc.args[0]!r} field; each line of a trace has "
            '"session", "flow", "event" and "timestamp" (and "properties")'
        ) from None
    properties = data.get("properties", {})
    if type(session) is not str or not session:
        raise TraceFormatError(f"{name}:{number}: \"session\" must be a non-empty string, "
                               f"got {_kind(session)}")
    if type(flow) is not str or type(event) is not str:
        field = "flow" if type(flow) is not str else "event"
        raise TraceFormatError(f"{name}:{number}: \"{field}\" must be a string, got "
                               f"{_kind(data[field])}")
    if type(properties) is not dict:
        raise TraceFormatError(f"{name}:{number}: \"properties\" must be an object, got "
                               f"{_kind(properties)}")
    for value in properties.values():
        if type(value) is dict or type(value) is list:
            inputs.check_nesting(properties, f"{name}:{number}: properties")
            break
    return TraceEvent(number, session, flow, event, properties, _seconds(stamp, name, number))


def _seconds(stamp: Any, name: str, number: int) -> float:
    if type(stamp) is int or type(stamp) is float:
        return float(stamp) / 1000.0
    if type(stamp) is str:
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                raise TraceFormatError(
                    f"{name}:{number}: timestamp {stamp!r} has no time zone; write UTC "
                    "(Date.prototype.toISOString() ends in Z)"
                )
            return moment.timestamp()
    raise TraceFormatError(
        f"{name}:{number}: timestamp {stamp!r} is neither an ISO 8601 string nor a number "
        "of milliseconds since the epoch"
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "list",
            dict: "object"}.get(type(value), type(value).__name__)
