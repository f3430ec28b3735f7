"""Generation: run one AI generation job for a course (XState id ``generation``).

For designers. The course builder starts this flow as a child to generate a
course outline or its lessons. The flow asks the generation service to
enqueue a job, then polls the job: it waits ``POLL_INTERVAL``, asks for the
job's status, and either waits again (still running), finishes (succeeded)
or stops in a failure state the user can recover from.

    enqueuing --done--> waiting --POLL_INTERVAL--> polling --running--> waiting
                                                      |--succeeded--> succeeded
                                                      |--failed--> failure.generation_failed
                                                      |            (tells the parent)
                                                      '--budget spent--> failure.timed_out
    any step --GENERATION_CANCELLED--> cancelling --done--> cancelled

Job status: the flow reads ``status`` from GetGenerationJob's response as the
lowercase short form of the proto enum ``JobStatus`` (``JOB_STATUS_RUNNING`` is
``"running"``, then ``"succeeded"``, ``"failed"``); any other status is treated
like ``running``. The routes out of polling are exclusive: succeeded, failed,
poll again (neither, budget left), else timed out.

Recovery:

- ``failure.network_error``: a call could not be made. RETRY goes back to the
  call that failed (``failedStep``: enqueuing or polling) with the same job and
  idempotency key.
- ``failure.generation_failed`` (tracked as AI_GENERATION_FAILED): the job
  itself failed. Entering it sends AI_GENERATION_FAILED to the parent flow, if
  there is one: the course builder then shows its own generation_failed screen
  (which stops this child) and regenerates from there. Run standalone, RETRY
  with a fresh ``idempotencyKey`` (made by the frontend; the machine stays
  pure) enqueues a new job; the same key would return the failed job again.
- ``failure.timed_out``: the poll budget (3 polls) is spent while the job still
  runs. RETRY resumes polling the same job with the counter reset.
- ``failure.cancel_failed``: CancelGeneration failed. RETRY cancels again.

Added to FLOWS.md:

- context fields ``polls`` (polls that reported ``running``; bounded by the
  budget, so the context stays finite) and ``failedStep`` (where a network
  error happened, read by RETRY);
- RETRY carries an optional ``idempotencyKey``; only ``generation_failed``
  reads it, and it ignores a RETRY without one;
- GENERATION_CANCELLED goes to ``cancelling`` only when a job id is known;
  before the job was enqueued there is nothing to cancel on the server, so it
  goes straight to ``cancelled``;
- ``cancelling`` and ``failure.cancel_failed`` are tagged ``abandoned`` as well
  as ``cancelled``: once the user cancelled, the flow winds down and its goal is
  to end, not to succeed; CancelGeneration errors get their own failure state
  (``cancel_failed``) so that a retry there can only cancel. Known wart: the
  default telemetry sends FLOW_ABANDONED on entering each abandoned state, so
  a cancel through ``cancelling`` reports it twice (and FLOW_FAILED too on the
  way through ``cancel_failed``).
- The flow's output is ``{"jobId": ..., "outcome": ...}``: when the flow ends, a
  parent running it as a child receives it in ``xstate.done.actor.<id>``.
  ``outcome`` (a context field, ``""`` while the flow runs) is set on the way
  into each final state: ``"succeeded"`` or ``"cancelled"``, so that a parent
  tells a cancelled run from a finished one. The course builder records a
  succeeded run's job as ``outlineJobId`` / ``lessonJobId``.
- A failed job is not an error outcome: an XState machine only ends in error
  when it crashes, and this flow waits in generation_failed for a RETRY. So it
  tells its parent with ``send_parent("AI_GENERATION_FAILED")`` (XState
  ``sendParent``; the exported machine sends only when it has a parent, since
  XState throws otherwise).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from flowcheck.chart.model import ABANDONED
from flowcheck.declare import (
    Event,
    Flow,
    State,
    abandoned,
    add,
    after,
    and_,
    assign,
    ctx,
    eq,
    ev,
    failure,
    guard,
    in_,
    invoking,
    lt,
    nonempty,
    not_,
    on_done,
    on_error,
    output,
    rpc,
    send_parent,
    success,
    tag,
    track,
)

POLL_BUDGET = 3
"""How many polls may report ``running`` before the flow gives up with ``timed_out``."""

FailedStep = Literal["", "enqueuing", "polling"]
Outcome = Literal["", "succeeded", "cancelled"]


class GenerationContext(BaseModel):
    courseId: str = "course_1"
    kind: Literal["outline", "lessons"] = "outline"
    idempotencyKey: str = "gen-1"
    jobId: str = ""
    polls: int = 0
    failedStep: FailedStep = ""
    outcome: Outcome = ""
    error: str | None = None


class GenerationInput(BaseModel):
    """What the course builder starts a generation with."""

    courseId: str
    kind: Literal["outline", "lessons"]
    idempotencyKey: str


class Retry(BaseModel):
    """Try again; after a failed job, with a fresh idempotency key for the new job."""

    idempotencyKey: str = Field(default="", examples=["", "gen-2"])


job_known = guard("jobKnown", nonempty(ctx("jobId")))
job_succeeded = guard("jobSucceeded", eq(output("status"), "succeeded"))
job_failed = guard("jobFailed", eq(output("status"), "failed"))
poll_again = guard(
    "pollAgain",
    and_(not_(in_(output("status"), ("succeeded", "failed"))), lt(ctx("polls"), POLL_BUDGET - 1)),
)
failed_enqueuing = guard("failedWhileEnqueuing", eq(ctx("failedStep"), "enqueuing"))
failed_polling = guard("failedWhilePolling", eq(ctx("failedStep"), "polling"))
new_key_given = guard("newIdempotencyKeyGiven", nonempty(ev("idempotencyKey")))

set_job = assign("setJob", jobId=output("jobId"), polls=0, error=None)
count_poll = assign("countPoll", polls=add(ctx("polls"), 1))
set_failure_reason = assign("setFailureReason", error=output("failureReason"))
enqueue_failed = assign("enqueueFailed", error=ev("error.code"), failedStep="enqueuing")
poll_failed = assign("pollFailed", error=ev("error.code"), failedStep="polling")
cancel_failed = assign("cancelFailed", error=ev("error.code"))
clear_error = assign("clearError", error=None, failedStep="")
resume_polling = assign("resumePolling", polls=0, error=None)
new_job = assign(
    "startNewJob", idempotencyKey=ev("idempotencyKey"), jobId="", polls=0, error=None
)
mark_succeeded = assign("markSucceeded", outcome="succeeded")
mark_cancelled = assign("markCancelled", outcome="cancelled")


class Generation(Flow):
    flow_id = "generation"
    Context = GenerationContext
    Input = GenerationInput
    payloads = {"RETRY": Retry}  # noqa: RUF012
    output = {"jobId": ctx("jobId"), "outcome": ctx("outcome")}  # noqa: RUF012

    enqueuing = invoking(
        rpc(
            "startGeneration",
            "mirai.v1.GenerationService/StartGeneration",
            input={
                "courseId": ctx("courseId"),
                "kind": ctx("kind"),
                "idempotencyKey": ctx("idempotencyKey"),
            },
            outputs=[{"jobId": "job_1"}],
            errors=["unavailable"],
        ),
        description="Asking the generation service to enqueue the job.",
        initial=True,
    )
    waiting = tag(State(), description="The job runs; the next poll is POLL_INTERVAL away.")
    polling = invoking(
        rpc(
            "getGenerationJob",
            "mirai.v1.GenerationService/GetGenerationJob",
            input={"jobId": ctx("jobId")},
            outputs=[
                {"jobId": "job_1", "status": "running"},
                {"jobId": "job_1", "status": "succeeded"},
                {"jobId": "job_1", "status": "failed", "failureReason": "model_overloaded"},
            ],
            errors=["unavailable"],
        ),
        description="Asking the generation service for the job's status.",
    )
    cancelling = tag(invoking(
        rpc(
            "cancelGeneration",
            "mirai.v1.GenerationService/CancelGeneration",
            input={"jobId": ctx("jobId")},
            outputs=[{"jobId": "job_1"}],
            errors=["unavailable"],
        ),
        description="Asking the generation service to stop the job.",
    ), ABANDONED)
    succeeded = success("The job finished; its output is the job id.")
    cancelled = abandoned("The generation was cancelled.")

    class failure(State.Compound):
        network_error = failure("The generation service could not be reached.", initial=True)
        generation_failed = failure("The job failed; a new job is needed.")
        timed_out = failure("The job still runs after the poll budget was spent.")
        cancel_failed = tag(
            failure("The job could not be cancelled; RETRY cancels again."), ABANDONED
        )

    failure.generation_failed.enter.add(
        track("AI_GENERATION_FAILED", include=["courseId", "kind", "jobId", "error"])
    )
    failure.generation_failed.enter.add(send_parent("AI_GENERATION_FAILED"))

    start_done = Event(enqueuing.to(waiting, on=set_job), id=on_done("startGeneration"))
    start_error = Event(
        enqueuing.to(failure.network_error, on=enqueue_failed), id=on_error("startGeneration")
    )
    poll_interval = Event(waiting.to(polling), id=after("POLL_INTERVAL"))
    poll_done = Event(
        polling.to(succeeded, cond=job_succeeded, on=mark_succeeded)
        | polling.to(failure.generation_failed, cond=job_failed, on=set_failure_reason)
        | polling.to(waiting, cond=poll_again, on=count_poll)
        | polling.to(failure.timed_out, on=count_poll),
        id=on_done("getGenerationJob"),
    )
    poll_error = Event(
        polling.to(failure.network_error, on=poll_failed), id=on_error("getGenerationJob")
    )
    cancel_done = Event(
        cancelling.to(cancelled, on=mark_cancelled), id=on_done("cancelGeneration")
    )
    cancel_error = Event(
        cancelling.to(failure.cancel_failed, on=cancel_failed), id=on_error("cancelGeneration")
    )
    RETRY = (
        failure.network_error.to(enqueuing, cond=failed_enqueuing, on=clear_error)
        | failure.network_error.to(polling, cond=failed_polling, on=clear_error)
        | failure.generation_failed.to(enqueuing, cond=new_key_given, on=new_job)
        | failure.timed_out.to(polling, on=resume_polling)
        | failure.cancel_failed.to(cancelling, on=clear_error)
    )
    GENERATION_CANCELLED = (
        enqueuing.to(cancelled, on=mark_cancelled)
        | waiting.to(cancelling)
        | polling.to(cancelling)
        | failure.to(cancelling, cond=job_known)
        | failure.to(cancelled, on=mark_cancelled)
    )
