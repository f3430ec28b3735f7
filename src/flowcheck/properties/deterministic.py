"""deterministic: document order never silently picks between two enabled transitions.

For every state and event with several transitions, and for every state with several
eventless (``always``) transitions, the guards are evaluated pairwise at every point
where that selection happens, with the event object in effect there:

- an event the outside world sends: in every reachable snapshot where the state is
  active, with every payload of the event;
- eventless transitions: at every point where a step selects them, which the Stepper's
  trace records over the initial step and every step exploration tried (settled
  snapshots, and the snapshots in between, where a transient state is active);
- an event raised or a done event (``xstate.done.state.*``): at every point where a step
  takes it from the internal queue.

Two transitions whose guards both hold there are a finding, with the shortest path to a
snapshot whose step reaches that point. A last unguarded transition after guarded ones is
the ``else`` branch and does not count, nor do two guards that exclude each other by their
form (one negates the other, or they compare one value with literals no value satisfies
together). The steps are only replayed when some state still has eventless or internal
transitions to compare, so the common case (a decision state with an ``else`` branch, or
with complementary guards) costs nothing.

Opaque guards (imported charts, no expression) cannot be evaluated: their pairs are
skipped, and the (state, event) pairs skipped (event None for eventless transitions) are
left in ``graph.cache["deterministic_opaque"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from flowcheck.chart.expr import Expr, apply
from flowcheck.chart.model import Transition
from flowcheck.properties._witness import (
    holds,
    internal_events,
    step_counterexample,
    traced_steps,
)
from flowcheck.properties.base import Counterexample, Finding, Subject
from flowcheck.semantics.compile import Compiled, compile_expr

ID = "deterministic"
TITLE = ("no state has two transitions on one event, or two eventless ones, whose guards can "
         "both hold")
OPAQUE = "deterministic_opaque"
"""Cache key: the (state, event) pairs whose guard pairs were not evaluated (opaque guards)."""


@dataclass
class _Group:
    """The transitions of one state on one event (None: eventless), and the pairs of them
    still to show holding together."""

    state: str
    event: str | None
    transitions: list[Transition]
    guards: list[Compiled | bool | None]
    pairs: list[tuple[int, int]]


def _compiled(t: Transition, fields: dict[str, int]) -> Compiled | bool | None:
    """The guard as a closure; True when unguarded; None when opaque (cannot be evaluated)."""
    if t.guard is None:
        return True
    if t.guard.expr is None:
        return None
    return compile_expr(t.guard.expr, fields)


def check(subject: Subject) -> list[Finding]:
    graph = subject.graph
    if graph is None:
        return []
    fields = graph.stepper.fields
    internal = internal_events(subject.chart)
    letters = {lt.event for lt in graph.alphabet}
    findings: list[Finding] = []
    inside: list[_Group] = []
    opaque: list[tuple[str, str | None]] = []
    for s in subject.chart.nodes():
        groups: dict[str | None, list[Transition]] = {}
        for t in s.transitions:
            groups.setdefault(t.event, []).append(t)
        for event, ts in groups.items():
            if len(ts) < 2:
                continue
            guards = [_compiled(t, fields) for t in ts]
            compared = [
                (i, j) for i in range(len(ts)) for j in range(i + 1, len(ts))
                if not (ts[j].guard is None and ts[i].guard is not None)
            ]
            pairs = [(i, j) for i, j in compared
                     if guards[i] is not None and guards[j] is not None]
            if len(pairs) < len(compared):
                opaque.append((s.id, event))
            pairs = [(i, j) for i, j in pairs if not _exclusive(ts[i], ts[j])]
            if not pairs:
                continue
            group = _Group(s.id, event, ts, guards, pairs)
            if event is not None and event in letters:
                findings += _conflicts(subject, group)
            if group.pairs and (event is None or event in internal):
                inside.append(group)
    graph.cache[OPAQUE] = opaque
    if inside:
        findings += _conflicts_inside(subject, inside)
    return findings


def _exclusive(t1: Transition, t2: Transition) -> bool:
    """Whether the two guards can never both hold, whatever the context and event: one is
    the negation of the other, or they compare one value with literals that no value
    satisfies together (``lt(x, 5)`` and ``ge(x, 5)``; ``eq(x, "a")`` and ``eq(x, "b")``).
    Such pairs need no evaluation (a decision state's branches mostly are)."""
    if t1.guard is None or t2.guard is None or t1.guard.negated or t2.guard.negated:
        return False
    a, b = t1.guard.expr, t2.guard.expr
    return a is not None and b is not None and _never_both(a, b)


def _never_both(a: Expr, b: Expr) -> bool:
    if (a.op == "not" and a.args[0] == b) or (b.op == "not" and b.args[0] == a):
        return True
    if a.op == "and" and any(_never_both(x, b) for x in a.args):
        return True
    if b.op == "and" and any(_never_both(a, x) for x in b.args):
        return True
    ca, cb = _comparison(a), _comparison(b)
    if ca is None or cb is None or ca[0] != cb[0]:
        return False
    (_, op_a, va), (_, op_b, vb) = ca, cb
    if op_b == "eq":
        (op_a, va), (op_b, vb) = (op_b, vb), (op_a, va)
    if op_a == "eq":
        # The value equals va, so the other comparison holds only if it holds for va.
        try:
            return not apply(op_b, [va, vb])
        except Exception:
            return False
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (va, vb)):
        return False
    upper = ("lt", "le")
    if op_a in upper and op_b in ("gt", "ge"):
        return _disjoint(op_a, va, op_b, vb)
    if op_b in upper and op_a in ("gt", "ge"):
        return _disjoint(op_b, vb, op_a, va)
    return False


def _comparison(e: Expr) -> tuple[Expr, str, Any] | None:
    """``e`` as (value compared, operator, literal), the literal on the right."""
    flip = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}
    if e.op not in flip or len(e.args) != 2:
        return None
    x, y = e.args
    if y.op == "lit" and x.op != "lit":
        return x, e.op, y.value
    if x.op == "lit" and y.op != "lit":
        return y, flip[e.op], x.value
    return None


def _disjoint(upper: str, u: float, lower: str, lo: float) -> bool:
    """Whether no number is below ``u`` (``lt``/``le``) and above ``lo`` (``gt``/``ge``)."""
    return u < lo or (u == lo and (upper == "lt" or lower == "gt"))


def _conflicts(subject: Subject, group: _Group) -> list[Finding]:
    """The group's pairs holding together in a reachable snapshot, for an event the outside
    world sends."""
    graph = subject.graph
    assert graph is not None
    event = group.event
    letters = [i for i, lt in enumerate(graph.alphabet) if lt.event == event]
    out: list[Finding] = []
    for node in graph.nodes_where(graph.state_mask(group.state)):
        snap = graph.snapshots[node]
        if graph.stepper.is_stopped(snap):
            continue
        config = snap.configuration
        for li in letters:
            lt = graph.alphabet[li]
            if config & lt.requires != lt.requires:
                continue
            ev = {"type": event, **lt.payload}
            out += _evaluate(group, snap.context, ev, partial(graph.counterexample, node, [li]))
            if not group.pairs:
                return out
    return out


def _conflicts_inside(subject: Subject, groups: list[_Group]) -> list[Finding]:
    """The groups' pairs holding together at a point inside a step: eventless selections,
    and raised or done events taken from the internal queue."""
    graph = subject.graph
    assert graph is not None
    index = graph.stepper.index
    out: list[Finding] = []
    for step in traced_steps(graph, idle=True):
        for group in groups:
            if not group.pairs:
                continue
            bit = index[group.state]
            points = (step.trace.settle_points if group.event is None
                      else [p for p in step.trace.internal if p.event["type"] == group.event])
            for snap, ev in points:
                if snap.configuration >> bit & 1:
                    out += _evaluate(group, snap.context, ev,
                                     partial(step_counterexample, graph, step))
                    if not group.pairs:
                        break
        if not any(g.pairs for g in groups):
            break
    return out


def _evaluate(
    group: _Group, ctx: tuple[Any, ...], ev: dict[str, Any],
    counterexample: Callable[[], Counterexample],
) -> list[Finding]:
    """Findings for the group's remaining pairs that both hold at one point (each pair is
    reported once); ``counterexample()`` makes the path to that point."""
    out: list[Finding] = []
    cx: Counterexample | None = None
    for pair in list(group.pairs):
        i, j = pair
        if holds(group.guards[i], ctx, ev) and holds(group.guards[j], ctx, ev):
            group.pairs.remove(pair)
            cx = cx or counterexample()
            out.append(_finding(group, i, j, cx))
    return out


def _finding(group: _Group, i: int, j: int, cx: Counterexample | None) -> Finding:
    ts = group.transitions
    on = f"on {group.event}" if group.event is not None else "(eventless)"
    return Finding(
        ID,
        f"state {group.state!r} {on}: {_describe(ts[i])} and {_describe(ts[j])} both hold "
        "here; document order silently takes the first: make the guards exclusive",
        state=group.state, event=group.event, counterexample=cx,
    )


def _describe(t: Transition) -> str:
    target = ", ".join(t.targets) or "no target"
    guard = f"guard {t.guard.name!r}" if t.guard else "the unguarded transition"
    return f"{guard} (to {target})"


def assumptions(subject: Subject) -> list[str]:
    """Two transitions whose guards flowcheck cannot see into (imported charts) are
    explored both ways, so whether both can hold is not decided: the proof assumes not."""
    graph = subject.graph
    if graph is None:
        return []
    if OPAQUE not in graph.cache:
        check(subject)
    pairs: list[tuple[str, str | None]] = graph.cache.get(OPAQUE, [])
    if not pairs:
        return []
    where = ", ".join(f"{state} on {event or 'eventless'}" for state, event in pairs)
    return [f"guards without a body never hold together where they compete ({where})"]
