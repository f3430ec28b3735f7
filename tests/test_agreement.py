"""python-statemachine and the Stepper agree on every shipped flow.

Seeded random walks drive the Flow class itself (python-statemachine) and the Stepper
on its chart with the same events: user events with payloads from the example domains,
invoke outcomes and delays only while the state that owns them is active; and the
shortest path to every reachable configuration. After every event both must show the
same configuration, the same context and the same telemetry.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from flow_events import (
    FLOWS,
    Sent,
    outcome_events,
    psm_event,
    shortest_paths,
    user_events,
)

from flowcheck.chart.model import Track
from flowcheck.declare import Flow, State, read_chart
from flowcheck.project import Machine
from flowcheck.semantics import Executed, Snapshot, Stepper

WALKS = 150
EVENTS_PER_WALK = 30


def _tracks(executed: list[Executed]) -> list[tuple[str, dict[str, Any]]]:
    return [(x.action.event, x.properties or {}) for x in executed if isinstance(x.action, Track)]


def _pick(rng: random.Random, stepper: Stepper, snap: Snapshot, users: list[Sent]) -> Sent:
    """Mostly an event some active state handles, sometimes any user event (ignored ones too)."""
    outcomes = outcome_events(stepper.chart, stepper, snap)
    handled = set(stepper.enabled_events(snap))
    likely = [u for u in users if u[0] in handled] + outcomes
    if likely and rng.random() < 0.85:
        return rng.choice(likely)
    return rng.choice(users + outcomes)


class _Pair:
    """The same flow on python-statemachine and on the Stepper, stepped together."""

    def __init__(self, machine: Machine) -> None:
        self.name = machine.name
        self.stepper = Stepper(machine.chart)
        self.sm = machine.cls()
        self.snap, executed = self.stepper.initial()
        self.sent: list[Sent] = []
        self._check(0, executed)

    def send(self, event: str, payload: dict[str, Any]) -> None:
        self.sent.append((event, payload))
        since = len(self.sm.telemetry)
        self.sm.send(psm_event(event), **payload)
        self.snap, executed = self.stepper.step(self.snap, event, payload)
        self._check(since, executed)

    def _check(self, since: int, executed: list[Executed]) -> None:
        sm, stepper, snap = self.sm, self.stepper, self.snap
        where = f"{self.name} after {self.sent}"
        assert set(sm.configuration_values) == set(stepper.active_ids(snap)), where
        assert sm.context.model_dump() == stepper.context_dict(snap.context), where
        assert sm.telemetry[since:] == _tracks(executed), where


@pytest.mark.parametrize("name", FLOWS)
def test_agree_on_random_walks(machines: dict[str, Machine], name: str) -> None:
    machine = machines[name]
    users = user_events(machine.chart)
    for seed in range(WALKS):
        rng = random.Random(seed)
        pair = _Pair(machine)
        for _ in range(EVENTS_PER_WALK):
            if pair.stepper.is_done(pair.snap):
                break
            pair.send(*_pick(rng, pair.stepper, pair.snap, users))


@pytest.mark.parametrize("name", FLOWS)
def test_agree_on_the_shortest_path_to_every_reachable_configuration(
    machines: dict[str, Machine], name: str
) -> None:
    machine = machines[name]
    paths = shortest_paths(machine.chart)
    replayed: set[Snapshot] = set()
    states: set[str] = set()
    # longest first: a path replays every configuration on its way, so most shorter paths
    # are already covered when their turn comes
    for snap, path in sorted(paths.items(), key=lambda item: -len(item[1])):
        if snap in replayed:
            continue
        pair = _Pair(machine)
        for event, payload in path:
            pair.send(event, payload)
            replayed.add(pair.snap)
            states |= set(pair.stepper.active_ids(pair.snap))
        assert pair.snap == snap
    assert states == {s.id for s in machine.chart.states}


class _Upload(Flow):
    flow_id = "upload"
    idle = State(initial=True)

    class both(State.Parallel):
        class video(State.Compound):
            sending = State(initial=True)
            sent = State(final=True)
            VIDEO_SENT = sending.to(sent)

        class notes(State.Compound):
            writing = State(initial=True)
            written = State(final=True)
            NOTES_WRITTEN = writing.to(written)

    finished = State(final=True)
    START = idle.to(both)
    done_state_both = both.to(finished)


def test_python_statemachine_exits_parallel_regions_in_another_order_with_the_same_telemetry(
) -> None:
    """python-statemachine 3.2 exits parallel regions deepest first (written, sent, notes,
    ...); XState and SCXML, and so the Stepper, in reverse document order (written, notes,
    sent, ...). The telemetry is the same as a multiset: the hypothesis campaign compares
    the exit telemetry of states exited together that way (see flowcheck.explore.campaign).
    If this fails because the orders agree, the campaign can compare them exactly again."""
    stepper = Stepper(read_chart(_Upload))
    snap, _ = stepper.initial()
    sm = _Upload()
    for event in ("START", "VIDEO_SENT"):
        sm.send(event)
        snap, _ = stepper.step(snap, event, {})
    since = len(sm.telemetry)
    sm.send("NOTES_WRITTEN")
    snap, executed = stepper.step(snap, "NOTES_WRITTEN", {})
    psm, xstate = sm.telemetry[since:], _tracks(executed)
    assert psm != xstate
    assert sorted(map(repr, psm)) == sorted(map(repr, xstate))
