"""The campaign's transition cover: before any random run, the campaign replays a few
explored event paths that together fire every transition exploration fired, each on a
fresh python-statemachine instance, in a fixed order; a divergence on any transition is
found there, deterministically, whatever the random budget."""

from __future__ import annotations

import pytest

from flowcheck.chart.model import Chart
from flowcheck.explore.campaign import run_campaign, transition_cover
from flowcheck.explore.graph import explore
from flowcheck.project import Machine
from flowcheck.semantics import Stepper, start_context
from flowcheck.semantics.stepper import MacrostepTrace

FLOWS = ["checkout", "course_builder", "generation", "registration"]


def _fired_by(chart: Chart, paths: list[tuple[dict[str, object] | None,
                                              tuple[tuple[str, dict[str, object]], ...]]]
              ) -> set[int]:
    """The declared transitions a fresh Stepper fires along ``paths`` (indices)."""
    stepper = Stepper(chart)
    number = {id(t): i for i, t in enumerate(chart.transitions())}
    fired: set[int] = set()
    for given, events in paths:
        trace = MacrostepTrace()
        snap, _ = stepper.initial(start_context(stepper, given), record=False, trace=trace)
        for name, payload in events:
            snap, _ = stepper.step(snap, name, payload, record=False, trace=trace)
        fired |= {number[id(t)] for t in trace.fired}
    return fired


@pytest.mark.parametrize("flow", FLOWS)
def test_the_cover_of_a_bundled_flow_fires_every_transition(
    flow: str, machines: dict[str, Machine],
) -> None:
    chart = machines[flow].chart
    cover = transition_cover(explore(chart))

    declared = len(chart.transitions())
    assert cover.transitions == cover.fired == declared
    assert _fired_by(chart, [(p.input, p.events) for p in cover.paths]) == set(range(declared))
    assert len(cover.paths) < declared  # a path fires several transitions


def test_the_campaign_replays_the_cover_before_its_random_runs(
    machines: dict[str, Machine],
) -> None:
    m = machines["registration"]
    graph = explore(m.chart)
    cover = transition_cover(graph)

    result = run_campaign(m.chart, m.cls, examples=5, graph=graph)

    assert result.findings == []
    assert result.cover_runs == len(cover.paths)
    assert result.cover_events == sum(len(p.events) for p in cover.paths)
    assert result.cover_transitions == result.transitions == len(m.chart.transitions())
    assert result.examples >= 3  # then the random runs: what is left, at least half
    assert 0 < result.cover_seconds <= result.seconds


def test_the_cover_is_the_same_for_the_same_exploration(machines: dict[str, Machine]) -> None:
    chart = machines["course_builder"].chart
    assert transition_cover(explore(chart)) == transition_cover(explore(chart))


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


def test_a_divergence_on_one_transition_is_found_by_the_cover_without_random_runs(
    machines: dict[str, Machine],
) -> None:
    m = machines["checkout"]
    chart = _retry_goes_back_to_payment_details(m.chart)

    result = run_campaign(chart, m.cls, examples=1, graph=explore(chart))

    (finding,) = result.findings
    assert finding.property == "conformance"
    assert "python-statemachine is in {submittingPayment}" in finding.message
    assert finding.counterexample is not None
    assert finding.counterexample.events[-1][0] == "RETRY"
    assert result.examples == 0  # the random runs were not needed
    assert result.cover_runs >= 1
