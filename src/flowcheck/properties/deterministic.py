"""deterministic: document order never silently picks between two enabled transitions.

For every state and event with several transitions, the guards are evaluated in every
reachable snapshot where the state is active, with every payload of the event. Two
transitions whose guards both hold there are a finding; a last unguarded transition
after guarded ones is the ``else`` branch and does not count.
"""

from __future__ import annotations

from typing import Any

from flowcheck.chart.model import Transition
from flowcheck.properties.base import Finding, Subject
from flowcheck.semantics.compile import Compiled, compile_expr

ID = "deterministic"
TITLE = "no state has two transitions on one event whose guards can both hold"


def _compiled(t: Transition, fields: dict[str, int]) -> Compiled | bool | None:
    """The guard as a closure; True when unguarded; None when opaque (cannot be evaluated)."""
    if t.guard is None:
        return True
    if t.guard.expr is None:
        return None
    return compile_expr(t.guard.expr, fields)


def _holds(g: Compiled | bool, ctx: tuple[Any, ...], ev: dict[str, Any]) -> bool:
    if g is True:
        return True
    assert callable(g)
    try:
        return bool(g(ctx, ev))
    except Exception:  # a raising guard is a well-formed finding
        return False


def check(subject: Subject) -> list[Finding]:
    graph = subject.graph
    if graph is None:
        return []
    fields = graph.stepper.fields
    findings: list[Finding] = []
    for s in subject.chart.states:
        groups: dict[str, list[Transition]] = {}
        for t in s.transitions:
            if t.event is not None:
                groups.setdefault(t.event, []).append(t)
        for event, ts in groups.items():
            if len(ts) < 2:
                continue
            guards = [_compiled(t, fields) for t in ts]
            pairs = [
                (i, j) for i in range(len(ts)) for j in range(i + 1, len(ts))
                if guards[i] is not None and guards[j] is not None
                and not (ts[j].guard is None and ts[i].guard is not None)
            ]
            if pairs:
                findings += _conflicts(subject, s.id, event, ts, guards, pairs)
    return findings


def _conflicts(
    subject: Subject, state: str, event: str, ts: list[Transition],
    guards: list[Compiled | bool | None], pairs: list[tuple[int, int]],
) -> list[Finding]:
    graph = subject.graph
    assert graph is not None
    letters = [i for i, lt in enumerate(graph.alphabet) if lt.event == event]
    remaining = list(pairs)
    out: list[Finding] = []
    for node in graph.nodes_where(graph.state_mask(state)):
        snap = graph.snapshots[node]
        if graph.stepper.is_done(snap):
            continue
        config = snap.configuration
        for li in letters:
            lt = graph.alphabet[li]
            if config & lt.requires != lt.requires:
                continue
            ev = {"type": event, **lt.payload}
            for pair in list(remaining):
                i, j = pair
                gi, gj = guards[i], guards[j]
                assert gi is not None and gj is not None
                if _holds(gi, snap.context, ev) and _holds(gj, snap.context, ev):
                    remaining.remove(pair)
                    out.append(Finding(
                        ID,
                        f"state {state!r} on {event}: {_describe(ts[i])} and {_describe(ts[j])} "
                        "both hold here; document order silently takes the first: make the "
                        "guards exclusive",
                        state=state, event=event,
                        counterexample=graph.counterexample(node, [li]),
                    ))
            if not remaining:
                return out
    return out


def _describe(t: Transition) -> str:
    target = ", ".join(t.targets) or "no target"
    guard = f"guard {t.guard.name!r}" if t.guard else "the unguarded transition"
    return f"{guard} (to {target})"
