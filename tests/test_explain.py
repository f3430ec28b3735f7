"""Guards in words: which condition of a guard is false, with the values involved."""

from __future__ import annotations

import pytest

from flowcheck.chart.expr import Expr
from flowcheck.chart.model import Guard
from flowcheck.declare import and_, ctx, eq, ev, nonempty, not_, or_
from flowcheck.explain import condition, guard_words, refusal, why_false
from flowcheck.project import Machine
from flowcheck.simulation import Session


def _expr(node: object) -> Expr:
    """The expression of a declared guard helper (and_, nonempty, ...)."""
    assert isinstance(node, Expr)
    return node


@pytest.fixture
def builder(machines: dict[str, Machine]) -> Session:
    return Session(machines["course_builder"].chart)


def test_an_empty_field_is_named_with_the_word_empty() -> None:
    e = _expr(and_(nonempty(ctx("title")), nonempty(ctx("desiredOutcome"))))
    assert why_false(e, {"title": "Go", "desiredOutcome": ""}, {}) == ["desiredOutcome is empty"]


def test_every_false_part_of_an_and_is_named_and_only_those() -> None:
    e = _expr(and_(nonempty(ctx("title")), nonempty(ctx("desiredOutcome"))))
    assert why_false(e, {"title": "", "desiredOutcome": ""}, {}) == [
        "title is empty", "desiredOutcome is empty"]
    assert why_false(e, {"title": "a", "desiredOutcome": "b"}, {}) == []


def test_an_or_names_each_of_its_false_alternatives() -> None:
    e = _expr(or_(eq(ctx("kind"), "outline"), eq(ctx("kind"), "lessons")))
    assert why_false(e, {"kind": "quiz"}, {}) == [
        'kind is "quiz", not "outline"', 'kind is "quiz", not "lessons"']


def test_a_negated_condition_says_what_is_the_case_with_its_value() -> None:
    e = _expr(not_(nonempty(ctx("courseId"))))
    assert why_false(e, {"courseId": "course_1"}, {}) == ['courseId is not empty ("course_1")']


def test_event_fields_and_error_codes_are_named_as_designers_say_them() -> None:
    assert why_false(_expr(nonempty(ev("smeId"))), {}, {"smeId": ""}) == ["event.smeId is empty"]
    code = _expr(eq(ev("error.code"), "invalid_argument"))
    assert why_false(code, {}, {"error": {"code": "unavailable"}}) == [
        'error code is "unavailable", not "invalid_argument"']


def test_a_guard_reads_as_its_condition(machines: dict[str, Machine]) -> None:
    guards = {t.guard.name: t.guard for t in machines["course_builder"].chart.transitions()
              if t.guard is not None}
    assert guard_words(guards["basicsFilledAndCourseNotCreated"]) == (
        "title is not empty and desiredOutcome is not empty and courseId is empty")
    assert guard_words(guards["smesChosen"]) == "the number of selectedSmeIds is at least 1"
    assert condition(_expr(eq(ctx("failedStep"), "publishing"))) == 'failedStep is "publishing"'


def test_a_guard_without_a_body_is_named_and_its_given_outcome_explained() -> None:
    assert guard_words(Guard(name="isAllowed")) == "isAllowed (implemented outside the flow)"


def test_a_blocked_event_names_the_false_conditions_shared_by_its_transitions_first(
    builder: Session,
) -> None:
    builder.send("TITLE_CHANGED", {"title": "Intro to Go"})
    why = refusal(builder.stepper, builder.snapshot, "BASICS_SUBMITTED")
    assert why.message() == (
        "BASICS_SUBMITTED changed nothing: desiredOutcome is empty "
        "(to selectingSmes also courseId is empty)")


def test_a_count_condition_says_how_many_there_are_and_how_many_are_needed(
    builder: Session,
) -> None:
    for event, payload in [("TITLE_CHANGED", {"title": "Go"}),
                           ("DESIRED_OUTCOME_CHANGED", {"desiredOutcome": "CLI"}),
                           ("BASICS_SUBMITTED", {}),
                           ("xstate.done.actor.createCourse", {"output": {"courseId": "c1"}})]:
        builder.send(event, payload)
    why = builder.refusal("SMES_CONFIRMED")
    assert why is not None
    assert why.summary() == "the number of selectedSmeIds is 0, not at least 1"


def test_an_event_no_transition_takes_says_so(builder: Session) -> None:
    why = refusal(builder.stepper, builder.snapshot, "SMES_CONFIRMED")
    assert why.message() == (
        "SMES_CONFIRMED changed nothing: no transition for it from the active states")


def test_an_event_that_fires_has_no_refusal(builder: Session) -> None:
    assert builder.refusal("TITLE_CHANGED", {"title": "Go"}) is None
    assert len(builder.records) == 1  # asking leaves the session as it was
