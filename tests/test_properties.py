"""The property catalog on mutants of the checkout flow and on the real flows.

Each tests/fixtures/mutant_*.py breaks checkout one way (a ``# mutation`` comment marks
where). The intended property must catch it with a counterexample that replays on the
Stepper, and every other failing property must be one its docstring predicts.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest

from flowcheck.chart.model import Chart, Transition
from flowcheck.explore import explore
from flowcheck.explore.graph import replay
from flowcheck.project import Machine, find_settings, load_machine
from flowcheck.properties import PropertyResult, catalog, check_all
from flowcheck.properties.base import Finding, Subject
from flowcheck.semantics import Stepper
from flowcheck.verification import verify_chart

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
SETTINGS = find_settings(REPO)

# mutant -> (the property it breaks, other properties a reader expects to fail with it)
MUTANTS = {
    "mutant_no_recovery": ("failure-retry", {"completable"}),
    "mutant_dead_end_recovery": ("failure-retry", {"completable"}),
    "mutant_no_exit_telemetry": ("telemetry", set()),
    "mutant_unreachable": ("reachable", set()),
    "mutant_flag_event": ("semantic-events", set()),
    "mutant_no_on_error": ("failure-explicit", {"reachable"}),
    # the second guard holds only with the first, which document order takes: also dead
    "mutant_overlapping_guards": ("deterministic", {"live-transitions"}),
    "mutant_socket_action": ("pure", set()),
    "mutant_file_action": ("pure", set()),
}
NEEDS_CAMPAIGN = {"mutant_socket_action", "mutant_file_action", "mutant_no_exit_telemetry"}


@functools.cache
def _verify(name: str) -> tuple[Chart, list[PropertyResult]]:
    """Verify a mutant once per test session (the campaign is the slow part)."""
    machine = load_machine(FIXTURES / f"{name}.py")
    examples = 60 if name in NEEDS_CAMPAIGN else 0
    report = verify_chart(machine.chart, machine.cls, machine.path, SETTINGS, examples=examples)
    return machine.chart, report.results


def _failed(results: list[PropertyResult]) -> dict[str, list[Finding]]:
    return {r.id: r.findings for r in results if r.status == "failed"}


def _assert_replays(chart: Chart, finding: Finding) -> None:
    cx = finding.counterexample
    assert cx is not None, finding.message
    assert replay(Stepper(chart), list(cx.events), cx.input) == cx


def test_the_catalog_lists_every_property_of_the_design_in_a_stable_order() -> None:
    assert [m.ID for m in catalog()] == [
        "well-formed", "reachable", "no-dead-end", "completable", "failure-explicit",
        "failure-retry", "telemetry", "semantic-events", "pure", "deterministic",
        "live-transitions", "context-taxonomy", "contract", "conformance",
    ]


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_a_mutant_fails_its_property_and_only_expected_others(name: str) -> None:
    intended, companions = MUTANTS[name]
    _, results = _verify(name)
    failed = _failed(results)
    assert intended in failed
    assert set(failed) - {intended} == companions


@pytest.mark.parametrize("name", sorted(set(MUTANTS) - {"mutant_unreachable"}))
def test_a_mutant_finding_has_a_counterexample_that_replays_on_the_stepper(name: str) -> None:
    chart, results = _verify(name)
    intended = MUTANTS[name][0]
    for finding in _failed(results)[intended]:
        _assert_replays(chart, finding)


def test_an_unreachable_state_is_named_and_has_no_path_to_show() -> None:
    _, results = _verify("mutant_unreachable")
    (finding,) = _failed(results)["reachable"]
    assert finding.state == "savedCards"
    assert finding.counterexample is None


def test_failure_retry_counterexample_ends_in_the_failure_state_without_a_way_back() -> None:
    _, results = _verify("mutant_dead_end_recovery")
    (finding,) = _failed(results)["failure-retry"]
    assert finding.state == "network_error"
    assert finding.counterexample is not None
    assert "network_error" in finding.counterexample.states[-1]


def test_failure_explicit_shows_the_error_being_swallowed() -> None:
    _, results = _verify("mutant_no_on_error")
    (finding,) = _failed(results)["failure-explicit"]
    assert finding.counterexample is not None
    name, _ = finding.counterexample.events[-1]
    assert name == "xstate.error.actor.confirmPayment"
    assert finding.counterexample.states[-1] == ("submittingPayment",)


def test_deterministic_shows_a_context_where_both_guards_hold() -> None:
    _, results = _verify("mutant_overlapping_guards")
    (finding,) = _failed(results)["deterministic"]
    assert finding.counterexample is not None
    events = finding.counterexample.events
    assert events[-1][0] == "PAYMENT_SUBMITTED"
    assert ("PAYMENT_METHOD_ENTERED", {"paymentMethodId": "pm_card_visa"}) in events


def test_the_campaign_reports_a_blocked_connection_with_the_events_that_made_it() -> None:
    _, results = _verify("mutant_socket_action")
    messages = [f.message for f in _failed(results)["pure"]]
    assert any("undeclared" in m and "notify_billing" in m for m in messages)
    assert any("socket.create_connection" in m for m in messages)


LEAK = Path(tempfile.gettempdir()) / "flowcheck-mutant-leak.txt"  # what mutant_file_action writes


@pytest.fixture(scope="module", autouse=True)
def _no_leak_yet() -> None:
    LEAK.unlink(missing_ok=True)


def test_the_campaign_blocks_a_file_write_so_nothing_is_written() -> None:
    _, results = _verify("mutant_file_action")
    assert any("open(" in f.message for f in _failed(results)["pure"])
    assert not LEAK.exists()


def test_a_final_state_with_an_outgoing_transition_is_not_well_formed(
    machines: dict[str, Machine],
) -> None:
    chart = machines["checkout"].chart
    restart = Transition(source="completed", event="RESTARTED", targets=("paymentDetails",))
    states = tuple(
        s.model_copy(update={"transitions": (restart,)}) if s.id == "completed" else s
        for s in chart.states
    )
    broken = chart.model_copy(update={"states": states})
    results = check_all(Subject(chart=broken, graph=explore(broken)))
    failed = _failed(results)
    assert set(failed) == {"well-formed"}
    (finding,) = failed["well-formed"]
    assert finding.state == "completed"
    _assert_replays(broken, finding)
    assert finding.counterexample is not None
    assert finding.counterexample.states[-1] == ("completed",)


def test_a_bounded_exploration_is_never_reported_as_proved(machines: dict[str, Machine]) -> None:
    chart = machines["checkout"].chart
    results = check_all(Subject(chart=chart, graph=explore(chart, max_configurations=10)))
    statuses = {r.id: r.status for r in results}
    assert statuses["reachable"] == "bounded"
    assert statuses["completable"] == "bounded"
    assert "failed" not in statuses.values()


@pytest.mark.parametrize("name", ["checkout", "course_builder", "generation", "registration"])
def test_a_real_flow_passes_every_property_proved(
    name: str, machines: dict[str, Machine]
) -> None:
    m = machines[name]
    report = verify_chart(m.chart, m.cls, m.path, SETTINGS, examples=30)
    assert report.complete
    statuses = {r.id: r.status for r in report.results}
    assert statuses.pop("conformance") == "tested"  # sampled by hypothesis: not a proof
    assert set(statuses.values()) == {"proved"}
