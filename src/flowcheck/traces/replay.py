"""Replaying a trace file against the flows, one line at a time.

Lines are grouped by (session, flow). A *run* of a flow is what one group holds from a line
that starts the flow (the first tracked event of its initial step, ``FLOW_STARTED``) to
its end. A run ends

- *complete* when every explanation of it has reached a top-level final state;
- *cut off* when the file ends, or the flow starts again in the same session, before that
  (the tab was closed, a parent flow stopped its child): not a deviation;
- *deviating* at its first line the model does not allow there. Its later lines are
  skipped until the flow starts again in that session.

Only open runs are kept: a run that ends is handed to the caller and forgotten, so memory
grows with the runs open at one time, never with the runs finished. (A session whose run
deviated keeps one small marker, so that its later lines are not taken for runs of their
own.) Nothing here prints.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

from flowcheck.errors import FlowcheckError
from flowcheck.paths import TransitionKey
from flowcheck.traces.automaton import DEAD, Allowed, Automaton
from flowcheck.traces.format import TraceEvent

Outcome = Literal["complete", "cut off", "deviating"]


class UnknownFlowError(FlowcheckError):
    """A trace line of a flow the project does not have."""


class Deviation(NamedTuple):
    """The first line of a run the model does not allow, and what it allowed there."""

    line: int
    time: float
    event: str
    properties: dict[str, Any]
    allowed: list[Allowed]


class Tracker(Protocol):
    """Follows one run line by line (the report's statistics)."""

    def line(self, event: TraceEvent, edge: int) -> None:
        """A line of the run that fits, and the automaton's edge it took."""


TrackerFactory = Callable[[Automaton], Tracker]


@dataclass
class RunEnd:
    """A run as it ended."""

    session: str
    flow: str
    first_line: int
    last_line: int
    started: float
    ended: float
    lines: int
    """Lines that fit the flow."""
    outcome: Outcome
    deviation: Deviation | None = None
    transitions: list[TransitionKey] | None = None
    """The chart transitions of one explanation of the run (its fitting lines), when asked
    for (``witness``)."""
    edges: array[int] | None = None
    """The automaton's edges the run's fitting lines took, when asked for (``witness``):
    ``Automaton.explain(edges)`` gives the events of one explanation."""
    tracker: Tracker | None = None


@dataclass(slots=True)
class _Run:
    session: str
    flow: str
    automaton: Automaton
    state: int
    first_line: int
    started: float
    last_line: int = 0
    ended: float = 0.0
    lines: int = 0
    edges: array[int] | None = None
    tracker: Tracker | None = None


class _Gone:
    """The marker of a group whose run deviated: its lines are skipped until a new start."""

    def __init__(self, ended: float = float("inf")) -> None:
        self.ended = ended


_GONE = _Gone()
SWEEP_EVERY = 4096
"""Lines between two looks for idle runs (with ``idle``)."""


@dataclass
class Replay:
    """Replays trace lines against ``automata`` (by the names lines give as ``flow``: the
    chart id and the machine name). Lines of other flows raise :class:`UnknownFlowError`,
    unless ``skip_others``. ``witness`` keeps the edges of each open run, so that each
    :class:`RunEnd` carries the chart transitions it took; ``tracker`` makes a
    :class:`Tracker` per run."""

    automata: Mapping[str, Automaton]
    skip_others: bool = False
    witness: bool = False
    tracker: TrackerFactory | None = None
    source: str = "<trace>"
    """How errors name the file."""
    idle: float | None = None
    """Seconds without a line after which an open run is taken as cut off (a closed tab
    looks open until the file ends); None: runs stay open until then."""
    lines: int = 0
    """Lines read."""
    skipped: int = 0
    """Lines of flows not replayed."""
    ignored: int = 0
    """Lines of runs that had deviated, before the flow started again."""
    _open: dict[tuple[str, str], _Run | _Gone] = field(default_factory=dict)

    @property
    def open_runs(self) -> int:
        return sum(1 for r in self._open.values() if type(r) is _Run)

    def runs(self, events: Iterable[TraceEvent]) -> Iterator[RunEnd]:
        """Every run of ``events``, as each ends: in the order of the lines that end them,
        then the runs still open when the lines end (cut off), in the order they started."""
        automata = self.automata
        opened = self._open
        idle = self.idle
        latest = float("-inf")
        for ev in events:
            self.lines += 1
            if idle is not None:
                latest = max(latest, ev.time)
                if self.lines % SWEEP_EVERY == 0:
                    yield from self._sweep(latest - idle)
            auto = automata.get(ev.flow)
            if auto is None:
                if self.skip_others:
                    self.skipped += 1
                    continue
                known = ", ".join(sorted({a.chart.id for a in automata.values()}))
                raise UnknownFlowError(
                    f"{self.source}:{ev.line}: flow {ev.flow!r} is not a flow of this project (the "
                    f"flows are {known}); pass --flow NAME to replay one flow only"
                )
            flow = auto.chart.id
            key = (ev.session, flow)
            obs = auto.observe(ev.event, ev.properties)
            run = opened.get(key)
            if type(run) is _Run and obs is not None:
                edge = auto.feed(run.state, obs)
                if edge != DEAD:
                    self._take(run, ev, edge)
                    if auto.is_finished(run.state):
                        del opened[key]
                        yield self._end(run, "complete")
                    continue
            first = DEAD if obs is None else auto.feed(auto.start, obs)
            if first != DEAD:
                if type(run) is _Run:
                    yield self._end(run, "complete" if auto.may_end(run.state) else "cut off")
                new = _Run(ev.session, flow, auto, auto.start, ev.line, ev.time)
                if self.witness:
                    new.edges = array("i")
                if self.tracker is not None:
                    new.tracker = self.tracker(auto)
                self._take(new, ev, first)
                if auto.is_finished(new.state):
                    opened.pop(key, None)
                    yield self._end(new, "complete")
                else:
                    opened[key] = new
                continue
            if type(run) is _Gone:
                self.ignored += 1
                continue
            opened[key] = _Gone(ev.time) if idle is not None else _GONE
            if type(run) is _Run:
                state = run.state
            else:
                run = _Run(ev.session, flow, auto, auto.start, ev.line, ev.time)
                if self.tracker is not None:
                    run.tracker = self.tracker(auto)
                state = auto.start
            deviation = Deviation(ev.line, ev.time, ev.event, ev.properties, auto.allowed(state))
            end = self._end(run, "deviating")
            end.deviation = deviation
            end.last_line = ev.line
            end.ended = ev.time
            yield end
        for key, run in list(opened.items()):
            del opened[key]
            if type(run) is _Run:
                yield self._end(run, "complete" if run.automaton.may_end(run.state)
                                else "cut off")

    def _sweep(self, before: float) -> Iterator[RunEnd]:
        """End the runs whose last line is older than ``before`` (cut off), and forget the
        markers of deviated runs as old."""
        opened = self._open
        for key in [k for k, r in opened.items() if r.ended < before]:
            run = opened.pop(key)
            if type(run) is _Run:
                yield self._end(run, "complete" if run.automaton.may_end(run.state)
                                else "cut off")

    @staticmethod
    def _take(run: _Run, ev: TraceEvent, edge: int) -> None:
        run.state = run.automaton.edge_dst[edge]
        run.lines += 1
        run.last_line = ev.line
        run.ended = ev.time
        if run.edges is not None:
            run.edges.append(edge)
        if run.tracker is not None:
            run.tracker.line(ev, edge)

    @staticmethod
    def _end(run: _Run, outcome: Outcome) -> RunEnd:
        transitions = None
        if run.edges is not None:
            transitions = run.automaton.witness(run.edges)
        return RunEnd(run.session, run.flow, run.first_line, run.last_line or run.first_line,
                      run.started, run.ended or run.started, run.lines, outcome,
                      transitions=transitions, edges=run.edges, tracker=run.tracker)


def automata_by_name(named: Mapping[str, Automaton]) -> dict[str, Automaton]:
    """Each automaton under its machine name and under its chart id (the name lines give)."""
    out: dict[str, Automaton] = {}
    for name, auto in named.items():
        out[name] = auto
        out.setdefault(auto.chart.id, auto)
    return out
