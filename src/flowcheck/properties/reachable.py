"""reachable: every state is active in some reachable configuration.

Exploration visits every reachable snapshot; a state active in none of them can never
be entered. Only a complete exploration can show that, so a bounded run reports no
finding (and the property is bounded, not proved).
"""

from __future__ import annotations

from flowcheck.properties.base import Finding, Subject

ID = "reachable"
TITLE = "every state is active in some reachable configuration"


def check(subject: Subject) -> list[Finding]:
    graph = subject.graph
    if graph is None or not graph.complete:
        return []
    seen = 0
    for snap in graph.snapshots:
        seen |= snap.configuration
    findings = []
    for s in subject.chart.states:
        if s.kind == "history":
            continue
        if not seen >> graph.stepper.index[s.id] & 1:
            findings.append(Finding(
                ID,
                f"state {s.id!r} is unreachable: no event sequence enters it (all "
                f"{graph.configurations} reachable configurations explored); add a transition "
                "to it or remove it",
                state=s.id,
            ))
    return findings
