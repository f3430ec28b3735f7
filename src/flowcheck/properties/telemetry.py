"""telemetry: analytics see every state and the edges of the flow.

Read from the chart: every state except history pseudo-states runs a ``track`` action on
entry and on exit (a top-level final state is never exited: the machine stops there);
the chart's entry tracks FLOW_STARTED; final states tagged success and abandoned track
FLOW_COMPLETED and FLOW_ABANDONED on entry, states tagged failure FLOW_FAILED; every tracked name is
SCREAMING_SNAKE_CASE. The hypothesis campaign adds that the running machine emitted
the entry and exit events of the states it really entered and exited.
"""

from __future__ import annotations

from flowcheck.chart.model import ABANDONED, FAILURE, SUCCESS, Action, Track
from flowcheck.properties._witness import SCREAMING_SNAKE, path_to_state, path_to_transition
from flowcheck.properties.base import CounterexampleQuota, Finding, Subject

ID = "telemetry"
PROFILES = ("mirai",)  # a rule of the platform, not of statecharts in general
TITLE = ("every state tracks its entry and exit; FLOW_STARTED, FLOW_COMPLETED, FLOW_FAILED "
         "and FLOW_ABANDONED exist; names are SCREAMING_SNAKE_CASE")
STATIC = True

EDGES = {SUCCESS: "FLOW_COMPLETED", FAILURE: "FLOW_FAILED", ABANDONED: "FLOW_ABANDONED"}


def _tracks(actions: tuple[Action, ...]) -> list[str]:
    return [a.event for a in actions if isinstance(a, Track)]


def check(subject: Subject) -> list[Finding]:
    chart = subject.chart
    graph = subject.graph
    findings: list[Finding] = []
    kinds = CounterexampleQuota()

    def add(message: str, state: str | None = None, kind: str | None = None) -> None:
        first = kind is None or kinds.wanted(kind)
        cx = path_to_state(graph, state) if state and first else None
        findings.append(Finding(ID, message, state=state, counterexample=cx, kind=kind))

    if "FLOW_STARTED" not in _tracks(chart.entry):
        add("the chart does not track FLOW_STARTED when the flow starts: keep the telemetry "
            "policy's started event or add track('FLOW_STARTED') to the chart's entry")
    names: list[tuple[str, str | None]] = [(n, None) for n in _tracks(chart.entry)]
    for s in chart.states:
        if s.kind == "history":
            continue
        entry, exit_ = _tracks(s.entry), _tracks(s.exit)
        names += [(n, s.id) for n in (*entry, *exit_)]
        if not entry:
            add(f"state {s.id!r} tracks nothing on entry: add a track action (or keep the "
                "telemetry policy's entered event)", s.id, "entry")
        top_final = s.kind == "final" and s.parent is None
        if not exit_ and not top_final:
            add(f"state {s.id!r} tracks nothing on exit: add a track action (or keep the "
                "telemetry policy's exited event)", s.id, "exit")
        for tag, event in EDGES.items():
            # The flow ends once: completion and abandonment are tracked by final states;
            # a non-final abandoned state (a cancelling step) is on its way there.
            if tag != FAILURE and s.kind != "final":
                continue
            if tag in s.tags and event not in entry:
                add(f"state {s.id!r} is tagged {tag} but does not track {event} on entry", s.id,
                    f"edge {tag}")
        for t in s.transitions:
            for n in _tracks(t.actions):
                if not SCREAMING_SNAKE.match(n):
                    first = kinds.wanted("transition name")
                    findings.append(Finding(
                        ID, f"tracked event {n!r} on {t.event or 'eventless'} from {s.id!r} is "
                        "not SCREAMING_SNAKE_CASE", state=s.id, event=t.event,
                        counterexample=path_to_transition(graph, t) if first else None,
                        kind="transition name"))
    for n, sid in names:
        if not SCREAMING_SNAKE.match(n):
            add(f"tracked event {n!r} is not SCREAMING_SNAKE_CASE: rename it", sid, "name")
    return findings
