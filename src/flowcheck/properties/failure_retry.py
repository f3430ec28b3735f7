"""failure-retry: every failure has an explicit way back to success.

Each state tagged ``failure`` has a retry transition: a user event on it (or a state
inside it) that leaves it. And from every reachable snapshot with it active, some retry
event leads to a snapshot with no failure state active from which success is still
reachable (backward reachability from success over the explored graph).
"""

from __future__ import annotations

from flowcheck.chart.model import FAILURE, Chart
from flowcheck.properties._witness import (
    config_label,
    descendants,
    is_user_event,
    path_to_state,
    tagged_mask,
)
from flowcheck.properties.base import Finding, Subject
from flowcheck.properties.completable import can_succeed

ID = "failure-retry"
TITLE = ("every failure state has a retry transition that leads back to a configuration from "
         "which success is reachable")


def retry_events(chart: Chart, failure_state: str) -> list[str]:
    """User events with a transition from ``failure_state`` (or inside it) that leaves it."""
    inside = descendants(chart, failure_state)
    out: list[str] = []
    for s in chart.states:
        if s.id not in inside:
            continue
        for t in s.transitions:
            if is_user_event(t.event) and t.targets and any(x not in inside for x in t.targets):
                assert t.event is not None
                if t.event not in out:
                    out.append(t.event)
    return out


def check(subject: Subject) -> list[Finding]:
    chart = subject.chart
    graph = subject.graph
    findings: list[Finding] = []
    for fid in chart.tagged(FAILURE):
        events = retry_events(chart, fid)
        if not events:
            findings.append(Finding(
                ID,
                f"failure state {fid!r} has no retry transition: add a user event (RETRY or "
                "a domain retry event) that leaves it",
                state=fid, counterexample=path_to_state(graph, fid),
            ))
            continue
        if graph is None:
            continue
        good = can_succeed(graph)
        failing = tagged_mask(graph, FAILURE)
        stepper = graph.stepper
        reported: set[int] = set()
        for node in graph.nodes_where(graph.state_mask(fid)):
            snap = graph.snapshots[node]
            if not graph.is_expanded(node) or stepper.is_done(snap):
                continue
            if snap.configuration in reported:
                continue
            recovers = False
            for e in graph.successors(node):
                if graph.alphabet[graph.edge_letter[e]].event not in events:
                    continue
                dst = graph.edge_dst[e]
                if graph.snapshots[dst].configuration & failing == 0 and dst in good:
                    recovers = True
                    break
            if recovers:
                continue
            reported.add(snap.configuration)
            findings.append(Finding(
                ID,
                f"from {config_label(stepper.active_ids(snap))} no retry of {fid!r} "
                f"({', '.join(events)}) leads out of failure to a configuration from which "
                "success is reachable",
                state=fid, counterexample=graph.counterexample(node),
            ))
    return findings
