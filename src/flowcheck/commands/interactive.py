"""``flowcheck simulate NAME`` without --events: play a flow in the terminal.

A prompt loop over a simulation session: it shows the configuration, the
context and the numbered enabled events (invoke outcomes included, one entry
per example output and per error code); the user picks an event by number or
name, fills in its payload field by field, and sees the telemetry it fires.
``undo``, ``reset``, ``help`` and ``quit``; end of input ends the session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.markup import escape

from flowcheck import output
from flowcheck.chart.model import DataField, is_internal_event
from flowcheck.errors import FlowcheckError, PayloadError
from flowcheck.paths import payload_domain
from flowcheck.simulation import Session, invoke_events, validate_payload

HELP = """\
Type the number or the name of an event to send it; you are then asked for each
payload field (press Enter to take the value in brackets). An event name may be
followed by its payload as JSON: PAYMENT_METHOD_ENTERED {"paymentMethodId": "pm_1"}.
Commands: undo (step back), reset (start over), help, quit. End of input quits too."""

COMMANDS = ("undo", "reset", "help", "quit", "exit")


class _EndOfInput(Exception):
    """stdin closed: the session ends without an error."""


@dataclass
class _Entry:
    event: str
    payload: dict[str, Any] | None  # None: ask the user for the payload fields
    note: str


def run(session: Session) -> int:
    chart = session.chart
    output.out.print(
        f"[bold]{escape(chart.name)}[/] (XState id {escape(chart.id)}): type help for commands"
    )
    _show(session)
    while True:
        entries = _entries(session)
        _show_menu(entries, session)
        try:
            line = _ask("> ").strip()
        except _EndOfInput:
            output.out.print("")
            return 0
        if not line:
            continue
        word = line.lower()
        if word in ("quit", "exit", "q"):
            return 0
        if word == "help":
            output.out.print(HELP, markup=False)
            continue
        if word == "undo":
            if session.undo():
                output.out.print("[yellow]undone[/]")
                _show(session, telemetry=False)
            else:
                output.out.print("nothing to undo: this is the initial configuration")
            continue
        if word == "reset":
            session.reset()
            output.out.print("[yellow]reset[/]: back to the initial configuration")
            _show(session)
            continue
        try:
            choice = _choose(line, entries, session)
            if choice is None:
                continue
            event, payload = choice
            if payload is None:
                payload = _ask_payload(session, event)
            _send(session, event, payload)
        except _EndOfInput:
            output.out.print("")
            return 0


def _ask(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError as exc:
        raise _EndOfInput from exc


def _entries(session: Session) -> list[_Entry]:
    if session.stepper.is_done(session.snapshot):
        return []
    chart = session.chart
    invoked = invoke_events(chart)
    specs = {e.name: e for e in chart.events}
    out: list[_Entry] = []
    for name in session.enabled():
        if is_internal_event(name):
            continue
        if name in invoked:
            for payload in payload_domain(chart, name):
                out.append(_Entry(name, payload, json.dumps(payload, sort_keys=True)))
        elif name in specs and specs[name].payload:
            fields = ", ".join(f.name for f in specs[name].payload)
            out.append(_Entry(name, None, f"({fields})"))
        else:
            out.append(_Entry(name, {}, ""))
    snap = session.snapshot
    for entry in out:
        if entry.payload is not None:
            after, _ = session.stepper.step(snap, entry.event, entry.payload, record=False)
            if after == snap:
                entry.note = (entry.note + "  (no effect now: a guard holds it back)").strip()
    return out


def _show(session: Session, telemetry: bool = True) -> None:
    step = session.describe()
    if telemetry:
        for t in step["telemetry"]:
            props = json.dumps(t["properties"], sort_keys=True)
            output.out.print(f"  [magenta]track[/] {escape(t['event'])} {escape(props)}")
    output.out.print(f"[bold cyan]configuration[/]: {escape(', '.join(step['configuration']))}")
    if step["context"]:
        output.out.print("[bold cyan]context[/]:")
        for key, value in step["context"].items():
            output.out.print(f"  {escape(key)} = {escape(json.dumps(value))}")
    if step["done"]:
        output.out.print(
            "[bold green]done[/]: the flow reached a final state (undo, reset or quit)"
        )


def _show_menu(entries: list[_Entry], session: Session) -> None:
    if not entries:
        if not session.stepper.is_done(session.snapshot):
            output.out.print("no enabled events: this configuration is a dead end")
        return
    output.out.print("[bold cyan]enabled events[/]:")
    for n, e in enumerate(entries, start=1):
        note = f"  {e.note}" if e.note else ""
        output.out.print(f"  {n:>2}. {escape(e.event)}{escape(note)}")


def _choose(
    line: str, entries: list[_Entry], session: Session
) -> tuple[str, dict[str, Any] | None] | None:
    if line.isdigit():
        n = int(line)
        if not 1 <= n <= len(entries):
            output.out.print(f"no event number {n}: pick 1 to {len(entries)}")
            return None
        picked = entries[n - 1]
        return picked.event, picked.payload
    name, _, rest = line.partition(" ")
    rest = rest.strip()
    if name not in session.known_events():
        output.out.print(
            f"unknown event or command {escape(name)!r}; type a number, an event name or help"
        )
        return None
    if rest:
        try:
            payload = json.loads(rest)
        except json.JSONDecodeError as exc:
            output.out.print(f"the payload is not valid JSON ({escape(exc.msg)})")
            return None
        if not isinstance(payload, dict):
            output.out.print("the payload must be a JSON object")
            return None
        return name, payload
    same = [e for e in entries if e.event == name]
    if len(same) > 1:
        output.out.print(f"{escape(name)} has several outcomes: pick one by number")
        return None
    if same:
        return same[0].event, same[0].payload
    return name, None


def _ask_payload(session: Session, event: str) -> dict[str, Any]:
    spec = next((e for e in session.chart.events if e.name == event), None)
    if spec is None:
        return {}
    if spec.description:
        output.out.print(f"  [dim]{escape(spec.description)}[/]")
    fields = list(spec.payload)
    example = {f.name: _example(f) for f in fields}
    payload: dict[str, Any] = {}
    for f in fields:
        while True:
            default = example[f.name]
            kind = f.type + (" or null" if f.nullable else "")
            choices = f" one of {json.dumps(list(f.enum))}" if f.enum else ""
            text = _ask(f"  {f.name} ({kind}{choices}) [{_show_value(default)}]: ").strip()
            try:
                value = default if text == "" else _parse(f, text)
                validate_payload(session.chart, event, {**example, **payload, f.name: value})
            except PayloadError as exc:
                output.out.print(f"  [red]{escape(str(exc))}[/]")
                continue
            payload[f.name] = value
            break
    return payload


def _example(f: DataField) -> Any:
    value = f.examples[0] if f.examples else f.default
    return list(value) if isinstance(value, tuple) else value


def _show_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _parse(f: DataField, text: str) -> Any:
    if f.nullable and text == "null":
        return None
    if f.type == "integer":
        try:
            return int(text)
        except ValueError as exc:
            raise PayloadError(f"{f.name} must be a whole number, got {text!r}") from exc
    if f.type == "boolean":
        lowered = text.lower()
        if lowered in ("true", "yes", "y", "1"):
            return True
        if lowered in ("false", "no", "n", "0"):
            return False
        raise PayloadError(f"{f.name} must be true or false, got {text!r}")
    if f.type == "string[]":
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise PayloadError(f"{f.name}: not a JSON list ({exc.msg})") from exc
        return [part.strip() for part in text.split(",") if part.strip()]
    if f.type == "object":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PayloadError(f"{f.name}: not a JSON object ({exc.msg})") from exc
    return text


def _send(session: Session, event: str, payload: dict[str, Any]) -> None:
    before = session.snapshot
    try:
        record = session.send(event, payload)
    except FlowcheckError as exc:
        output.out.print(f"[red]{escape(str(exc))}[/]")
        return
    shown = f" {json.dumps(record.payload, sort_keys=True)}" if record.payload else ""
    output.out.print(f"[bold]-> {escape(event)}[/]{escape(shown)}")
    if record.snapshot == before and not record.executed:
        session.undo()
        output.out.print(
            "  nothing happened: no transition for this event is enabled here "
            "(a guard holds it back); the step was not recorded"
        )
        return
    _show(session)
