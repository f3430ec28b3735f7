"""The Stepper on hand-checked traces (XState v5 semantics), then each shipped flow's happy
path and every failure with its recovery.

Traces are written as XState would log them: ``+s`` / ``-s`` for the entry / exit of
state ``s`` (the default telemetry), other actions by name.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowcheck.chart.expr import evaluate
from flowcheck.chart.model import Assign, Custom, Raise, SendParent, Track
from flowcheck.declare import (
    Flow,
    HistoryState,
    State,
    custom,
    raise_,
    read_chart,
)
from flowcheck.project import Machine
from flowcheck.semantics import Executed, Stepper

# -- a small driver ---------------------------------------------------------------------


def _label(x: Executed) -> str | None:
    a = x.action
    if isinstance(a, Track):
        props = x.properties or {}
        if a.event == "STATE_ENTERED":
            return f"+{props['state']}"
        if a.event == "STATE_EXITED":
            return f"-{props['state']}"
        return None if a.event.startswith("FLOW_") else a.event
    if isinstance(a, Raise):
        return f"raise {a.event}"
    if isinstance(a, Assign | Custom):
        return a.name
    return None


class Run:
    """One run of a chart: send events, read the configuration, the context and the trace."""

    def __init__(self, cls: type[Flow] | None = None, machine: Machine | None = None) -> None:
        if machine is not None:
            chart = machine.chart
        else:
            assert cls is not None
            chart = read_chart(cls)
        self.chart = chart
        self.stepper = Stepper(chart)
        self.snap, executed = self.stepper.initial()
        self.trace = self._labels(executed)
        self.executed = executed

    @staticmethod
    def _labels(executed: list[Executed]) -> list[str]:
        return [label for x in executed if (label := _label(x)) is not None]

    def send(self, event: str, **payload: Any) -> list[str]:
        self.snap, self.executed = self.stepper.step(self.snap, event, payload)
        self.trace = self._labels(self.executed)
        return self.config

    @property
    def config(self) -> list[str]:
        return self.stepper.active_ids(self.snap)

    @property
    def value(self) -> Any:
        return self.stepper.value(self.snap)

    @property
    def context(self) -> dict[str, Any]:
        return self.stepper.context_dict(self.snap.context)

    @property
    def done(self) -> bool:
        return self.stepper.is_done(self.snap)

    def tracked(self, event: str) -> list[dict[str, Any]]:
        return [
            x.properties or {} for x in self.executed
            if isinstance(x.action, Track) and x.action.event == event
        ]


def done(invoke_id: str) -> str:
    return f"xstate.done.actor.{invoke_id}"


def error(invoke_id: str) -> str:
    return f"xstate.error.actor.{invoke_id}"


# -- compound states ---------------------------------------------------------------------


class Wizard(Flow):
    flow_id = "wizard"
    intro = State(initial=True)

    class form(State.Compound):
        name = State(initial=True)
        email = State()
        NEXT = name.to(email)

    outro = State()
    GO = intro.to(form)
    LEAVE = form.to(outro)


def test_entering_a_compound_enters_its_initial_child_parent_first() -> None:
    run = Run(Wizard)
    assert run.send("GO") == ["form", "name"]
    assert run.trace == ["-intro", "+form", "+name"]
    assert run.value == {"form": "name"}


def test_a_transition_of_a_compound_exits_the_active_child_first() -> None:
    run = Run(Wizard)
    run.send("GO")
    run.send("NEXT")
    assert run.send("LEAVE") == ["outro"]
    assert run.trace == ["-email", "-form", "+outro"]


def test_an_unhandled_event_changes_nothing_and_runs_nothing() -> None:
    run = Run(Wizard)
    before = run.snap
    run.send("NEXT")
    assert run.snap == before
    assert run.trace == []


# -- parallel states and done events -----------------------------------------------------


class Upload(Flow):
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


def test_entering_a_parallel_enters_every_region_in_document_order() -> None:
    run = Run(Upload)
    assert run.send("START") == ["both", "video", "sending", "notes", "writing"]
    assert run.trace == ["-idle", "+both", "+video", "+sending", "+notes", "+writing"]
    assert run.value == {"both": {"video": "sending", "notes": "writing"}}


def test_a_parallel_is_done_only_when_every_region_is_final() -> None:
    run = Run(Upload)
    run.send("START")
    assert run.send("VIDEO_SENT") == ["both", "video", "sent", "notes", "writing"]
    assert run.trace == ["-sending", "+sent"]
    assert run.send("NOTES_WRITTEN") == ["finished"]
    assert run.trace == [
        "-writing", "+written",
        "-written", "-notes", "-sent", "-video", "-both", "+finished",
    ]
    assert run.done


# -- history -----------------------------------------------------------------------------


class Editor(Flow):
    flow_id = "editor"

    class doc(State.Compound):
        class text(State.Compound, initial=True):
            plain = State(initial=True)
            bold = State()
            BOLD = plain.to(bold)

        image = State()
        shallow = HistoryState()
        deep = HistoryState(type="deep")
        IMAGE = text.to(image)

    help = State(initial=True)
    OPEN = help.to(doc)
    HELP = doc.to(help)
    BACK_SHALLOW = help.to(doc.shallow)
    BACK_DEEP = help.to(doc.deep)


def _edited() -> Run:
    run = Run(Editor)
    run.send("OPEN")
    run.send("BOLD")
    run.send("HELP")
    return run


def test_shallow_history_restores_the_child_with_its_default_descendants() -> None:
    run = _edited()
    assert run.send("BACK_SHALLOW") == ["doc", "text", "plain"]
    assert run.trace == ["-help", "+doc", "+text", "+plain"]


def test_deep_history_restores_the_atomic_descendants() -> None:
    run = _edited()
    assert run.send("BACK_DEEP") == ["doc", "text", "bold"]
    assert run.trace == ["-help", "+doc", "+text", "+bold"]


def test_history_without_a_record_enters_the_parents_initial_child() -> None:
    run = Run(Editor)
    assert run.send("BACK_DEEP") == ["doc", "text", "plain"]


# -- eventless transitions and raised events --------------------------------------------


class Chain(Flow):
    flow_id = "chain"
    a = State(initial=True)
    b = State()
    c = State()
    d = State()
    GO = a.to(b)
    b.to(c)
    c.to(d)


def test_eventless_transitions_run_to_a_fixed_point_in_one_step() -> None:
    run = Run(Chain)
    assert run.send("GO") == ["d"]
    assert run.trace == ["-a", "+b", "-b", "+c", "-c", "+d"]


class Raising(Flow):
    flow_id = "raising"
    a = State(initial=True)
    b = State(enter=raise_("R2"))
    c = State()
    d = State()
    e = State()
    GO = a.to(b, on=raise_("R1"))
    b.to(c)
    R1 = c.to(d)
    R2 = d.to(e)


def test_raised_events_queue_behind_eventless_transitions() -> None:
    run = Run(Raising)
    assert run.send("GO") == ["e"]
    assert run.trace == [
        "-a", "raise R1", "+b", "raise R2", "-b", "+c", "-c", "+d", "-d", "+e",
    ]


# -- reenter -----------------------------------------------------------------------------


class Selfish(Flow):
    flow_id = "selfish"
    page = State(initial=True)
    RELOAD = page.to(page, on=custom("reload"))
    NOTE = page.to(None, on=custom("note"))


def test_an_external_self_transition_exits_and_reenters() -> None:
    run = Run(Selfish)
    assert run.send("RELOAD") == ["page"]
    assert run.trace == ["-page", "reload", "+page"]


def test_a_targetless_transition_runs_only_its_actions() -> None:
    run = Run(Selfish)
    assert run.send("NOTE") == ["page"]
    assert run.trace == ["note"]


# -- the shipped flows -------------------------------------------------------------------


@pytest.fixture
def course(machines: dict[str, Machine]) -> Run:
    return Run(machine=machines["course_builder"])


def _to_selecting_smes(run: Run) -> None:
    run.send("TITLE_CHANGED", title="Intro to Go")
    run.send("DESIRED_OUTCOME_CHANGED", desiredOutcome="Write a CLI tool")
    assert run.send("BASICS_SUBMITTED") == ["creatingCourse"]
    assert run.send(done("createCourse"), output={"courseId": "course_1"}) == ["selectingSmes"]


def _to_generating_outline(run: Run) -> None:
    _to_selecting_smes(run)
    run.send("SME_SELECTED", smeId="sme_1")
    assert run.send("SMES_CONFIRMED") == ["selectingAudiences"]
    run.send("AUDIENCE_SELECTED", audienceId="aud_1")
    assert run.send("AUDIENCES_CONFIRMED", generationKey="gen-1") == ["savingTargeting"]
    assert run.send(done("setCourseTargeting"), output={"courseId": "course_1"}) == [
        "generatingOutline"
    ]


def _to_generating_lessons(run: Run) -> None:
    _to_generating_outline(run)
    assert run.send(done("generateOutline"), output={"jobId": "job_1"}) == ["reviewingOutline"]
    assert run.send("OUTLINE_APPROVED", generationKey="gen-3") == ["generatingLessons"]


def test_course_builder_happy_path_publishes(course: Run) -> None:
    assert course.config == ["basics"]
    _to_generating_lessons(course)
    assert course.send(done("generateLessons"), output={"jobId": "job_2"}) == ["editor"]
    assert course.send("PREVIEW_OPENED") == ["preview"]
    assert course.send("PREVIEW_CLOSED") == ["editor"]
    course.send("PREVIEW_OPENED")
    assert course.send("PUBLISH_REQUESTED") == ["publishing"]
    assert course.send(done("publishCourse"), output={"courseId": "course_1"}) == ["published"]
    assert course.done
    assert course.tracked("FLOW_COMPLETED") == [{"flow": "courseBuilder", "state": "published"}]
    assert course.context == {
        "courseId": "course_1", "title": "Intro to Go", "desiredOutcome": "Write a CLI tool",
        "selectedSmeIds": ["sme_1"], "selectedAudienceIds": ["aud_1"],
        "outlineJobId": "job_1", "lessonJobId": "job_2", "generationKey": "gen-3",
        "failedStep": "", "error": None,
    }


def test_course_builder_basics_need_title_and_outcome(course: Run) -> None:
    course.send("TITLE_CHANGED", title="Intro to Go")
    assert course.send("BASICS_SUBMITTED") == ["basics"]


def test_course_builder_confirming_needs_a_selection(course: Run) -> None:
    _to_selecting_smes(course)
    course.send("SME_SELECTED", smeId="")
    assert course.send("SMES_CONFIRMED") == ["selectingSmes"]
    course.send("SME_SELECTED", smeId="sme_1")
    course.send("SME_DESELECTED", smeId="sme_1")
    assert course.send("SMES_CONFIRMED") == ["selectingSmes"]


def test_course_builder_back_keeps_entered_data_and_does_not_create_twice(course: Run) -> None:
    _to_selecting_smes(course)
    course.send("SME_SELECTED", smeId="sme_1")
    course.send("SMES_CONFIRMED")
    course.send("AUDIENCE_SELECTED", audienceId="aud_1")
    assert course.send("BACK") == ["selectingSmes"]
    assert course.send("BACK") == ["basics"]
    assert course.context["selectedSmeIds"] == ["sme_1"]
    assert course.context["selectedAudienceIds"] == ["aud_1"]
    assert course.context["title"] == "Intro to Go"
    assert course.send("BASICS_SUBMITTED") == ["selectingSmes"]


@pytest.mark.parametrize(
    ("invoke", "code", "failure_state", "recovery", "payload"),
    [
        ("createCourse", "unavailable", "network_error", "RETRY", {}),
        ("createCourse", "permission_denied", "permission_denied", "SIGNED_IN_AGAIN", {}),
    ],
)
def test_course_builder_creating_failures_retry_the_call(
    course: Run, invoke: str, code: str, failure_state: str, recovery: str,
    payload: dict[str, Any],
) -> None:
    course.send("TITLE_CHANGED", title="Intro to Go")
    course.send("DESIRED_OUTCOME_CHANGED", desiredOutcome="Write a CLI tool")
    course.send("BASICS_SUBMITTED")
    assert course.send(error(invoke), error={"code": code}) == ["failure", failure_state]
    assert course.context["failedStep"] == "creatingCourse"
    assert course.tracked("FLOW_FAILED") == [{"flow": "courseBuilder", "state": failure_state}]
    assert course.send(recovery, **payload) == ["creatingCourse"]
    assert course.context["error"] is None


def test_course_builder_validation_error_edits_the_basics_with_data_kept(course: Run) -> None:
    course.send("TITLE_CHANGED", title="Intro to Go")
    course.send("DESIRED_OUTCOME_CHANGED", desiredOutcome="Write a CLI tool")
    course.send("BASICS_SUBMITTED")
    assert course.send(error("createCourse"), error={"code": "invalid_argument"}) == [
        "failure", "validation_error",
    ]
    assert course.send("RETRY") == ["failure", "validation_error"]
    assert course.send("EDIT") == ["basics"]
    assert course.context["title"] == "Intro to Go"
    assert course.send("BASICS_SUBMITTED") == ["creatingCourse"]


@pytest.mark.parametrize(
    ("code", "failure_state", "recovery"),
    [("unavailable", "network_error", "RETRY"),
     ("permission_denied", "permission_denied", "SIGNED_IN_AGAIN")],
)
def test_course_builder_targeting_failures_retry_saving(
    course: Run, code: str, failure_state: str, recovery: str
) -> None:
    _to_selecting_smes(course)
    course.send("SME_SELECTED", smeId="sme_1")
    course.send("SMES_CONFIRMED")
    course.send("AUDIENCE_SELECTED", audienceId="aud_1")
    course.send("AUDIENCES_CONFIRMED", generationKey="gen-1")
    assert course.send(error("setCourseTargeting"), error={"code": code}) == [
        "failure", failure_state,
    ]
    assert course.send(recovery) == ["savingTargeting"]


def test_course_builder_outline_generation_failure_regenerates(course: Run) -> None:
    _to_generating_outline(course)
    # the generation child sends AI_GENERATION_FAILED when its job failed
    assert course.send("AI_GENERATION_FAILED") == ["failure", "generation_failed"]
    assert course.tracked("AI_GENERATION_FAILED") == [
        {"courseId": "course_1", "failedStep": "generatingOutline"}
    ]
    assert course.send("RETRY") == ["failure", "generation_failed"]  # no fresh key: ignored
    assert course.send("RETRY", generationKey="gen-2") == ["generatingOutline"]
    assert course.context["generationKey"] == "gen-2"


def test_course_builder_lesson_generation_failure_regenerates_lessons(course: Run) -> None:
    _to_generating_lessons(course)
    course.send("AI_GENERATION_FAILED")
    assert course.config == ["failure", "generation_failed"]
    assert course.context["failedStep"] == "generatingLessons"
    assert course.send("RETRY", generationKey="gen-2") == ["generatingLessons"]


@pytest.mark.parametrize("code", ["unknown", "permission_denied"])
def test_course_builder_a_crashed_generation_child_is_a_network_error_retried_with_its_key(
    course: Run, code: str
) -> None:
    _to_generating_lessons(course)
    assert course.send(error("generateLessons"), error={"code": code}) == [
        "failure", "network_error",
    ]
    assert course.send("RETRY") == ["generatingLessons"]
    assert course.context["generationKey"] == "gen-3"  # same job resumes


def test_course_builder_a_cancelled_first_outline_goes_back_to_the_audiences(
    course: Run,
) -> None:
    _to_generating_outline(course)
    assert course.send(
        done("generateOutline"), output={"jobId": "job_1", "outcome": "cancelled"}
    ) == ["selectingAudiences"]
    assert course.context["outlineJobId"] == ""


def test_course_builder_a_cancelled_regeneration_keeps_the_previous_outline(
    course: Run,
) -> None:
    _to_generating_outline(course)
    course.send(done("generateOutline"), output={"jobId": "job_1", "outcome": "succeeded"})
    course.send("OUTLINE_REGENERATION_REQUESTED", generationKey="gen-2")
    assert course.send(
        done("generateOutline"), output={"jobId": "job_2", "outcome": "cancelled"}
    ) == ["reviewingOutline"]
    assert course.context["outlineJobId"] == "job_1"


def test_course_builder_cancelled_lessons_go_back_to_the_outline(course: Run) -> None:
    _to_generating_lessons(course)
    assert course.send(
        done("generateLessons"), output={"jobId": "job_2", "outcome": "cancelled"}
    ) == ["reviewingOutline"]
    assert course.context["lessonJobId"] == ""


def test_course_builder_outline_regeneration_and_back(course: Run) -> None:
    _to_generating_outline(course)
    course.send(done("generateOutline"), output={"jobId": "job_1"})
    assert course.send("OUTLINE_REGENERATION_REQUESTED", generationKey="gen-2") == [
        "generatingOutline"
    ]
    course.send(done("generateOutline"), output={"jobId": "job_1"})
    assert course.send("BACK") == ["selectingAudiences"]


@pytest.mark.parametrize(
    ("code", "failure_state", "recovery"),
    [("unavailable", "network_error", "RETRY"),
     ("permission_denied", "permission_denied", "SIGNED_IN_AGAIN")],
)
def test_course_builder_publishing_failures_publish_again(
    course: Run, code: str, failure_state: str, recovery: str
) -> None:
    _to_generating_lessons(course)
    course.send(done("generateLessons"), output={"jobId": "job_2"})
    course.send("PREVIEW_OPENED")
    course.send("PUBLISH_REQUESTED")
    assert course.send(error("publishCourse"), error={"code": code}) == ["failure", failure_state]
    assert course.send(recovery) == ["publishing"]
    assert course.send(done("publishCourse"), output={}) == ["published"]


def test_course_builder_cancel_from_a_failure_abandons(course: Run) -> None:
    _to_generating_outline(course)
    course.send(error("generateOutline"), error={"code": "unavailable"})
    assert course.send("COURSE_BUILDER_CANCELLED") == ["cancelled"]
    assert course.tracked("FLOW_ABANDONED") == [{"flow": "courseBuilder", "state": "cancelled"}]
    assert course.done


# generation


@pytest.fixture
def generation(machines: dict[str, Machine]) -> Run:
    return Run(machine=machines["generation"])


POLL = "xstate.after.POLL_INTERVAL.waiting"
RUNNING = {"output": {"jobId": "job_1", "status": "running"}}


def test_generation_happy_path_polls_until_succeeded(generation: Run) -> None:
    assert generation.config == ["enqueuing"]
    assert generation.send(done("startGeneration"), output={"jobId": "job_1"}) == ["waiting"]
    assert generation.send(POLL) == ["polling"]
    assert generation.send(done("getGenerationJob"), **RUNNING) == ["waiting"]
    assert generation.context["polls"] == 1
    generation.send(POLL)
    assert generation.send(
        done("getGenerationJob"), output={"jobId": "job_1", "status": "succeeded"}
    ) == ["succeeded"]
    assert generation.done


def test_generation_outputs_its_job_id_once_done_and_nothing_before(generation: Run) -> None:
    generation.send(done("startGeneration"), output={"jobId": "job_7"})
    assert generation.stepper.output(generation.snap) is None
    generation.send(POLL)
    generation.send(done("getGenerationJob"), output={"jobId": "job_7", "status": "succeeded"})
    assert generation.stepper.output(generation.snap) == {"jobId": "job_7", "outcome": "succeeded"}


@pytest.mark.parametrize("job_known", [False, True], ids=["before-the-job", "job-running"])
def test_generation_cancelled_outputs_a_cancelled_outcome(generation: Run, job_known: bool) -> None:
    if job_known:
        generation.send(done("startGeneration"), output={"jobId": "job_7"})
        generation.send("GENERATION_CANCELLED")
        generation.send(done("cancelGeneration"), output={"jobId": "job_7"})
    else:
        generation.send("GENERATION_CANCELLED")
    assert generation.done
    assert generation.stepper.output(generation.snap) == {
        "jobId": "job_7" if job_known else "", "outcome": "cancelled",
    }


class Quick(Flow):
    flow_id = "quick"
    start = State(initial=True)
    end = State(final=True)
    GO = start.to(end)


def test_a_flow_without_output_is_done_with_none() -> None:
    run = Run(Quick)
    run.send("GO")
    assert run.done
    assert run.stepper.output(run.snap) is None


def test_generation_times_out_after_the_poll_budget_and_resumes(generation: Run) -> None:
    generation.send(done("startGeneration"), output={"jobId": "job_1"})
    for polls in (1, 2):
        generation.send(POLL)
        assert generation.send(done("getGenerationJob"), **RUNNING) == ["waiting"]
        assert generation.context["polls"] == polls
    generation.send(POLL)
    assert generation.send(done("getGenerationJob"), **RUNNING) == ["failure", "timed_out"]
    assert generation.context["polls"] == 3
    assert generation.send("RETRY") == ["polling"]
    assert generation.context["polls"] == 0
    assert generation.context["jobId"] == "job_1"


def test_generation_failed_job_needs_a_new_key(generation: Run) -> None:
    generation.send(done("startGeneration"), output={"jobId": "job_1"})
    generation.send(POLL)
    assert generation.send(
        done("getGenerationJob"),
        output={"jobId": "job_1", "status": "failed", "failureReason": "model_overloaded"},
    ) == ["failure", "generation_failed"]
    assert generation.tracked("AI_GENERATION_FAILED") == [{
        "courseId": "course_1", "kind": "outline", "jobId": "job_1", "error": "model_overloaded",
    }]
    # the parent, if any, is told after the telemetry
    assert generation.executed[-1].action == SendParent(event="AI_GENERATION_FAILED")
    # run standalone, the flow waits for RETRY with a fresh key
    assert generation.send("RETRY", idempotencyKey="") == ["failure", "generation_failed"]
    assert generation.send("RETRY", idempotencyKey="gen-2") == ["enqueuing"]
    assert generation.context["idempotencyKey"] == "gen-2"
    assert generation.context["jobId"] == ""


@pytest.mark.parametrize(
    ("prefix", "invoke", "back_to"),
    [
        ([], "startGeneration", "enqueuing"),
        ([(done("startGeneration"), {"output": {"jobId": "job_1"}}), (POLL, {})],
         "getGenerationJob", "polling"),
    ],
)
def test_generation_network_error_retries_where_it_failed(
    generation: Run, prefix: list[tuple[str, dict[str, Any]]], invoke: str, back_to: str
) -> None:
    for event, payload in prefix:
        generation.send(event, **payload)
    assert generation.send(error(invoke), error={"code": "unavailable"}) == [
        "failure", "network_error",
    ]
    assert generation.context["failedStep"] == back_to
    assert generation.send("RETRY") == [back_to]


def test_generation_cancel_stops_a_known_job(generation: Run) -> None:
    generation.send(done("startGeneration"), output={"jobId": "job_1"})
    assert generation.send("GENERATION_CANCELLED") == ["cancelling"]
    assert generation.send(done("cancelGeneration"), output={"jobId": "job_1"}) == ["cancelled"]
    assert generation.tracked("FLOW_ABANDONED") == [{"flow": "generation", "state": "cancelled"}]


def test_generation_failed_cancel_can_only_cancel_again(generation: Run) -> None:
    generation.send(done("startGeneration"), output={"jobId": "job_1"})
    generation.send("GENERATION_CANCELLED")
    assert generation.send(error("cancelGeneration"), error={"code": "unavailable"}) == [
        "failure", "cancel_failed",
    ]
    assert generation.send("RETRY") == ["cancelling"]
    assert generation.send(done("cancelGeneration"), output={"jobId": "job_1"}) == ["cancelled"]


def test_generation_poll_result_routes_are_exclusive(generation: Run) -> None:
    generation.send(done("startGeneration"), output={"jobId": "job_1"})
    generation.send(POLL)
    assert generation.send(
        done("getGenerationJob"), output={"jobId": "job_1", "status": "unspecified"}
    ) == ["waiting"]


def test_generation_cancel_before_a_job_exists_ends_at_once(generation: Run) -> None:
    assert generation.send("GENERATION_CANCELLED") == ["cancelled"]


# registration


@pytest.fixture
def registration(machines: dict[str, Machine]) -> Run:
    return Run(machine=machines["registration"])


def _registered(run: Run) -> None:
    run.send("EMAIL_CHANGED", email="ada@example.com")
    run.send("PASSWORD_CHANGED", password="correct-horse")
    assert run.send("ACCOUNT_SUBMITTED") == ["registering"]
    assert run.send(done("register"), output={"userId": "user_1"}) == ["emailVerification"]


def _to_plan_selection(run: Run) -> None:
    _registered(run)
    run.send("CODE_ENTERED", code="123456")
    assert run.send("CODE_SUBMITTED") == ["verifyingEmail"]
    assert run.send(done("verifyEmail"), output={"userId": "user_1"}) == ["profile"]
    run.send("NAME_CHANGED", name="Ada Lovelace")
    run.send("ORGANIZATION_CHANGED", organization="Mirai")
    assert run.send("PROFILE_SUBMITTED") == ["savingProfile"]
    assert run.send(done("updateProfile"), output={}) == ["planSelection"]


def test_registration_free_plan_completes(registration: Run) -> None:
    _to_plan_selection(registration)
    assert registration.send("PLAN_SELECTED", planId="") == ["planSelection"]
    assert registration.send("PLAN_SELECTED", planId="plan_free") == ["complete"]
    assert registration.tracked("REGISTRATION_COMPLETED") == [
        {"userId": "user_1", "planId": "plan_free"}
    ]
    assert registration.done


def _checkout_input(run: Run) -> dict[str, Any]:
    """What the checkout child started in payingForPlan receives as its input."""
    (invoke,) = run.chart.state("payingForPlan").invokes
    return {k: evaluate(v, run.context, {}) for k, v in invoke.input}


def test_registration_paid_plan_goes_through_checkout(registration: Run) -> None:
    _to_plan_selection(registration)
    assert registration.send("PLAN_SELECTED", planId="plan_pro", idempotencyKey="idem-1") == [
        "payingForPlan",
    ]
    assert _checkout_input(registration) == {"planId": "plan_pro", "idempotencyKey": "idem-1"}
    assert registration.send(done("checkout"), output={"paymentId": "pay_1"}) == ["complete"]
    assert registration.context["planId"] == "plan_pro"


def test_registration_paid_plan_needs_a_payment_key(registration: Run) -> None:
    _to_plan_selection(registration)
    assert registration.send("PLAN_SELECTED", planId="plan_pro", idempotencyKey="") == [
        "planSelection",
    ]


def test_registration_checkout_left_without_payment_returns_to_plans(
    registration: Run,
) -> None:
    _at_paying(registration)
    assert registration.send(done("checkout"), output={"paymentId": ""}) == ["planSelection"]


def test_registration_a_crashed_checkout_child_is_a_network_error_retried(
    registration: Run,
) -> None:
    # A decline is sent as PAYMENT_DECLINED; checkout's error outcome means it crashed.
    _at_paying(registration)
    assert registration.send(error("checkout"), error={"code": "unknown"}) == [
        "failure", "network_error",
    ]
    assert registration.send("RETRY") == ["payingForPlan"]
    assert _checkout_input(registration)["idempotencyKey"] == "idem-1"


def test_registration_declined_payment_pays_again_with_a_new_key(registration: Run) -> None:
    _at_paying(registration)
    assert registration.send("PAYMENT_DECLINED") == ["failure", "payment_declined"]
    assert registration.context["error"] == "payment_declined"
    assert registration.tracked("FLOW_FAILED") == [
        {"flow": "registration", "state": "payment_declined"},
    ]
    # the declined payment was processed: a retry without a fresh key is ignored
    assert registration.send("PAYMENT_RETRIED", idempotencyKey="") == [
        "failure", "payment_declined",
    ]
    assert registration.send("PAYMENT_RETRIED", idempotencyKey="idem-2") == ["payingForPlan"]
    assert _checkout_input(registration) == {"planId": "plan_pro", "idempotencyKey": "idem-2"}
    assert registration.context["error"] is None
    assert registration.send(done("checkout"), output={"paymentId": "pay_1"}) == ["complete"]


def test_registration_declined_payment_can_change_the_plan(registration: Run) -> None:
    _at_paying(registration)
    registration.send("PAYMENT_DECLINED")
    assert registration.send("PLAN_CHANGE_REQUESTED") == ["planSelection"]
    assert registration.context["error"] is None
    assert registration.send("PLAN_SELECTED", planId="plan_free") == ["complete"]


def test_registration_hears_a_decline_only_while_checkout_runs(registration: Run) -> None:
    _to_plan_selection(registration)
    assert registration.send("PAYMENT_DECLINED") == ["planSelection"]


def test_registration_email_taken_goes_back_to_account(registration: Run) -> None:
    registration.send("EMAIL_CHANGED", email="ada@example.com")
    registration.send("PASSWORD_CHANGED", password="correct-horse")
    registration.send("ACCOUNT_SUBMITTED")
    assert registration.send(error("register"), error={"code": "already_exists"}) == [
        "failure", "email_taken",
    ]
    assert registration.send("EMAIL_EDIT_REQUESTED") == ["account"]
    assert registration.context["password"] == "correct-horse"


def test_registration_account_needs_email_and_password(registration: Run) -> None:
    registration.send("EMAIL_CHANGED", email="ada@example.com")
    assert registration.send("ACCOUNT_SUBMITTED") == ["account"]


def test_registration_invalid_code_is_entered_again(registration: Run) -> None:
    _registered(registration)
    registration.send("CODE_ENTERED", code="123456")
    registration.send("CODE_SUBMITTED")
    assert registration.send(error("verifyEmail"), error={"code": "invalid_argument"}) == [
        "failure", "code_invalid",
    ]
    assert registration.send("CODE_ENTERED", code="123456") == ["emailVerification"]
    assert registration.send("CODE_SUBMITTED") == ["verifyingEmail"]


def test_registration_expired_code_asks_for_a_new_one(registration: Run) -> None:
    _registered(registration)
    registration.send("CODE_ENTERED", code="123456")
    registration.send("CODE_SUBMITTED")
    assert registration.send(error("verifyEmail"), error={"code": "failed_precondition"}) == [
        "failure", "code_expired",
    ]
    assert registration.send("RESEND_CODE_REQUESTED") == ["resendingCode"]
    assert registration.send(done("resendVerificationCode"), output={}) == ["emailVerification"]
    assert registration.context["code"] == ""


def _at_registering(run: Run) -> None:
    run.send("EMAIL_CHANGED", email="ada@example.com")
    run.send("PASSWORD_CHANGED", password="correct-horse")
    run.send("ACCOUNT_SUBMITTED")


def _at_verifying(run: Run) -> None:
    _registered(run)
    run.send("CODE_ENTERED", code="123456")
    run.send("CODE_SUBMITTED")


def _at_resending(run: Run) -> None:
    _registered(run)
    run.send("RESEND_CODE_REQUESTED")


def _at_saving_profile(run: Run) -> None:
    _at_verifying(run)
    run.send(done("verifyEmail"), output={"userId": "user_1"})
    run.send("NAME_CHANGED", name="Ada Lovelace")
    run.send("PROFILE_SUBMITTED")


def _at_paying(run: Run) -> None:
    _to_plan_selection(run)
    assert run.send("PLAN_SELECTED", planId="plan_pro", idempotencyKey="idem-1") == [
        "payingForPlan",
    ]


@pytest.mark.parametrize(
    ("reach", "invoke", "back_to"),
    [
        (_at_registering, "register", "registering"),
        (_at_verifying, "verifyEmail", "verifyingEmail"),
        (_at_resending, "resendVerificationCode", "resendingCode"),
        (_at_saving_profile, "updateProfile", "savingProfile"),
        (_at_paying, "checkout", "payingForPlan"),
    ],
)
def test_registration_network_error_retries_the_call(
    registration: Run, reach: Any, invoke: str, back_to: str
) -> None:
    reach(registration)
    assert registration.config == [back_to]
    assert registration.send(error(invoke), error={"code": "unavailable"}) == [
        "failure", "network_error",
    ]
    assert registration.context["failedStep"] == back_to
    assert registration.send("RETRY") == [back_to]
    assert registration.context["error"] is None


# checkout


@pytest.fixture
def checkout(machines: dict[str, Machine]) -> Run:
    return Run(machine=machines["checkout"])


def test_checkout_happy_path_with_3d_secure(checkout: Run) -> None:
    checkout.send("PAYMENT_METHOD_ENTERED", paymentMethodId="pm_card_visa")
    assert checkout.send("PAYMENT_SUBMITTED") == ["submittingPayment"]
    assert checkout.send(
        done("confirmPayment"), output={"paymentId": "pay_1", "status": "requires_action"}
    ) == ["requiresAction"]
    assert checkout.send("PAYMENT_ACTION_COMPLETED") == ["completed"]
    assert checkout.tracked("CHECKOUT_COMPLETED") == [{"planId": "plan_pro", "paymentId": "pay_1"}]
    assert checkout.stepper.output(checkout.snap) == {"paymentId": "pay_1"}


def test_checkout_left_during_3d_secure_outputs_no_payment(checkout: Run) -> None:
    # Registration reads a non-empty paymentId as "paid": an abandoned payment must not be.
    checkout.send("PAYMENT_METHOD_ENTERED", paymentMethodId="pm_card_visa")
    checkout.send("PAYMENT_SUBMITTED")
    checkout.send(
        done("confirmPayment"), output={"paymentId": "pay_1", "status": "requires_action"}
    )
    assert checkout.send("CHECKOUT_CANCELLED") == ["cancelled"]
    assert checkout.stepper.output(checkout.snap) == {"paymentId": ""}


def test_checkout_declined_payment_retries_with_a_new_key(checkout: Run) -> None:
    checkout.send("PAYMENT_METHOD_ENTERED", paymentMethodId="pm_card_visa")
    checkout.send("PAYMENT_SUBMITTED")
    assert checkout.send(error("confirmPayment"), error={"code": "failed_precondition"}) == [
        "failure", "payment_declined",
    ]
    # the parent, if any, is told; run standalone, checkout takes the retry itself
    assert checkout.executed[-1].action == SendParent(event="PAYMENT_DECLINED")
    assert checkout.send("PAYMENT_RETRIED", idempotencyKey="idem-2") == ["submittingPayment"]
    assert checkout.context["idempotencyKey"] == "idem-2"


def test_checkout_failed_3d_secure_is_a_decline_told_to_the_parent(checkout: Run) -> None:
    checkout.send("PAYMENT_METHOD_ENTERED", paymentMethodId="pm_card_visa")
    checkout.send("PAYMENT_SUBMITTED")
    checkout.send(
        done("confirmPayment"), output={"paymentId": "pay_1", "status": "requires_action"}
    )
    assert checkout.send("PAYMENT_ACTION_FAILED") == ["failure", "payment_declined"]
    assert checkout.executed[-1].action == SendParent(event="PAYMENT_DECLINED")


def test_checkout_other_failures_tell_the_parent_nothing(checkout: Run) -> None:
    checkout.send("PAYMENT_METHOD_ENTERED", paymentMethodId="pm_card_visa")
    checkout.send("PAYMENT_SUBMITTED")
    checkout.send(error("confirmPayment"), error={"code": "unavailable"})
    assert not any(isinstance(x.action, SendParent) for x in checkout.executed)


def test_checkout_network_error_resubmits_with_the_same_key(checkout: Run) -> None:
    checkout.send("PAYMENT_METHOD_ENTERED", paymentMethodId="pm_card_visa")
    checkout.send("PAYMENT_SUBMITTED")
    assert checkout.send(error("confirmPayment"), error={"code": "unavailable"}) == [
        "failure", "network_error",
    ]
    assert checkout.send("RETRY") == ["submittingPayment"]
    assert checkout.context["idempotencyKey"] == "idem-1"
