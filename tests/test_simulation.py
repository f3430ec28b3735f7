"""Simulation sessions: child flows played inline, and the one default payload."""

from __future__ import annotations

from typing import Any

import pytest

from flowcheck.chart.model import Chart, DataField
from flowcheck.project import Machine
from flowcheck.simulation import Session, default_payload, default_value


@pytest.fixture
def flows(machines: dict[str, Machine]) -> dict[str, Chart]:
    return {name: m.chart for name, m in machines.items()}


def _to_generating_outline(flows: dict[str, Chart]) -> Session:
    session = Session(flows["course_builder"], flows=flows)
    for event, payload in [
        ("TITLE_CHANGED", {"title": "Intro to Go"}),
        ("DESIRED_OUTCOME_CHANGED", {"desiredOutcome": "Write a CLI tool"}),
        ("BASICS_SUBMITTED", {}),
        ("xstate.done.actor.createCourse", {"output": {"courseId": "course_7"}}),
        ("SME_SELECTED", {"smeId": "sme_1"}),
        ("SMES_CONFIRMED", {}),
        ("AUDIENCE_SELECTED", {"audienceId": "aud_1"}),
        ("AUDIENCES_CONFIRMED", {"generationKey": "gen-9"}),
        ("xstate.done.actor.setCourseTargeting", {"output": {"courseId": "course_7"}}),
    ]:
        session.send(event, payload)
    return session


def _poll(session: Session, status: str) -> None:
    session.send("xstate.done.actor.startGeneration", {"output": {"jobId": "job_3"}},
                 actor="generateOutline")
    session.send("xstate.after.POLL_INTERVAL.waiting", {}, actor="generateOutline")
    session.send("xstate.done.actor.getGenerationJob",
                 {"output": {"jobId": "job_3", "status": status}}, actor="generateOutline")


def test_entering_an_invoking_state_starts_the_child_with_the_input_its_invoke_passes(
    flows: dict[str, Chart],
) -> None:
    session = _to_generating_outline(flows)
    (actor, run), = session.actors()
    assert (actor, run.machine) == ("generateOutline", "generation")
    child = session.describe(actor="generateOutline")
    assert child["configuration"] == ["enqueuing"]
    assert {k: child["context"][k] for k in ("courseId", "kind", "idempotencyKey")} == {
        "courseId": "course_7", "kind": "outline", "idempotencyKey": "gen-9"}


def test_playing_the_child_to_its_end_delivers_its_real_output_to_the_parent(
    flows: dict[str, Chart],
) -> None:
    session = _to_generating_outline(flows)
    _poll(session, "succeeded")
    record = session.records[-1]
    assert [(d.actor, d.event, d.payload) for d in record.deliveries] == [
        ("generateOutline", "xstate.done.actor.generateOutline",
         {"output": {"jobId": "job_3", "outcome": "succeeded"}})]
    step = session.describe()
    assert step["configuration"] == ["reviewingOutline"]
    assert step["context"]["outlineJobId"] == "job_3"
    assert session.actors() == []  # the parent left generatingOutline: the child stopped


def test_what_the_child_sends_its_parent_is_delivered(flows: dict[str, Chart]) -> None:
    session = _to_generating_outline(flows)
    _poll(session, "failed")
    assert [d.event for d in session.records[-1].deliveries] == ["AI_GENERATION_FAILED"]
    assert session.describe()["configuration"] == ["failure", "generation_failed"]


def test_re_entering_the_invoking_state_starts_a_fresh_child(flows: dict[str, Chart]) -> None:
    session = _to_generating_outline(flows)
    _poll(session, "failed")
    session.send("RETRY", {"generationKey": "gen-10"})
    child = session.describe(actor="generateOutline")
    assert child["configuration"] == ["enqueuing"]
    assert child["context"]["idempotencyKey"] == "gen-10"


def test_undo_brings_the_child_back_as_it_was(flows: dict[str, Chart]) -> None:
    session = _to_generating_outline(flows)
    session.send("xstate.done.actor.startGeneration", {"output": {"jobId": "job_3"}},
                 actor="generateOutline")
    session.send("xstate.after.POLL_INTERVAL.waiting", {}, actor="generateOutline")
    session.undo()
    assert session.describe(actor="generateOutline")["configuration"] == ["waiting"]


def test_the_parents_done_event_is_still_a_shortcut_that_stops_the_child(
    flows: dict[str, Chart],
) -> None:
    session = _to_generating_outline(flows)
    session.send("xstate.done.actor.generateOutline",
                 {"output": {"jobId": "job_1", "outcome": "succeeded"}})
    assert session.describe()["configuration"] == ["reviewingOutline"]
    assert session.actors() == []


def test_an_event_for_a_child_that_is_not_running_names_the_running_ones(
    flows: dict[str, Chart],
) -> None:
    session = Session(flows["course_builder"], flows=flows)
    with pytest.raises(Exception, match="no child flow 'generateOutline' is running"):
        session.send("RETRY", {}, actor="generateOutline")


def test_the_checkout_child_of_registration_tells_its_parent_the_card_was_declined(
    flows: dict[str, Chart],
) -> None:
    session = Session(flows["registration"], flows=flows)
    for event, payload in [
        ("EMAIL_CHANGED", {"email": "ada@example.com"}), ("PASSWORD_CHANGED", {"password": "pw"}),
        ("ACCOUNT_SUBMITTED", {}), ("xstate.done.actor.register", {"output": {"userId": "u"}}),
        ("CODE_ENTERED", {"code": "123456"}), ("CODE_SUBMITTED", {}),
        ("xstate.done.actor.verifyEmail", {"output": {"userId": "u"}}),
        ("NAME_CHANGED", {"name": "Ada"}), ("PROFILE_SUBMITTED", {}),
        ("xstate.done.actor.updateProfile", {"output": {}}),
        ("PLAN_SELECTED", {"planId": "plan_pro", "idempotencyKey": "idem-1"}),
    ]:
        session.send(event, payload)
    child = session.describe(actor="checkout")
    assert child["context"]["planId"] == "plan_pro"
    session.send("PAYMENT_METHOD_ENTERED", {"paymentMethodId": "pm_1"}, actor="checkout")
    session.send("PAYMENT_SUBMITTED", {}, actor="checkout")
    session.send("xstate.error.actor.confirmPayment", {"error": {"code": "failed_precondition"}},
                 actor="checkout")
    assert session.describe()["configuration"] == ["failure", "payment_declined"]


def test_without_the_projects_flows_invokes_run_no_child(flows: dict[str, Chart]) -> None:
    session = Session(flows["course_builder"])
    session.send("COURSE_BUILDER_CANCELLED")
    assert session.actors() == []


def _field(**kw: Any) -> DataField:
    return DataField(name="f", type=kw.pop("type", "string"), **kw)


def test_the_default_value_is_the_first_example_that_is_not_empty() -> None:
    assert default_value(_field(default="", examples=("", "gen-2"))) == "gen-2"
    assert default_value(_field(examples=("Intro to Go", ""))) == "Intro to Go"
    assert default_value(_field(examples=("",))) == ""
    assert default_value(_field(type="integer")) == 0
    assert default_value(_field(nullable=True)) is None
    assert default_value(_field(type="string[]", examples=((), ("a",)))) == ["a"]


def test_one_default_payload_for_retry_in_the_course_builder(flows: dict[str, Chart]) -> None:
    assert default_payload(flows["course_builder"], "RETRY") == {"generationKey": "gen-2"}
    assert default_payload(flows["course_builder"], "xstate.error.actor.createCourse") == {
        "error": {"code": "invalid_argument"}}
