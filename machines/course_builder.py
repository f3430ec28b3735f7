"""Course builder: the course creation wizard (XState id ``courseBuilder``).

For designers. The author names the course and its desired outcome, picks the
subject-matter experts (SMEs) and the audiences, lets the AI generate an
outline, reviews it, lets the AI generate the lessons, then edits, previews and
publishes the course.

    basics --BASICS_SUBMITTED--> creatingCourse --> selectingSmes --SMES_CONFIRMED-->
    selectingAudiences --AUDIENCES_CONFIRMED--> savingTargeting --> generatingOutline -->
    reviewingOutline --OUTLINE_APPROVED--> generatingLessons --> editor --PREVIEW_OPENED-->
    preview --PUBLISH_REQUESTED--> publishing --> published

The two generating steps run the ``generation`` flow as a child. While it runs,
the author talks to the child (its screen, its RETRY after a network error, its
GENERATION_CANCELLED); this flow hears from it when it ends and when its job
fails. A finished child's job id lands in ``outlineJobId`` / ``lessonJobId``.
The wizard's own output, once it ends, is the ``courseId``. BACK never clears
what the author entered. COURSE_BUILDER_CANCELLED leaves the wizard from any
step.

Failures, and how the author gets out of each:

- ``failure.network_error`` (any call that could not complete, or a generation
  child that crashed): RETRY repeats the step that failed, recorded in
  ``failedStep``.
- ``failure.validation_error`` (CreateCourse answered ``invalid_argument``):
  EDIT goes back to basics with everything kept.
- ``failure.generation_failed`` (the generation child's job failed: the child
  sends AI_GENERATION_FAILED, and this flow tracks it too): RETRY with a fresh
  ``generationKey`` regenerates.
- ``failure.permission_denied`` (the session expired): SIGNED_IN_AGAIN repeats
  the step that failed.

Added to FLOWS.md:

- ``savingTargeting``: after AUDIENCES_CONFIRMED the chosen SMEs and audiences
  are saved with ``mirai.v1.CourseService/SetCourseTargeting`` before the
  outline is generated (the proto has the method; generation reads them);
- context ``failedStep`` (which invoking step failed: read by RETRY and
  SIGNED_IN_AGAIN) and ``generationKey`` (the idempotency key of the next
  generation job). The frontend mints keys; the events that start a generation
  (AUDIENCES_CONFIRMED, OUTLINE_REGENERATION_REQUESTED, OUTLINE_APPROVED, and
  RETRY out of ``generation_failed``) carry a fresh one, so a regeneration is
  a new job while a RETRY after a network error resumes the same one;
- the generation child tells this flow that its job failed by sending
  AI_GENERATION_FAILED (XState ``sendParent``), handled in generatingOutline and
  generatingLessons; the child waits in its own generation_failed, and leaving
  the generating step stops it. The child never ends in error on its own, so its
  error outcome (a crashed child machine) lands in network_error, whatever the
  error. Only CreateCourse carries form input, so only its ``invalid_argument``
  is a validation error; the other calls send ids the server issued;
- a generation the author cancelled ends the child with ``outcome``
  ``"cancelled"``: a cancelled outline goes back to reviewingOutline when an
  outline already exists (a regeneration was cancelled: the previous outline
  stands), else to selectingAudiences, the step that started it; cancelled
  lessons go back to reviewingOutline, where OUTLINE_APPROVED starts them
  again;
- once the course exists (BACK from selectingSmes), BASICS_SUBMITTED goes on to
  selectingSmes without creating a second course. The proto has no
  UpdateCourse, so title edits after creation stay in the flow's context;
- SME_SELECTED and AUDIENCE_SELECTED ignore an empty id;
- the editor's UI flags (active block, dirty, saving) live in the UI store,
  not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from flowcheck.declare import (
    Event,
    Flow,
    NoInput,
    State,
    abandoned,
    and_,
    append,
    assign,
    child_flow,
    count_at_least,
    ctx,
    eq,
    ev,
    failure,
    guard,
    invoking,
    is_code,
    nonempty,
    not_,
    on_done,
    on_error,
    output,
    remove,
    rpc,
    step,
    success,
    track,
)

FailedStep = Literal[
    "",
    "creatingCourse",
    "savingTargeting",
    "generatingOutline",
    "generatingLessons",
    "publishing",
]


class CourseBuilderContext(BaseModel):
    courseId: str = ""
    title: str = ""
    desiredOutcome: str = ""
    selectedSmeIds: list[str] = Field(default_factory=list)
    selectedAudienceIds: list[str] = Field(default_factory=list)
    outlineJobId: str = ""
    lessonJobId: str = ""
    generationKey: str = ""
    failedStep: FailedStep = ""
    error: str | None = None


class TitleChanged(BaseModel):
    """The author typed the course title."""

    title: str = Field(examples=["Intro to Go", ""])


class DesiredOutcomeChanged(BaseModel):
    """The author typed what learners should be able to do after the course."""

    desiredOutcome: str = Field(examples=["Write a CLI tool", ""])


class SmeChosen(BaseModel):
    """A subject-matter expert picked or unpicked in the list."""

    smeId: str = Field(examples=["sme_1", ""])


class AudienceChosen(BaseModel):
    """An audience picked or unpicked in the list."""

    audienceId: str = Field(examples=["aud_1", ""])


class StartsGeneration(BaseModel):
    """An event that starts a new generation job, with the job's fresh idempotency key."""

    generationKey: str = Field(examples=["gen-1"])


class Retry(BaseModel):
    """Try the failed step again; out of generation_failed, with a fresh generation key."""

    generationKey: str = Field(default="", examples=["", "gen-2"])


basics_filled = guard(
    "basicsFilled", and_(nonempty(ctx("title")), nonempty(ctx("desiredOutcome")))
)
course_created = guard("courseCreated", nonempty(ctx("courseId")))
course_not_created = guard("courseNotCreated", not_(nonempty(ctx("courseId"))))
sme_given = guard("smeIdGiven", nonempty(ev("smeId")))
audience_given = guard("audienceIdGiven", nonempty(ev("audienceId")))
smes_chosen = guard("smesChosen", count_at_least(ctx("selectedSmeIds"), 1))
audiences_chosen = guard("audiencesChosen", count_at_least(ctx("selectedAudienceIds"), 1))
invalid = guard("invalidArgument", is_code("invalid_argument"))
denied = guard("permissionDenied", is_code("permission_denied"))
generation_cancelled = guard("generationCancelled", eq(output("outcome"), "cancelled"))
outline_known = guard("outlineKnown", nonempty(ctx("outlineJobId")))
no_outline_yet = guard("noOutlineYet", not_(nonempty(ctx("outlineJobId"))))
new_key_given = guard("newGenerationKeyGiven", nonempty(ev("generationKey")))


def _failed_in(step_name: str) -> Callable[..., Any]:
    return guard(f"failedIn{step_name[:1].upper()}{step_name[1:]}",
                 eq(ctx("failedStep"), step_name))


failed_creating = _failed_in("creatingCourse")
failed_targeting = _failed_in("savingTargeting")
failed_outline = _failed_in("generatingOutline")
failed_lessons = _failed_in("generatingLessons")
failed_publishing = _failed_in("publishing")

set_title = assign("setTitle", title=ev("title"))
set_outcome = assign("setDesiredOutcome", desiredOutcome=ev("desiredOutcome"))
add_sme = assign("addSme", selectedSmeIds=append(ctx("selectedSmeIds"), ev("smeId")))
remove_sme = assign("removeSme", selectedSmeIds=remove(ctx("selectedSmeIds"), ev("smeId")))
add_audience = assign(
    "addAudience", selectedAudienceIds=append(ctx("selectedAudienceIds"), ev("audienceId"))
)
remove_audience = assign(
    "removeAudience", selectedAudienceIds=remove(ctx("selectedAudienceIds"), ev("audienceId"))
)
set_course = assign("setCourse", courseId=output("courseId"))
set_generation_key = assign("setGenerationKey", generationKey=ev("generationKey"))
set_outline_job = assign("setOutlineJob", outlineJobId=output("jobId"))
set_lesson_job = assign("setLessonJob", lessonJobId=output("jobId"))
clear_error = assign("clearError", error=None, failedStep="")
regenerate = assign(
    "regenerate", generationKey=ev("generationKey"), error=None, failedStep=""
)


def _failed(step_name: str) -> Callable[..., Any]:
    """Record the error code and the step it happened in."""
    return assign(f"{step_name}Failed", error=ev("error.code"), failedStep=step_name)


creating_failed = _failed("creatingCourse")
targeting_failed = _failed("savingTargeting")
outline_failed = _failed("generatingOutline")
lessons_failed = _failed("generatingLessons")
publishing_failed = _failed("publishing")
outline_generation_failed = assign(
    "outlineGenerationFailed", error="generation_failed", failedStep="generatingOutline"
)
lessons_generation_failed = assign(
    "lessonsGenerationFailed", error="generation_failed", failedStep="generatingLessons"
)

GENERATION_OUTPUTS = [
    {"jobId": "job_1", "outcome": "succeeded"},
    {"jobId": "job_1", "outcome": "cancelled"},
]
# The generation child never ends in error on its own (a failed job waits in its
# generation_failed and tells this flow with AI_GENERATION_FAILED): an error outcome means
# its machine crashed, whatever the error is.
GENERATION_ERRORS = ["unknown"]


class CourseBuilder(Flow):
    flow_id = "courseBuilder"
    Context = CourseBuilderContext
    Input = NoInput
    payloads = {  # noqa: RUF012
        "TITLE_CHANGED": TitleChanged,
        "DESIRED_OUTCOME_CHANGED": DesiredOutcomeChanged,
        "SME_SELECTED": SmeChosen,
        "SME_DESELECTED": SmeChosen,
        "AUDIENCE_SELECTED": AudienceChosen,
        "AUDIENCE_DESELECTED": AudienceChosen,
        "AUDIENCES_CONFIRMED": StartsGeneration,
        "OUTLINE_REGENERATION_REQUESTED": StartsGeneration,
        "OUTLINE_APPROVED": StartsGeneration,
        "RETRY": Retry,
    }
    output = {"courseId": ctx("courseId")}  # noqa: RUF012

    basics = step("Name the course and say what learners will be able to do.", initial=True)
    creatingCourse = invoking(
        rpc(
            "createCourse",
            "mirai.v1.CourseService/CreateCourse",
            input={"title": ctx("title"), "desiredOutcome": ctx("desiredOutcome")},
            outputs=[{"courseId": "course_1"}],
            errors=["invalid_argument", "permission_denied", "unavailable"],
        ),
        description="Creating the draft course.",
    )
    selectingSmes = step("Pick the subject-matter experts.")
    selectingAudiences = step("Pick the audiences.")
    savingTargeting = invoking(
        rpc(
            "setCourseTargeting",
            "mirai.v1.CourseService/SetCourseTargeting",
            input={
                "courseId": ctx("courseId"),
                "smeIds": ctx("selectedSmeIds"),
                "audienceIds": ctx("selectedAudienceIds"),
            },
            outputs=[{"courseId": "course_1"}],
            errors=["permission_denied", "unavailable"],
        ),
        description="Saving the chosen experts and audiences.",
    )
    generatingOutline = invoking(
        child_flow(
            "generateOutline",
            "generation",
            input={
                "courseId": ctx("courseId"),
                "kind": "outline",
                "idempotencyKey": ctx("generationKey"),
            },
            outputs=GENERATION_OUTPUTS,
            errors=GENERATION_ERRORS,
        ),
        description="The AI writes the course outline.",
    )
    reviewingOutline = step("Review the outline: approve it, regenerate it, or go back.")
    generatingLessons = invoking(
        child_flow(
            "generateLessons",
            "generation",
            input={
                "courseId": ctx("courseId"),
                "kind": "lessons",
                "idempotencyKey": ctx("generationKey"),
            },
            outputs=GENERATION_OUTPUTS,
            errors=GENERATION_ERRORS,
        ),
        description="The AI writes the lessons of the approved outline.",
    )
    editor = step("Edit the generated lessons.")
    preview = step("See the course as learners will.")
    publishing = invoking(
        rpc(
            "publishCourse",
            "mirai.v1.CourseService/PublishCourse",
            input={"courseId": ctx("courseId")},
            outputs=[{"courseId": "course_1", "publishedUrl": "https://mirai.example/c/1"}],
            errors=["permission_denied", "unavailable"],
        ),
        description="Publishing the course.",
    )
    published = success("The course is live.")
    cancelled = abandoned("The author left the wizard.")

    class failure(State.Compound):
        network_error = failure("A call could not complete; RETRY repeats it.", initial=True)
        validation_error = failure("The server rejected the basics; EDIT fixes them.")
        generation_failed = failure("The AI generation failed; RETRY regenerates.")
        permission_denied = failure("The session expired; sign in again to continue.")

    failure.generation_failed.enter.add(
        track("AI_GENERATION_FAILED", include=["courseId", "failedStep"])
    )

    # basics
    TITLE_CHANGED = basics.to(None, on=set_title)
    DESIRED_OUTCOME_CHANGED = basics.to(None, on=set_outcome)
    BASICS_SUBMITTED = basics.to(
        creatingCourse, cond=[basics_filled, course_not_created]
    ) | basics.to(selectingSmes, cond=[basics_filled, course_created])
    create_done = Event(creatingCourse.to(selectingSmes, on=set_course), id=on_done("createCourse"))
    create_error = Event(
        creatingCourse.to(failure.validation_error, cond=invalid, on=creating_failed)
        | creatingCourse.to(failure.permission_denied, cond=denied, on=creating_failed)
        | creatingCourse.to(failure.network_error, on=creating_failed),
        id=on_error("createCourse"),
    )

    # experts and audiences
    SME_SELECTED = selectingSmes.to(None, cond=sme_given, on=add_sme)
    SME_DESELECTED = selectingSmes.to(None, on=remove_sme)
    SMES_CONFIRMED = selectingSmes.to(selectingAudiences, cond=smes_chosen)
    AUDIENCE_SELECTED = selectingAudiences.to(None, cond=audience_given, on=add_audience)
    AUDIENCE_DESELECTED = selectingAudiences.to(None, on=remove_audience)
    AUDIENCES_CONFIRMED = selectingAudiences.to(
        savingTargeting, cond=audiences_chosen, on=set_generation_key
    )
    targeting_done = Event(
        savingTargeting.to(generatingOutline), id=on_done("setCourseTargeting")
    )
    targeting_error = Event(
        savingTargeting.to(failure.permission_denied, cond=denied, on=targeting_failed)
        | savingTargeting.to(failure.network_error, on=targeting_failed),
        id=on_error("setCourseTargeting"),
    )

    # outline and lessons
    outline_done = Event(
        generatingOutline.to(reviewingOutline, cond=[generation_cancelled, outline_known])
        | generatingOutline.to(selectingAudiences, cond=[generation_cancelled, no_outline_yet])
        | generatingOutline.to(reviewingOutline, on=set_outline_job),
        id=on_done("generateOutline"),
    )
    outline_error = Event(
        generatingOutline.to(failure.network_error, on=outline_failed),
        id=on_error("generateOutline"),
    )
    OUTLINE_APPROVED = reviewingOutline.to(generatingLessons, on=set_generation_key)
    OUTLINE_REGENERATION_REQUESTED = reviewingOutline.to(
        generatingOutline, on=set_generation_key
    )
    lessons_done = Event(
        generatingLessons.to(reviewingOutline, cond=generation_cancelled)
        | generatingLessons.to(editor, on=set_lesson_job),
        id=on_done("generateLessons"),
    )
    lessons_error = Event(
        generatingLessons.to(failure.network_error, on=lessons_failed),
        id=on_error("generateLessons"),
    )
    # Sent by the generation child when its job failed (it waits for a RETRY there; this
    # flow takes over, which stops the child).
    AI_GENERATION_FAILED = generatingOutline.to(
        failure.generation_failed, on=outline_generation_failed
    ) | generatingLessons.to(failure.generation_failed, on=lessons_generation_failed)

    # editor, preview, publishing
    PREVIEW_OPENED = editor.to(preview)
    PREVIEW_CLOSED = preview.to(editor)
    PUBLISH_REQUESTED = preview.to(publishing)
    publish_done = Event(publishing.to(published), id=on_done("publishCourse"))
    publish_error = Event(
        publishing.to(failure.permission_denied, cond=denied, on=publishing_failed)
        | publishing.to(failure.network_error, on=publishing_failed),
        id=on_error("publishCourse"),
    )

    BACK = (
        selectingSmes.to(basics)
        | selectingAudiences.to(selectingSmes)
        | reviewingOutline.to(selectingAudiences)
    )

    # recovery
    RETRY = (
        failure.network_error.to(creatingCourse, cond=failed_creating, on=clear_error)
        | failure.network_error.to(savingTargeting, cond=failed_targeting, on=clear_error)
        | failure.network_error.to(generatingOutline, cond=failed_outline, on=clear_error)
        | failure.network_error.to(generatingLessons, cond=failed_lessons, on=clear_error)
        | failure.network_error.to(publishing, cond=failed_publishing, on=clear_error)
        | failure.generation_failed.to(
            generatingOutline, cond=[failed_outline, new_key_given], on=regenerate
        )
        | failure.generation_failed.to(
            generatingLessons, cond=[failed_lessons, new_key_given], on=regenerate
        )
    )
    SIGNED_IN_AGAIN = (
        failure.permission_denied.to(creatingCourse, cond=failed_creating, on=clear_error)
        | failure.permission_denied.to(savingTargeting, cond=failed_targeting, on=clear_error)
        | failure.permission_denied.to(publishing, cond=failed_publishing, on=clear_error)
    )
    EDIT = failure.validation_error.to(basics, on=clear_error)

    COURSE_BUILDER_CANCELLED = (
        basics.to(cancelled)
        | creatingCourse.to(cancelled)
        | selectingSmes.to(cancelled)
        | selectingAudiences.to(cancelled)
        | savingTargeting.to(cancelled)
        | generatingOutline.to(cancelled)
        | reviewingOutline.to(cancelled)
        | generatingLessons.to(cancelled)
        | editor.to(cancelled)
        | preview.to(cancelled)
        | publishing.to(cancelled)
        | failure.to(cancelled)
    )
