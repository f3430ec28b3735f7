"""The reader: each shipped flow reads into the chart it declares, and flows the reader
cannot honour are refused with a message naming the class and the state."""

from __future__ import annotations

from typing import Any

import pytest
from statemachine import StateChart

from flowcheck.chart.model import ABANDONED, FAILURE, SUCCESS, Assign, SendParent, Track
from flowcheck.declare import Flow, State, read_chart
from flowcheck.errors import FlowcheckError
from flowcheck.project import Machine

# -- the shipped flows -------------------------------------------------------------------


def _invokes(machine: Machine) -> dict[str, tuple[str, str, str]]:
    return {i.id: (s.id, i.kind, i.src) for s, i in machine.chart.invokes()}


def test_checkout_chart(machines: dict[str, Machine]) -> None:
    chart = machines["checkout"].chart
    assert chart.id == "checkout"
    assert chart.initial == "paymentDetails"
    assert [s.id for s in chart.states] == [
        "paymentDetails", "submittingPayment", "requiresAction", "completed", "cancelled",
        "failure", "network_error", "payment_declined",
    ]
    assert {e.name for e in chart.events} == {
        "PAYMENT_METHOD_ENTERED", "PAYMENT_SUBMITTED", "CHECKOUT_CANCELLED",
        "PAYMENT_ACTION_COMPLETED", "PAYMENT_ACTION_FAILED", "RETRY", "PAYMENT_RETRIED",
        "PAYMENT_METHOD_CHANGED",
    }
    assert chart.tagged(FAILURE) == ["network_error", "payment_declined"]
    assert chart.tagged(SUCCESS) == ["completed"]
    assert _invokes(machines["checkout"]) == {
        "confirmPayment": ("submittingPayment", "rpc", "mirai.v1.BillingService/ConfirmPayment"),
    }


def test_generation_chart(machines: dict[str, Machine]) -> None:
    chart = machines["generation"].chart
    assert chart.id == "generation"
    assert chart.initial == "enqueuing"
    assert [s.id for s in chart.states] == [
        "enqueuing", "waiting", "polling", "cancelling", "succeeded", "cancelled",
        "failure", "network_error", "generation_failed", "timed_out", "cancel_failed",
    ]
    assert {e.name for e in chart.events} == {"GENERATION_CANCELLED", "RETRY"}
    assert chart.tagged(FAILURE) == [
        "network_error", "generation_failed", "timed_out", "cancel_failed",
    ]
    assert chart.tagged(ABANDONED) == ["cancelling", "cancelled", "cancel_failed"]
    assert chart.tagged(SUCCESS) == ["succeeded"]
    assert chart.delays() == ["POLL_INTERVAL"]
    assert _invokes(machines["generation"]) == {
        "startGeneration": ("enqueuing", "rpc", "mirai.v1.GenerationService/StartGeneration"),
        "getGenerationJob": ("polling", "rpc", "mirai.v1.GenerationService/GetGenerationJob"),
        "cancelGeneration": (
            "cancelling", "rpc", "mirai.v1.GenerationService/CancelGeneration"
        ),
    }


def test_generation_poll_interval_is_an_xstate_after_event(machines: dict[str, Machine]) -> None:
    waiting = machines["generation"].chart.state("waiting")
    assert [(t.event, t.delay, t.targets) for t in waiting.transitions if t.delay] == [
        ("xstate.after.POLL_INTERVAL.waiting", "POLL_INTERVAL", ("polling",)),
    ]


def test_course_builder_chart(machines: dict[str, Machine]) -> None:
    chart = machines["course_builder"].chart
    assert chart.id == "courseBuilder"
    assert chart.initial == "basics"
    assert [s.id for s in chart.states] == [
        "basics", "creatingCourse", "selectingSmes", "selectingAudiences", "savingTargeting",
        "generatingOutline", "reviewingOutline", "generatingLessons", "editor", "preview",
        "publishing", "published", "cancelled",
        "failure", "network_error", "validation_error", "generation_failed", "permission_denied",
    ]
    assert {e.name for e in chart.events} == {
        "TITLE_CHANGED", "DESIRED_OUTCOME_CHANGED", "BASICS_SUBMITTED",
        "SME_SELECTED", "SME_DESELECTED", "SMES_CONFIRMED",
        "AUDIENCE_SELECTED", "AUDIENCE_DESELECTED", "AUDIENCES_CONFIRMED",
        "OUTLINE_APPROVED", "OUTLINE_REGENERATION_REQUESTED",
        "PREVIEW_OPENED", "PREVIEW_CLOSED", "PUBLISH_REQUESTED",
        "AI_GENERATION_FAILED",
        "BACK", "RETRY", "EDIT", "SIGNED_IN_AGAIN", "COURSE_BUILDER_CANCELLED",
    }
    assert chart.tagged(FAILURE) == [
        "network_error", "validation_error", "generation_failed", "permission_denied",
    ]
    assert chart.tagged(SUCCESS) == ["published"]
    assert _invokes(machines["course_builder"]) == {
        "createCourse": ("creatingCourse", "rpc", "mirai.v1.CourseService/CreateCourse"),
        "setCourseTargeting": (
            "savingTargeting", "rpc", "mirai.v1.CourseService/SetCourseTargeting"
        ),
        "generateOutline": ("generatingOutline", "flow", "generation"),
        "generateLessons": ("generatingLessons", "flow", "generation"),
        "publishCourse": ("publishing", "rpc", "mirai.v1.CourseService/PublishCourse"),
    }


def test_course_builder_context_is_flow_data(machines: dict[str, Machine]) -> None:
    fields = [f.name for f in machines["course_builder"].chart.context]
    assert fields == [
        "courseId", "title", "desiredOutcome", "selectedSmeIds", "selectedAudienceIds",
        "outlineJobId", "lessonJobId", "generationKey", "failedStep", "error",
    ]


def test_course_builder_passes_the_generation_input(machines: dict[str, Machine]) -> None:
    chart = machines["course_builder"].chart
    outline = chart.state("generatingOutline").invokes[0]
    assert [k for k, _ in outline.input] == ["courseId", "kind", "idempotencyKey"]
    assert dict(outline.input)["kind"].value == "outline"
    lessons = chart.state("generatingLessons").invokes[0]
    assert dict(lessons.input)["kind"].value == "lessons"


def test_registration_chart(machines: dict[str, Machine]) -> None:
    chart = machines["registration"].chart
    assert chart.id == "registration"
    assert chart.initial == "account"
    assert [s.id for s in chart.states] == [
        "account", "registering", "emailVerification", "verifyingEmail", "resendingCode",
        "profile", "savingProfile", "planSelection", "payingForPlan", "complete",
        "failure", "network_error", "email_taken", "code_invalid", "code_expired",
        "payment_declined",
    ]
    assert {e.name for e in chart.events} == {
        "EMAIL_CHANGED", "PASSWORD_CHANGED", "ACCOUNT_SUBMITTED", "EMAIL_EDIT_REQUESTED",
        "CODE_ENTERED", "CODE_SUBMITTED", "RESEND_CODE_REQUESTED",
        "NAME_CHANGED", "ORGANIZATION_CHANGED", "PROFILE_SUBMITTED",
        "PLAN_SELECTED", "PAYMENT_DECLINED", "PAYMENT_RETRIED", "PLAN_CHANGE_REQUESTED",
        "RETRY",
    }
    assert chart.tagged(FAILURE) == [
        "network_error", "email_taken", "code_invalid", "code_expired", "payment_declined",
    ]
    assert chart.tagged(SUCCESS) == ["complete"]
    assert _invokes(machines["registration"]) == {
        "register": ("registering", "rpc", "mirai.v1.AuthService/Register"),
        "verifyEmail": ("verifyingEmail", "rpc", "mirai.v1.AuthService/VerifyEmail"),
        "resendVerificationCode": (
            "resendingCode", "rpc", "mirai.v1.AuthService/ResendVerificationCode"
        ),
        "updateProfile": ("savingProfile", "rpc", "mirai.v1.UserService/UpdateProfile"),
        "checkout": ("payingForPlan", "flow", "checkout"),
    }


def test_plan_selected_payload_domain_has_a_free_a_paid_and_an_empty_plan(
    machines: dict[str, Machine],
) -> None:
    spec = next(e for e in machines["registration"].chart.events if e.name == "PLAN_SELECTED")
    assert [(f.name, f.examples) for f in spec.payload] == [
        ("planId", ("plan_free", "plan_pro", "")),
        ("idempotencyKey", ("idem-1", "")),
    ]


def test_registration_passes_the_plan_and_its_payment_key_to_checkout(
    machines: dict[str, Machine],
) -> None:
    (invoke,) = machines["registration"].chart.state("payingForPlan").invokes
    assert {k: v.path for k, v in invoke.input} == {
        "planId": "context.planId", "idempotencyKey": "context.idempotencyKey",
    }


def test_checkout_tells_its_parent_of_a_decline(machines: dict[str, Machine]) -> None:
    chart = machines["checkout"].chart
    sent = {
        s.id: [a.event for a in s.entry if isinstance(a, SendParent)] for s in chart.states
    }
    assert {k: v for k, v in sent.items() if v} == {"payment_declined": ["PAYMENT_DECLINED"]}


@pytest.mark.parametrize("name", ["checkout", "course_builder", "generation", "registration"])
def test_every_state_tracks_its_entry_and_exit(machines: dict[str, Machine], name: str) -> None:
    chart = machines[name].chart
    for state in chart.states:
        entered = [a for a in state.entry if isinstance(a, Track) and a.event == "STATE_ENTERED"]
        assert entered, state.id
        if state.kind == "final" and state.parent is None:
            continue  # the machine stops there: nothing runs after entering it
        exited = [a for a in state.exit if isinstance(a, Track) and a.event == "STATE_EXITED"]
        assert exited, state.id


@pytest.mark.parametrize("name", ["checkout", "course_builder", "generation", "registration"])
def test_every_invoke_has_done_and_error_transitions(
    machines: dict[str, Machine], name: str
) -> None:
    chart = machines[name].chart
    for state, invoke in chart.invokes():
        events = {t.event for t in state.transitions}
        assert f"xstate.done.actor.{invoke.id}" in events, invoke.id
        assert f"xstate.error.actor.{invoke.id}" in events, invoke.id
        errors = [t for t in state.transitions if t.event == f"xstate.error.actor.{invoke.id}"]
        assert errors[-1].guard is None, f"{invoke.id}: the last error route must be a fallback"


def test_assign_reads_the_declared_payload_field(machines: dict[str, Machine]) -> None:
    basics = machines["course_builder"].chart.state("basics")
    title = next(t for t in basics.transitions if t.event == "TITLE_CHANGED")
    assert title.targets == ()
    (action,) = title.actions
    assert isinstance(action, Assign)
    assert [(k, str(v)) for k, v in action.updates] == [("title", "event.title")]


# -- flows the reader refuses ------------------------------------------------------------


def _refused(cls: type[Any]) -> str:
    with pytest.raises(FlowcheckError) as info:
        read_chart(cls)
    return str(info.value)


def test_duplicate_state_ids_are_refused() -> None:
    class TwoSteps(Flow):
        flow_id = "twoSteps"
        start = State(initial=True)

        class first(State.Compound):
            editing = State(initial=True)

        class second(State.Compound):
            editing = State(initial=True)

        GO = start.to(first)
        NEXT = first.to(second)

    message = _refused(TwoSteps)
    assert message.startswith("TwoSteps:")
    assert "'editing' is declared twice" in message
    assert "inside 'first'" in message and "inside 'second'" in message


def test_a_compound_without_initial_child_is_refused() -> None:
    class NoInitial(Flow):
        flow_id = "noInitial"
        start = State(initial=True)

        class form(State.Compound):
            name = State()
            email = State()
            NEXT = name.to(email)

        GO = start.to(form)

    message = _refused(NoInitial)
    assert message.startswith("NoInitial:")
    assert "compound state 'form' has no initial state" in message


def test_a_chart_without_initial_state_is_refused() -> None:
    class NoStart(Flow):
        flow_id = "noStart"
        start = State()
        end = State(final=True)
        GO = start.to(end)

    assert "the chart has no initial state" in _refused(NoStart)


def test_a_guard_that_is_not_declarative_is_refused() -> None:
    def ready(**_: Any) -> bool:
        return True

    class PlainGuard(Flow):
        flow_id = "plainGuard"
        start = State(initial=True)
        end = State(final=True)
        GO = start.to(end, cond=ready)

    message = _refused(PlainGuard)
    assert message.startswith("PlainGuard:")
    assert "guard 'ready' on GO from 'start' is not declarative" in message


def test_a_naming_convention_callback_is_refused() -> None:
    class Conventional(Flow):
        flow_id = "conventional"
        start = State(initial=True)
        end = State(final=True)
        GO = start.to(end)

        def on_enter_end(self) -> None:
            pass

    message = _refused(Conventional)
    assert message.startswith("Conventional:")
    assert "on_enter_end()" in message


def test_a_final_state_with_an_outgoing_transition_is_refused() -> None:
    class Reopened(Flow):
        flow_id = "reopened"
        start = State(initial=True)

        class form(State.Compound):
            editing = State(initial=True)
            saved = State(final=True)
            SAVE = editing.to(saved)
            EDIT = saved.to(editing)

        GO = start.to(form)

    message = _refused(Reopened)
    assert message.startswith("Reopened:")
    assert "final state 'saved' has an outgoing transition (EDIT)" in message


def test_a_class_that_is_not_a_flow_is_refused() -> None:
    class Bare(StateChart):  # type: ignore[type-arg,misc,unused-ignore]
        start = State(initial=True)
        end = State(final=True)
        GO = start.to(end)

    message = _refused(Bare)
    assert message.startswith("Bare is not a flowcheck Flow")


def test_every_shipped_flow_declares_its_output_from_the_context(
    machines: dict[str, Machine],
) -> None:
    outputs = {
        name: {k: str(v) for k, v in m.chart.output} for name, m in machines.items()
    }
    assert outputs == {
        "checkout": {"paymentId": "context.paymentId"},
        "course_builder": {"courseId": "context.courseId"},
        "generation": {"jobId": "context.jobId", "outcome": "context.outcome"},
        "registration": {"userId": "context.userId", "planId": "context.planId"},
    }


def test_an_output_that_reads_no_context_field_is_refused() -> None:
    from pydantic import BaseModel

    from flowcheck.declare import ctx, ev

    class JobContext(BaseModel):
        jobId: str = ""

    class EventOutput(Flow):
        flow_id = "eventOutput"
        Context = JobContext
        output = {"jobId": ev("jobId")}  # noqa: RUF012
        start = State(initial=True)
        end = State(final=True)
        GO = start.to(end)

    class TypoOutput(Flow):
        flow_id = "typoOutput"
        Context = JobContext
        output = {"jobId": ctx("jobID")}  # noqa: RUF012
        start = State(initial=True)
        end = State(final=True)
        GO = start.to(end)

    assert "output 'jobId' reads 'event.jobId', which is not a context field" in _refused(
        EventOutput
    )
    message = _refused(TypoOutput)
    assert "reads 'context.jobID'" in message
    assert "(fields: jobId)" in message
