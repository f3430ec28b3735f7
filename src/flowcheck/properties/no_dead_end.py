"""no-dead-end: every reachable configuration that is not final lets the user go on.

A reachable snapshot that is not done must have a step to a different snapshot: an
event whose transition is enabled (guards hold) and changes something. Checked on
every expanded snapshot; one finding per configuration, with the shortest path to it.

An invoke's outcome is a way forward only if the flow takes it: an output of an invoke (an
RPC response, or what a child flow can end with) that no transition on its done event
takes leaves the flow waiting for an actor that has already finished, a dead end too.
"""

from __future__ import annotations

import json

from flowcheck.chart.model import Custom, done_actor
from flowcheck.explore.graph import Exploration
from flowcheck.properties._witness import applicable_letters, config_label
from flowcheck.properties.base import CounterexampleQuota, Finding, Subject
from flowcheck.semantics.stepper import StepError

ID = "no-dead-end"
TITLE = "every reachable non-final configuration has an enabled event"


def check(subject: Subject) -> list[Finding]:
    graph = subject.graph
    if graph is None:
        return []
    stepper = graph.stepper
    findings: list[Finding] = []
    kinds = CounterexampleQuota()
    reported: set[int] = set()
    raised = {err.node for err in graph.errors}
    for node in range(graph.expanded):
        snap = graph.snapshots[node]
        if stepper.is_stopped(snap) or graph.successors(node) or snap.configuration in reported:
            continue
        if node in raised:
            continue  # a step that raised is a well-formed finding, not a dead end
        if subject.machine_class is None and _runs_opaque_actions(graph, node):
            # An imported machine's actions without a body may assign: see assumptions().
            # A flow's own custom actions must leave the context alone (the campaign checks).
            continue
        reported.add(snap.configuration)
        active = stepper.active_ids(snap)
        atomic = [a for a in active if not stepper.nodes[stepper.index[a]].children]
        findings.append(Finding(
            ID,
            f"dead end in {config_label(active)}: no event changes anything here (context "
            f"{stepper.context_dict(snap.context)}); add a way forward or make it final",
            state=atomic[-1] if atomic else None,
            counterexample=graph.counterexample(node) if kinds.wanted("dead end") else None,
            kind="dead end",
        ))
    findings += _ignored_outputs(subject)
    return findings


def _runs_opaque_actions(graph: Exploration, node: int) -> bool:
    """Whether some event here takes a transition whose actions flowcheck cannot see into
    (imported machines): it changes nothing flowcheck can see, but it may assign."""
    snap = graph.snapshots[node]
    for li in applicable_letters(graph, snap.configuration):
        lt = graph.alphabet[li]
        try:
            taken = graph.stepper.selected(snap, lt.event, {**lt.payload, "type": lt.event})
        except StepError:
            continue
        if any(isinstance(a, Custom) for t in taken for a in t.actions):
            return True
    return False


def assumptions(subject: Subject) -> list[str]:
    names = sorted({a.name for t in subject.chart.transitions() for a in t.actions
                    if isinstance(a, Custom)})
    if subject.machine_class is not None or not names:
        return []
    return [f"a transition running actions without a body ({', '.join(names[:6])}"
            f"{', ...' if len(names) > 6 else ''}) is a way forward: they may change the "
            "context"]


def _ignored_outputs(subject: Subject) -> list[Finding]:
    """Invoke outputs no transition takes: once the actor is done nothing else will come
    from it, so the flow waits in the invoking state for good (one finding per invoke)."""
    graph = subject.graph
    assert graph is not None
    stepper = graph.stepper
    findings: list[Finding] = []
    for state, inv in subject.chart.invokes():
        event = done_actor(inv.id)
        letters = [i for i, lt in enumerate(graph.alphabet) if lt.event == event]
        if not letters:
            continue
        mask = graph.state_mask(state.id)
        found = None
        for node in range(graph.expanded):
            snap = graph.snapshots[node]
            config = snap.configuration
            if config & mask != mask or stepper.is_stopped(snap):
                continue
            taken = {graph.edge_letter[e] for e in graph.successors(node)}
            for li in letters:
                lt = graph.alphabet[li]
                if li in taken or not config & lt.handled:
                    continue
                if node in {err.node for err in graph.errors if err.letter == li}:
                    continue
                try:
                    if stepper.selected(snap, lt.event, {**lt.payload, "type": lt.event}):
                        continue  # taken, by a transition that changes nothing visible
                except StepError:
                    continue
                found = (node, li)
                break
            if found:
                break
        if found is None:
            continue
        node, li = found
        output = graph.alphabet[li].payload.get("output")
        findings.append(Finding(
            ID,
            f"invoke {inv.id!r} ({inv.src}) in {state.id!r} can end with output "
            f"{json.dumps(output, sort_keys=True)}, which no transition on {event} takes: "
            "the flow then waits for an actor that has finished; handle every output "
            "(a last unguarded transition is the else branch)",
            state=state.id, event=event,
            counterexample=graph.counterexample(node, [li]),
        ))
    return findings
