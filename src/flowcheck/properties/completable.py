"""completable: from every reachable configuration, success can still be reached (AG EF success).

Backward reachability over the explored graph from the snapshots with a state tagged
``success`` active (a machine with no success tag, from outside, checked with the generic
profile: from the snapshots where it is done). Every reachable snapshot that is not done
and cannot reach one is a trap. On a bounded run, unexpanded snapshots count as possibly
reaching success, so a finding is still a real trap.

One exception, declared by the flow: a non-final state tagged ``abandoned`` means the
user has left and the flow is winding down (``cancelling`` while a cancel RPC runs).
While such a state is active, the goal is to finish (reach a final state), not success.
"""

from __future__ import annotations

from flowcheck.chart.model import ABANDONED, FAILURE, SUCCESS
from flowcheck.explore.graph import Exploration
from flowcheck.properties._witness import config_label, tagged_mask
from flowcheck.properties.base import CounterexampleQuota, Finding, Subject

ID = "completable"
TITLE = "from every reachable configuration a success final state can still be reached"


def can_succeed(graph: Exploration) -> set[int]:
    """Nodes that can still complete: a success snapshot is reachable from them, or (winding
    down after the user abandoned) a final one is. When exploration was bounded, unexpanded
    nodes count as able to complete, so that what is left out is a real trap."""
    cached = graph.cache.get("can_succeed")
    if isinstance(cached, set):
        return cached
    stepper = graph.stepper
    mask = tagged_mask(graph, SUCCESS)
    unexpanded = list(range(graph.expanded, graph.configurations))
    if graph.chart.tagged(SUCCESS):
        seeds = [i for i, s in enumerate(graph.snapshots) if s.configuration & mask]
    else:
        # Without a success tag (a machine from outside), the goal is to finish.
        seeds = [i for i, s in enumerate(graph.snapshots) if stepper.is_done(s)]
    closure = graph.backward_closure(seeds + unexpanded)
    leaving = graph.state_mask(*(
        s.id for s in graph.chart.states if ABANDONED in s.tags and s.kind != "final"))
    if leaving:
        finals = [i for i, s in enumerate(graph.snapshots) if stepper.is_done(s)]
        ends = graph.backward_closure(finals + unexpanded)
        closure |= {i for i in ends if graph.snapshots[i].configuration & leaving}
    graph.cache["can_succeed"] = closure
    return closure


def check(subject: Subject) -> list[Finding]:
    graph = subject.graph
    if graph is None:
        return []
    if not subject.chart.tagged(SUCCESS) and subject.profile == "mirai":
        return [Finding(ID, "no state is tagged success: mark the state where the flow "
                            "achieves its goal with flowcheck.declare.success() (or the tag "
                            "'success' in XState)")]
    if not subject.chart.tagged(SUCCESS) and not _can_finish(subject):
        return []  # a machine with no final state runs until stopped: nothing to complete
    good = can_succeed(graph)
    stepper = graph.stepper
    findings: list[Finding] = []
    kinds = CounterexampleQuota()
    reported: set[int] = set()
    states = graph.chart.state_map()
    for node, snap in enumerate(graph.snapshots):
        # An errored machine stopped on an invoke error: failure-explicit reports it.
        if node in good or stepper.is_stopped(snap) or snap.configuration in reported:
            continue
        reported.add(snap.configuration)
        active = stepper.active_ids(snap)
        atomic = [a for a in active if a in states and not states[a].children]
        goal = "success" if subject.chart.tagged(SUCCESS) else "a final state"
        failed = [a for a in active if a in states and FAILURE in states[a].tags]
        if failed and subject.profile == "mirai":
            # One root cause, one counterexample: failure-retry shows the path and names
            # what blocks the retry.
            findings.append(Finding(
                ID,
                f"from {config_label(active)} no event sequence reaches {goal}: the failure "
                f"state {failed[-1]!r} has no way back (see failure-retry, which shows the "
                "path and what blocks the retry)",
                state=failed[-1], kind="failure without way back",
            ))
            continue
        findings.append(Finding(
            ID,
            f"from {config_label(active)} no event sequence reaches {goal}",
            state=atomic[-1] if atomic else None,
            counterexample=graph.counterexample(node) if kinds.wanted("stuck") else None,
            kind="stuck",
        ))
    return findings


def _can_finish(subject: Subject) -> bool:
    """Whether the machine has a way to be done: a top-level final state (or a parallel
    root whose regions all have one)."""
    chart = subject.chart
    if chart.root is not None and chart.root.kind == "parallel":
        return all(any(c.parent == top and c.kind == "final" for c in chart.states)
                   for top in chart.top_level())
    return any(s.kind == "final" and s.parent is None for s in chart.states)


def describe(subject: Subject) -> str:
    if subject.chart.tagged(SUCCESS):
        return TITLE
    if not _can_finish(subject):
        return "the machine has no final state: it runs until it is stopped"
    return "from every reachable configuration the machine can still finish (a final state)"
