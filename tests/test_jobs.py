"""Many flows at once: ``flowcheck check --jobs N`` and ``pytest --flowcheck -n N`` report
exactly what one process reports (same order, same verdicts, same counterexamples; only the
measured durations differ from run to run)."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from variants import REPO, variant

from flowcheck.cli import main

pytest_plugins = ["pytester"]

FIXTURES = REPO / "tests" / "fixtures"
TIMES = re.compile(r"\d+\.\d+s\)")
NEVER = 'and_(nonempty(ctx("paymentMethodId")), not_(nonempty(ctx("paymentMethodId"))))'
FAILING = ('guard("paymentMethodChosen", nonempty(ctx("paymentMethodId")))',
           f'guard("paymentMethodChosen", {NEVER})')
IMPORTS = ("    nonempty,\n", "    nonempty,\n    and_,\n    not_,\n")


def _untimed(value: Any) -> Any:
    """A JSON report without its measured durations (``seconds`` and ``*_seconds``)."""
    if isinstance(value, dict):
        return {k: None if k.endswith("seconds") else _untimed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def test_check_in_two_processes_reports_what_one_process_reports(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    project = variant("checkout", FAILING, IMPORTS)
    shutil.copytree(REPO / "exports", project.root / "exports")
    monkeypatch.chdir(project.root)
    outputs: dict[str, tuple[int, str, str]] = {}
    for jobs in ("1", "2"):
        code = main(["check", "--no-cache", "--examples", "10", "--format", "json",
                     "--jobs", jobs])
        report = capsys.readouterr().out
        main(["check", "--examples", "10", "--jobs", jobs, "--no-cache"])
        outputs[jobs] = (code, report, capsys.readouterr().out)

    one, two = outputs["1"], outputs["2"]
    assert one[0] == two[0] == 1  # the patched flow fails
    assert _untimed(json.loads(two[1])) == _untimed(json.loads(one[1]))
    assert [m["name"] for m in json.loads(one[1])["machines"]] == [
        "checkout", "course_builder", "generation", "registration"]
    assert TIMES.sub("", two[2]) == TIMES.sub("", one[2])
    assert "counterexample" in one[2]


def _outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """Per test case, its outcome and its failure text."""
    out: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failure = case.find("failure")
        skipped = case.find("skipped")
        outcome = "failed" if failure is not None else "skipped" if skipped is not None \
            else "passed"
        text = (failure.text or "") if failure is not None else ""
        out[f"{case.get('classname')}::{case.get('name')}"] = (outcome, text)
    return out


def test_pytest_flowcheck_under_xdist_gives_each_item_the_outcome_of_one_process(
    pytester: pytest.Pytester,
) -> None:
    machines = pytester.mkdir("machines")
    shutil.copy(REPO / "machines" / "checkout.py", machines / "checkout.py")
    shutil.copy(FIXTURES / "mutant_no_recovery.py", machines / "checkout_no_retry.py")
    shutil.copy(FIXTURES / "_checkout_parts.py", machines / "_checkout_parts.py")
    shutil.copytree(REPO / "proto", pytester.path / "proto")
    pytester.makepyprojecttoml('[tool.flowcheck]\nmachines = ["machines"]\nexamples = 10\n')

    alone = pytester.runpytest_subprocess("--flowcheck", "-p", "no:xdist",
                                          "--junitxml=alone.xml")
    spread = pytester.runpytest_subprocess("--flowcheck", "-n", "2", "--junitxml=spread.xml")

    assert alone.ret == spread.ret == pytest.ExitCode.TESTS_FAILED
    expected = _outcomes(pytester.path / "alone.xml")
    assert _outcomes(pytester.path / "spread.xml") == expected
    failed = sorted(k for k, (outcome, _) in expected.items() if outcome == "failed")
    assert [k.rsplit("::", 1)[1] for k in failed] == ["completable", "failure-retry"]
    assert all("checkout_no_retry" in k for k in failed)
    assert "counterexample (events -> configuration)" in expected[failed[1]][1]
    assert "2 workers" in spread.stdout.str()
