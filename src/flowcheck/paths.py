"""Event paths through a chart: shortest paths to states, and sets of paths covering transitions.

Everything runs on the Stepper. The reachable snapshots are explored breadth
first once (under the payload domains: each event field's examples, each
invoke's example outputs and error codes), so the first time a state is active
or a transition fires is at the end of a shortest event path. Paths come out
in the shape of scenario files (``{"name", "machine", "steps": [{"event",
"payload", "expect": {"configuration"}}]}``), so they replay under
``flowcheck simulate --script``. Nothing here prints.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flowcheck.chart.model import Chart, Transition, done_actor, error_actor, is_internal_event
from flowcheck.semantics.compile import Payload
from flowcheck.semantics.stepper import Executed, Snapshot, Stepper, _Trans

DEFAULT_LIMIT = 200_000
MAX_PAYLOADS = 64

TransitionKey = tuple[str, int]
"""A transition by its source state and its index among that state's transitions."""

Choice = tuple[str, dict[str, Any]]
"""An event with a payload."""


def transition_key_label(chart: Chart, key: TransitionKey) -> str:
    """``source --EVENT [guard]--> target`` for one transition."""
    t = chart.state(key[0]).transitions[key[1]]
    event = t.event or "(always)"
    if t.guard is not None:
        event += f" [{'!' if t.guard.negated else ''}{t.guard.name}]"
    target = ", ".join(t.targets) if t.targets else "(stays)"
    return f"{t.source} --{event}--> {target}"


class _RecordingStepper(Stepper):
    """A Stepper that also notes which transitions each microstep took."""

    def __init__(self, chart: Chart) -> None:
        super().__init__(chart)
        self.fired: list[Transition] = []

    def _microstep(
        self,
        enabled: list[_Trans],
        snap: Snapshot,
        ev: Payload,
        queue: list[tuple[str, Payload]],
        log: list[Executed] | None,
    ) -> Snapshot:
        self.fired.extend(t.decl for t in self._remove_conflicts(enabled, snap))
        return super()._microstep(enabled, snap, ev, queue, log)


def payload_domain(chart: Chart, event: str) -> list[dict[str, Any]]:
    """The payloads tried for an event: every combination of its fields' examples."""
    for state, inv in chart.invokes():
        del state
        if event == done_actor(inv.id):
            return [{"output": dict(o)} for o in inv.outputs] or [{"output": {}}]
        if event == error_actor(inv.id):
            return [{"error": {"code": c}} for c in inv.error_codes]
    spec = next((e for e in chart.events if e.name == event), None)
    if spec is None or not spec.payload:
        return [{}]
    values: list[list[Any]] = []
    for f in spec.payload:
        vals = [_thaw(v) for v in f.examples] or [_thaw(f.default)]
        if f.nullable and None not in vals:
            vals.append(None)
        values.append(vals)
    combos = itertools.islice(itertools.product(*values), MAX_PAYLOADS)
    return [dict(zip([f.name for f in spec.payload], c, strict=True)) for c in combos]


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def choices(chart: Chart, stepper: Stepper, snap: Snapshot) -> list[Choice]:
    """Every (event, payload) worth trying from a snapshot, in a stable order."""
    out: list[Choice] = []
    for name in stepper.enabled_events(snap):
        if is_internal_event(name):
            continue
        out.extend((name, p) for p in payload_domain(chart, name))
    return out


@dataclass
class _Edge:
    choice: Choice
    target: Snapshot
    fired: tuple[TransitionKey, ...]


@dataclass
class Graph:
    """The reachable snapshots of a chart and the steps between them."""

    chart: Chart
    stepper: Stepper
    initial: Snapshot
    initial_fired: tuple[TransitionKey, ...]
    edges: dict[Snapshot, list[_Edge]] = field(default_factory=dict)
    order: list[Snapshot] = field(default_factory=list)
    complete: bool = True

    def bfs(self, start: Snapshot) -> Iterator[tuple[Snapshot, list[tuple[Choice, Snapshot]]]]:
        """Snapshots reachable from ``start`` with a shortest path to each, nearest first."""
        parent: dict[Snapshot, tuple[Snapshot, Choice] | None] = {start: None}
        queue = deque([start])
        while queue:
            snap = queue.popleft()
            yield snap, self._path(parent, snap)
            for edge in self.edges.get(snap, []):
                if edge.target not in parent:
                    parent[edge.target] = (snap, edge.choice)
                    queue.append(edge.target)

    @staticmethod
    def _path(
        parent: dict[Snapshot, tuple[Snapshot, Choice] | None], snap: Snapshot
    ) -> list[tuple[Choice, Snapshot]]:
        steps: list[tuple[Choice, Snapshot]] = []
        cur = snap
        link = parent[cur]
        while link is not None:
            prev, choice = link
            steps.append((choice, cur))
            cur = prev
            link = parent[cur]
        steps.reverse()
        return steps

    def transitions(self) -> list[TransitionKey]:
        """Every transition of the chart, in document order."""
        return [(s.id, i) for s in self.chart.nodes() for i in range(len(s.transitions))]

    def reachable_transitions(self) -> set[TransitionKey]:
        taken = set(self.initial_fired)
        for edges in self.edges.values():
            for e in edges:
                taken.update(e.fired)
        return taken


def explore(chart: Chart, limit: int = DEFAULT_LIMIT) -> Graph:
    """Breadth-first over the reachable snapshots, at most ``limit`` of them."""
    stepper = _RecordingStepper(chart)
    keys = {id(t): (s.id, i) for s in chart.nodes() for i, t in enumerate(s.transitions)}
    init, _ = stepper.initial(record=False)
    initial_fired = tuple(keys[id(t)] for t in stepper.fired)
    graph = Graph(chart, stepper, init, initial_fired)
    seen = {init}
    queue = deque([init])
    while queue:
        snap = queue.popleft()
        graph.order.append(snap)
        edges: list[_Edge] = []
        if not stepper.is_done(snap):
            for choice in choices(chart, stepper, snap):
                stepper.fired = []
                nxt, _ = stepper.step(snap, choice[0], choice[1], record=False)
                if not stepper.fired:
                    continue
                edges.append(_Edge(choice, nxt, tuple(keys[id(t)] for t in stepper.fired)))
                if nxt not in seen:
                    if len(seen) >= limit:
                        graph.complete = False
                        continue
                    seen.add(nxt)
                    queue.append(nxt)
        graph.edges[snap] = edges
    return graph


# -- paths --------------------------------------------------------------------------------


def _steps(graph: Graph, path: list[tuple[Choice, Snapshot]]) -> list[dict[str, Any]]:
    return [
        {
            "event": event,
            "payload": payload,
            "expect": {"configuration": graph.stepper.active_ids(snap)},
        }
        for (event, payload), snap in path
    ]


def _states(chart: Chart) -> list[str]:
    return [s.id for s in chart.states if s.kind != "history"]


def shortest_paths(
    graph: Graph, to_state: str | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """A shortest path to each state (or only ``to_state``), and the states never active."""
    wanted = [to_state] if to_state else _states(graph.chart)
    index = {sid: graph.stepper.index[sid] for sid in wanted}
    found: dict[str, list[tuple[Choice, Snapshot]]] = {}
    for snap, path in graph.bfs(graph.initial):
        for sid, bit in index.items():
            if sid not in found and snap.configuration >> bit & 1:
                found[sid] = path
        if len(found) == len(index):
            break
    paths = [
        {"name": f"to {sid}", "machine": graph.chart.name, "steps": _steps(graph, found[sid])}
        for sid in wanted
        if sid in found
    ]
    return paths, [sid for sid in wanted if sid not in found]


def transition_cover(graph: Graph) -> tuple[list[dict[str, Any]], list[TransitionKey]]:
    """Paths that together take every reachable transition, and the transitions never taken.

    Greedy: start a path at the initial snapshot, walk a shortest path to the nearest step
    that takes a transition not yet covered, and keep extending from there; when nothing
    uncovered is reachable any more, start the next path from the initial snapshot.
    """
    reachable = graph.reachable_transitions()
    uncovered = set(reachable) - set(graph.initial_fired)
    paths: list[dict[str, Any]] = []
    while uncovered:
        current = graph.initial
        walked: list[tuple[Choice, Snapshot]] = []
        aims: list[TransitionKey] = []
        while True:
            hop = _nearest_uncovered(graph, current, uncovered)
            if hop is None:
                break
            prefix, edge = hop
            walked.extend(prefix)
            walked.append((edge.choice, edge.target))
            for snap_edge in _edges_along(graph, current, [*prefix, (edge.choice, edge.target)]):
                newly = [k for k in snap_edge.fired if k in uncovered]
                aims.extend(newly)
                uncovered.difference_update(newly)
            current = edge.target
        if not walked:  # cannot happen: every uncovered transition is reachable
            break
        name = transition_key_label(graph.chart, aims[0])
        if len(aims) > 1:
            name += f" (+{len(aims) - 1} more)"
        paths.append({"name": name, "machine": graph.chart.name, "steps": _steps(graph, walked)})
    never = [k for k in graph.transitions() if k not in reachable]
    return paths, never


def _nearest_uncovered(
    graph: Graph, start: Snapshot, uncovered: set[TransitionKey]
) -> tuple[list[tuple[Choice, Snapshot]], _Edge] | None:
    for snap, path in graph.bfs(start):
        for edge in graph.edges.get(snap, []):
            if any(k in uncovered for k in edge.fired):
                return path, edge
    return None


def _edges_along(
    graph: Graph, start: Snapshot, path: list[tuple[Choice, Snapshot]]
) -> Iterator[_Edge]:
    cur = start
    for choice, target in path:
        edge = next(e for e in graph.edges[cur] if e.choice == choice and e.target == target)
        yield edge
        cur = target
