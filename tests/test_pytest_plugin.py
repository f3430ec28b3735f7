"""The pytest plugin: ``--flowcheck`` turns every flow into one item per property, verified
once per flow, failing with the counterexample; the fixtures give scenario tests a fresh
Stepper or python-statemachine instance. Each test runs pytest on a small project in a
temporary directory: the reference checkout flow and a mutant whose network error has
no RETRY."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import hypothesis.statistics  # noqa: F401
import pytest

import flowcheck.contracts.proto
import flowcheck.declare
import flowcheck.formats.reports
import flowcheck.verification
from flowcheck.properties import catalog

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROPERTIES = [str(m.ID) for m in catalog()]
# pytester's in-process runs forget the modules they imported; importing what verification
# needs here keeps each run from importing (and assertion-rewriting) it all again.
SETTINGS = '[tool.flowcheck]\nmachines = ["machines"]\nexamples = 10\n'


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    machines = pytester.mkdir("machines")
    shutil.copy(ROOT / "machines" / "checkout.py", machines / "checkout.py")
    shutil.copy(FIXTURES / "mutant_no_recovery.py", machines / "checkout_no_retry.py")
    shutil.copy(FIXTURES / "_checkout_parts.py", machines / "_checkout_parts.py")
    shutil.copytree(ROOT / "proto", pytester.path / "proto")
    pytester.makepyprojecttoml(SETTINGS)
    return pytester


def _collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("flowcheck::")]


def test_flowcheck_collects_one_item_per_flow_and_property(project: pytest.Pytester) -> None:
    result = project.runpytest("--flowcheck", "--collect-only", "-q")

    expected = [f"flowcheck::{flow}::{p}" for flow in ("checkout", "checkout_no_retry")
                for p in PROPERTIES]
    assert _collected(result) == expected
    assert "flowcheck::checkout::failure-retry" in expected


def test_flow_items_are_opt_in(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = project.runpytest("--collect-only", "-q")

    assert _collected(result) == []
    assert "test_plain.py::test_plain" in result.outlines


def test_the_flowcheck_marker_selects_only_the_flow_items(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = project.runpytest("--flowcheck", "-m", "flowcheck", "--collect-only", "-q")

    assert len(_collected(result)) == 2 * len(PROPERTIES)
    assert "test_plain.py::test_plain" not in result.outlines


def test_pytest_true_in_the_settings_turns_the_items_on(project: pytest.Pytester) -> None:
    project.makepyprojecttoml(SETTINGS + "pytest = true\n")
    result = project.runpytest("--collect-only", "-q")

    assert len(_collected(result)) == 2 * len(PROPERTIES)


def test_a_sound_flow_passes_every_property_from_one_exploration(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:

    calls: list[str] = []
    verify = flowcheck.verification.verify_chart

    def counting(chart: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(chart.name)
        return verify(chart, *args, **kwargs)

    monkeypatch.setattr(flowcheck.verification, "verify_chart", counting)
    result = project.runpytest("--flowcheck", "-k", "checkout and not no_retry")

    result.assert_outcomes(passed=len(PROPERTIES))
    assert calls == ["checkout"]


def test_a_failure_state_without_retry_fails_with_its_counterexample(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--flowcheck", "-k", "checkout_no_retry and failure-retry")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*flowcheck::checkout_no_retry::failure-retry*",
        "checkout_no_retry: failure-retry failed: failure state 'network_error' has no retry*",
        "  at machines/checkout_no_retry.py:*, state network_error",
        "  counterexample (events -> configuration):",
        "    (initial) -> {paymentDetails}",
        "    PAYMENT_SUBMITTED -> {submittingPayment}",
        '    xstate.error.actor.confirmPayment {"error":{"code":"unavailable"}}'
        " -> {failure, network_error}",
        "  replay: flowcheck simulate checkout_no_retry --events *",
    ])


def test_a_flow_module_that_does_not_import_is_a_collection_error(
    project: pytest.Pytester,
) -> None:
    (project.path / "machines" / "broken.py").write_text("import no_such_module\n")
    result = project.runpytest("--flowcheck")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*machines/broken.py:1: importing the machine failed with "
                                 "ModuleNotFoundError*"])


def test_the_fixtures_give_fresh_steppers_and_machines(project: pytest.Pytester) -> None:
    project.makepyfile(test_scenario='''
def test_stepper(flowcheck_stepper):
    stepper, snap = flowcheck_stepper("checkout")
    assert stepper.active_ids(snap) == ["paymentDetails"]
    snap, _ = stepper.step(snap, "PAYMENT_METHOD_ENTERED", {"paymentMethodId": "pm_card_visa"})
    snap, _ = stepper.step(snap, "PAYMENT_SUBMITTED")
    assert stepper.active_ids(snap) == ["submittingPayment"]
    assert flowcheck_stepper("checkout").stepper.active_ids(
        flowcheck_stepper("checkout").snapshot) == ["paymentDetails"]

def test_machine(flowcheck_machine):
    sm = flowcheck_machine("checkout")
    sm.send("PAYMENT_METHOD_ENTERED", paymentMethodId="pm_card_visa")
    assert sm.context.paymentMethodId == "pm_card_visa"
    assert flowcheck_machine("checkout").context.paymentMethodId != "pm_card_visa"
''')
    result = project.runpytest()

    result.assert_outcomes(passed=2)
