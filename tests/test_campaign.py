"""The hypothesis campaign: python-statemachine against the Stepper, seeded and shrunk."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import find, settings
from hypothesis.errors import NoSuchExample

from flowcheck.chart.model import Chart, DataField
from flowcheck.explore.campaign import Campaign, event_list, field_strategy, run_campaign
from flowcheck.explore.graph import replay
from flowcheck.explore.sandbox import BlockedIO, IOAttempt, blocked_io
from flowcheck.project import Machine
from flowcheck.semantics import Stepper
from flowcheck.simulation import Session, parse_event_list


def _retry_goes_back_to_payment_details(chart: Chart) -> Chart:
    """The chart disagrees with the class on one transition: RETRY's target."""
    states = []
    for s in chart.states:
        if s.id == "network_error":
            ts = tuple(t.model_copy(update={"targets": ("paymentDetails",)})
                       if t.event == "RETRY" else t for t in s.transitions)
            s = s.model_copy(update={"transitions": ts})
        states.append(s)
    return chart.model_copy(update={"states": tuple(states)})


@pytest.fixture(scope="module")
def checkout(machines: dict[str, Machine]) -> Machine:
    return machines["checkout"]


def test_the_real_checkout_class_agrees_with_the_stepper(checkout: Machine) -> None:
    result = run_campaign(checkout.chart, checkout.cls, examples=40, seed=1)
    assert result.ran and result.examples >= 40 and result.events > 0
    assert result.findings == []


@pytest.fixture(scope="module")
def divergence(checkout: Machine) -> tuple[Chart, Campaign]:
    chart = _retry_goes_back_to_payment_details(checkout.chart)
    return chart, run_campaign(chart, checkout.cls, examples=100, seed=0)


def test_a_seeded_divergence_is_found_and_shrunk_to_the_shortest_event_list(
    divergence: tuple[Chart, Campaign],
) -> None:
    (finding,) = divergence[1].findings
    assert finding.property == "conformance"
    assert "python-statemachine is in {submittingPayment}" in finding.message
    assert finding.counterexample is not None
    names = [name for name, _ in finding.counterexample.events]
    assert names == ["PAYMENT_METHOD_ENTERED", "PAYMENT_SUBMITTED",
                     "xstate.error.actor.confirmPayment", "RETRY"]


def test_the_same_seed_gives_the_same_result(
    checkout: Machine, divergence: tuple[Chart, Campaign]
) -> None:
    chart, first = divergence
    second = run_campaign(chart, checkout.cls, examples=100, seed=0)
    assert first.findings == second.findings
    assert (first.examples, first.events) == (second.examples, second.events)


def test_a_shrunk_event_list_replays_with_flowcheck_simulate(
    divergence: tuple[Chart, Campaign],
) -> None:
    chart, result = divergence
    (finding,) = result.findings
    assert finding.counterexample is not None
    session = Session(chart)
    for name, payload in parse_event_list(event_list(finding.counterexample.events)):
        session.send(name, payload)
    assert tuple(session.describe()["configuration"]) == finding.counterexample.states[-1]
    assert replay(Stepper(chart), list(finding.counterexample.events)) == finding.counterexample


def test_no_examples_means_the_campaign_did_not_run(checkout: Machine) -> None:
    result = run_campaign(checkout.chart, checkout.cls, examples=0)
    assert not result.ran and result.skipped


def test_string_payloads_go_beyond_the_example_domain() -> None:
    f = DataField(name="paymentMethodId", type="string", examples=("pm_card_visa", ""))
    other = find(field_strategy(f), lambda v: v not in f.examples,
                 settings=settings(database=None))
    assert isinstance(other, str)


def test_enum_payloads_stay_in_their_enum() -> None:
    f = DataField(name="kind", type="string", enum=("outline", "lessons"))
    with pytest.raises(NoSuchExample):
        find(field_strategy(f), lambda v: v not in f.enum, settings=settings(database=None))


def test_blocked_io_refuses_connections_and_file_writes_and_records_them(
    tmp_path: Path,
) -> None:
    attempts: list[IOAttempt] = []
    target = tmp_path / "written.txt"
    with blocked_io(attempts):
        with pytest.raises(BlockedIO):
            socket.create_connection(("127.0.0.1", 9))
        with pytest.raises(BlockedIO):
            open(target, "w")  # noqa: SIM115
        with open(__file__) as handle:  # reading stays allowed
            assert handle.readline()
    assert [a.kind for a in attempts] == ["network", "file"]
    assert not target.exists()
    with open(target, "w") as handle:  # and everything is restored afterwards
        handle.write("ok")
