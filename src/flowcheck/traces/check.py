"""``traces check``: which runs in a trace file fit their flow, and where the others deviate.

Deviations are grouped by *how* they deviate (the flow, the line as the tracking plan sees
it, and what the model allowed there), so a frontend that drifted in one place reads as
one finding with a count, whatever the number of sessions it touched.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowcheck.traces.automaton import Allowed, Automaton
from flowcheck.traces.format import TraceEvent
from flowcheck.traces.replay import Deviation, Replay, RunEnd

EXAMPLES = 3
"""Sessions named per kind of deviation."""


@dataclass
class FlowCounts:
    """How the runs of one flow ended."""

    flow: str
    runs: int = 0
    complete: int = 0
    cut_off: int = 0
    deviating: int = 0
    lines: int = 0

    @property
    def fitting(self) -> int:
        return self.complete + self.cut_off

    def to_json(self) -> dict[str, Any]:
        return {"flow": self.flow, "runs": self.runs, "fit": self.fitting,
                "complete": self.complete, "cut_off": self.cut_off,
                "deviating": self.deviating, "lines": self.lines}


@dataclass
class Pattern:
    """Runs that deviate the same way: the same line (as the plan sees it), allowed the
    same things."""

    flow: str
    event: str
    properties: dict[str, Any]
    allowed: list[Allowed]
    runs: int = 0
    examples: list[tuple[str, int]] = field(default_factory=list)
    """(session, line) of the first few."""

    def to_json(self) -> dict[str, Any]:
        return {"flow": self.flow, "event": self.event, "properties": self.properties,
                "allowed": [allowed_json(a) for a in self.allowed], "runs": self.runs,
                "examples": [{"session": s, "line": n} for s, n in self.examples]}


@dataclass
class CheckResult:
    flows: dict[str, FlowCounts]
    patterns: list[Pattern]
    deviations: list[RunEnd] | None
    """Every deviating run, when kept (``keep``)."""
    lines: int
    skipped: int
    ignored: int
    seconds: float

    @property
    def deviating(self) -> int:
        return sum(c.deviating for c in self.flows.values())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.deviating == 0,
            "lines": self.lines,
            "skipped": self.skipped,
            "ignored_after_deviation": self.ignored,
            "flows": [c.to_json() for c in self.flows.values()],
            "patterns": [p.to_json() for p in self.patterns],
        }
        if self.deviations is not None:
            out["deviations"] = [deviation_json(r) for r in self.deviations]
        return out


def check(events: Iterable[TraceEvent], automata: Mapping[str, Automaton], *,
          skip_others: bool = False, keep: bool = False, source: str = "<trace>",
          idle: float | None = None) -> CheckResult:
    """Replay ``events`` against ``automata`` (keyed by every name a line may give) and count
    how each run ended. ``keep`` keeps every deviating run (memory grows with them);
    otherwise only the kinds of deviation, with a few examples each. ``source`` names the
    file in errors; ``idle`` ends runs without a line for that many seconds (cut off)."""
    started = time.perf_counter()
    replay = Replay(automata, skip_others=skip_others, source=source, idle=idle)
    flows = {a.chart.id: FlowCounts(a.chart.id) for a in automata.values()}
    patterns: dict[tuple[Any, ...], Pattern] = {}
    kept: list[RunEnd] | None = [] if keep else None
    for run in replay.runs(events):
        counts = flows[run.flow]
        counts.runs += 1
        counts.lines += run.lines
        if run.outcome == "complete":
            counts.complete += 1
        elif run.outcome == "cut off":
            counts.cut_off += 1
        else:
            assert run.deviation is not None
            counts.deviating += 1
            counts.lines += 1
            _pattern(patterns, run, run.deviation, automata[run.flow])
            if kept is not None:
                kept.append(run)
    ordered = sorted(patterns.values(), key=lambda p: (-p.runs, p.flow, p.examples[0][1]))
    return CheckResult(flows, ordered, kept, replay.lines, replay.skipped, replay.ignored,
                       time.perf_counter() - started)


def _pattern(patterns: dict[tuple[Any, ...], Pattern], run: RunEnd, dev: Deviation,
             auto: Automaton) -> None:
    planned = auto.literal_keys(dev.event)
    shown = {k: v for k, v in dev.properties.items() if k in planned}
    key = (run.flow, dev.event, _hashable(shown), tuple(dev.allowed))
    found = patterns.get(key)
    if found is None:
        found = patterns[key] = Pattern(run.flow, dev.event, shown, dev.allowed)
    found.runs += 1
    if len(found.examples) < EXAMPLES:
        found.examples.append((run.session, dev.line))


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def allowed_json(allowed: Allowed) -> dict[str, Any]:
    if allowed.item is None:
        return {"end": True, "after": list(allowed.events)}
    return {**allowed.item.describe(), "after": list(allowed.events)}


def deviation_json(run: RunEnd) -> dict[str, Any]:
    dev = run.deviation
    assert dev is not None
    return {
        "session": run.session,
        "flow": run.flow,
        "started_line": run.first_line,
        "line": dev.line,
        "time": dev.time,
        "event": dev.event,
        "properties": dev.properties,
        "fitting_lines_before": run.lines,
        "allowed": [allowed_json(a) for a in dev.allowed],
    }
