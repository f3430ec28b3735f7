"""reachable: every state is active in some reachable configuration, or entered on the way.

Exploration visits every reachable snapshot; a state active in one of them is reachable.
A transient state (a decision state left at once by eventless transitions, its entry
telemetry sent all the same) is never active in a settled configuration, so for a state
not seen there the explored steps are replayed on the Stepper with a trace of what each
step entered: the initial step, every explored edge, then the steps that left their
snapshot unchanged, until every state has been seen. A state entered by none of them can
never be entered. The trace is only run when some state is missing from the settled
configurations, so the common case costs nothing. Only a complete exploration can show
a state unreachable, so a bounded run reports no finding (and the property is bounded,
not proved).
"""

from __future__ import annotations

from flowcheck.properties._witness import traced_steps
from flowcheck.properties.base import Finding, Subject

ID = "reachable"
TITLE = "every state is active in some reachable configuration or entered in some step"


def check(subject: Subject) -> list[Finding]:
    graph = subject.graph
    if graph is None or not graph.complete:
        return []
    seen = 0
    for snap in graph.snapshots:
        seen |= snap.configuration
    unseen = {
        s.id for s in subject.chart.states
        if s.kind != "history" and not seen >> graph.stepper.index[s.id] & 1
    }
    if unseen:
        for step in traced_steps(graph, idle=True):
            unseen -= step.trace.entered
            if not unseen:
                break
    return [
        Finding(
            ID,
            f"state {s.id!r} is unreachable: no event sequence enters it (all "
            f"{graph.configurations} reachable configurations explored); add a transition "
            "to it or remove it",
            state=s.id,
        )
        for s in subject.chart.states if s.id in unseen
    ]
