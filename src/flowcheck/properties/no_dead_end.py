"""no-dead-end: every reachable configuration that is not final lets the user go on.

A reachable snapshot that is not done must have a step to a different snapshot: an
event whose transition is enabled (guards hold) and changes something. Checked on
every expanded snapshot; one finding per configuration, with the shortest path to it.
"""

from __future__ import annotations

from flowcheck.properties._witness import config_label
from flowcheck.properties.base import Finding, Subject

ID = "no-dead-end"
TITLE = "every reachable non-final configuration has an enabled event"


def check(subject: Subject) -> list[Finding]:
    graph = subject.graph
    if graph is None:
        return []
    stepper = graph.stepper
    findings: list[Finding] = []
    reported: set[int] = set()
    raised = {err.node for err in graph.errors}
    for node in range(graph.expanded):
        snap = graph.snapshots[node]
        if stepper.is_done(snap) or graph.successors(node) or snap.configuration in reported:
            continue
        if node in raised:
            continue  # a step that raised is a well-formed finding, not a dead end
        reported.add(snap.configuration)
        active = stepper.active_ids(snap)
        atomic = [a for a in active if not graph.chart.state(a).children]
        findings.append(Finding(
            ID,
            f"dead end in {config_label(active)}: no event changes anything here (context "
            f"{stepper.context_dict(snap.context)}); add a way forward or make it final",
            state=atomic[-1] if atomic else None,
            counterexample=graph.counterexample(node),
        ))
    return findings
