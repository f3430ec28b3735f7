"""pure: the flow touches the outside world only through declared actions and invokes.

Read from the chart: every action is declarative (assign, track, raise) or a declared
custom action; a plain Python callable passed as an action is undeclared, so the
frontend cannot implement it and nothing says what it does. The hypothesis campaign
runs the real machine with network connections and file writes blocked and reports
every attempt as a finding of this property, with the events that caused it.
"""

from __future__ import annotations

from flowcheck.chart.model import Action, Custom
from flowcheck.properties._witness import path_to_state, path_to_transition
from flowcheck.properties.base import Finding, Subject

ID = "pure"
TITLE = ("actions are declarative or declared custom actions; no network or file write while "
         "the machine runs")
STATIC = True


def _undeclared(actions: tuple[Action, ...]) -> list[str]:
    return [a.name for a in actions if isinstance(a, Custom) and not a.declared]


def check(subject: Subject) -> list[Finding]:
    chart = subject.chart
    graph = subject.graph
    findings: list[Finding] = []
    fix = ("declare it with flowcheck.declare.custom(name) (opaque, implemented by the "
           "frontend) or write it with assign/track/raise_")
    for name in _undeclared(chart.entry):
        findings.append(Finding(ID, f"action {name!r} on the chart's entry is undeclared: {fix}"))
    for s in chart.states:
        for where, actions in (("entry", s.entry), ("exit", s.exit)):
            for name in _undeclared(actions):
                findings.append(Finding(
                    ID, f"action {name!r} on {where} of {s.id!r} is an undeclared Python "
                    f"callable: {fix}", state=s.id, counterexample=path_to_state(graph, s.id)))
        for t in s.transitions:
            for name in _undeclared(t.actions):
                findings.append(Finding(
                    ID, f"action {name!r} on {t.event or 'eventless'} from {s.id!r} is an "
                    f"undeclared Python callable: {fix}", state=s.id, event=t.event,
                    counterexample=path_to_transition(graph, t)))
    return findings
