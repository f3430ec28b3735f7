"""A trace file in the simulator: real traffic on the diagram, and real sessions to play.

``flowcheck serve --traces FILE`` reads the file twice when it starts, streamed (never
held in memory): once for the report (how many runs took each chart transition), once to
list the runs, at most :data:`MAX_LISTED` of each outcome per flow. Playing a listed run
reads the file once more for that run's lines only, replays them with a witness, and
explains them: the input the run started with and the events of its steps, each beside the
real lines its telemetry sent (a step that tracks nothing was inferred, and has none).

The page draws the weights on the transition labels of the diagram, which carry
``data-transition="t<n>"`` (flowcheck.web.svg): a label stands for one or more chart
transitions, and its weight is the sum of theirs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowcheck.chart.model import Chart
from flowcheck.errors import FlowcheckError, UnknownNameError
from flowcheck.formats.diagram import label_nodes
from flowcheck.traces.automaton import Automaton
from flowcheck.traces.check import allowed_json
from flowcheck.traces.format import STDIN, TraceEvent, TraceFormatError, read_events
from flowcheck.traces.replay import Replay, RunEnd, automata_by_name
from flowcheck.traces.report import report

MAX_LISTED = 100
"""Runs listed per flow and outcome: the page lists them to play; the counts are whole."""

MAX_STEP_LINES = 50
"""Real lines shown beside one step (a step sends a handful)."""

OUTCOMES = ("complete", "cut off", "deviating")


class TraceChangedError(FlowcheckError):
    """The trace file no longer holds a run it held when the server started."""


@dataclass(frozen=True)
class ListedRun:
    id: int
    session: str
    flow: str
    machine: str
    outcome: str
    first_line: int
    last_line: int
    lines: int
    started: float
    ended: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "session": self.session, "flow": self.flow,
                "machine": self.machine, "outcome": self.outcome,
                "first_line": self.first_line, "last_line": self.last_line,
                "lines": self.lines, "seconds": round(max(0.0, self.ended - self.started), 3)}


class TraceRuns:
    """The runs of one trace file against the served flows. Thread-safe.

    ``automata`` are by machine name (the simulator's names); lines may name a flow by its
    machine name or its chart id. A line of another flow is an error, as in
    ``flowcheck traces check``."""

    def __init__(self, path: Path, automata: Mapping[str, Automaton]) -> None:
        if path == STDIN:
            raise TraceFormatError("--traces reads a file, not standard input: the server "
                                   "reads it again to play a session")
        self.path = path
        self.name = path.name
        self._machines = {auto.chart.id: name for name, auto in automata.items()}
        self._automata = automata_by_name(dict(automata))
        self._lock = threading.Lock()
        with self._lock:
            data = report(read_events(path), self._automata, source=path.name)
            self.lines = int(data["lines"])
            self.runs: list[ListedRun] = []
            counts: dict[str, dict[str, int]] = {}
            for run in Replay(self._automata, source=str(path)).runs(read_events(path)):
                per = counts.setdefault(run.flow, dict.fromkeys(OUTCOMES, 0))
                per[run.outcome] += 1
                if per[run.outcome] <= MAX_LISTED:
                    self.runs.append(ListedRun(
                        len(self.runs), run.session, run.flow, self._machines[run.flow],
                        run.outcome, run.first_line, run.last_line, run.lines, run.started,
                        run.ended))
        self.flows = [self._flow_json(flow, counts.get(flow["flow"], {}))
                      for flow in data["flows"]]

    def _flow_json(self, flow: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
        machine = self._machines[flow["flow"]]
        chart = self._automata[machine].chart
        listed = [r.to_json() for r in self.runs if r.flow == flow["flow"]]
        return {
            "flow": flow["flow"],
            "machine": machine,
            "runs": flow["runs"],
            "lines": flow["lines"],
            "by_outcome": {o: counts.get(o, 0) for o in OUTCOMES},
            "listed": listed,
            "more": sum(counts.values()) > len(listed),
            "labels": label_weights(chart, flow["transitions"]),
            "never_taken": flow["never_taken"],
        }

    def to_json(self) -> dict[str, Any]:
        return {"loaded": True, "source": self.name, "lines": self.lines,
                "listed_per_outcome": MAX_LISTED, "flows": self.flows}

    def run(self, run_id: Any) -> ListedRun:
        if isinstance(run_id, bool) or not isinstance(run_id, int) or not (
                0 <= run_id < len(self.runs)):
            raise UnknownNameError(f"unknown run {str(run_id)[:40]!r}: the listed runs are "
                                   f"0 to {len(self.runs) - 1}")
        return self.runs[run_id]

    def explain(self, run_id: Any, max_steps: int) -> dict[str, Any]:
        """The listed run ``run_id`` explained: ``input``, ``steps`` (event, payload, the
        real lines it sent; none for an inferred step), and for a deviating run the
        ``deviation``: the line and what the model allowed there."""
        listed = self.run(run_id)
        names = {listed.flow, listed.machine}
        mine: list[TraceEvent] = [
            ev for ev in read_events(self.path)
            if listed.first_line <= ev.line <= listed.last_line
            and ev.session == listed.session and ev.flow in names
        ]
        with self._lock:  # the automaton grows as it is fed
            ended = self._replay(listed, mine)
            auto = self._automata[listed.flow]
            explanation = auto.explain(ended.edges if ended.edges is not None else [])
        fitting = [ev for ev in mine if ended.deviation is None or ev.line != ended.deviation.line]
        starts = [s.line for s in explanation.steps if s.line is not None]
        steps: list[dict[str, Any]] = []
        for step in explanation.steps[:max_steps]:
            lines: list[dict[str, Any]] = []
            if step.line is not None:
                later = [n for n in starts if n > step.line]
                stop = later[0] if later else len(fitting)
                lines = [_line(ev) for ev in fitting[step.line:stop][:MAX_STEP_LINES]]
            steps.append({"event": step.event, "payload": step.payload,
                          "inferred": step.line is None, "lines": lines})
        out: dict[str, Any] = {
            "run": listed.to_json(),
            "input": explanation.input,
            "steps": steps,
            "truncated": max(0, len(explanation.steps) - max_steps),
            "deviation": None,
        }
        if ended.deviation is not None:
            dev = ended.deviation
            out["deviation"] = {
                "line": dev.line, "event": dev.event, "properties": dev.properties,
                "allowed": [allowed_json(a) for a in dev.allowed],
            }
        return out

    def _replay(self, listed: ListedRun, lines: list[TraceEvent]) -> RunEnd:
        replay = Replay(self._automata, witness=True, source=str(self.path))
        for ended in replay.runs(lines):
            if ended.first_line == listed.first_line:
                return ended
        raise TraceChangedError(
            f"{self.name}: session {listed.session[:80]!r} no longer has its {listed.flow} run "
            f"at line {listed.first_line}: the file changed since the simulator started; "
            "restart flowcheck serve")


def _line(ev: TraceEvent) -> dict[str, Any]:
    return {"line": ev.line, "event": ev.event, "properties": ev.properties}


def label_weights(chart: Chart, transitions: list[dict[str, Any]]) -> dict[str, Any]:
    """Per transition label of the diagram (``t<n>``): how many runs took its transitions,
    and whether the model can take them and the telemetry shows them."""
    by_key = {(t["source"], t["index"]): t for t in transitions}
    out: dict[str, Any] = {}
    for node in label_nodes(chart):
        taken = 0
        reachable = observable = False
        for t in node.transitions:
            index = next((i for i, u in enumerate(chart.state(t.source).transitions)
                          if u is t), -1)
            row = by_key.get((t.source, index))
            if row is None:
                continue
            taken += int(row["taken"])
            reachable = reachable or bool(row["reachable"])
            observable = observable or bool(row["observable"])
        out[f"t{node.name[2:]}"] = {"taken": taken, "reachable": reachable,
                                    "observable": observable}
    return out
