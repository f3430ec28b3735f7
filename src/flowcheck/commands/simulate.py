"""``flowcheck simulate``: run a machine on the Stepper, scripted or interactive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.text import Text

from flowcheck import output
from flowcheck.chart.model import Chart
from flowcheck.errors import PayloadError, UnknownNameError
from flowcheck.project import Settings, discover, find_settings, select
from flowcheck.simulation import Session, parse_event_list


def run(
    machines: Path | None, name: str, events: str | None, script: Path | None, as_json: bool,
    input_json: str | None = None,
) -> int:
    settings = find_settings(machines=machines)
    chart = _chart(settings, name)
    session = Session(chart, input=_input(chart, input_json), flows=_flows(settings, chart))
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
        output.print_json({"machine": chart.name, "steps": steps})
    else:
        for s in steps:
            _print_step(s)
    return 0


def _input(chart: Chart, text: str | None) -> dict[str, Any] | None:
    """The ``--input`` object: JSON, naming context fields of the flow."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"--input is not valid JSON ({exc.msg} at column {exc.colno}); give "
                         'an object such as \'{"kind": "lessons"}\'') from exc
    if not isinstance(value, dict):
        raise PayloadError(f"--input must be a JSON object of context fields, got "
                         f"{type(value).__name__}")
    fields = {f.name for f in chart.context}
    unknown = sorted(k for k in value if k not in fields and k != "$guards")
    if unknown:
        raise PayloadError(f"--input names {', '.join(map(repr, unknown))}, not context fields "
                         f"of {chart.name} (fields: {', '.join(sorted(fields)) or 'none'})")
    return value


def _flows(settings: Settings, chart: Chart) -> dict[str, Chart] | None:
    """The project's flows, so that child flows play inline; read only when ``chart``
    invokes one."""
    if not any(inv.kind == "flow" for _, inv in chart.invokes()):
        return None
    return {m.name: m.chart for m in discover(settings)}


def _chart(settings: Settings, name: str) -> Chart:
    """A project machine by name or .py path, or an XState JSON config by path."""
    if name.endswith(".json"):
        from flowcheck.formats.xstate.importer import import_config

        path = Path(name)
        if not path.is_file():
            raise UnknownNameError(f"{name}: no such file; give a machine name, a .py flow "
                                   "module or an XState JSON config file")
        return import_config(path)[0]
    (machine,) = select(settings, [name])
    return machine.chart


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
