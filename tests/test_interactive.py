"""Interactive ``flowcheck simulate NAME``, driven through a pipe like a terminal user."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _play(name: str, keys: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("flowcheck")
    return subprocess.run(
        [str(exe), "simulate", name], cwd=ROOT, input=keys, capture_output=True, text=True,
        timeout=60,
    )


def test_piped_session_reaches_a_final_state() -> None:
    # 1 PAYMENT_METHOD_ENTERED (Enter takes the example card), 2 PAYMENT_SUBMITTED,
    # 1 the first example output of the payment: succeeded.
    result = _play("checkout", "1\n\n2\n1\n")
    assert result.returncode == 0, result.stderr
    assert "configuration: completed" in result.stdout
    assert "done: the flow reached a final state" in result.stdout
    assert "track CHECKOUT_COMPLETED" in result.stdout


def test_invoke_outcomes_are_offered_with_example_outputs_and_error_codes() -> None:
    result = _play("checkout", "1\n\n2\n")
    assert 'xstate.done.actor.confirmPayment  {"output": {"paymentId": "pay_1", "status": ' \
           '"requires_action"}}' in result.stdout
    assert 'xstate.error.actor.confirmPayment  {"error": {"code": "failed_precondition"}}' \
        in result.stdout


def test_payload_fields_are_prompted_with_the_example_as_default() -> None:
    result = _play("checkout", "1\npm_typed\n")
    assert "paymentMethodId (string) [pm_card_visa]:" in result.stdout
    assert 'paymentMethodId = "pm_typed"' in result.stdout


def test_undo_returns_to_the_previous_configuration() -> None:
    result = _play("checkout", "3\nundo\n")
    after_undo = result.stdout.split("undone", 1)[1]
    assert "configuration: paymentDetails" in after_undo


def test_reset_starts_over() -> None:
    result = _play("checkout", "1\npm_x\nreset\n")
    after_reset = result.stdout.split("reset", 1)[1]
    assert 'paymentMethodId = ""' in after_reset


def test_invalid_payload_is_reported_and_the_session_goes_on() -> None:
    result = _play("checkout", 'PAYMENT_METHOD_ENTERED {"paymentMethodId": 5}\n3\n')
    assert "must be string" in result.stdout
    assert "configuration: cancelled" in result.stdout
    assert result.returncode == 0


def test_end_of_input_ends_the_session_cleanly() -> None:
    result = _play("registration", "")
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
    assert "configuration: account" in result.stdout


def test_a_blocked_event_is_marked_with_the_false_condition_and_explained_when_sent() -> None:
    result = _play("course_builder", "3\n")
    assert ("3. BASICS_SUBMITTED  (no effect now, title is empty; desiredOutcome is empty "
            "(to selectingSmes also courseId is empty))") in result.stdout
    assert ("BASICS_SUBMITTED changed nothing: title is empty; desiredOutcome is empty "
            "(to selectingSmes also courseId is empty); the step was not recorded"
            ) in result.stdout


def test_retry_is_prompted_with_the_same_default_the_web_simulator_fills_in() -> None:
    keys = "1\n\n2\n\n3\n4\n"  # title, outcome, submit, createCourse fails with permission
    result = _play("course_builder", keys + "RETRY\n")
    assert "generationKey (string) [gen-2]:" in result.stdout


def test_a_running_child_flows_events_are_offered_under_its_actor() -> None:
    keys = ("1\n\n2\n\n3\n1\n1\n\n3\n1\n\n3\n\n1\n")  # ... to generatingOutline
    result = _play("course_builder", keys)
    assert "child flow generateOutline (generation): enqueuing" in result.stdout
    assert "@generateOutline xstate.done.actor.startGeneration" in result.stdout


def test_save_writes_a_scenario_that_flowcheck_simulate_replays(tmp_path: Path) -> None:
    file = tmp_path / "session.yaml"
    result = _play("checkout", f"1\n\n3\nsave {file} paid nothing\n")
    assert f"saved {file} (2 steps)" in result.stdout
    exe = Path(sys.executable).with_name("flowcheck")
    replayed = subprocess.run([str(exe), "simulate", "checkout", "--script", str(file)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr


def test_load_replays_a_scenario_file_and_the_session_goes_on_from_its_end() -> None:
    result = _play("checkout", "load scenarios/checkout.yaml\nundo\n")
    assert "loaded scenarios/checkout.yaml" in result.stdout
    assert "every expectation holds" in result.stdout
    assert "undone" in result.stdout


def test_whatif_lists_every_error_code_of_the_running_call_and_the_way_back() -> None:
    result = _play("checkout", "1\n\n2\nwhatif\n")
    assert "confirmPayment fails (failed_precondition)" in result.stdout
    assert "-> failure, payment_declined" in result.stdout
    assert "way back: RETRY -> submittingPayment" in result.stdout
