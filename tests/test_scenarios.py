"""Scenario files: ``flowcheck simulate NAME --script FILE``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flowcheck.cli import main

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
