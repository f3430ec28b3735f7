"""well-formed: the chart is a statechart flowcheck can run.

Structure (read from the chart alone): state ids are unique, every parent, child,
initial and target resolves, every compound has one initial child that is not a
history state, no transition leaves a final state, every invoke has an id and
invoke ids are unique. Execution (from exploration): no guard or assign raises
and eventless transitions always settle; such a step is reported with the event
path that triggers it.
"""

from __future__ import annotations

from flowcheck.chart.model import Chart
from flowcheck.properties._witness import path_to_transition
from flowcheck.properties.base import Finding, Subject

ID = "well-formed"
TITLE = ("ids are unique, references resolve, one initial per compound, no transition out "
         "of a final state, invoke ids present, every step runs")


def structural(chart: Chart) -> list[Finding]:
    """Findings that need no exploration; ``fatal`` ones make the chart unrunnable."""
    out: list[Finding] = []
    ids = [s.id for s in chart.states]
    known = set(ids) | {chart.id}
    seen: set[str] = set()
    for sid in ids:
        if sid in seen:
            out.append(_f(f"state id {sid!r} is declared twice: rename one", state=sid))
        seen.add(sid)
    root_only = chart.root is not None and chart.root.kind != "compound"
    if chart.initial not in known and not (root_only and chart.initial in (chart.id, *known)):
        out.append(_f(f"the chart's initial state {chart.initial!r} does not exist"))
    invoke_ids: dict[str, str] = {}
    for s in chart.states:
        if s.parent is not None and s.parent not in known:
            out.append(_f(f"state {s.id!r} has parent {s.parent!r}, which does not exist",
                          state=s.id))
        for c in s.children:
            if c not in known:
                out.append(_f(f"state {s.id!r} lists child {c!r}, which does not exist",
                              state=s.id))
        if s.kind == "compound":
            if s.initial is None or s.initial not in s.children:
                out.append(_f(f"compound state {s.id!r} has no initial child among its "
                              "children: mark one child initial", state=s.id))
            elif s.initial in known and chart.state(s.initial).kind == "history":
                out.append(_f(f"compound state {s.id!r} starts in a history state: make a "
                              "real child its initial state", state=s.id))
        for t in s.transitions:
            for target in t.targets:
                if target not in known:
                    out.append(_f(f"transition {t.event or 'eventless'} from {s.id!r} targets "
                                  f"{target!r}, which does not exist", state=s.id,
                                  event=t.event))
        for inv in s.invokes:
            if not inv.id:
                out.append(_f(f"an invoke of state {s.id!r} has no id: XState would invent "
                              "one; give it an explicit id", state=s.id))
            elif inv.id in invoke_ids:
                out.append(_f(f"invoke id {inv.id!r} is used by {invoke_ids[inv.id]!r} and "
                              f"{s.id!r}: make invoke ids unique", state=s.id))
            else:
                invoke_ids[inv.id] = s.id
    return out


def finals_with_transitions(chart: Chart) -> list[Finding]:
    out: list[Finding] = []
    for s in chart.states:
        if s.kind == "final" and s.transitions:
            t = s.transitions[0]
            out.append(_f(f"final state {s.id!r} has an outgoing transition "
                          f"({t.event or 'eventless'}): a final state ends its region; make it "
                          "a normal state or remove the transition", state=s.id, event=t.event))
    return out


def check(subject: Subject) -> list[Finding]:
    chart = subject.chart
    graph = subject.graph
    findings = structural(chart)
    for f in finals_with_transitions(chart):
        t = chart.state(f.state or "").transitions[0]
        findings.append(Finding(ID, f.message, f.state, f.event, path_to_transition(graph, t)))
    if graph is not None:
        seen: set[str] = set()
        for err in graph.errors:
            if err.message in seen:
                continue
            seen.add(err.message)
            cx = graph.counterexample(err.node, [err.letter]) if err.node >= 0 else None
            findings.append(Finding(ID, err.message, err.state, err.event, cx))
    return findings


def _f(message: str, state: str | None = None, event: str | None = None) -> Finding:
    return Finding(ID, message, state, event)
