"""``flowcheck list``: the machines found, with their states, events and failure states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from flowcheck import output
from flowcheck.chart.model import FAILURE
from flowcheck.project import discover, find_settings


def run(machines: Path | None, as_json: bool) -> int:
    settings = find_settings(machines=machines)
    found = discover(settings)
    rows: list[dict[str, Any]] = []
    for m in found:
        chart = m.chart
        rows.append({
            "name": m.name,
            "id": chart.id,
            "states": len(chart.states),
            "events": len(chart.events),
            "failure_states": chart.tagged(FAILURE),
            "path": str(m.path.relative_to(settings.root)) if m.path.is_relative_to(
                settings.root) else str(m.path),
        })
    if as_json:
        output.print_json({"machines": rows})
        return 0
    if not rows:
        output.info(f"no machines found in {', '.join(str(d) for d in settings.machines)}")
        return 0
    table = Table(title=None, show_edge=False, pad_edge=False)
    for col in ("name", "xstate id", "states", "events", "failure states"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["id"], str(r["states"]), str(r["events"]),
                      ", ".join(r["failure_states"]) or "-")
    output.out.print(table)
    return 0
