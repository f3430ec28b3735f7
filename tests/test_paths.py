"""Event paths: shortest paths to states and sets of paths covering every transition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowcheck.chart.model import Chart
from flowcheck.cli import main
from flowcheck.paths import _RecordingStepper, explore, shortest_paths, transition_cover
from flowcheck.project import Machine

ROOT = Path(__file__).resolve().parent.parent


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _replay(chart: Chart, steps: list[dict[str, object]]) -> set[tuple[str, int]]:
    """Replay a path on the Stepper, checking each expected configuration; the transitions taken."""
    stepper = _RecordingStepper(chart)
    keys = {id(t): (s.id, i) for s in chart.states for i, t in enumerate(s.transitions)}
    snap, _ = stepper.initial()
    for n, step in enumerate(steps, start=1):
        payload = step["payload"]
        assert isinstance(payload, dict)
        snap, _ = stepper.step(snap, str(step["event"]), payload)
        expect = step["expect"]
        assert isinstance(expect, dict)
        assert stepper.active_ids(snap) == expect["configuration"], f"step {n}"
    return {keys[id(t)] for t in stepper.fired}


def test_registration_transition_cover_takes_every_transition_and_replays(
    machines: dict[str, Machine], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = _cli(capsys, "paths", "registration", "--cover", "transitions",
                        "--format", "json")
    assert code == 0
    report = json.loads(out)
    chart = machines["registration"].chart
    taken: set[tuple[str, int]] = set()
    for path in report["paths"]:
        taken |= _replay(chart, path["steps"])
    every = {(s.id, i) for s in chart.states for i in range(len(s.transitions))}
    assert report["unreachable"] == []
    assert taken == every


def test_transitions_that_no_run_takes_are_listed_as_unreachable(
    machines: dict[str, Machine],
) -> None:
    chart = machines["checkout"].chart
    paymentless = chart.model_copy(update={"states": tuple(
        s.model_copy(update={"transitions": tuple(
            t for t in s.transitions if t.event != "PAYMENT_METHOD_ENTERED"
        )}) for s in chart.states
    )})
    paths, never = transition_cover(explore(paymentless))
    assert ("paymentDetails", 0) in never  # PAYMENT_SUBMITTED: its guard never holds
    assert paths


def test_shortest_path_to_a_state_is_the_fewest_events(machines: dict[str, Machine]) -> None:
    graph = explore(machines["checkout"].chart)
    (path,), missing = shortest_paths(graph, "requiresAction")
    assert missing == []
    assert [s["event"] for s in path["steps"]] == [
        "PAYMENT_METHOD_ENTERED", "PAYMENT_SUBMITTED", "xstate.done.actor.confirmPayment",
    ]
    assert path["steps"][-1]["payload"] == {
        "output": {"paymentId": "pay_1", "status": "requires_action"}
    }


def test_every_state_of_every_flow_has_a_path(machines: dict[str, Machine]) -> None:
    for machine in machines.values():
        _, missing = shortest_paths(explore(machine.chart))
        assert missing == [], machine.name


def test_unknown_target_state_exits_2_naming_the_states(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    code, _, err = _cli(capsys, "paths", "checkout", "--to", "nowhere")
    assert code == 2
    assert "'nowhere'" in err and "paymentDetails" in err


def test_paths_json_replays_as_a_scenario_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    _, out, _ = _cli(capsys, "paths", "checkout", "--cover", "transitions", "--format", "json")
    script = tmp_path / "paths.json"
    script.write_text(out)
    code, out, _ = _cli(capsys, "simulate", "checkout", "--script", str(script))
    assert code == 0, out


def test_text_output_lists_each_step_with_its_configuration(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = _cli(capsys, "paths", "checkout", "--to", "completed")
    assert code == 0
    assert "PAYMENT_SUBMITTED  ->  submittingPayment" in out
