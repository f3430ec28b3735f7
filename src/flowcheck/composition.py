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
from typing import Any

from flowcheck.chart.expr import evaluate
from flowcheck.chart.model import Chart
from flowcheck.explore.domains import derive
from flowcheck.explore.graph import Limits, explore

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


def environments(charts: dict[str, Chart]) -> dict[str, Environment]:
    """Every flow's environment in a project of ``charts`` (name -> chart)."""
    links = [
        (parent, state.id, inv, child)
        for parent, chart in charts.items()
        for state, inv in chart.invokes()
        if inv.kind == "flow" and (child := child_of(charts, inv.src)) is not None
    ]
    if not links:
        return {name: Environment() for name in charts}
    inputs: dict[str, list[dict[str, Any]]] = {name: [] for name in charts}
    outputs: dict[str, dict[str, tuple[dict[str, Any], ...]]] = {name: {} for name in charts}
    complete = True
    involved = {p for p, _, _, _ in links} | {c for _, _, _, c in links}
    for _ in range(MAX_ROUNDS):
        ends: dict[str, list[dict[str, Any]]] = {}
        passed: dict[str, list[dict[str, Any]]] = {name: [] for name in charts}
        for name in sorted(involved):
            chart = charts[name]
            domains = derive(chart, outputs[name], inputs[name])
            graph = explore(chart, domains=domains, limits=_COMPOSITION_LIMITS)
            complete = complete and graph.complete
            stepper = graph.stepper
            found: list[dict[str, Any]] = []
            for snap in graph.snapshots:
                if stepper.is_done(snap):
                    _add(found, [stepper.output(snap) or {}])
            ends[name] = found
            for parent, state_id, inv, child in links:
                if parent != name or not inv.input:
                    continue
                mask = graph.state_mask(state_id)
                for snap in graph.snapshots:
                    if snap.configuration & mask != mask or stepper.is_done(snap):
                        continue
                    context = stepper.context_dict(snap.context)
                    given = {k: _plain(evaluate(e, context, {})) for k, e in inv.input}
                    _add(passed[child], [given])
        new_outputs: dict[str, dict[str, tuple[dict[str, Any], ...]]] = {
            name: {} for name in charts}
        for parent, _, inv, child in links:
            new_outputs[parent][inv.id] = tuple(ends.get(child, []))
        if new_outputs == outputs and passed == inputs:
            break
        outputs, inputs = new_outputs, passed
    parents: dict[str, list[str]] = {name: [] for name in charts}
    for parent, _, _, child in links:
        if parent not in parents[child]:
            parents[child].append(parent)
    return {
        name: Environment(tuple(inputs[name]), outputs[name], tuple(parents[name]),
                          complete)
        for name in charts
    }


def _add(into: list[dict[str, Any]], items: Iterable[dict[str, Any]]) -> None:
    for item in items:
        if item not in into:
            into.append(item)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
