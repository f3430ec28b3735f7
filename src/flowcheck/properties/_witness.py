"""Helpers shared by property modules: where things are, and the shortest paths to them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from flowcheck.chart.model import Chart, Raise, Transition, done_state
from flowcheck.explore.graph import Exploration
from flowcheck.properties.base import Counterexample
from flowcheck.semantics import start_context
from flowcheck.semantics.compile import Compiled
from flowcheck.semantics.stepper import OPAQUE_GUARDS, MacrostepTrace, StepError

SCREAMING_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")


def is_user_event(name: str | None) -> bool:
    """Events the user (the UI) sends, as opposed to invoke outcomes, delays and done events."""
    return bool(name) and not str(name).startswith("xstate.")


def descendants(chart: Chart, state_id: str) -> set[str]:
    """``state_id`` and every state below it."""
    children: dict[str, list[str]] = {}
    for s in chart.states:
        if s.parent is not None:
            children.setdefault(s.parent, []).append(s.id)
    out = {state_id}
    stack = [state_id]
    while stack:
        for c in children.get(stack.pop(), []):
            if c not in out:
                out.add(c)
                stack.append(c)
    return out


def ancestors(chart: Chart, state_id: str) -> list[str]:
    """Proper ancestors of ``state_id``, nearest first."""
    parents = {s.id: s.parent for s in chart.states}
    out: list[str] = []
    p = parents.get(state_id)
    while p is not None:
        out.append(p)
        p = parents.get(p)
    return out


def tagged_mask(graph: Exploration, tag: str) -> int:
    return graph.state_mask(*graph.chart.tagged(tag))


def first_node_with(graph: Exploration, state_id: str) -> int | None:
    """The node with ``state_id`` active that BFS found first (shortest path)."""
    if state_id not in graph.stepper.index:
        return None
    return next(graph.nodes_where(graph.state_mask(state_id)), None)


def path_to_state(graph: Exploration | None, state_id: str) -> Counterexample | None:
    """The shortest event path to a configuration where ``state_id`` is active."""
    if graph is None:
        return None
    node = first_node_with(graph, state_id)
    return None if node is None else graph.counterexample(node)


def path_to_event(graph: Exploration | None, state_id: str, event: str | None
                  ) -> Counterexample | None:
    """The shortest path to a configuration with ``state_id`` active in which ``event`` can
    be sent, followed by that event; else the path to ``state_id``."""
    if graph is None:
        return None
    if event is not None and state_id in graph.stepper.index:
        letters = [i for i, lt in enumerate(graph.alphabet) if lt.event == event]
        done = graph.stepper.stopped_mask
        for node in graph.nodes_where(graph.state_mask(state_id)):
            config = graph.snapshots[node].configuration
            for li in letters:
                lt = graph.alphabet[li]
                if config & lt.requires == lt.requires and not config & done:
                    return graph.counterexample(node, [li])
    return path_to_state(graph, state_id)


def path_to_transition(graph: Exploration | None, t: Transition) -> Counterexample | None:
    """The shortest path that takes an ``t.event`` step with ``t.source`` active and changes
    the snapshot (so the transition's guard held); else :func:`path_to_event`."""
    if graph is None or t.event is None or t.source not in graph.stepper.index:
        return path_to_event(graph, t.source, t.event)
    mask = graph.state_mask(t.source)
    for e in range(graph.edges):
        src = graph.edge_src[e]
        letter = graph.edge_letter[e]
        if (graph.alphabet[letter].event == t.event
                and graph.snapshots[src].configuration & mask == mask):
            return graph.counterexample(src, [letter])
    return path_to_event(graph, t.source, t.event)


def config_label(states: list[str] | tuple[str, ...]) -> str:
    return "{" + ", ".join(states) + "}"


# -- inside steps: the Stepper's trace over explored steps ----------------------------------


class TracedStep(NamedTuple):
    """One explored step replayed with a trace: from ``node`` with ``letter``; for an
    initial step, ``node`` is the initial snapshot it makes and ``letter`` is -1."""

    node: int
    letter: int
    trace: MacrostepTrace


def applicable_letters(graph: Exploration, config: int) -> list[int]:
    """The letters exploration tries in a configuration (some active state handles the
    event, and every state the letter requires is active)."""
    return graph.applicable_letters(config)


def traced_steps(graph: Exploration, idle: bool = False) -> Iterator[TracedStep]:
    """The initial steps (one per input explored), then every explored edge in breadth-first
    order, replayed on the
    Stepper with a :class:`MacrostepTrace`; with ``idle``, then every other step tried from an
    expanded node: those that left the snapshot as it was, of which exploration keeps no
    edge (a transient state entered and left again, a targetless transition with only
    telemetry). Steps that raise are skipped: well-formed reports them.

    Callers stop iterating as soon as they have seen what they look for, so the common case
    costs a few steps, and nothing when the trace is not needed."""
    stepper = graph.stepper
    for root, given in zip(graph.root_nodes, graph.roots, strict=True):
        trace = MacrostepTrace()
        try:
            stepper.initial(start_context(stepper, given), record=False, trace=trace,
                            guards=(given or {}).get(OPAQUE_GUARDS))
        except StepError:
            continue
        yield TracedStep(root, -1, trace)
    for src, letter in zip(graph.edge_src, graph.edge_letter, strict=True):
        step = _traced(graph, src, letter)
        if step is not None:
            yield step
    if not idle:
        return
    for node in range(graph.expanded):
        config = graph.snapshots[node].configuration
        if config & stepper.stopped_mask:
            continue
        taken = {graph.edge_letter[e] for e in graph.successors(node)}
        for letter in applicable_letters(graph, config):
            if letter not in taken:
                step = _traced(graph, node, letter)
                if step is not None:
                    yield step


def _traced(graph: Exploration, node: int, letter: int) -> TracedStep | None:
    name, payload = graph.letter_event(letter)
    trace = MacrostepTrace()
    try:
        graph.stepper.step(graph.snapshots[node], name, payload, record=False, trace=trace)
    except StepError:
        return None
    return TracedStep(node, letter, trace)


def step_counterexample(graph: Exploration, step: TracedStep) -> Counterexample:
    """The shortest event path that runs ``step``: the path to its node, then its letter."""
    if step.letter < 0:
        return graph.counterexample(step.node)
    return graph.counterexample(step.node, [step.letter])


def internal_events(chart: Chart) -> set[str]:
    """Events a step can take from its internal queue: raised ones and done events."""
    out = {done_state(s.id) for s in chart.states if s.kind in ("compound", "parallel")}
    for s in chart.nodes():
        for a in (*s.entry, *s.exit, *(a for t in s.transitions for a in t.actions)):
            if isinstance(a, Raise):
                out.add(a.event)
    out.update(a.event for a in chart.entry if isinstance(a, Raise))
    return out


def holds(g: Compiled | bool | None, ctx: tuple[Any, ...], ev: dict[str, Any]) -> bool:
    """Whether a compiled guard (True: unguarded) holds; a guard that raises does not (it is
    a well-formed finding, not a reason to fail another property)."""
    if g is True:
        return True
    assert callable(g)
    try:
        return bool(g(ctx, ev))
    except Exception:
        return False
