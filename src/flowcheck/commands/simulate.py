"""``flowcheck simulate``: run a machine on the Stepper, scripted or interactive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.text import Text

from flowcheck import output
from flowcheck.project import find_settings, select
from flowcheck.simulation import Session, parse_event_list


def run(
    machines: Path | None, name: str, events: str | None, script: Path | None, as_json: bool
) -> int:
    settings = find_settings(machines=machines)
    (machine,) = select(settings, [name])
    session = Session(machine.chart)
    if script is not None:
        from flowcheck.commands import scenario

        return scenario.run_script(session, script, as_json=as_json)
    if events is None:
        from flowcheck.commands import interactive

        return interactive.run(session)
    steps = [session.describe()]
    for event, payload in parse_event_list(events):
        session.send(event, payload)
        steps.append(session.describe())
    if as_json:
        output.print_json({"machine": machine.name, "steps": steps})
    else:
        for s in steps:
            _print_step(s)
    return 0


def _print_step(step: dict[str, Any]) -> None:
    head = "(initial)" if step["event"] is None else step["event"]
    if step["payload"]:
        head += " " + json.dumps(step["payload"])
    output.out.print(Text(head, style="bold"))
    output.out.print(f"  configuration: {', '.join(step['configuration'])}", markup=False)
    ctx = ", ".join(f"{k}={json.dumps(v)}" for k, v in step["context"].items())
    output.out.print(f"  context: {ctx or '-'}", markup=False)
    for t in step["telemetry"]:
        props = json.dumps(t["properties"], sort_keys=True)
        output.out.print(f"  track {t['event']} {props}", markup=False)
    if step["done"]:
        output.out.print("  [green]done[/]: the flow reached a final state")
