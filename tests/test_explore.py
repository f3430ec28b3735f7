"""Exhaustive exploration: the alphabet, the search, shortest paths and the bound."""

from __future__ import annotations

from typing import Any

import pytest

from flowcheck.chart.model import Chart
from flowcheck.explore import Exploration, alphabet, explore, replay
from flowcheck.project import Machine
from flowcheck.semantics import Stepper


@pytest.fixture(scope="module")
def checkout(machines: dict[str, Machine]) -> Chart:
    return machines["checkout"].chart


@pytest.fixture(scope="module")
def explored(checkout: Chart) -> Exploration:
    return explore(checkout)


def test_user_events_are_tried_with_every_payload_of_their_example_domain(checkout: Chart) -> None:
    payloads = [lt.payload for lt in alphabet(checkout) if lt.event == "PAYMENT_METHOD_ENTERED"]
    assert payloads == [{"paymentMethodId": "pm_card_visa"}, {"paymentMethodId": ""}]


def test_invoke_outcomes_are_letters_with_each_output_and_each_error_code(checkout: Chart) -> None:
    letters = alphabet(checkout)
    done = [lt.payload for lt in letters if lt.event == "xstate.done.actor.confirmPayment"]
    error = [lt.payload for lt in letters if lt.event == "xstate.error.actor.confirmPayment"]
    assert done == [{"output": o} for o in checkout.state("submittingPayment").invokes[0].outputs]
    assert error == [{"error": {"code": "failed_precondition"}}, {"error": {"code": "unavailable"}}]


def test_invoke_outcomes_are_only_sent_while_the_invoking_state_is_active(
    explored: Exploration,
) -> None:
    for e in range(explored.edges):
        letter = explored.alphabet[explored.edge_letter[e]]
        if letter.event.startswith("xstate.done.actor."):
            assert "submittingPayment" in explored.active(explored.edge_src[e])


def test_delays_are_sent_only_while_their_state_is_active(machines: dict[str, Machine]) -> None:
    result = explore(machines["generation"].chart)
    delays = [e for e in range(result.edges)
              if result.alphabet[result.edge_letter[e]].kind == "delay"]
    assert delays
    for e in delays:
        waiting = result.alphabet[result.edge_letter[e]].event.rsplit(".", 1)[-1]
        assert waiting in result.active(result.edge_src[e])


def test_exploration_of_checkout_is_complete_and_visits_every_state(
    explored: Exploration, checkout: Chart,
) -> None:
    assert explored.complete and explored.expanded == explored.configurations
    visited = {sid for node in range(explored.configurations) for sid in explored.active(node)}
    assert visited == {s.id for s in checkout.states}


def test_snapshots_are_deduplicated(explored: Exploration) -> None:
    assert len(set(explored.snapshots)) == explored.configurations


def test_the_parent_path_to_a_node_is_a_shortest_path_and_replays_on_the_stepper(
    explored: Exploration, checkout: Chart,
) -> None:
    graph = explored.to_networkx()
    import networkx as nx

    lengths = nx.single_source_shortest_path_length(graph, 0)
    stepper = Stepper(checkout)
    for node in range(explored.configurations):
        path = explored.path_to(node)
        assert len(path) == lengths[node]
        cx = replay(stepper, [explored.letter_event(i) for i in path])
        assert list(cx.states[-1]) == explored.active(node)


def test_a_counterexample_lists_the_configuration_after_every_event(
    explored: Exploration,
) -> None:
    node = next(explored.nodes_where(explored.state_mask("payment_declined")))
    cx = explored.counterexample(node)
    assert len(cx.states) == len(cx.events) + 1
    assert cx.states[0] == ("paymentDetails",)
    assert cx.states[-1] == ("failure", "payment_declined")


def test_reaching_max_configurations_makes_the_result_bounded(checkout: Chart) -> None:
    result = explore(checkout, max_configurations=5)
    assert not result.complete
    assert result.configurations == 5
    assert result.expanded < result.configurations


def test_a_guard_that_raises_is_recorded_with_its_path_not_raised(checkout: Chart) -> None:
    from flowcheck.chart.expr import Expr
    from flowcheck.chart.model import Guard

    broken = Guard(name="planIdAtLeastThree", expr=Expr(op="ge", args=(
        Expr(op="ref", path="context.planId"), Expr(op="lit", value=3))))
    states = []
    for s in checkout.states:
        if s.id == "requiresAction":
            ts = tuple(t.model_copy(update={"guard": broken})
                       if t.event == "PAYMENT_ACTION_COMPLETED" else t for t in s.transitions)
            s = s.model_copy(update={"transitions": ts})
        states.append(s)
    result = explore(checkout.model_copy(update={"states": tuple(states)}))
    assert result.complete
    (error,) = {e.message: e for e in result.errors}.values()
    assert "planIdAtLeastThree" in error.message
    cx = result.counterexample(error.node, [error.letter])
    assert cx.events[-1][0] == "PAYMENT_ACTION_COMPLETED"


def test_an_interrupt_keeps_what_was_explored(checkout: Chart, monkeypatch: Any) -> None:
    import flowcheck.explore.graph as graph_module

    monkeypatch.setattr(graph_module, "PROGRESS_EVERY", 4)

    def stop(expanded: int, discovered: int) -> None:
        raise KeyboardInterrupt

    result = explore(checkout, progress=stop)
    assert result.interrupted and not result.complete
    assert result.expanded == 4 and result.configurations >= 4


def test_the_networkx_view_has_one_edge_per_explored_transition(explored: Exploration) -> None:
    graph = explored.to_networkx()
    assert graph.number_of_nodes() == explored.configurations
    assert graph.number_of_edges() == explored.edges
    assert graph.nodes[0]["states"] == ("paymentDetails",)
