"""The events a test may send to a flow in a given snapshot, from the chart's example domains.

User events come with every combination of their payload examples; invoke outcomes
(``xstate.done.actor.*`` with each example output, ``xstate.error.actor.*`` with each
error code) and delays (``xstate.after.*``) only while the state that owns them is active,
as a running actor would send them.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

from flowcheck.chart.model import Chart, done_actor, error_actor
from flowcheck.semantics import Snapshot, Stepper

Sent = tuple[str, dict[str, Any]]

FLOWS = ("checkout", "course_builder", "generation", "registration")
"""The flows the project ships."""


def user_events(chart: Chart) -> list[Sent]:
    out: list[Sent] = []
    for spec in chart.events:
        names = [f.name for f in spec.payload]
        domains = [[_thaw(v) for v in f.examples] for f in spec.payload]
        for values in itertools.product(*domains):
            out.append((spec.name, dict(zip(names, values, strict=True))))
    return out


def outcome_events(chart: Chart, stepper: Stepper, snap: Snapshot) -> list[Sent]:
    active = set(stepper.active_ids(snap))
    out: list[Sent] = []
    for state in chart.states:
        if state.id not in active:
            continue
        for inv in state.invokes:
            out.extend((done_actor(inv.id), {"output": dict(o)}) for o in inv.outputs)
            out.extend((error_actor(inv.id), {"error": {"code": c}}) for c in inv.error_codes)
        for t in state.transitions:
            if t.delay and t.event and (t.event, {}) not in out:
                out.append((t.event, {}))
    return out


def candidates(chart: Chart, stepper: Stepper, snap: Snapshot) -> list[Sent]:
    return user_events(chart) + outcome_events(chart, stepper, snap)


def shortest_paths(chart: Chart, limit: int = 100_000) -> dict[Snapshot, list[Sent]]:
    """Every snapshot reachable from the initial one (breadth first, up to ``limit``), with
    the shortest event sequence that reaches it."""
    stepper = Stepper(chart)
    start, _ = stepper.initial(record=False)
    parent: dict[Snapshot, tuple[Snapshot, Sent] | None] = {start: None}
    queue = deque([start])
    while queue and len(parent) < limit:
        snap = queue.popleft()
        if stepper.is_done(snap):
            continue
        for sent in candidates(chart, stepper, snap):
            nxt, _ = stepper.step(snap, sent[0], sent[1], record=False)
            if nxt not in parent:
                parent[nxt] = (snap, sent)
                queue.append(nxt)
    paths: dict[Snapshot, list[Sent]] = {}
    for snap in parent:
        path: list[Sent] = []
        link = parent[snap]
        while link is not None:
            path.append(link[1])
            link = parent[link[0]]
        paths[snap] = path[::-1]
    return paths


def psm_event(event: str) -> str:
    """The python-statemachine event id of a chart event (delays are ``after.<DELAY>``)."""
    if event.startswith("xstate.after."):
        return "after." + event[len("xstate.after."):].split(".", 1)[0]
    return event


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value
