"""The hypothesis campaign: python-statemachine against the Stepper, seeded and shrunk."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import find, settings
from hypothesis.errors import NoSuchExample
from pydantic import BaseModel, Field

from flowcheck.chart.model import Chart, DataField, Track
from flowcheck.declare import (
    Flow,
    State,
    TelemetryPolicy,
    ctx,
    eq,
    guard,
    read_chart,
    step,
    success,
    track,
)
from flowcheck.explore.campaign import (
    Campaign,
    error_strategy,
    field_metadata,
    field_strategy,
    output_strategy,
    run_campaign,
)
from flowcheck.explore.domains import CONNECT_CODES
from flowcheck.explore.graph import replay
from flowcheck.explore.sandbox import BlockedIO, IOAttempt, blocked_io
from flowcheck.project import Machine
from flowcheck.properties.base import event_list
from flowcheck.semantics import Stepper
from flowcheck.simulation import Session, parse_event_list

NO_DATABASE = settings(database=None)


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
    cx = finding.counterexample
    session = Session(chart, input=cx.input)
    for name, payload in parse_event_list(event_list(cx.events)):
        session.send(name, payload)
    assert tuple(session.describe()["configuration"]) == cx.states[-1]
    assert replay(Stepper(chart), list(cx.events), cx.input) == cx


def test_no_examples_means_the_campaign_did_not_run(checkout: Machine) -> None:
    result = run_campaign(checkout.chart, checkout.cls, examples=0)
    assert not result.ran and result.skipped


def test_string_payloads_go_beyond_the_example_domain() -> None:
    f = DataField(name="paymentMethodId", type="string", examples=("pm_card_visa", ""))
    other = find(field_strategy(f), lambda v: v not in f.examples, settings=NO_DATABASE)
    assert isinstance(other, str)


def test_string_payloads_can_be_any_text() -> None:
    f = DataField(name="title", type="string", examples=("Intro to Go",))
    found = find(field_strategy(f), lambda v: any(not c.isascii() for c in v),
                 settings=NO_DATABASE)
    assert isinstance(found, str)


def test_enum_payloads_stay_in_their_enum() -> None:
    f = DataField(name="kind", type="string", enum=("outline", "lessons"))
    with pytest.raises(NoSuchExample):
        find(field_strategy(f), lambda v: v not in f.enum, settings=NO_DATABASE)


def test_every_enum_value_is_drawn() -> None:
    f = DataField(name="kind", type="string", enum=("outline", "lessons"))
    assert find(field_strategy(f), lambda v: v == "lessons", settings=NO_DATABASE) == "lessons"


class _Seats(BaseModel):
    seats: int = Field(ge=1, le=5, examples=[1])
    code: str = Field("", max_length=3)


def test_integer_payloads_go_beyond_their_examples() -> None:
    f = DataField(name="seats", type="integer", examples=(1,))
    assert find(field_strategy(f, field_metadata(_Seats, "seats")), lambda v: v != 1,
                settings=NO_DATABASE) in range(2, 6)


def test_integer_payloads_stay_within_their_pydantic_bounds() -> None:
    f = DataField(name="seats", type="integer", examples=(1,))
    with pytest.raises(NoSuchExample):
        find(field_strategy(f, field_metadata(_Seats, "seats")), lambda v: not 1 <= v <= 5,
             settings=NO_DATABASE)


def test_string_payloads_stay_within_their_max_length() -> None:
    f = DataField(name="code", type="string")
    with pytest.raises(NoSuchExample):
        find(field_strategy(f, field_metadata(_Seats, "code")), lambda v: len(v) > 3,
             settings=NO_DATABASE)


def test_list_payloads_hold_items_beyond_their_examples() -> None:
    f = DataField(name="smeIds", type="string[]", examples=(("sme_1",),))
    found = find(field_strategy(f), lambda v: any(item != "sme_1" for item in v),
                 settings=NO_DATABASE)
    assert isinstance(found, list)


def test_nullable_payloads_are_sometimes_none() -> None:
    f = DataField(name="error", type="string", nullable=True, examples=("unavailable",))
    assert find(field_strategy(f), lambda v: v is None, settings=NO_DATABASE) is None


@pytest.mark.parametrize("code", CONNECT_CODES)
def test_an_invoke_error_carries_any_connect_code_not_only_the_declared_ones(code: str) -> None:
    assert find(error_strategy(["unavailable"]), lambda p: p["error"]["code"] == code,
                settings=NO_DATABASE) == {"error": {"code": code}}


def test_invoke_output_fields_the_transitions_read_are_drawn_from_their_type() -> None:
    examples = [{"paymentId": "pay_1", "status": "succeeded"}]
    found = find(output_strategy(examples, ["status"]),
                 lambda out: out["status"] not in ("succeeded",), settings=NO_DATABASE)
    assert isinstance(found["status"], str)


def test_invoke_output_fields_no_transition_reads_keep_their_example_values() -> None:
    examples = [{"paymentId": "pay_1", "status": "succeeded"}]
    with pytest.raises(NoSuchExample):
        find(output_strategy(examples, ["status"]), lambda out: out["paymentId"] != "pay_1",
             settings=NO_DATABASE)


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


# -- the flow's input -----------------------------------------------------------------------------


class _KindContext(BaseModel):
    courseId: str = "course_1"
    kind: Literal["outline", "lessons"] = "outline"


class _KindInput(BaseModel):
    kind: Literal["outline", "lessons"] = "outline"


class _Generate(Flow):
    flow_id = "generate"
    Context = _KindContext
    Input = _KindInput

    choosing = step("Start generating what the parent asked for.", initial=True)
    outline = success("The outline is being written.")
    lessons = success("The lessons are being written.")

    STARTED = choosing.to(outline, cond=guard("outlineWanted", eq(ctx("kind"), "outline"))) | (
        choosing.to(lessons)
    )


def _lessons_go_to_outline(chart: Chart) -> Chart:
    """The chart disagrees with the class only when the flow is started for lessons."""
    states = []
    for s in chart.states:
        if s.id == "choosing":
            ts = tuple(t.model_copy(update={"targets": ("outline",)})
                       if t.targets == ("lessons",) else t for t in s.transitions)
            s = s.model_copy(update={"transitions": ts})
        states.append(s)
    return chart.model_copy(update={"states": tuple(states)})


@pytest.fixture(scope="module")
def started_for_lessons() -> Campaign:
    return run_campaign(_lessons_go_to_outline(read_chart(_Generate)), _Generate, examples=100)


def test_the_campaign_starts_the_flow_with_inputs_drawn_from_its_input_model(
    started_for_lessons: Campaign,
) -> None:
    (finding,) = started_for_lessons.findings
    assert "python-statemachine is in {lessons}" in finding.message
    assert finding.counterexample is not None
    assert finding.counterexample.input == {"kind": "lessons"}
    assert finding.counterexample.events == (("STARTED", {}),)


def test_a_finding_from_a_drawn_input_replays_with_that_input(
    started_for_lessons: Campaign,
) -> None:
    (finding,) = started_for_lessons.findings
    assert "--events 'STARTED' --input '{\"kind\":\"lessons\"}'" in finding.message


# -- differences that are not findings ------------------------------------------------------------


class _HandTracked(Flow):
    """Exits tracked by the author instead of the policy."""

    flow_id = "handTracked"
    telemetry_policy = TelemetryPolicy(exited=None)

    details = step("Enter the details.", initial=True)
    review = step("Review them.")
    done = success("Submitted.")

    details.exit.add(track("STEP_LEFT", step="details"))
    review.exit.add(track("STEP_LEFT", step="review"))

    NEXT = details.to(review) | review.to(done)
    BACK = review.to(details)


def test_exits_tracked_by_hand_with_the_policy_exit_event_off_are_no_finding() -> None:
    result = run_campaign(read_chart(_HandTracked), _HandTracked, examples=50)
    assert result.events > 0
    assert result.findings == []


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


def test_parallel_regions_exited_in_another_order_than_xstate_are_no_finding() -> None:
    result = run_campaign(read_chart(_Upload), _Upload, examples=50)
    assert result.events > 0
    assert result.findings == []


def _with_exit_track(chart: Chart, state_id: str, event: str) -> Chart:
    """The chart tracks one more event on exiting ``state_id`` than the class does."""
    states = []
    for s in chart.states:
        if s.id == state_id:
            s = s.model_copy(update={"exit": (*s.exit, Track(event=event))})
        states.append(s)
    return chart.model_copy(update={"states": tuple(states)})


def test_exit_telemetry_of_parallel_regions_must_still_match_as_a_multiset() -> None:
    result = run_campaign(_with_exit_track(read_chart(_Upload), "sent", "VIDEO_LEFT"), _Upload,
                          examples=50)
    (finding,) = result.findings
    assert finding.property == "conformance"
    assert "telemetry differs" in finding.message
    assert "VIDEO_LEFT" in finding.message


def test_telemetry_in_another_order_outside_exits_is_still_a_finding() -> None:
    chart = read_chart(_HandTracked)
    entry = chart.state("done").entry  # STATE_ENTERED, then FLOW_COMPLETED
    assert [a.event for a in entry if isinstance(a, Track)] == ["STATE_ENTERED", "FLOW_COMPLETED"]
    states = tuple(s.model_copy(update={"entry": tuple(reversed(s.entry))}) if s.id == "done"
                   else s for s in chart.states)
    result = run_campaign(chart.model_copy(update={"states": states}), _HandTracked,
                          examples=50)
    (finding,) = result.findings
    assert "telemetry differs" in finding.message
    assert finding.counterexample is not None
    assert [name for name, _ in finding.counterexample.events] == ["NEXT", "NEXT"]
