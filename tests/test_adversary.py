"""The campaign as the adversary of exploration's environment abstraction.

Exploration tries one value per class its domains derive; the campaign draws from the
types. A step whose guard outcomes exploration never saw in that configuration means the
classes missed a value the flow tells apart: the campaign says so (``conformance``),
shrinks it, and flags the run so that nothing is called proved.
"""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from flowcheck.chart.model import Chart, DataField
from flowcheck.declare import Flow, assign, ctx, eq, ev, guard, read_chart, step, success
from flowcheck.explore.adversary import GuardOutcomes
from flowcheck.explore.campaign import Campaign, run_campaign
from flowcheck.explore.graph import explore
from flowcheck.project import Machine
from flowcheck.properties.base import event_list
from flowcheck.simulation import Session, parse_event_list


class _Answer(BaseModel):
    answer: str = Field(examples=["41", "42"])


class _Quiz(Flow):
    flow_id = "quiz"
    payloads = {"ANSWERED": _Answer}  # noqa: RUF012

    asking = step("Answer the question.", initial=True)
    passed = success("The answer was right.")

    ANSWERED = asking.to(passed, cond=guard("correct", eq(ev("answer"), "42")))


def _narrowed(f: DataField, values: tuple[str, ...]) -> DataField:
    return f.model_copy(update={"examples": values, "enum": values})


def _payload_only(chart: Chart, event: str, values: tuple[str, ...]) -> Chart:
    """The chart with the (single) payload field of ``event`` narrowed to ``values``: an
    exploration of it never tries any other value."""
    events = tuple(
        e.model_copy(update={"payload": tuple(_narrowed(f, values) for f in e.payload)})
        if e.name == event else e for e in chart.events)
    return chart.model_copy(update={"events": events})


@pytest.fixture(scope="module")
def wrong_answers_only() -> tuple[Chart, Campaign]:
    chart = read_chart(_Quiz)
    graph = explore(_payload_only(chart, "ANSWERED", ("41",)))
    assert graph.complete
    return chart, run_campaign(chart, _Quiz, examples=100, graph=graph)


def test_an_exploration_that_never_tried_a_value_its_guards_tell_apart_is_caught(
    wrong_answers_only: tuple[Chart, Campaign],
) -> None:
    _, result = wrong_answers_only
    assert result.abstraction_missed
    (finding,) = result.findings
    assert finding.property == "conformance"
    assert "environment abstraction missed a guard outcome" in finding.message
    assert "in {asking} on ANSWERED" in finding.message
    assert "guard 'correct' (from asking) true" in finding.message


def test_the_missed_guard_outcome_is_shrunk_to_an_event_list_that_replays(
    wrong_answers_only: tuple[Chart, Campaign],
) -> None:
    chart, result = wrong_answers_only
    (finding,) = result.findings
    cx = finding.counterexample
    assert cx is not None
    assert cx.events == (("ANSWERED", {"answer": "42"}),)
    assert f"--events '{event_list(cx.events)}'" in finding.message
    session = Session(chart)
    for name, payload in parse_event_list(event_list(cx.events)):
        session.send(name, payload)
    assert tuple(session.describe()["configuration"]) == cx.states[-1] == ("passed",)


def test_an_exploration_of_the_derived_domains_leaves_the_adversary_nothing() -> None:
    chart = read_chart(_Quiz)
    result = run_campaign(chart, _Quiz, examples=100, graph=explore(chart))
    assert result.events > 0 and result.adversary_skipped is None
    assert not result.abstraction_missed
    assert result.findings == []


class _ExpectedContext(BaseModel):
    expected: str = ""


class _Expected(BaseModel):
    expected: str = Field(examples=["41", "7"])


class _Match(Flow):
    """The answer must match what the teacher set (nothing, at first)."""

    flow_id = "match"
    Context = _ExpectedContext
    payloads = {"EXPECTED_SET": _Expected, "ANSWERED": _Answer}  # noqa: RUF012

    asking = step("Answer the question.", initial=True)
    passed = success("The answer matched.")

    EXPECTED_SET = asking.to(None, on=assign("setExpected", expected=ev("expected")))
    ANSWERED = asking.to(passed, cond=guard("matches", eq(ev("answer"), ctx("expected"))))


def test_a_value_missed_in_one_explored_snapshot_is_caught_though_its_configuration_saw_it(
) -> None:
    chart = read_chart(_Match)
    narrowed = _payload_only(_payload_only(chart, "ANSWERED", ("41",)),
                             "EXPECTED_SET", ("41", "7"))
    graph = explore(narrowed)
    seen = GuardOutcomes(graph).explored(graph.snapshots[0].configuration, "ANSWERED")
    assert seen == {(True,), (False,)}  # "41" matched once "41" was expected
    result = run_campaign(chart, _Match, examples=100, graph=graph)
    assert result.abstraction_missed
    (finding,) = result.findings
    assert "guard 'matches' (from asking) true" in finding.message
    assert "from this snapshot" in finding.message
    assert finding.counterexample is not None
    assert finding.counterexample.events == (("ANSWERED", {"answer": ""}),)


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


def test_an_exploration_started_from_too_few_inputs_is_caught_with_the_input_missed() -> None:
    chart = read_chart(_Generate)
    assert chart.input is not None
    narrowed = chart.model_copy(
        update={"input": tuple(_narrowed(f, ("outline",)) for f in chart.input)})
    graph = explore(narrowed)
    assert graph.complete and graph.roots == [{"kind": "outline"}]
    result = run_campaign(chart, _Generate, examples=100, graph=graph)
    assert result.abstraction_missed
    (finding,) = result.findings
    assert "guard 'outlineWanted' (from choosing) false" in finding.message
    assert finding.counterexample is not None
    assert finding.counterexample.input == {"kind": "lessons"}
    assert finding.counterexample.events == (("STARTED", {}),)


def test_a_bounded_exploration_is_not_used_as_the_reference(
    machines: dict[str, Machine],
) -> None:
    m = machines["course_builder"]
    graph = explore(m.chart, max_configurations=50)
    assert not graph.complete
    result = run_campaign(m.chart, m.cls, examples=30, graph=graph)
    assert result.adversary_skipped == "exploration did not finish"
    assert not result.abstraction_missed


@pytest.mark.parametrize("name", ["checkout", "course_builder", "generation", "registration"])
def test_the_bundled_flows_explorations_cover_every_guard_outcome_the_campaign_draws(
    machines: dict[str, Machine], name: str,
) -> None:
    m = machines[name]
    graph = explore(m.chart)
    assert graph.complete
    result = run_campaign(m.chart, m.cls, examples=100, graph=graph)
    assert result.adversary_skipped is None and result.events > 0
    assert not result.abstraction_missed, [f.message for f in result.findings]
    assert result.findings == []
