"""failure-explicit: no RPC failure is swallowed.

Every invoke handles its errors (a transition on ``xstate.error.actor.<id>`` from the
invoking state or an ancestor), and in every reachable snapshot where the invoke runs,
every Connect error code lands in a configuration with a state tagged ``failure`` active:
not only the codes the flow lists (the ones it tells apart), since an RPC can fail with any
of the 16 codes (a proxy, a timeout, a deploy). The codes it does not tell apart are
explored through one of them, and a finding names them all.

With the generic profile (machines from outside), landing in a failure-tagged state is not
asked: an error must only be taken by some transition, since one that no transition takes
stops the whole machine (XState's status "error").
"""

from __future__ import annotations

from flowcheck.chart.model import FAILURE, error_actor
from flowcheck.explore.domains import stands_for
from flowcheck.explore.graph import Exploration
from flowcheck.properties._witness import ancestors, config_label, path_to_event, tagged_mask
from flowcheck.properties.base import CounterexampleQuota, Finding, Subject
from flowcheck.semantics.stepper import StepError

ID = "failure-explicit"
TITLE = "every invoke has on_error and every error code lands in a state tagged failure"


def check(subject: Subject) -> list[Finding]:
    chart = subject.chart
    graph = subject.graph
    findings: list[Finding] = []
    kinds = CounterexampleQuota()
    handlers: dict[str, set[str]] = {}
    for s in chart.nodes():
        for t in s.transitions:
            if t.event:
                handlers.setdefault(t.event, set()).add(s.id)
    for state, inv in chart.invokes():
        event = error_actor(inv.id)
        owners = {state.id, *ancestors(chart, state.id)}
        if chart.root is not None:
            owners.add(chart.id)
        if not handlers.get(event, set()) & owners:
            first = kinds.wanted("no on_error")
            findings.append(Finding(
                ID,
                f"invoke {inv.id!r} ({inv.src}) in {state.id!r} has no on_error: an error of "
                "it stops the whole machine (XState status 'error'); add a transition on "
                f"{event} to a failure state",
                state=state.id, event=event, kind="no on_error",
                counterexample=path_to_event(graph, state.id, event) if first else None,
            ))
            continue
        if graph is None:
            continue
        failing = tagged_mask(graph, FAILURE)
        stepper = graph.stepper
        letters = [i for i, lt in enumerate(graph.alphabet) if lt.event == event]
        explored = [str(graph.alphabet[i].payload["error"]["code"]) for i in letters]
        compared = _compared_codes(graph, inv.id)
        reported: set[str] = set()
        for node in graph.nodes_where(graph.state_mask(state.id)):
            snap = graph.snapshots[node]
            if stepper.is_stopped(snap):
                continue
            for li in letters:
                letter = graph.alphabet[li]
                code = str(letter.payload["error"]["code"])
                if code in reported:
                    continue
                try:
                    after, _ = stepper.step(snap, event, letter.payload, record=False)
                except StepError:
                    continue
                if after.configuration & failing:
                    continue
                if subject.profile != "mirai" and not stepper.is_errored(after):
                    continue  # handled: failure tags are the platform's rule
                reported.add(code)
                codes = stands_for(code, explored, compared)
                which = (f"error {code!r}" if len(codes) == 1 else
                         f"error {code!r} (and every code the flow does not tell apart from "
                         f"it: {', '.join(c for c in codes if c != code)})")
                if stepper.is_errored(after):
                    what = ("no transition takes it, so it stops the whole machine (XState "
                            "status 'error')")
                else:
                    what = (f"lands in {config_label(stepper.active_ids(after))}, not in a "
                            "state tagged failure")
                first = kinds.wanted(inv.id)
                findings.append(Finding(
                    ID,
                    f"{which} of invoke {inv.id!r} in {state.id!r}: {what}; an RPC can fail "
                    f"with any Connect code: add a fallback transition on {event} to a "
                    "failure state",
                    state=state.id, event=event,
                    counterexample=graph.counterexample(node, [li]) if first else None,
                    kind=f"errors of {inv.id}",
                ))
    return findings


def _compared_codes(graph: Exploration, invoke_id: str) -> list[str]:
    """The codes the flow tells apart for an invoke's errors (from the derived domains)."""
    return list(graph.domains.compared_codes.get(invoke_id, ())) if graph.domains else []


def describe(subject: Subject) -> str:
    if subject.profile == "mirai":
        return TITLE
    return ("every invoke error, whatever its code, is taken by a transition: none stops the "
            "machine")
