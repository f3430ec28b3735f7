"""failure-retry: every failure has an explicit way back to success.

Each state tagged ``failure`` has a retry transition: a user event on it, on a state
inside it or on a state around it (``RETRY = failure.to(...)`` on the compound that groups
the failure states) that leaves it for a state that does not give up. A state tagged
``abandoned``, or a top-level final state that is not a success, ends the attempt:
leaving for one is not a retry, unless the failure state is itself tagged ``abandoned``
(a failure while the flow winds down, which recovers by finishing). And from every
reachable snapshot with it active, some retry event leads to a snapshot with no failure
state active from which success is still reachable (backward reachability from success
over the explored graph).
"""

from __future__ import annotations

from flowcheck.chart.expr import evaluate
from flowcheck.chart.model import ABANDONED, FAILURE, SUCCESS, Chart, State
from flowcheck.explain import why_false
from flowcheck.explore.graph import Exploration
from flowcheck.properties._witness import (
    ancestors,
    config_label,
    descendants,
    is_user_event,
    path_to_state,
    tagged_mask,
)
from flowcheck.properties.base import CounterexampleQuota, Finding, Subject
from flowcheck.properties.completable import can_succeed

ID = "failure-retry"
PROFILES = ("mirai",)  # a rule of the platform, not of statecharts in general
TITLE = ("every failure state has a retry transition that leads back to a configuration from "
         "which success is reachable")


def retry_events(chart: Chart, failure_state: str) -> list[str]:
    """User events with a transition from ``failure_state``, from a state inside it or from
    one of its ancestors, that leaves it for a state that does not give up."""
    inside = descendants(chart, failure_state)
    sources = inside | set(ancestors(chart, failure_state))
    states = chart.state_map()
    # A failure while winding down (itself tagged abandoned) recovers by finishing.
    winding_down = ABANDONED in states[failure_state].tags
    out: list[str] = []
    for s in chart.states:
        if s.id not in sources:
            continue
        for t in s.transitions:
            if not is_user_event(t.event) or t.event in out:
                continue
            if any(x not in inside and (winding_down or not _gives_up(states[x]))
                   for x in t.targets):
                assert t.event is not None
                out.append(t.event)
    return out


def _gives_up(state: State) -> bool:
    """Entering ``state`` ends the flow's attempt: the user left, or it ends without success."""
    if ABANDONED in state.tags:
        return True
    return state.kind == "final" and state.parent is None and SUCCESS not in state.tags


def check(subject: Subject) -> list[Finding]:
    chart = subject.chart
    graph = subject.graph
    findings: list[Finding] = []
    kinds = CounterexampleQuota()
    for fid in chart.tagged(FAILURE):
        events = retry_events(chart, fid)
        if not events:
            first = kinds.wanted("no retry")
            findings.append(Finding(
                ID,
                f"failure state {fid!r} has no retry transition: add a user event (RETRY or "
                "a domain retry event) that leaves it",
                state=fid, counterexample=path_to_state(graph, fid) if first else None,
                kind="no retry",
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
            why, blocking = _why_not(graph, node, fid, events, good)
            findings.append(Finding(
                ID,
                f"from {config_label(stepper.active_ids(snap))} no retry of {fid!r} "
                f"({', '.join(events)}) leads out of failure to a configuration from which "
                f"success is reachable: {why}",
                state=fid, event=events[0], guard=blocking,
                counterexample=graph.counterexample(node) if kinds.wanted(fid) else None,
                kind=f"retry of {fid}",
            ))
    return findings


def _why_not(
    graph: Exploration, node: int, fid: str, events: list[str], good: set[int]
) -> tuple[str, str | None]:
    """Why no retry recovers at ``node``: the guard that blocks each retry transition (the
    part of it that is false, with the context values it reads), or where the retry leads.
    Returns the explanation and the name of the first blocking guard."""
    chart, stepper = graph.chart, graph.stepper
    snap = graph.snapshots[node]
    context = stepper.context_dict(snap.context)
    sources = descendants(chart, fid) | set(ancestors(chart, fid))
    reasons: list[str] = []
    blocking: str | None = None
    for s in chart.states:
        if s.id not in sources or not snap.configuration >> stepper.index[s.id] & 1:
            continue
        for t in s.transitions:
            if t.event not in events or t.guard is None or t.guard.expr is None:
                continue
            payloads = [lt.payload for lt in graph.alphabet if lt.event == t.event] or [{}]
            event_dicts = [{"type": t.event, **p} for p in payloads]
            if any(evaluate(t.guard.expr, context, ev) for ev in event_dicts):
                continue
            blocking = blocking or t.guard.name
            part = "; ".join(why_false(t.guard.expr, context, event_dicts[0]))
            reasons.append(f"{t.event} to {', '.join(t.targets) or 'itself'} is blocked by "
                           f"guard {t.guard.name!r} ({part})")
    if not reasons:
        lands = sorted({
            config_label(stepper.active_ids(graph.snapshots[graph.edge_dst[e]]))
            for e in graph.successors(node)
            if graph.alphabet[graph.edge_letter[e]].event in events})
        where = ", ".join(lands) or "nowhere new"
        reasons.append(f"the retry leads to {where}, from which success is not reachable "
                       "(see completable)")
    return "; ".join(reasons), blocking
