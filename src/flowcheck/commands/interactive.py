"""``flowcheck simulate NAME`` without --events: play a flow in the terminal.

A prompt loop over a simulation session: it shows the configuration, the
context and the numbered enabled events (invoke outcomes included, one entry
per example output and per error code; the events of running child flows
under their actor's name); the user picks an event by number or name, fills
in its payload field by field (the value in brackets is the one the web
simulator fills in too), and sees the telemetry it fires. An event a guard
holds back says which condition is false. ``undo``, ``reset``, ``whatif``,
``save FILE [NAME]``, ``load FILE``, ``help`` and ``quit``; end of input ends
the session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape

from flowcheck import output
from flowcheck.chart.model import DataField, Track, is_internal_event
from flowcheck.errors import FlowcheckError, PayloadError
from flowcheck.formats.atomic import write_all
from flowcheck.paths import payload_domain
from flowcheck.scenarios import ScenarioError, dump, from_session, header, load, replay, scenarios
from flowcheck.simulation import (
    Session,
    default_payload,
    default_value,
    invoke_events,
    unchanged,
    validate_payload,
)
from flowcheck.whatif import what_if

HELP = """\
Type the number or the name of an event to send it; you are then asked for each
payload field (press Enter to take the value in brackets). An event name may be
followed by its payload as JSON: PAYMENT_METHOD_ENTERED {"paymentMethodId": "pm_1"}.
An event for a running child flow starts with its actor: @generateOutline RETRY.
Commands: undo (step back), reset (start over), whatif (what can go wrong here),
save FILE [NAME] (the session as a scenario file), load FILE (replay a scenario file),
help, quit. End of input quits too."""

COMMANDS = ("undo", "reset", "whatif", "save", "load", "help", "quit", "exit")


class _EndOfInput(Exception):
    """stdin closed: the session ends without an error."""


@dataclass
class _Entry:
    event: str
    payload: dict[str, Any] | None  # None: ask the user for the payload fields
    note: str
    actor: str | None = None


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
        if word == "whatif":
            _what_if(session)
            continue
        command, _, rest = line.partition(" ")
        if command.lower() in ("save", "load"):
            try:
                if command.lower() == "save":
                    _save(session, rest.strip())
                else:
                    _load(session, rest.strip())
            except FlowcheckError as exc:
                output.out.print(f"[red]{escape(str(exc))}[/]")
            continue
        try:
            choice = _choose(line, entries, session)
            if choice is None:
                continue
            event, payload, actor = choice
            if payload is None:
                payload = _ask_payload(session, event, actor)
            _send(session, event, payload, actor)
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
    out: list[_Entry] = []
    for actor in [None, *(path for path, _ in session.actors())]:
        out += _actor_entries(session, actor)
    return out


def _actor_entries(session: Session, actor: str | None) -> list[_Entry]:
    chart = session.chart_of(actor)
    if session.stepper_of(actor).is_stopped(session.snapshot_of(actor)):
        return []
    invoked = invoke_events(chart)
    specs = {e.name: e for e in chart.events}
    out: list[_Entry] = []
    for name in session.enabled(actor):
        if is_internal_event(name):
            continue
        if name in invoked:
            for payload in payload_domain(chart, name):
                out.append(_Entry(name, payload, json.dumps(payload, sort_keys=True), actor))
        elif name in specs and specs[name].payload:
            fields = ", ".join(f.name for f in specs[name].payload)
            out.append(_Entry(name, None, f"({fields})", actor))
        else:
            out.append(_Entry(name, {}, "", actor))
    for entry in out:
        payload = entry.payload if entry.payload is not None else default_payload(
            chart, entry.event)
        try:
            why = session.refusal(entry.event, payload, actor)
        except FlowcheckError:
            continue
        if why is not None:
            held = "with the values in brackets: " if entry.payload is None else ""
            entry.note = f"{entry.note}  (no effect now, {held}{why.summary()})".strip()
    return out


def _show(session: Session, telemetry: bool = True) -> None:
    step = session.describe()
    record = session.records[-1]
    if telemetry:
        for actor, x in record.log:
            if isinstance(x.action, Track):
                props = json.dumps(x.properties or {}, sort_keys=True)
                who = f"{escape(actor)} " if actor else ""
                output.out.print(f"  [magenta]track[/] {who}{escape(x.action.event)} "
                                 f"{escape(props)}")
    for d in record.deliveries:
        shown = f" {json.dumps(d.payload, sort_keys=True)}" if d.payload else ""
        output.out.print(f"  [blue]{escape(d.actor)}[/] gave {escape(session.chart.name)} "
                         f"{escape(d.event)}{escape(shown)}")
    output.out.print(f"[bold cyan]configuration[/]: {escape(', '.join(step['configuration']))}")
    if step["context"]:
        output.out.print("[bold cyan]context[/]:")
        for key, value in step["context"].items():
            output.out.print(f"  {escape(key)} = {escape(json.dumps(value))}")
    for actor, view in step["actors"].items():
        output.out.print(
            f"[bold cyan]child flow {escape(actor)}[/] ({escape(view['machine'])}): "
            f"{escape(', '.join(view['configuration']))}"
        )
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
        who = f"@{e.actor} " if e.actor else ""
        output.out.print(f"  {n:>2}. {escape(who)}{escape(e.event)}{escape(note)}")


def _choose(
    line: str, entries: list[_Entry], session: Session
) -> tuple[str, dict[str, Any] | None, str | None] | None:
    if line.isdigit():
        n = int(line)
        if not 1 <= n <= len(entries):
            output.out.print(f"no event number {n}: pick 1 to {len(entries)}")
            return None
        picked = entries[n - 1]
        return picked.event, picked.payload, picked.actor
    actor: str | None = None
    if line.startswith("@"):
        actor, _, line = line[1:].partition(" ")
        running = [path for path, _ in session.actors()]
        if actor not in running:
            output.out.print(f"no child flow {escape(actor)!r} is running; running: "
                             f"{escape(', '.join(running) or 'none')}")
            return None
    name, _, rest = line.strip().partition(" ")
    rest = rest.strip()
    if name not in session.known_events(actor):
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
        return name, payload, actor
    same = [e for e in entries if e.event == name and e.actor == actor]
    if len(same) > 1:
        output.out.print(f"{escape(name)} has several outcomes: pick one by number")
        return None
    if same:
        return same[0].event, same[0].payload, actor
    return name, None, actor


def _ask_payload(session: Session, event: str, actor: str | None = None) -> dict[str, Any]:
    chart = session.chart_of(actor)
    spec = next((e for e in chart.events if e.name == event), None)
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
                validate_payload(chart, event, {**example, **payload, f.name: value})
            except PayloadError as exc:
                output.out.print(f"  [red]{escape(str(exc))}[/]")
                continue
            payload[f.name] = value
            break
    return payload


def _example(f: DataField) -> Any:
    return default_value(f)


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


def _send(
    session: Session, event: str, payload: dict[str, Any], actor: str | None = None
) -> None:
    before = session.records[-1]
    try:
        record = session.send(event, payload, actor)
    except FlowcheckError as exc:
        output.out.print(f"[red]{escape(str(exc))}[/]")
        return
    shown = f" {json.dumps(record.payload, sort_keys=True)}" if record.payload else ""
    who = f"@{actor} " if actor else ""
    output.out.print(f"[bold]-> {escape(who)}{escape(event)}[/]{escape(shown)}")
    if unchanged(before, record):
        session.undo()
        why = session.refusal(event, record.payload, actor)
        reason = why.message() if why else f"{event} changed nothing"
        output.out.print(f"  {escape(reason)}; the step was not recorded")
        return
    _show(session)


def _what_if(session: Session) -> None:
    outcomes = what_if(session)
    if session.stepper.is_done(session.snapshot):
        output.out.print("nothing: the flow reached a final state")
        return
    if not outcomes:
        output.out.print("nothing from the outside can happen here: no call is running and no "
                         "timer is pending")
        return
    output.out.print("[bold cyan]what can go wrong here[/]:")
    for o in outcomes:
        who = f"{o.actor} > " if o.actor else ""
        what = f"after {o.source}" if o.kind == "timer" else f"{o.source} fails"
        codes = f" ({', '.join(o.codes)})" if o.codes else ""
        if o.stops:
            where = "the flow stops with an error (nothing handles it)"
        elif o.actor_lands is not None:
            where = f"{o.actor}: {', '.join(o.actor_lands)}"
        else:
            where = ", ".join(o.lands)
        output.out.print(f"  {escape(who + what)}{escape(codes)}")
        output.out.print(f"    -> {escape(where)}")
        for r in o.recovery:
            shown = f" {json.dumps(r.payload, sort_keys=True)}" if r.payload else ""
            output.out.print(f"    [green]way back[/]: {escape(r.event)}{escape(shown)} -> "
                             f"{escape(', '.join(r.leads_to))}")
        if o.failure and not o.recovery:
            output.out.print("    [red]no way back from here[/]")


def _save(session: Session, args: str) -> None:
    file, _, name = args.partition(" ")
    if not file:
        raise ScenarioError("save needs a file: save scenarios/my_session.yaml [a name]")
    path = Path(file)
    name = name.strip() or path.stem.replace("_", " ")
    text = dump(from_session(session, name), header(session.chart.name, name, file))
    try:
        write_all({path: text.encode()})
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot write the scenario ({exc.strerror})") from exc
    output.out.print(f"saved {escape(file)} ({len(session.records) - 1} steps); run it with "
                     f"flowcheck simulate {escape(session.chart.name)} --script {escape(file)}")


def _load(session: Session, file: str) -> None:
    """Replay a scenario file's (first) scenario from the start, checking its expectations;
    the session goes on from where it stops."""
    if not file:
        raise ScenarioError("load needs a file: load scenarios/checkout.yaml")
    data = load(Path(file))
    loaded = scenarios(file, data, session.chart.name)
    name, steps = loaded[0]
    described, mismatch = replay(file, session, name, steps)
    if mismatch is not None:
        output.out.print(f"[bold red]mismatch[/] at step {mismatch.step} ({escape(mismatch.event)})"
                         " of the file; the session stops there:")
        for line in mismatch.lines:
            output.out.print(f"  {escape(line)}")
    else:
        output.out.print(f"loaded {escape(file)}: {len(described) - 1} steps, every expectation "
                         "holds")
    _show(session, telemetry=False)
