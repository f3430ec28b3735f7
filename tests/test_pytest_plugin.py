"""The pytest plugin: ``--flowcheck`` turns every flow into one item per property, verified
once per flow, failing with the counterexample, and adds an item for the exports; node ids
re-run one item; the fixtures give scenario tests a fresh Stepper or python-statemachine
instance. Each test runs pytest on a small project in a temporary directory: the reference
checkout flow and a mutant whose network error has no RETRY."""

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
    return [line for line in result.outlines
            if line.startswith(("machines/", "pyproject.toml::"))]


def test_flowcheck_collects_one_item_per_flow_and_property_and_one_for_the_exports(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--flowcheck", "--collect-only", "-q")

    expected = [f"machines/{flow}.py::{p}" for flow in ("checkout", "checkout_no_retry")
                for p in PROPERTIES]
    assert _collected(result) == [*expected, "pyproject.toml::exports"]
    assert "machines/checkout.py::failure-retry" in expected


def test_the_flows_are_added_when_testpaths_leave_the_machines_out(
    project: pytest.Pytester,
) -> None:
    project.makepyprojecttoml(SETTINGS + '\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    project.mkdir("tests")
    result = project.runpytest("--flowcheck", "--collect-only", "-q")

    assert len(_collected(result)) == 2 * len(PROPERTIES) + 1


def test_a_node_id_pytest_prints_re_runs_that_one_item(project: pytest.Pytester) -> None:
    result = project.runpytest("--flowcheck", "machines/checkout_no_retry.py::failure-retry")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED machines/checkout_no_retry.py::failure-retry*"])


def test_a_flow_module_on_the_command_line_runs_that_flow_only(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--flowcheck", "machines/checkout.py", "--collect-only", "-q")

    assert _collected(result) == [f"machines/checkout.py::{p}" for p in PROPERTIES]


def test_flow_items_are_opt_in(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = project.runpytest("--collect-only", "-q")

    assert _collected(result) == []
    assert "test_plain.py::test_plain" in result.outlines


def test_the_flowcheck_marker_selects_only_the_flow_items(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = project.runpytest("--flowcheck", "-m", "flowcheck", "--collect-only", "-q")

    assert len(_collected(result)) == 2 * len(PROPERTIES) + 1
    assert "test_plain.py::test_plain" not in result.outlines


def test_pytest_true_in_the_settings_turns_the_items_on(project: pytest.Pytester) -> None:
    project.makepyprojecttoml(SETTINGS + "pytest = true\n")
    result = project.runpytest("--collect-only", "-q")

    assert len(_collected(result)) == 2 * len(PROPERTIES) + 1


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
        "*machines/checkout_no_retry.py::failure-retry*",
        "checkout_no_retry: failure-retry failed: failure state 'network_error' has no retry*",
        "  at machines/checkout_no_retry.py:* (state network_error)",
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


def _export(project: pytest.Pytester) -> Path:
    from flowcheck.cli import main

    assert main(["export"]) == 0  # pytester runs in the project directory
    return project.path / "exports"


def test_current_exports_pass_the_exports_item(project: pytest.Pytester) -> None:
    _export(project)
    result = project.runpytest("--flowcheck", "pyproject.toml::exports")

    result.assert_outcomes(passed=1)


def test_a_stale_export_fails_the_exports_item_at_the_first_line_that_differs(
    project: pytest.Pytester,
) -> None:
    config = _export(project) / "checkout.json"
    lines = config.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace("paymentDetails", "somewhereElse")
    config.write_text("".join(lines))
    result = project.runpytest("--flowcheck", "pyproject.toml::exports")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "1 export file(s) out of date: run `flowcheck export` and commit the result",
        "exports/checkout.json:3: stale: from line 3 on, it differs from what `flowcheck "
        "export` writes; *",
    ])


def test_a_failed_item_records_its_status_and_location_in_pytest_junit_xml(
    project: pytest.Pytester,
) -> None:
    import xml.etree.ElementTree as ET

    result = project.runpytest("--flowcheck", "machines/checkout_no_retry.py::failure-retry",
                               "--junitxml=report.xml")

    result.assert_outcomes(failed=1)
    case = ET.parse(project.path / "report.xml").getroot().find(".//testcase")
    assert case is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["flowcheck.status"] == "failed"
    source = (project.path / "machines" / "checkout_no_retry.py").read_text().splitlines()
    # one location per finding; the first is the failure state without a retry
    first = next(p.get("value") for p in case.iter("property")
                 if p.get("name") == "flowcheck.location")
    file, line = str(first).rsplit(":", 1)
    assert file == "machines/checkout_no_retry.py"
    assert source[int(line) - 1].strip().startswith("network_error =")
