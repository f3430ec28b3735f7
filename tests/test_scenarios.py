"""Scenario files: ``flowcheck simulate NAME --script FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from flowcheck.cli import main
from flowcheck.scenarios import dump, from_session, header
from flowcheck.simulation import Session

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def _simulate(capsys: pytest.CaptureFixture[str], machine: str, script: Path) -> tuple[int, str]:
    code = main(["simulate", machine, "--script", str(script)])
    out, err = capsys.readouterr()
    return code, out + err


def test_there_is_a_scenario_for_each_flow() -> None:
    assert {p.stem for p in SCENARIOS} >= {"checkout", "course_builder", "registration",
                                           "generation"}


@pytest.mark.parametrize("script", SCENARIOS, ids=lambda p: p.stem)
def test_bundled_scenario_passes(capsys: pytest.CaptureFixture[str], script: Path) -> None:
    code, text = _simulate(capsys, script.stem, script)
    assert code == 0, text


@pytest.mark.parametrize("script", SCENARIOS, ids=lambda p: p.stem)
def test_bundled_scenario_visits_a_failure_and_recovers(script: Path) -> None:
    steps = yaml.safe_load(script.read_text())["steps"]
    configs = [s.get("expect", {}).get("configuration", []) for s in steps]
    first_failure = next(i for i, c in enumerate(configs) if "failure" in c)
    assert any(c and "failure" not in c for c in configs[first_failure + 1:])


def _checkout(tmp_path: Path, steps: list[dict[str, object]]) -> Path:
    path = tmp_path / "checkout.yaml"
    path.write_text(yaml.safe_dump({"machine": "checkout", "steps": steps}))
    return path


def test_wrong_configuration_fails_with_expected_and_actual(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = _checkout(tmp_path, [
        {"event": "PAYMENT_METHOD_ENTERED", "payload": {"paymentMethodId": "pm_card_visa"}},
        {"event": "PAYMENT_SUBMITTED", "expect": {"configuration": ["requiresAction"]}},
    ])
    code, text = _simulate(capsys, "checkout", script)
    assert code == 1
    assert "step 2 (PAYMENT_SUBMITTED)" in text
    assert "expected: requiresAction" in text
    assert "actual:   submittingPayment" in text


def test_wrong_context_and_telemetry_show_a_diff(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = _checkout(tmp_path, [
        {"event": "PAYMENT_METHOD_ENTERED", "payload": {"paymentMethodId": "pm_card_visa"},
         "expect": {"context": {"paymentMethodId": "pm_other"}, "telemetry": ["STATE_EXITED"]}},
    ])
    code, text = _simulate(capsys, "checkout", script)
    assert code == 1
    assert 'expected: "pm_other"' in text and 'actual:   "pm_card_visa"' in text
    assert "- STATE_EXITED" in text


def test_first_mismatch_stops_the_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = _checkout(tmp_path, [
        {"event": "CHECKOUT_CANCELLED", "expect": {"state": "paymentDetails"}},
        {"event": "PAYMENT_SUBMITTED", "expect": {"state": "completed"}},
    ])
    code, text = _simulate(capsys, "checkout", script)
    assert code == 1
    assert "step 1" in text and "step 2" not in text


def test_scenario_without_steps_exits_2_naming_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "empty.yaml"
    script.write_text("machine: checkout\n")
    code, text = _simulate(capsys, "checkout", script)
    assert code == 2
    assert "empty.yaml" in text and "'steps'" in text


def test_unknown_state_in_an_expectation_exits_2_naming_the_step(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = _checkout(tmp_path, [
        {"event": "CHECKOUT_CANCELLED", "expect": {"state": "canceled"}},
    ])
    code, text = _simulate(capsys, "checkout", script)
    assert code == 2
    assert "step 1 (CHECKOUT_CANCELLED)" in text and "'canceled'" in text


def test_unknown_event_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = _checkout(tmp_path, [{"event": "PAY_NOW"}])
    code, text = _simulate(capsys, "checkout", script)
    assert code == 2
    assert "step 1 (PAY_NOW)" in text


def test_scenario_for_another_machine_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, text = _simulate(capsys, "registration", _checkout(tmp_path, []))
    assert code == 2
    assert "'checkout'" in text


def test_json_scenarios_are_accepted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text('{"machine": "checkout", "steps": [{"event": "CHECKOUT_CANCELLED",'
                      ' "expect": {"done": true}}]}')
    code, text = _simulate(capsys, "checkout", script)
    assert code == 0, text


def _course_builder(tmp_path: Path, steps: list[dict[str, object]]) -> Path:
    path = tmp_path / "course_builder.yaml"
    path.write_text(yaml.safe_dump({"machine": "course_builder", "steps": steps}))
    return path


TO_OUTLINE: list[dict[str, object]] = [
    {"event": "TITLE_CHANGED", "payload": {"title": "Intro to Go"}},
    {"event": "DESIRED_OUTCOME_CHANGED", "payload": {"desiredOutcome": "Write a CLI tool"}},
    {"event": "BASICS_SUBMITTED"},
    {"event": "xstate.done.actor.createCourse", "payload": {"output": {"courseId": "course_1"}}},
    {"event": "SME_SELECTED", "payload": {"smeId": "sme_1"}},
    {"event": "SMES_CONFIRMED"},
    {"event": "AUDIENCE_SELECTED", "payload": {"audienceId": "aud_1"}},
    {"event": "AUDIENCES_CONFIRMED", "payload": {"generationKey": "gen-1"}},
    {"event": "xstate.done.actor.setCourseTargeting", "payload": {"output": {}},
     "expect": {"actors": {"generateOutline": {"configuration": ["enqueuing"],
                                               "context": {"kind": "outline"}}}}},
]


def test_steps_sent_to_a_child_flow_play_it_to_its_end(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = _course_builder(tmp_path, [*TO_OUTLINE,
        {"event": "xstate.done.actor.startGeneration", "actor": "generateOutline",
         "payload": {"output": {"jobId": "job_5"}},
         "expect": {"actors": {"generateOutline": {"state": "waiting"}}}},
        {"event": "xstate.after.POLL_INTERVAL.waiting", "actor": "generateOutline"},
        {"event": "xstate.done.actor.getGenerationJob", "actor": "generateOutline",
         "payload": {"output": {"jobId": "job_5", "status": "succeeded"}},
         "expect": {"configuration": ["reviewingOutline"], "context": {"outlineJobId": "job_5"}}},
    ])
    code, text = _simulate(capsys, "course_builder", script)
    assert code == 0, text


def test_an_expectation_on_a_child_that_is_not_running_is_a_mismatch(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = _course_builder(tmp_path, [
        {"event": "TITLE_CHANGED", "payload": {"title": "Go"},
         "expect": {"actors": {"generateOutline": {"state": "enqueuing"}}}}])
    code, text = _simulate(capsys, "course_builder", script)
    assert code == 1
    assert "actor generateOutline is not running" in text


def test_an_actor_the_flow_does_not_invoke_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = _course_builder(tmp_path, [{"event": "RETRY", "actor": "generateQuiz"}])
    code, text = _simulate(capsys, "course_builder", script)
    assert code == 2
    assert "'generateQuiz'" in text


def test_a_mismatch_at_a_step_a_guard_held_back_says_which_condition_is_false(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = _course_builder(tmp_path, [
        {"event": "TITLE_CHANGED", "payload": {"title": "Intro to Go"}},
        {"event": "BASICS_SUBMITTED", "expect": {"state": "creatingCourse"}},
    ])
    code, text = _simulate(capsys, "course_builder", script)
    assert code == 1
    assert ("BASICS_SUBMITTED changed nothing: desiredOutcome is empty "
            "(to selectingSmes also courseId is empty)") in text


def test_a_session_saved_as_a_scenario_passes_flowcheck_simulate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, machines: dict[str, Any]
) -> None:
    flows = {name: m.chart for name, m in machines.items()}
    session = Session(flows["course_builder"], flows=flows)
    for step in TO_OUTLINE:
        payload = step.get("payload")
        session.send(str(step["event"]), payload if isinstance(payload, dict) else {})
    session.send("xstate.error.actor.startGeneration", {"error": {"code": "unavailable"}},
                 actor="generateOutline")
    session.send("RETRY", {}, actor="generateOutline")
    path = tmp_path / "saved.yaml"
    path.write_text(dump(from_session(session, "saved"), header("course_builder", "saved",
                                                                 str(path))))
    saved = yaml.safe_load(path.read_text())
    assert saved["steps"][-1]["actor"] == "generateOutline"
    assert saved["steps"][-1]["expect"]["actors"]["generateOutline"]["configuration"] == [
        "enqueuing"]
    code, text = _simulate(capsys, "course_builder", path)
    assert code == 0, text
    assert "11 step(s), every expectation holds" in text
