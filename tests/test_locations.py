"""flowcheck.locations: the file and line every report gives for a finding, read from the
flow module (or XState config) itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.chart.model import Chart
from flowcheck.locations import locate, related, source_map, step_locations, transition_line
from flowcheck.project import Machine, find_settings, select
from flowcheck.properties.base import Counterexample, Finding

REPO = Path(__file__).resolve().parent.parent
FLOWS = select(find_settings(REPO), [])


def _flow(name: str) -> Machine:
    return next(m for m in FLOWS if m.name == name)


def _text(machine: Machine, line: int | None) -> str:
    assert line is not None
    return machine.path.read_text().splitlines()[line - 1].strip()


def _located(name: str, **fields: str) -> tuple[Machine, Finding]:
    machine = _flow(name)
    finding = locate(Finding("p", "m", **fields), machine.chart, machine.path)
    assert finding.file == str(machine.path)
    return machine, finding


@pytest.mark.parametrize("name", [m.name for m in FLOWS])
def test_every_transition_of_a_bundled_flow_is_located_at_a_to_call_from_its_source(
    name: str,
) -> None:
    machine = _flow(name)
    smap = source_map(machine.path)
    for t in machine.chart.transitions():
        line = _text(machine, transition_line(machine.chart, t, smap))
        assert f"{t.source}.to(" in line, (t.source, t.event, line)


def test_a_transition_is_located_at_its_call_in_the_event_declaration() -> None:
    checkout, finding = _located("checkout", state="paymentDetails", event="PAYMENT_SUBMITTED")
    assert _text(checkout, finding.line).startswith("PAYMENT_SUBMITTED = paymentDetails.to(")
    assert finding.construct == (
        "transition PAYMENT_SUBMITTED from paymentDetails, guard paymentMethodChosen")


def test_of_guarded_alternatives_the_one_whose_guard_the_finding_names_is_located() -> None:
    builder, finding = _located("course_builder", state="network_error", event="RETRY",
                                guard="failedInPublishing")
    assert "failure.network_error.to(publishing" in _text(builder, finding.line)


def test_an_invoke_outcome_is_located_inside_its_event_declaration() -> None:
    checkout, finding = _located("checkout", state="submittingPayment",
                                 event="xstate.error.actor.confirmPayment")
    assert _text(checkout, finding.line).startswith(
        "submittingPayment.to(failure.payment_declined, cond=declined")


def test_a_delay_is_located_inside_its_after_declaration() -> None:
    generation, finding = _located("generation", state="waiting",
                                   event="xstate.after.POLL_INTERVAL.waiting")
    assert "waiting.to(polling)" in _text(generation, finding.line)


def test_a_transition_declared_on_a_compound_is_found_from_a_state_inside_it() -> None:
    checkout, finding = _located("checkout", state="network_error", event="CHECKOUT_CANCELLED")
    assert _text(checkout, finding.line).startswith("| failure.to(cancelled")


def test_an_outcome_no_transition_takes_is_located_at_the_invoke() -> None:
    checkout, finding = _located("checkout", state="paymentDetails",
                                 event="xstate.done.actor.confirmPayment")
    assert _text(checkout, finding.line) == '"confirmPayment",'
    assert finding.construct == "invoke confirmPayment"


def test_a_finding_naming_its_guard_is_located_at_the_guard_definition() -> None:
    checkout, finding = _located("checkout", state="paymentDetails", event="PAYMENT_SUBMITTED",
                                 guard="paymentMethodChosen")
    assert _text(checkout, finding.line).startswith("method_chosen = guard(")
    (transition,) = related(finding, checkout.chart, checkout.path)
    assert _text(checkout, transition.line).startswith("PAYMENT_SUBMITTED =")


def test_a_state_finding_is_located_at_the_state_and_a_flow_finding_at_the_class() -> None:
    checkout, state = _located("checkout", state="network_error")
    assert _text(checkout, state.line).startswith("network_error = failure(")
    _, flow = _located("checkout")
    assert _text(checkout, flow.line).startswith("class Checkout(")


def test_a_finding_that_points_somewhere_already_keeps_it() -> None:
    checkout = _flow("checkout")
    finding = Finding("contract", "m", state="submittingPayment", file="proto/x.proto", line=7)
    assert locate(finding, checkout.chart, checkout.path) == finding


def test_each_counterexample_step_is_located_at_the_transition_it_takes() -> None:
    checkout = _flow("checkout")
    cx = Counterexample(
        events=(("PAYMENT_METHOD_ENTERED", {"paymentMethodId": "pm_card_visa"}),
                ("PAYMENT_SUBMITTED", {}),
                ("xstate.error.actor.confirmPayment", {"error": {"code": "unavailable"}})),
        states=(("paymentDetails",), ("paymentDetails",), ("submittingPayment",),
                ("failure", "network_error")),
    )
    steps = step_locations(checkout.chart, cx, checkout.path)
    assert [_text(checkout, s.line).split("(")[0] for s in steps] == [
        "paymentDetails = step",
        "PAYMENT_METHOD_ENTERED = paymentDetails.to",
        "PAYMENT_SUBMITTED = paymentDetails.to",
        "| submittingPayment.to",  # the fallback to network_error, not the declined one
    ]


def test_an_xstate_config_locates_states_by_key_path_and_id_and_transitions_by_event() -> None:
    from flowcheck.formats.xstate.importer import import_config

    config = REPO / "tests" / "data" / "upload_without_retry.json"
    chart: Chart = import_config(config)[0]
    lines = config.read_text().splitlines()
    for state in chart.states:
        finding = locate(Finding("p", "m", state=state.id), chart, config)
        assert finding.line is not None, state.id
        key = state.key or state.id.rsplit(".", 1)[-1]
        assert lines[finding.line - 1].strip().startswith(f'"{key}"'), state.id
    picked = locate(Finding("p", "m", state="upload.picking", event="FILE_PICKED"), chart, config)
    assert picked.line is not None and lines[picked.line - 1].strip().startswith('"FILE_PICKED"')
