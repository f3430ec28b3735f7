"""``flowcheck paths``: shortest event paths to states, or paths covering every transition.

The json output has the shape of a scenario file with several paths
(``{"machine", "paths": [{"name", "machine", "steps"}]}``): save it and replay
it with ``flowcheck simulate NAME --script FILE``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.markup import escape

from flowcheck import output
from flowcheck.errors import UnknownNameError
from flowcheck.paths import (
    Graph,
    explore,
    shortest_paths,
    transition_cover,
    transition_key_label,
)
from flowcheck.project import find_settings, select


def run(machines: Path | None, name: str, to_state: str | None, cover: str, fmt: str) -> int:
    settings = find_settings(machines=machines)
    (machine,) = select(settings, [name])
    chart = machine.chart
    if to_state is not None:
        known = [s.id for s in chart.states if s.kind != "history"]
        if to_state not in known:
            raise UnknownNameError(
                f"{machine.name}: unknown state {to_state!r} for --to; the states are "
                f"{', '.join(known)}"
            )
    graph = explore(chart, limit=settings.max_configurations)
    report: dict[str, Any] = {
        "machine": machine.name,
        "cover": "states" if to_state else cover,
        "complete": graph.complete,
        "configurations": len(graph.order),
    }
    if to_state is not None or cover == "states":
        paths, missing = shortest_paths(graph, to_state)
        report["paths"] = paths
        report["unreachable"] = missing
    else:
        paths, never = transition_cover(graph)
        report["paths"] = paths
        report["transitions"] = len(graph.transitions())
        report["unreachable"] = [
            {"source": s, "index": i, "label": transition_key_label(chart, (s, i))}
            for s, i in never
        ]
    if fmt == "json":
        output.print_json(report)
    else:
        _print_text(report, graph)
    if to_state is not None and not report["paths"]:
        return 1
    return 0


def _print_text(report: dict[str, Any], graph: Graph) -> None:
    scope = "complete" if report["complete"] else "bounded: stopped at the configuration limit"
    head = f"{report['machine']}: explored {report['configurations']} configurations ({scope})"
    if report["cover"] == "transitions":
        taken = report["transitions"] - len(report["unreachable"])
        head += (
            f"; {len(report['paths'])} path(s) take {taken} of {report['transitions']} transitions"
        )
    output.out.print(head, markup=False)
    for n, path in enumerate(report["paths"], start=1):
        output.out.print(f"\n[bold]{n}. {escape(path['name'])}[/] ({len(path['steps'])} steps)")
        if not path["steps"]:
            initial = ", ".join(graph.stepper.active_ids(graph.initial))
            output.out.print(f"   active from the start: {initial}", markup=False)
        for step in path["steps"]:
            event = step["event"]
            if step["payload"]:
                event += " " + json.dumps(step["payload"], sort_keys=True)
            config = ", ".join(step["expect"]["configuration"])
            output.out.print(f"   {event}  ->  {config}", markup=False)
    unreachable = report["unreachable"]
    if unreachable:
        what = "transitions" if report["cover"] == "transitions" else "states"
        note = "" if report["complete"] else " (or beyond the configuration limit)"
        output.out.print(f"\n[yellow]never reached{note}[/] ({what}):")
        for item in unreachable:
            label = item["label"] if isinstance(item, dict) else item
            output.out.print(f"   {label}", markup=False)
