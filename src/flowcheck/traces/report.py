"""``traces report``: what real users do in each flow, from the runs that fit it.

Read from the runs' own lines (the flow's tracking plan says which line enters or exits
which state) and from one explanation of each run (which chart transitions it took):

- the *funnel*: how many runs reached each state of the shortest path from the start to a
  success state (the happy path), of all the runs that started;
- each *failure state*: runs that entered it, how many of them retried (left it for a state
  of the flow that is neither a failure nor an abandonment), the retries, how many of
  those ended in success before the next failure, and the runs that succeeded after
  retrying;
- where users *abandon*: the state a run left for an abandoned state (cancelled), the state
  a run was in when it was cut off (the tab closed);
- the transitions real users take, beside what the model can take (``flowcheck paths``
  coverage): one never taken is a feature nobody uses, or one the frontend does not offer;
  a transition that tracks nothing (a form field) cannot be seen and is marked so;
- the *time per step*: the median and 90th percentile of the time between entering a state
  and leaving it.

Runs that deviate from their flow are left out (``traces check`` lists them) and counted.
Memory stays constant in the number of runs: counters, and durations kept exactly up to
:data:`EXACT` per state, then in bins 1% wide.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from flowcheck.chart.model import ABANDONED, FAILURE, SUCCESS, Chart, Track
from flowcheck.paths import TransitionKey, transition_key_label
from flowcheck.paths import explore as explore_paths
from flowcheck.traces.automaton import Automaton, Item
from flowcheck.traces.format import TraceEvent
from flowcheck.traces.replay import Replay, RunEnd

EXACT = 10_000
"""Durations per state kept exactly; past that, a histogram of 1% bins."""
_BIN = math.log(1.01)
_ENTER = 0
_EXIT = 1


class Durations:
    """Durations in seconds: exact quantiles while few, within 1% after."""

    def __init__(self) -> None:
        self.count = 0
        self._values: list[float] | None = []
        self._bins: Counter[int] = Counter()
        self._zero = 0

    def add(self, seconds: float) -> None:
        self.count += 1
        seconds = max(seconds, 0.0)
        if self._values is not None:
            self._values.append(seconds)
            if len(self._values) > EXACT:
                for v in self._values:
                    self._bin(v)
                self._values = None
        else:
            self._bin(seconds)

    def _bin(self, seconds: float) -> None:
        if seconds < 0.001:
            self._zero += 1
        else:
            self._bins[math.floor(math.log(seconds) / _BIN)] += 1

    def median(self) -> float | None:
        if not self.count:
            return None
        if self._values is not None:
            return statistics.median(self._values)
        return self._quantile(0.5)

    def quantile(self, q: float) -> float | None:
        """The nearest-rank ``q`` quantile."""
        if not self.count:
            return None
        if self._values is not None:
            ordered = sorted(self._values)
            return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]
        return self._quantile(q)

    def _quantile(self, q: float) -> float:
        rank = max(math.ceil(q * self.count), 1)
        seen = self._zero
        if seen >= rank:
            return 0.0
        for b in sorted(self._bins):
            seen += self._bins[b]
            if seen >= rank:
                return math.exp((b + 0.5) * _BIN)
        return math.exp((max(self._bins) + 0.5) * _BIN)


class _Mark(NamedTuple):
    """A line that enters or leaves a state, and what the report needs of that state."""

    kind: int
    state: str
    failure: bool
    abandoned: bool
    success: bool
    container: bool
    durations: Durations


@dataclass
class _Flow:
    """One flow's chart facts and running totals."""

    automaton: Automaton
    tags: dict[str, tuple[str, ...]]
    markers: dict[Item, tuple[int, str]]
    finals: set[str]
    containers: set[str]
    funnel: list[str]
    order: dict[str, int]
    edge_markers: list[_Mark | None] = field(default_factory=list)
    runs: int = 0
    complete: int = 0
    cut_off: int = 0
    deviating: int = 0
    succeeded: int = 0
    lines: int = 0
    reached: Counter[str] = field(default_factory=Counter)
    entries: Counter[str] = field(default_factory=Counter)
    failed_runs: Counter[str] = field(default_factory=Counter)
    retried_runs: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    retries_succeeded: Counter[str] = field(default_factory=Counter)
    recovered: Counter[str] = field(default_factory=Counter)
    cancelled_from: Counter[str] = field(default_factory=Counter)
    cut_off_in: Counter[str] = field(default_factory=Counter)
    ended_in: Counter[str] = field(default_factory=Counter)
    taken: Counter[TransitionKey] = field(default_factory=Counter)
    durations: dict[str, Durations] = field(default_factory=dict)

    def marker(self, edge: int) -> _Mark | None:
        """What the line that took ``edge`` marks: entering or leaving which state."""
        known = self.edge_markers
        auto = self.automaton
        while len(known) < len(auto.edge_items):
            items = auto.edge_items[len(known)]
            found = next((self.markers[i] for i in items if i in self.markers), None)
            known.append(None if found is None else self._mark(*found))
        return known[edge]

    def _mark(self, kind: int, state: str) -> _Mark:
        return _Mark(kind, state, self.has(state, FAILURE), self.has(state, ABANDONED),
                     self.has(state, SUCCESS), state in self.containers,
                     self.durations.setdefault(state, Durations()))

    def has(self, state: str, tag: str) -> bool:
        return tag in self.tags.get(state, ())


class _RunStats:
    """Follows one run's lines: states entered, times, failures and retries."""

    __slots__ = ("active", "attempts", "cancelled_from", "durations", "entered", "entries",
                 "entry_times", "flow", "leaving", "retried", "retries", "retries_succeeded",
                 "step_from", "succeeded", "was_exit")

    def __init__(self, flow: _Flow) -> None:
        self.flow = flow
        self.entered: set[str] = set()
        self.entry_times: dict[str, float] = {}
        self.active: list[str] = []
        self.attempts: list[str] = []
        self.retried: set[str] = set()
        self.leaving: str | None = None
        self.step_from: str | None = None
        self.was_exit = False
        self.succeeded = False
        self.cancelled_from: str | None = None
        # Counted into the flow's totals when the run ends, if it fits.
        self.durations: list[tuple[Durations, float]] = []
        self.entries: list[str] = []
        self.retries: list[str] = []
        self.retries_succeeded: list[str] = []

    def line(self, event: TraceEvent, edge: int) -> None:
        mark = self.flow.marker(edge)
        if mark is None:
            return
        state = mark.state
        if mark.kind == _EXIT:
            if not self.was_exit:
                self.step_from = state
            self.was_exit = True
            began = self.entry_times.pop(state, None)
            if began is not None:
                self.durations.append((mark.durations, event.time - began))
            if state in self.active:
                self.active.remove(state)
            if mark.failure and self.leaving is None:
                self.leaving = state
            return
        self.was_exit = False
        self.entries.append(state)
        self.entered.add(state)
        self.entry_times[state] = event.time
        self.active.append(state)
        # Leaving a failure state: the first state entered after it (past the compound
        # states on the way) says whether the user went back into the flow (a retry).
        if self.leaving is not None and not mark.container:
            if not mark.failure and not mark.abandoned:
                self.attempts.append(self.leaving)
                self.retried.add(self.leaving)
                self.retries.append(self.leaving)
            self.leaving = None
        if mark.failure:
            self.attempts.clear()
        if mark.success:
            self.succeeded = True
            self.retries_succeeded.extend(self.attempts)
            self.attempts.clear()
        if mark.abandoned and self.cancelled_from is None:
            self.cancelled_from = self.step_from or "(start)"


def report(events: Iterable[TraceEvent], automata: Mapping[str, Automaton], *,
           skip_others: bool = False, source: str = "", idle: float | None = None
           ) -> dict[str, Any]:
    """The report of a trace file as JSON-ready data (``source`` names the file; ``idle``
    as in :func:`flowcheck.traces.check.check`)."""
    flows: dict[str, _Flow] = {}
    for auto in automata.values():
        if auto.chart.id not in flows:
            flows[auto.chart.id] = _flow(auto)
    replay = Replay(automata, skip_others=skip_others, witness=True, source=source or "<trace>",
                    idle=idle, tracker=lambda auto: _RunStats(flows[auto.chart.id]))
    for run in replay.runs(events):
        _count(flows[run.flow], run)
    return {
        "source": source,
        "lines": replay.lines,
        "skipped": replay.skipped,
        "flows": [_flow_json(f) for f in flows.values() if f.runs],
    }


def _flow(auto: Automaton) -> _Flow:
    chart = auto.chart
    tags = {s.id: s.tags for s in chart.states}
    markers: dict[Item, tuple[int, str]] = {}
    for s in chart.states:
        for kind, actions in ((_ENTER, s.entry), (_EXIT, s.exit)):
            for a in actions:
                if isinstance(a, Track) and ("state", s.id) in a.properties:
                    markers.setdefault(Item(a.event, a.properties, a.include), (kind, s.id))
                    break
    finals = {s.id for s in chart.states if s.kind == "final"}
    containers = {s.id for s in chart.states if s.children}
    order = {s.id: i for i, s in enumerate(chart.states)}
    return _Flow(auto, tags, markers, finals, containers, _happy_path(chart), order)


def _happy_path(chart: Chart) -> list[str]:
    """The atomic states of a shortest event path from the start to a success state."""
    graph = explore_paths(chart)
    success = {graph.stepper.index[s] for s in chart.tagged(SUCCESS)}
    leaves = {s.id for s in chart.states if s.kind in ("atomic", "final")}
    for snap, path in graph.bfs(graph.initial):
        if any(snap.configuration >> i & 1 for i in success):
            stages: list[str] = []
            for configuration in [graph.initial, *(s for _, s in path)]:
                for sid in graph.stepper.active_ids(configuration):
                    if sid in leaves and sid not in stages:
                        stages.append(sid)
            return stages
    return [s for s in graph.stepper.active_ids(graph.initial) if s in leaves]


def _count(flow: _Flow, run: RunEnd) -> None:
    flow.runs += 1
    if run.outcome == "deviating":
        flow.deviating += 1
        return
    flow.lines += run.lines
    if run.outcome == "complete":
        flow.complete += 1
    else:
        flow.cut_off += 1
    stats = run.tracker
    assert isinstance(stats, _RunStats)
    for durations, seconds in stats.durations:
        durations.add(seconds)
    flow.entries.update(stats.entries)
    flow.retries.update(stats.retries)
    flow.retries_succeeded.update(stats.retries_succeeded)
    for state in stats.entered:
        flow.reached[state] += 1
        if flow.has(state, FAILURE):
            flow.failed_runs[state] += 1
    for state in stats.retried:
        flow.retried_runs[state] += 1
        if stats.succeeded:
            flow.recovered[state] += 1
    if stats.succeeded:
        flow.succeeded += 1
    elif stats.cancelled_from is not None:
        flow.cancelled_from[stats.cancelled_from] += 1
    elif run.outcome == "cut off":
        flow.cut_off_in[stats.active[-1] if stats.active else "(start)"] += 1
    else:
        ended = [s for s in stats.active if s in flow.finals]
        flow.ended_in[ended[-1] if ended else "(unknown)"] += 1
    flow.taken.update(run.transitions or ())


def _flow_json(flow: _Flow) -> dict[str, Any]:
    chart = flow.automaton.chart
    fitting = flow.complete + flow.cut_off
    funnel = [{"state": "(started)", "runs": fitting, "share": _share(fitting, fitting)}]
    funnel += [{"state": s, "runs": flow.reached[s], "share": _share(flow.reached[s], fitting)}
               for s in flow.funnel]
    failures = [
        {"state": s, "runs": flow.failed_runs[s], "share": _share(flow.failed_runs[s], fitting),
         "entries": flow.entries[s], "retried_runs": flow.retried_runs[s],
         "retries": flow.retries[s], "retries_succeeded": flow.retries_succeeded[s],
         "recovered_runs": flow.recovered[s]}
        for s in chart.tagged(FAILURE)
    ]
    places = set(flow.cancelled_from) | set(flow.cut_off_in) | set(flow.ended_in)
    totals = {s: flow.cancelled_from[s] + flow.cut_off_in[s] + flow.ended_in[s]
              for s in places}
    abandon = [
        {"state": s, "cancelled": flow.cancelled_from[s], "cut_off": flow.cut_off_in[s],
         "ended": flow.ended_in[s], "total": totals[s]}
        for s in sorted(places, key=lambda s: (-totals[s], flow.order.get(s, -1), s))
    ]
    graph = explore_paths(chart)
    reachable = graph.reachable_transitions()
    observable = _observable(chart)
    transitions = []
    for key in graph.transitions():
        t = chart.state(key[0]).transitions[key[1]]
        transitions.append({
            "source": key[0], "index": key[1], "event": t.event, "targets": list(t.targets),
            "label": transition_key_label(chart, key), "taken": flow.taken[key],
            "reachable": key in reachable, "observable": key in observable,
        })
    never = [t["label"] for t in transitions
             if t["reachable"] and t["observable"] and not t["taken"]]
    times = []
    for s in chart.states:
        d = flow.durations.get(s.id)
        if d is not None and d.count:
            times.append({"state": s.id, "tags": list(s.tags), "count": d.count,
                          "median_seconds": _round(d.median()),
                          "p90_seconds": _round(d.quantile(0.9))})
    return {
        "flow": chart.id,
        "machine": chart.name,
        "runs": {"total": flow.runs, "fit": fitting, "complete": flow.complete,
                 "cut_off": flow.cut_off, "deviating": flow.deviating,
                 "succeeded": flow.succeeded},
        "lines": flow.lines,
        "funnel": funnel,
        "failures": failures,
        "abandon": abandon,
        "transitions": transitions,
        "never_taken": never,
        "time_per_state": times,
    }


def _observable(chart: Chart) -> set[TransitionKey]:
    """Transitions whose firing shows in the telemetry: they track something themselves,
    or they leave or enter a state that tracks its entry or exit."""
    tracked_entry = {s.id for s in chart.states if any(isinstance(a, Track) for a in s.entry)}
    tracked_exit = {s.id for s in chart.states if any(isinstance(a, Track) for a in s.exit)}
    out: set[TransitionKey] = set()
    for s in chart.nodes():
        for i, t in enumerate(s.transitions):
            own = any(isinstance(a, Track) for a in t.actions)
            internal = not t.reenter and all(x == t.source for x in t.targets)
            moves = bool(t.targets) and not internal and (
                t.source in tracked_exit or any(x in tracked_entry for x in t.targets))
            if own or moves:
                out.add((s.id, i))
    return out


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
