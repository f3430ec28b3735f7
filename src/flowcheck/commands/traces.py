"""``flowcheck traces check|report FILE``: production telemetry against the flows.

``check`` exits 1 when a run deviates from its flow (a nightly job fails), 0 when every run
fits, 2 on a file that is not a trace (naming the line) or an unknown flow.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from flowcheck import output
from flowcheck.errors import UnknownNameError
from flowcheck.explore.graph import explore
from flowcheck.formats.atomic import write_atomic
from flowcheck.project import Settings, find_settings, select
from flowcheck.traces.automaton import Allowed, Automaton
from flowcheck.traces.check import CheckResult, Pattern, check
from flowcheck.traces.format import read_events
from flowcheck.traces.replay import automata_by_name

SHOWN_PATTERNS = 20


def run_check(machines: Path | None, file: Path, flow: str | None, fmt: str,
              idle: float | None = None) -> int:
    settings = find_settings(machines=machines)
    automata = _automata(settings, flow)
    result = check(read_events(file), automata, skip_others=flow is not None,
                   keep=fmt == "json", source=str(file), idle=idle)
    if fmt == "json":
        output.print_json(result.to_json())
    else:
        _print_check(result)
    return 1 if result.deviating else 0


def run_report(machines: Path | None, file: Path, flow: str | None, fmt: str,
               out: Path | None, idle: float | None = None) -> int:
    from flowcheck.traces.html import render
    from flowcheck.traces.report import report

    settings = find_settings(machines=machines)
    automata = _automata(settings, flow)
    data = report(read_events(file), automata, skip_others=flow is not None,
                  source=file.name, idle=idle)
    text = (json.dumps(data, indent=2) + "\n") if fmt == "json" else render(data)
    if out is None:
        sys.stdout.write(text)
    else:
        write_atomic(out, text.encode("utf-8"))
        output.info(f"wrote the {fmt.upper()} report of {file} to {out}")
    return 0


def _automata(settings: Settings, flow: str | None) -> dict[str, Automaton]:
    machines = select(settings, [])
    if flow is not None:
        chosen = [m for m in machines if flow in (m.name, m.chart.id)]
        if not chosen:
            known = ", ".join(sorted(m.chart.id for m in machines))
            raise UnknownNameError(f"unknown flow {flow!r} for --flow: the flows are {known}")
        machines = chosen
    named: dict[str, Automaton] = {}
    for m in machines:
        exploration = explore(m.chart, limits=settings.limits())
        if not exploration.complete:
            output.warn(f"{m.name}: exploration stopped at its {exploration.limit} limit; "
                        "runs are replayed past it, with the same letters")
        named[m.name] = Automaton(m.chart, exploration)
    return automata_by_name(named)


def _print_check(result: CheckResult) -> None:
    write = output.out.print
    if not result.lines:
        write("the trace file holds no lines", markup=False)
    for counts in result.flows.values():
        if not counts.runs:
            continue
        write(
            f"{output.printable(counts.flow)}: {counts.runs:,} run(s), {counts.lines:,} line(s): "
            f"{counts.fitting:,} fit ({counts.complete:,} complete, {counts.cut_off:,} cut off "
            f"mid-flow), {counts.deviating:,} deviate",
            markup=False,
        )
    if result.skipped:
        write(f"{result.skipped:,} line(s) of other flows skipped (--flow)", markup=False)
    rate = result.lines / result.seconds if result.seconds > 0 else 0.0
    output.info(f"replayed {result.lines:,} line(s) in {result.seconds:.2f}s "
                f"({rate:,.0f} lines/s)")
    if not result.patterns:
        return
    total = result.deviating
    write(f"\n{total:,} run(s) deviate from their flow, in {len(result.patterns)} way(s):",
          markup=False)
    for n, pattern in enumerate(result.patterns[:SHOWN_PATTERNS], start=1):
        _print_pattern(n, pattern)
    hidden = len(result.patterns) - SHOWN_PATTERNS
    if hidden > 0:
        write(f"\n... and {hidden} more way(s): --format json lists every deviating run",
              markup=False)


def _print_pattern(n: int, pattern: Pattern) -> None:
    write = output.out.print
    where = "; ".join(f"session {output.printable(s)} line {line}" for s, line in pattern.examples)
    more = ", ..." if pattern.runs > len(pattern.examples) else ""
    write(f"\n{n}. {output.printable(pattern.flow)}: {pattern.runs:,} run(s) ({where}{more})",
          markup=False)
    write(f"   first deviating line: {_line(pattern.event, pattern.properties)}", markup=False)
    if not pattern.allowed:
        write("   the model allowed nothing more: the run had ended", markup=False)
        return
    write("   the model allowed:", markup=False)
    for allowed in pattern.allowed:
        write(f"     {_allowed(allowed)}", markup=False)


def _allowed(allowed: Allowed) -> str:
    if allowed.item is None:
        return "the end of the flow"
    shown = allowed.item.describe()
    after = ", ".join(output.printable(e) for e in allowed.events)
    return f"{_line(shown['event'], shown['properties'])}  (after {after})"


def _line(event: str, properties: dict[str, Any]) -> str:
    props = json.dumps(properties, ensure_ascii=False, sort_keys=True, default=str)
    return output.printable(f"{event} {props}")
