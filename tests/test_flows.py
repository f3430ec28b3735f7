"""The shipped flows keep the rules they are written to: proto contracts, names, small
finite exploration, and a way back to success from every failure."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from flow_events import FLOWS, candidates, shortest_paths

from flowcheck.chart.model import ABANDONED, FAILURE, SUCCESS, Chart
from flowcheck.contracts import load_contracts
from flowcheck.project import Machine
from flowcheck.semantics import Snapshot, Stepper

PROTO_ROOT = Path(__file__).resolve().parent.parent / "proto"
MAX_CONFIGURATIONS = 5_000
SCREAMING = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def _graph(chart: Chart) -> dict[Snapshot, set[Snapshot]]:
    """Every reachable snapshot and the snapshots one event away from it."""
    stepper = Stepper(chart)
    edges: dict[Snapshot, set[Snapshot]] = {}
    for snap in shortest_paths(chart):
        edges[snap] = set()
        if stepper.is_done(snap):
            continue
        for event, payload in candidates(chart, stepper, snap):
            nxt, _ = stepper.step(snap, event, payload, record=False)
            if nxt != snap:
                edges[snap].add(nxt)
    return edges


def _can_reach(
    chart: Chart, edges: dict[Snapshot, set[Snapshot]], tag: str
) -> set[Snapshot]:
    """Snapshots from which some run reaches a state tagged ``tag``."""
    stepper = Stepper(chart)
    goal = set(chart.tagged(tag))
    good = {s for s in edges if goal & set(stepper.active_ids(s))}
    changed = True
    while changed:
        changed = False
        for snap, nexts in edges.items():
            if snap not in good and nexts & good:
                good.add(snap)
                changed = True
    return good


def _winding_down(chart: Chart, stepper: Stepper, snap: Snapshot) -> bool:
    """A non-final state tagged abandoned is active: the user left (``cancelling`` while the
    cancel call runs), so the flow's goal is its abandoned end, not success."""
    leaving = {s.id for s in chart.states if ABANDONED in s.tags and s.kind != "final"}
    return bool(leaving & set(stepper.active_ids(snap)))


@pytest.mark.parametrize("name", FLOWS)
def test_exploration_stays_small(machines: dict[str, Machine], name: str) -> None:
    assert len(shortest_paths(machines[name].chart, MAX_CONFIGURATIONS)) < MAX_CONFIGURATIONS


@pytest.mark.parametrize("name", FLOWS)
def test_success_stays_reachable_from_every_configuration(
    machines: dict[str, Machine], name: str
) -> None:
    chart = machines[name].chart
    stepper = Stepper(chart)
    edges = _graph(chart)
    succeeds = _can_reach(chart, edges, SUCCESS)
    abandons = _can_reach(chart, edges, ABANDONED)
    for snap in edges:
        if stepper.is_done(snap):
            continue
        if _winding_down(chart, stepper, snap):
            assert snap in abandons, stepper.active_ids(snap)
        else:
            assert snap in succeeds, stepper.active_ids(snap)


@pytest.mark.parametrize("name", FLOWS)
def test_every_failure_configuration_recovers_in_one_event(
    machines: dict[str, Machine], name: str
) -> None:
    """From each reachable failure configuration one event leads out of the failure into a
    configuration from which the flow can still end well (success; after a cancel, its
    abandoned end)."""
    chart = machines[name].chart
    stepper = Stepper(chart)
    failures = set(chart.tagged(FAILURE))
    edges = _graph(chart)
    ends_well = _can_reach(chart, edges, SUCCESS)
    ends_well |= {
        s for s in _can_reach(chart, edges, ABANDONED) if _winding_down(chart, stepper, s)
    }

    def failing(s: Snapshot) -> bool:
        return bool(failures & set(stepper.active_ids(s)))

    seen_failures: set[str] = set()
    for snap, nexts in edges.items():
        if not failing(snap):
            continue
        seen_failures |= failures & set(stepper.active_ids(snap))
        assert any(not failing(n) and n in ends_well for n in nexts), stepper.active_ids(snap)
    assert seen_failures == failures


@pytest.mark.parametrize("name", FLOWS)
def test_names_follow_the_conventions(machines: dict[str, Machine], name: str) -> None:
    chart = machines[name].chart
    for event in chart.events:
        assert SCREAMING.match(event.name), event.name
    for state in chart.states:
        if state.parent == "failure":
            assert SNAKE.match(state.id), state.id
            assert FAILURE in state.tags, state.id
        else:
            assert CAMEL.match(state.id), state.id
    assert set(chart.tagged(FAILURE)) == set(chart.state("failure").children)


@pytest.mark.parametrize("name", FLOWS)
def test_rpc_invokes_match_the_proto_contracts(machines: dict[str, Machine], name: str) -> None:
    contracts = load_contracts(PROTO_ROOT)
    for state, invoke in machines[name].chart.invokes():
        if invoke.kind != "rpc":
            continue
        method = contracts.method(invoke.src)
        assert method is not None, f"{state.id}: {invoke.src} is not in proto/"
        request = set(method.input_type.fields)
        assert {k for k, _ in invoke.input} <= request, f"{invoke.src} request: {request}"
        response = set(method.output_type.fields)
        for example in invoke.outputs:
            assert set(example) <= response, f"{invoke.src} response: {response}"


def test_generation_job_status_values_are_the_proto_enum_short_names(
    machines: dict[str, Machine],
) -> None:
    enum = load_contracts(PROTO_ROOT).enum("mirai.v1.JobStatus")
    assert enum is not None
    short = {v.removeprefix("JOB_STATUS_").lower() for v in enum.values}
    (_, polling), = [
        (s, i) for s, i in machines["generation"].chart.invokes() if i.id == "getGenerationJob"
    ]
    assert {o["status"] for o in polling.outputs} == {"running", "succeeded", "failed"}
    assert {o["status"] for o in polling.outputs} <= short


@pytest.mark.parametrize("name", FLOWS)
def test_child_flows_name_a_shipped_flow_and_pass_its_context(
    machines: dict[str, Machine], name: str
) -> None:
    by_id = {m.chart.id: m.chart for m in machines.values()}
    for state, invoke in machines[name].chart.invokes():
        if invoke.kind != "flow":
            continue
        assert invoke.src in by_id, f"{state.id}: no flow with id {invoke.src!r}"
        child_fields = {f.name for f in by_id[invoke.src].context}
        assert {k for k, _ in invoke.input} <= child_fields


@pytest.mark.parametrize("name", FLOWS)
def test_module_docstring_names_the_flow_and_what_was_added(
    machines: dict[str, Machine], name: str
) -> None:
    machine = machines[name]
    doc = " ".join((sys.modules[machine.cls.__module__].__doc__ or "").split())
    assert f"(XState id ``{machine.chart.id}``)" in doc
    assert "Added to FLOWS.md" in doc


def test_the_generation_machine_records_the_failed_job_it_tells_its_parent(
    machines: dict[str, Machine],
) -> None:
    machine = machines["generation"].cls()
    machine.send("xstate.done.actor.startGeneration", output={"jobId": "job_1"})
    machine.send("after.POLL_INTERVAL")
    running = {"jobId": "job_1", "status": "running"}
    machine.send("xstate.done.actor.getGenerationJob", output=running)
    assert machine.sent_to_parent == []
    machine.send("after.POLL_INTERVAL")
    machine.send(
        "xstate.done.actor.getGenerationJob",
        output={"jobId": "job_1", "status": "failed", "failureReason": "model_overloaded"},
    )
    assert machine.sent_to_parent == ["AI_GENERATION_FAILED"]
    machine.send("RETRY", idempotencyKey="gen-2")  # standalone, the flow goes on by itself
    assert [s.id for s in machine.configuration] == ["enqueuing"]


def test_the_checkout_machine_records_the_decline_it_tells_its_parent(
    machines: dict[str, Machine],
) -> None:
    machine = machines["checkout"].cls()
    machine.send("PAYMENT_METHOD_ENTERED", paymentMethodId="pm_card_visa")
    machine.send("PAYMENT_SUBMITTED")
    machine.send("xstate.error.actor.confirmPayment", error={"code": "unavailable"})
    assert machine.sent_to_parent == []
    machine.send("RETRY")
    machine.send("xstate.error.actor.confirmPayment", error={"code": "failed_precondition"})
    assert machine.sent_to_parent == ["PAYMENT_DECLINED"]
    machine.send("PAYMENT_RETRIED", idempotencyKey="idem-2")  # standalone, checkout goes on
    assert [s.id for s in machine.configuration] == ["submittingPayment"]
