"""``flowcheck simulate NAME --script FILE``: replay a scenario file and check its expectations.

The file format is described in :mod:`flowcheck.scenarios`. Exit 0 when every
expectation holds, 1 at the first mismatch (with expected and actual side by side, and
why the step's event changed nothing when a guard held it back), 2 when the file itself
is malformed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape

from flowcheck import output
from flowcheck.scenarios import (
    Mismatch,
    ScenarioError,
    actor_chart,
    check_names,
    input_of,
    load,
    replay,
    scenarios,
)
from flowcheck.simulation import Session


def run_script(session: Session, path: Path, as_json: bool) -> int:
    data = load(path)
    machine = session.chart.name
    where = str(path)
    loaded = scenarios(where, data, machine)
    given = input_of(where, data)
    if given is not None and session.input is None:
        session.input = given
    for _, steps in loaded:
        for n, step in enumerate(steps, start=1):
            at = f"{path}: step {n} ({step['event']})"
            actor = step.get("actor")
            if actor and actor_chart(session, session.chart, actor) is None:
                raise ScenarioError(
                    f"{at}: actor {actor!r} is not a child flow that {machine} invokes"
                )
            check_names(at, session, step.get("expect") or {})
    results: list[dict[str, Any]] = []
    failed: Mismatch | None = None
    total = 0
    for name, steps in loaded:
        described, failed = replay(where, session, name, steps)
        total += len(described) - 1
        results.append({
            "name": name,
            "ok": failed is None,
            "steps": described,
            "mismatch": None if failed is None else {"step": failed.step, "event": failed.event,
                                                     "diff": failed.lines},
        })
        if failed is not None:
            break
    if as_json:
        output.print_json({"file": str(path), "machine": machine, "ok": failed is None,
                           "scenarios": results})
    elif failed is None:
        output.out.print(
            f"[green]ok[/] {escape(str(path))}: {len(results)} scenario(s), {total} step(s), "
            "every expectation holds"
        )
    else:
        _print_mismatch(path, failed)
    return 0 if failed is None else 1


def _print_mismatch(path: Path, m: Mismatch) -> None:
    output.out.print(
        f"[bold red]mismatch[/] {escape(str(path))}: scenario {escape(m.scenario)!r}, "
        f"step {m.step} ({escape(m.event)})"
    )
    for line in m.lines:
        style = "red" if line.startswith("  - ") else "green" if line.startswith("  + ") else ""
        text = escape(line)
        output.out.print(f"  [{style}]{text}[/]" if style else f"  {text}")
