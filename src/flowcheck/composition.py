"""Composition: what the project's flows tell each other's environments.

A flow run as a child (generation inside the course builder) is started with the inputs its
parents really pass, and its parents receive only the outputs it can really end with. Both
are computed from explorations, so they depend on each other: a parent's reachable
contexts decide the child's inputs, the child's reachable final snapshots decide the
parent's ``xstate.done.actor.*`` outputs. They are computed to a fixed point (a few rounds;
every round only grows the sets), then each flow is verified with its own
:class:`Environment`.

The child is found by its invoke's ``src``: a machine of the project with that module name
(``generation``) or XState id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowcheck.chart.expr import evaluate
from flowcheck.chart.model import Chart, Invoke
from flowcheck.explore.limits import Limits

if TYPE_CHECKING:
    from flowcheck.explore.graph import Exploration

MAX_ROUNDS = 4
# Composition explores every flow a few times: keep each exploration well inside a CI job.
_COMPOSITION_LIMITS = Limits(configurations=200_000, seconds=60.0)


@dataclass(frozen=True)
class Environment:
    """What the rest of the project tells about a flow's world: the inputs its parents
    pass it, and per child-flow invoke the outputs that child can produce."""

    inputs: tuple[dict[str, Any], ...] = ()
    child_outputs: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    parents: tuple[str, ...] = ()
    """The flows that run this one as a child (names), for reports."""
    complete: bool = True
    """False when an exploration behind it stopped at a limit: then the inputs and outputs
    are what was seen, not all there are."""


def child_of(charts: dict[str, Chart], src: str) -> str | None:
    """The project flow an invoke's ``src`` names: by module name, else by XState id."""
    if src in charts:
        return src
    for name, chart in charts.items():
        if chart.id == src:
            return name
    return None


def _links(charts: dict[str, Chart]) -> list[tuple[str, str, Invoke, str]]:
    """Every child-flow invoke between ``charts``: (parent, invoking state, invoke, child)."""
    return [
        (parent, state.id, inv, child)
        for parent, chart in charts.items()
        for state, inv in chart.invokes()
        if inv.kind == "flow" and (child := child_of(charts, inv.src)) is not None
    ]


def components(charts: dict[str, Chart]) -> dict[str, tuple[str, ...]]:
    """Per flow, the flows it is composed with, itself included: those linked to it by
    child-flow invokes, either way and transitively. A flow's environment depends on its
    component and on nothing else, so the verification cache keys a verdict on it."""
    return components_of({name: linking(chart) for name, chart in charts.items()})


Linking = tuple[str, tuple[str, ...]]
"""What composition needs of a flow: its XState id and the ``src`` of its child-flow
invokes."""


def linking(chart: Chart) -> Linking:
    return chart.id, tuple(inv.src for _, inv in chart.invokes() if inv.kind == "flow")


def components_of(flows: dict[str, Linking]) -> dict[str, tuple[str, ...]]:
    """:func:`components` from each flow's :func:`linking` (name -> (id, child srcs)),
    without the charts: what the verification cache keeps per flow. Children are found as
    :func:`child_of` finds them."""
    ids = {name: flow_id for name, (flow_id, _) in flows.items()}

    def child(src: str) -> str | None:
        if src in flows:
            return src
        return next((name for name, flow_id in ids.items() if flow_id == src), None)

    group = {name: {name} for name in flows}
    for parent, (_, children) in flows.items():
        for src in children:
            found = child(src)
            if found is None or group[parent] is group[found]:
                continue
            merged = group[parent] | group[found]
            for name in merged:
                group[name] = merged
    return {name: tuple(sorted(group[name])) for name in flows}


def environments(charts: dict[str, Chart]) -> dict[str, Environment]:
    """Every flow's environment in a project of ``charts`` (name -> chart). Each component
    (see :func:`components`) is computed on its own: a flow's environment never depends on
    flows it is not composed with."""
    out: dict[str, Environment] = {}
    for name, members in components(charts).items():
        if name not in out:
            out.update(_environments({m: charts[m] for m in members}))
    return {name: out[name] for name in charts}


def _environments(charts: dict[str, Chart]) -> dict[str, Environment]:
    """The environments of one component's flows."""
    links = _links(charts)
    if not links:
        return {name: Environment() for name in charts}
    inputs: dict[str, list[dict[str, Any]]] = {name: [] for name in charts}
    outputs: dict[str, dict[str, tuple[dict[str, Any], ...]]] = {name: {} for name in charts}
    complete = True
    involved = {p for p, _, _, _ in links} | {c for _, _, _, c in links}
    for _ in range(MAX_ROUNDS):
        graphs = {}
        passed: dict[tuple[str, str], list[dict[str, Any]]] = {
            (p, inv.id): [] for p, _, inv, _ in links}
        for name in sorted(involved):
            chart = charts[name]
            from flowcheck.explore.domains import derive
            from flowcheck.explore.graph import explore

            domains = derive(chart, outputs[name], inputs[name])
            graph = graphs[name] = explore(chart, domains=domains, limits=_COMPOSITION_LIMITS)
            complete = complete and graph.complete
            stepper = graph.stepper
            for parent, state_id, inv, _ in links:
                if parent != name:
                    continue
                mask = graph.state_mask(state_id)
                for snap in graph.snapshots:
                    if snap.configuration & mask != mask or stepper.is_stopped(snap):
                        continue
                    context = stepper.context_dict(snap.context)
                    given = {k: _plain(evaluate(e, context, {})) for k, e in inv.input}
                    _add(passed[(parent, inv.id)], [given])
        new_inputs: dict[str, list[dict[str, Any]]] = {name: [] for name in charts}
        for parent, _, inv, child in links:
            _add(new_inputs[child], passed[(parent, inv.id)])
        new_outputs: dict[str, dict[str, tuple[dict[str, Any], ...]]] = {
            name: {} for name in charts}
        for parent, _, inv, child in links:
            # What this invoke can receive: the ends of the child started with the inputs
            # this invoke passes (the course builder's lessons generation, not its outline).
            new_outputs[parent][inv.id] = tuple(
                _ends(graphs[child], passed[(parent, inv.id)] if inv.input else None))
        if new_outputs == outputs and new_inputs == inputs:
            break
        outputs, inputs = new_outputs, new_inputs
    parents: dict[str, list[str]] = {name: [] for name in charts}
    for parent, _, _, child in links:
        if parent not in parents[child]:
            parents[child].append(parent)
    return {
        name: Environment(tuple(inputs[name]), outputs[name], tuple(parents[name]),
                          complete)
        for name in charts
    }


def _ends(graph: Exploration, started: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The outputs of the final snapshots reachable from the flow started with one of
    ``started`` (None: from every initial snapshot)."""
    from flowcheck.semantics import StepError, start

    stepper = graph.stepper
    if started is None:
        roots = list(graph.root_nodes)
    else:
        roots = []
        for given in started:
            try:
                snap, _ = start(stepper, given, record=False)
            except StepError:
                continue
            node = graph.index_of(snap)
            if node is not None:
                roots.append(node)
    seen = set(roots)
    stack = list(roots)
    found: list[dict[str, Any]] = []
    while stack:
        node = stack.pop()
        snap = graph.snapshots[node]
        if stepper.is_done(snap):
            _add(found, [stepper.output(snap) or {}])
        for e in graph.successors(node):
            dst = graph.edge_dst[e]
            if dst not in seen:
                seen.add(dst)
                stack.append(dst)
    return found


def _add(into: list[dict[str, Any]], items: Iterable[dict[str, Any]]) -> None:
    for item in items:
        if item not in into:
            into.append(item)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
