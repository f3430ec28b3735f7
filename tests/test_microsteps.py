"""What happens inside a step: the Stepper's trace, and the properties that read it.

A step (a macrostep) can enter a state and leave it at once through eventless
(``always``) transitions, without that state ever being active in a settled
configuration. ``reachable`` counts such a transient state, ``deterministic`` compares
eventless guards where they are selected, and ``live-transitions`` proves every declared
transition fires somewhere, or says why it never does. The flows are small and declared
here; an eventless transition is a python-statemachine transition not bound to an event
name (``deciding.to(low, cond=...)`` as a bare statement).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field

from flowcheck.chart.model import Chart, Track
from flowcheck.declare import (
    Flow,
    State,
    add,
    and_,
    assign,
    ctx,
    eq,
    ev,
    ge,
    gt,
    guard,
    lt,
    nonempty,
    not_,
    read_chart,
    step,
    success,
)
from flowcheck.explore.graph import Limits, replay
from flowcheck.project import Machine
from flowcheck.properties import PropertyResult
from flowcheck.properties.base import Finding
from flowcheck.semantics.stepper import MacrostepTrace, Stepper
from flowcheck.verification import verify_chart

# -- flows --------------------------------------------------------------------------------


class Score(BaseModel):
    """The score the user entered."""

    score: int = Field(examples=[1, 4, 9])


class ScoreContext(BaseModel):
    score: int = 0


set_score = assign("setScore", score=ev("score"))
score_low = guard("scoreLow", lt(ctx("score"), 5))
score_high = guard("scoreHigh", ge(ctx("score"), 5))
score_some = guard("scoreAtLeastThree", ge(ctx("score"), 3))


class Triage(Flow):
    """A decision state left at once by exclusive eventless branches."""

    flow_id = "triage"
    Context = ScoreContext
    payloads = {"SCORE_ENTERED": Score}  # noqa: RUF012

    scoring = step("Enter a score.", initial=True)
    deciding = step("Route by score.")
    low = step("A low score.")
    high = step("A high score.")
    done = success("Done.")

    SCORE_ENTERED = scoring.to(deciding, on=set_score)
    deciding.to(low, cond=score_low)
    deciding.to(high, cond=score_high)
    FINISHED = low.to(done) | high.to(done)


class OverlappingTriage(Flow):
    """A decision state whose two eventless guards both hold for a score of 4 or more."""

    flow_id = "overlapping_triage"
    Context = ScoreContext
    payloads = {"SCORE_ENTERED": Score}  # noqa: RUF012

    scoring = step("Enter a score.", initial=True)
    deciding = step("Route by score.")
    low = step("A low score.")
    high = step("A high score.")
    done = success("Done.")

    SCORE_ENTERED = scoring.to(deciding, on=set_score)
    deciding.to(high, cond=score_some)
    deciding.to(low, cond=score_high)
    deciding.to(low)
    FINISHED = low.to(done) | high.to(done)


class LevelContext(BaseModel):
    score: int = 0
    high: bool = False


class MirroredTriage(Flow):
    """Two eventless guards on different fields that one assign keeps in step: exclusive in
    every reachable context, though not by their form."""

    flow_id = "mirrored_triage"
    Context = LevelContext
    payloads = {"SCORE_ENTERED": Score}  # noqa: RUF012

    scoring = step("Enter a score.", initial=True)
    deciding = step("Route by score.")
    low = step("A low score.")
    high = step("A high score.")
    done = success("Done.")

    SCORE_ENTERED = scoring.to(
        deciding, on=assign("setScoreAndLevel", score=ev("score"), high=ge(ev("score"), 5))
    )
    deciding.to(high, cond=score_high)
    deciding.to(low, cond=guard("levelNotHigh", not_(ctx("high"))))
    FINISHED = low.to(done) | high.to(done)


class StartsDeciding(Flow):
    """The initial state is itself a decision state: eventless transitions fire in the
    initial step."""

    flow_id = "starts_deciding"
    Context = ScoreContext

    deciding = step("Route by score.", initial=True)
    low = step("A low score.")
    high = step("A high score.")
    done = success("Done.")

    deciding.to(low, cond=score_low)
    deciding.to(high, cond=score_high)
    SCORE_RAISED = low.to(high)
    FINISHED = low.to(done) | high.to(done)


class ScoredForm(Flow):
    """The form's done event (``xstate.done.state.form``, taken from the internal queue
    inside the step) has two guarded transitions that both hold for a score of 5 or more."""

    flow_id = "scored_form"
    Context = ScoreContext
    payloads = {"SCORE_ENTERED": Score}  # noqa: RUF012

    class form(State.Compound, initial=True):
        scoring = step("Enter a score.", initial=True)
        filled = State(final=True)
        SCORE_ENTERED = scoring.to(filled, on=set_score)

    low = step("A low score.")
    high = step("A high score.")
    done = success("Done.")

    done_state_form = form.to(high, cond=score_some) | form.to(low, cond=score_high)
    FINISHED = low.to(done) | high.to(done)


class Attempts(BaseModel):
    name: str = ""
    attempts: int = 0


class Name(BaseModel):
    """The name the user typed."""

    name: str = Field(examples=["Ada"])


count_attempt = assign("countAttempt", attempts=add(ctx("attempts"), 1))
may_retry = guard("mayRetry", lt(ctx("attempts"), 2))
too_many = guard("tooManyAttempts", gt(ctx("attempts"), 5))
named_and_too_many = guard(
    "namedAndTooManyAttempts", and_(nonempty(ctx("name")), gt(ctx("attempts"), 5))
)
gave_up_early = guard("gaveUpEarly", eq(ctx("attempts"), 0))


class Retrying(Flow):
    """RETRY is capped at two attempts: a guard asking for more than five never holds."""

    flow_id = "retrying"
    Context = Attempts
    payloads = {"NAME_ENTERED": Name}  # noqa: RUF012

    waiting = step("Waiting for the service.", initial=True)
    done = success("Done.")

    NAME_ENTERED = waiting.to(None, on=assign("setName", name=ev("name")))
    RETRY = waiting.to(None, cond=may_retry, on=count_attempt)
    GIVE_UP = waiting.to(done, cond=too_many)
    ESCALATED = waiting.to(done, cond=named_and_too_many)
    FINISHED = waiting.to(done)


class Shadowed(Flow):
    """SKIPPED has an unguarded transition first: the second one never fires."""

    flow_id = "shadowed"

    intro = step("Introduction.", initial=True)
    other = step("Another page.")
    done = success("Done.")

    SKIPPED = intro.to(done) | intro.to(other)
    FINISHED = other.to(done)


class ShadowedByChild(Flow):
    """NEXT is handled by the active child first, so the parent's own NEXT never fires."""

    flow_id = "shadowed_by_child"

    class wizard(State.Compound, initial=True):
        first = step("First page.", initial=True)
        second = step("Second page.")
        NEXT = first.to(second)

    done = success("Done.")

    NEXT = wizard.to(done) | wizard.second.to(done)


# -- helpers --------------------------------------------------------------------------------


def _chart(cls: type[Flow]) -> Chart:
    return read_chart(cls, cls.flow_id)


def _verify(cls: type[Flow], **kwargs: Any) -> dict[str, PropertyResult]:
    report = verify_chart(_chart(cls), cls, examples=0, **kwargs)
    return {r.id: r for r in report.results}


def _findings(cls: type[Flow], pid: str) -> list[Finding]:
    return _verify(cls)[pid].findings


def _entered_state(executed: list[Any]) -> list[str]:
    return [x.properties["state"] for x in executed
            if isinstance(x.action, Track) and x.action.event == "STATE_ENTERED"]


def _assert_replays(chart: Chart, finding: Finding) -> None:
    cx = finding.counterexample
    assert cx is not None, finding.message
    assert replay(Stepper(chart), list(cx.events), cx.input) == cx


# -- the Stepper's trace ------------------------------------------------------------------------


def test_a_step_trace_names_the_eventless_transition_taken_after_the_event() -> None:
    chart = _chart(Triage)
    stepper = Stepper(chart)
    snap, _ = stepper.initial()
    trace = MacrostepTrace()
    after, _ = stepper.step(snap, "SCORE_ENTERED", {"score": 9}, trace=trace)
    assert stepper.active_ids(after) == ["high"]
    assert [(t.source, t.event, t.targets) for t in trace.fired] == [
        ("scoring", "SCORE_ENTERED", ("deciding",)),
        ("deciding", None, ("high",)),
    ]


def test_a_step_trace_counts_a_transient_state_as_entered() -> None:
    stepper = Stepper(_chart(Triage))
    snap, _ = stepper.initial()
    trace = MacrostepTrace()
    stepper.step(snap, "SCORE_ENTERED", {"score": 1}, trace=trace)
    assert trace.entered == {"deciding", "low"}


def test_a_step_trace_keeps_the_snapshot_where_eventless_transitions_were_selected() -> None:
    stepper = Stepper(_chart(Triage))
    snap, _ = stepper.initial()
    trace = MacrostepTrace()
    stepper.step(snap, "SCORE_ENTERED", {"score": 4}, trace=trace)
    first = trace.settle_points[0]
    assert stepper.active_ids(first.snapshot) == ["deciding"]
    assert stepper.context_dict(first.snapshot.context) == {"score": 4}
    assert first.event == {"type": "SCORE_ENTERED", "score": 4}


def test_the_initial_step_is_traced_too() -> None:
    stepper = Stepper(_chart(StartsDeciding))
    trace = MacrostepTrace()
    snap, _ = stepper.initial(trace=trace)
    assert stepper.active_ids(snap) == ["low"]
    assert trace.entered == {"deciding", "low"}
    assert [(t.source, t.targets) for t in trace.fired] == [("deciding", ("low",))]


def test_tracing_a_step_does_not_change_its_outcome() -> None:
    stepper = Stepper(_chart(Triage))
    snap, _ = stepper.initial()
    plain = stepper.step(snap, "SCORE_ENTERED", {"score": 4})
    traced = stepper.step(snap, "SCORE_ENTERED", {"score": 4}, trace=MacrostepTrace())
    assert traced == plain
    assert stepper.advance(snap, {"type": "SCORE_ENTERED", "score": 4}) == plain[0]


# -- reachable ------------------------------------------------------------------------------


def test_a_transient_decision_state_is_reachable() -> None:
    result = _verify(Triage)["reachable"]
    assert result.status == "proved", result.message


def test_a_transient_decision_state_sends_its_entry_telemetry() -> None:
    stepper = Stepper(_chart(Triage))
    snap, _ = stepper.initial()
    after, executed = stepper.step(snap, "SCORE_ENTERED", {"score": 1})
    assert "deciding" not in stepper.active_ids(after)
    assert _entered_state(executed) == ["deciding", "low"]


def test_a_decision_state_entered_only_in_the_initial_step_is_reachable() -> None:
    result = _verify(StartsDeciding)["reachable"]
    assert result.status == "proved", result.message


# -- deterministic --------------------------------------------------------------------------


def test_overlapping_eventless_guards_are_a_deterministic_finding() -> None:
    (finding,) = _findings(OverlappingTriage, "deterministic")
    assert finding.state == "deciding"
    assert finding.event is None
    assert "scoreAtLeastThree" in finding.message and "scoreHigh" in finding.message


def test_the_eventless_conflict_counterexample_replays_to_the_step_that_selects_them() -> None:
    chart = _chart(OverlappingTriage)
    (finding,) = _findings(OverlappingTriage, "deterministic")
    _assert_replays(chart, finding)
    assert finding.counterexample is not None
    ((name, payload),) = finding.counterexample.events
    assert name == "SCORE_ENTERED" and payload["score"] >= 5


def test_exclusive_eventless_guards_are_deterministic() -> None:
    result = _verify(Triage)["deterministic"]
    assert result.status == "proved", result.message


def test_overlapping_guards_on_a_done_event_are_a_deterministic_finding() -> None:
    chart = _chart(ScoredForm)
    (finding,) = _findings(ScoredForm, "deterministic")
    assert (finding.state, finding.event) == ("form", "xstate.done.state.form")
    _assert_replays(chart, finding)


def test_eventless_guards_exclusive_in_every_reachable_context_are_deterministic() -> None:
    result = _verify(MirroredTriage)["deterministic"]
    assert result.status == "proved", result.message


def test_an_unguarded_last_eventless_transition_is_the_else_branch() -> None:
    findings = _findings(OverlappingTriage, "deterministic")
    assert all("unguarded" not in f.message for f in findings)


# -- live-transitions -----------------------------------------------------------------------


def test_every_transition_of_a_flow_with_a_decision_state_fires() -> None:
    result = _verify(Triage)["live-transitions"]
    assert result.status == "proved", result.message


def test_a_guard_that_never_holds_in_reachable_contexts_is_named() -> None:
    findings = {f.message.split(" never fires")[0]: f for f in _findings(Retrying,
                                                                          "live-transitions")}
    finding = findings["transition waiting --GIVE_UP [tooManyAttempts]--> done"]
    assert "guard 'tooManyAttempts' is never true when GIVE_UP is handled" in finding.message


def test_the_conjunct_of_a_compound_guard_that_never_holds_is_named() -> None:
    (finding,) = [f for f in _findings(Retrying, "live-transitions") if f.event == "ESCALATED"]
    assert "guard 'namedAndTooManyAttempts'" in finding.message
    assert "its conjunct gt(context.attempts, 5) never is" in finding.message


def test_a_dead_transition_counterexample_sends_its_event_with_the_source_active() -> None:
    chart = _chart(Retrying)
    (finding,) = [f for f in _findings(Retrying, "live-transitions") if f.event == "GIVE_UP"]
    _assert_replays(chart, finding)
    assert finding.counterexample is not None
    assert finding.counterexample.events[-1][0] == "GIVE_UP"
    assert "waiting" in finding.counterexample.states[-2]


def test_a_transition_shadowed_by_an_earlier_one_names_it() -> None:
    (finding,) = _findings(Shadowed, "live-transitions")
    assert finding.message.startswith("transition intro --SKIPPED--> other never fires")
    assert "shadowed by the earlier transition intro --SKIPPED--> done" in finding.message


def test_a_transition_shadowed_by_a_child_state_names_the_child() -> None:
    findings = _findings(ShadowedByChild, "live-transitions")
    (finding,) = [f for f in findings if f.state == "wizard"]
    assert "shadowed by the transition first --NEXT--> second of 'first'" in finding.message


def test_a_transition_of_an_unreachable_state_is_left_to_reachable() -> None:
    class Stranded(Flow):
        flow_id = "stranded"
        start = step("Start.", initial=True)
        lost = step("Never entered.")
        done = success("Done.")
        FINISHED = start.to(done) | lost.to(done)

    results = _verify(Stranded)
    assert [f.state for f in results["reachable"].findings] == ["lost"]
    assert results["live-transitions"].findings == []


def test_a_bounded_run_reports_no_dead_transition() -> None:
    results = _verify(Retrying, limits=Limits(configurations=3))
    assert results["live-transitions"].status == "bounded"
    assert results["live-transitions"].findings == []
    assert results["reachable"].status == "bounded"


@pytest.mark.parametrize("name", ["checkout", "course_builder", "generation", "registration"])
def test_every_transition_of_a_bundled_flow_fires(name: str, machines: dict[str, Machine]) -> None:
    m = machines[name]
    report = verify_chart(m.chart, m.cls, m.path, examples=0)
    (result,) = [r for r in report.results if r.id == "live-transitions"]
    assert result.status == "proved", [f.message for f in result.findings]
