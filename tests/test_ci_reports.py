"""What CI shows for a broken flow and a stale export, in every format: the file and line of
the construct at fault, the counterexample, and a failed result wherever the exit code is 1.

The project is the bundled flows with one defect: checkout's ``paymentMethodChosen`` guard
can never hold (so PAYMENT_SUBMITTED never fires and checkout cannot succeed); its exports
are regenerated, then a trailing space is added to one line of ``exports/generation.json``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from variants import REPO, variant

from flowcheck.cli import main

SARIF_SCHEMA = json.loads((REPO / "tests" / "data" / "sarif-2.1.0.json").read_text())
NEVER = 'and_(nonempty(ctx("paymentMethodId")), not_(nonempty(ctx("paymentMethodId"))))'
AT_FAULT = "transition PAYMENT_SUBMITTED from paymentDetails, guard paymentMethodChosen"
STALE_LINE = 3


@dataclass(frozen=True)
class Project:
    root: Path
    transition_line: int
    """``PAYMENT_SUBMITTED = paymentDetails.to(submittingPayment, cond=method_chosen)``"""
    guard_line: int
    """``method_chosen = guard("paymentMethodChosen", ...)``"""


def _line(path: Path, start: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, x in enumerate(lines, start=1) if x.strip().startswith(start))


@pytest.fixture(scope="module")
def project() -> Iterator[Project]:
    flows = variant(
        "checkout",
        ('guard("paymentMethodChosen", nonempty(ctx("paymentMethodId")))',
         f'guard("paymentMethodChosen", {NEVER})'),
        ("    nonempty,\n", "    nonempty,\n    and_,\n    not_,\n"),
    )
    root = flows.root
    shutil.copytree(REPO / "exports", root / "exports")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        assert main(["export"]) == 0
    config = root / "exports" / "generation.json"
    lines = config.read_text().splitlines(keepends=True)
    lines[STALE_LINE - 1] = lines[STALE_LINE - 1].rstrip("\n") + " \n"  # a trailing space
    config.write_text("".join(lines))
    source = root / "machines" / "checkout.py"
    yield Project(root, _line(source, "PAYMENT_SUBMITTED ="), _line(source, "method_chosen ="))


_OUTPUTS: dict[tuple[str, ...], str] = {}


def _check(project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
           *args: str) -> str:
    """``flowcheck check ARGS`` on the project (exit 1); run once per set of arguments."""
    key = (str(project.root), *args)
    if key not in _OUTPUTS:
        monkeypatch.chdir(project.root)
        code = main(["check", "--examples", "0", *args])
        _OUTPUTS[key] = capsys.readouterr().out
        assert code == 1
    return _OUTPUTS[key]


def _fault(project: Project) -> str:
    return f"machines/checkout.py:{project.transition_line}"


# -- text ----------------------------------------------------------------------------------


def test_the_text_report_points_at_the_transition_whose_guard_never_holds(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _check(project, capsys, monkeypatch)
    assert f"at {_fault(project)} ({AT_FAULT})" in out


def test_the_text_report_names_the_stale_export_at_its_first_differing_line(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _check(project, capsys, monkeypatch)
    assert f"exports/generation.json:{STALE_LINE}: exports: " in out
    assert out.splitlines()[-1].endswith("some properties FAILED; exports FAILED")


def test_the_compact_report_is_a_line_per_machine_and_each_failure_with_its_counterexample(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = _check(project, capsys, monkeypatch).splitlines()
    lines = _check(project, capsys, monkeypatch, "--compact").splitlines()
    assert [x.split(":")[0] for x in lines if not x.startswith((" ", "machines/", "exports"))
            ][:4] == ["checkout", "course_builder", "generation", "registration"]
    assert lines[0].startswith("checkout: FAILED ") and "live-transitions" in lines[0]
    assert not any(x.startswith("property") for x in lines)  # no tables
    fault = next(i for i, x in enumerate(lines)
                 if x.startswith(f"{_fault(project)}: live-transitions: "))
    assert lines[fault].endswith(f"({AT_FAULT})")
    block = [x for x in lines[fault + 1:] if x.startswith("    ")]
    assert block[0] == "    (initial) -> {paymentDetails}"
    assert "    PAYMENT_SUBMITTED -> {paymentDetails}" in block
    assert any(x.startswith("    replay: flowcheck simulate checkout --events ") for x in block)
    assert any(x.startswith(f"exports/generation.json:{STALE_LINE}: exports: ") for x in lines)
    assert len(lines) < len(full) / 3


# -- JSON ----------------------------------------------------------------------------------


def _json(project: Project, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(_check(project, capsys, monkeypatch, "--format", "json"))
    return report


def test_a_json_finding_carries_the_file_line_and_construct_at_fault(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = _json(project, capsys, monkeypatch)
    checkout = next(m for m in report["machines"] if m["name"] == "checkout")
    (live,) = [p for p in checkout["properties"] if p["id"] == "live-transitions"]
    (finding,) = live["findings"]
    assert (finding["file"], finding["line"], finding["construct"]) == (
        "machines/checkout.py", project.transition_line, AT_FAULT)


def test_a_stale_export_is_a_failed_check_in_json(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = _json(project, capsys, monkeypatch)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [(c["suite"], c["name"], c["state"]) for c in failed] == [
        ("exports", "exports/generation.json", "stale")]
    (finding,) = failed[0]["findings"]
    assert (finding["file"], finding["line"]) == ("exports/generation.json", STALE_LINE)
    assert report["ok"] is False


# -- JUnit ---------------------------------------------------------------------------------


def _junit(project: Project, capsys: pytest.CaptureFixture[str],
           monkeypatch: pytest.MonkeyPatch) -> ET.Element:
    return ET.fromstring(_check(project, capsys, monkeypatch, "--format", "junit"))


def _case(root: ET.Element, suite: str, name: str) -> ET.Element:
    found = root.find(f"testsuite[@name='{suite}']/testcase[@name='{name}']")
    assert found is not None, (suite, name)
    return found


def test_a_junit_failure_gives_the_file_line_of_the_transition(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = _case(_junit(project, capsys, monkeypatch), "checkout", "live-transitions")
    failure = case.find("failure")
    assert failure is not None and failure.text is not None
    assert failure.text.startswith(f"{_fault(project)}: ")
    assert "  replay: flowcheck simulate checkout --events 'PAYMENT_SUBMITTED'" in failure.text
    assert (case.get("file"), case.get("line")) == ("machines/checkout.py",
                                                    str(project.transition_line))


def test_a_stale_export_is_a_failing_junit_test_case(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = _junit(project, capsys, monkeypatch)
    case = _case(root, "exports", "exports/generation.json")
    failure = case.find("failure")
    assert failure is not None and failure.text is not None
    assert failure.text.startswith(f"exports/generation.json:{STALE_LINE}: ")
    failing = sum(1 for _ in root.iter("failure"))
    assert root.get("failures") == str(failing)
    exports = root.find("testsuite[@name='exports']")
    assert exports is not None and exports.get("failures") == "1"


def test_junit_properties_are_json_values_never_python_reprs(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = _junit(project, capsys, monkeypatch)
    suite = root.find("testsuite[@name='checkout']")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert (props["complete"], props["limit"]) == ("true", "null")
    assert json.loads(str(props["domains"]))
    assert not {v for v in props.values() if v in ("True", "False", "None")}


# -- SARIF ---------------------------------------------------------------------------------


def _sarif(project: Project, capsys: pytest.CaptureFixture[str],
           monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(_check(project, capsys, monkeypatch, "--format", "sarif"))
    jsonschema.Draft202012Validator(SARIF_SCHEMA).validate(log)
    return log


def _result(log: dict[str, Any], rule: str, machine: str | None = "checkout") -> dict[str, Any]:
    (found,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == rule
                and r["properties"].get("machine") == machine]
    return found


def _region(location: dict[str, Any]) -> tuple[str, int]:
    physical = location["physicalLocation"]
    return physical["artifactLocation"]["uri"], physical["region"]["startLine"]


def test_a_sarif_result_is_located_at_the_transition_with_its_guard_related(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = _result(_sarif(project, capsys, monkeypatch), "live-transitions")
    assert _region(result["locations"][0]) == ("machines/checkout.py", project.transition_line)
    assert [(_region(r), r["message"]["text"]) for r in result["relatedLocations"]] == [
        (("machines/checkout.py", project.guard_line), "guard paymentMethodChosen")]


def test_a_sarif_result_walks_the_counterexample_as_a_code_flow_and_says_how_to_replay_it(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = _result(_sarif(project, capsys, monkeypatch), "live-transitions")
    (flow,) = result["codeFlows"]
    (thread,) = flow["threadFlows"]
    steps = thread["locations"]
    assert steps[0]["location"]["message"]["text"] == (
        "(initial) -> {paymentDetails} (state paymentDetails)")
    submitted = steps[-1]
    assert submitted["location"]["message"]["text"] == (
        f"PAYMENT_SUBMITTED -> {{paymentDetails}} ({AT_FAULT})")
    assert _region(submitted["location"]) == ("machines/checkout.py", project.transition_line)
    assert submitted["state"]["event"]["text"] == "PAYMENT_SUBMITTED"
    assert submitted["state"]["configuration"]["text"] == "paymentDetails"
    assert "Replay: flowcheck simulate checkout --events '" in result["message"]["text"]


def test_a_stale_export_is_a_sarif_result_at_the_first_differing_line(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = _result(_sarif(project, capsys, monkeypatch), "exports", machine=None)
    assert result["level"] == "error"
    assert _region(result["locations"][0]) == ("exports/generation.json", STALE_LINE)


def test_sarif_rules_describe_themselves_and_link_to_their_documentation(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    driver = _sarif(project, capsys, monkeypatch)["runs"][0]["tool"]["driver"]
    rules = {r["id"]: r for r in driver["rules"]}
    live = rules["live-transitions"]
    assert live["name"] == "LiveTransitions"
    assert live["helpUri"] == "docs/properties.md#live-transitions"
    full = live["fullDescription"]["text"]
    assert len(full) > len(live["shortDescription"]["text"])
    assert not full.startswith("live-transitions:")
    assert all(r["name"] != r["id"] and r["fullDescription"]["text"] for r in rules.values())
    assert not driver["informationUri"].startswith("https://pypi.org")
    for rule in rules.values():
        page, _, anchor = rule["helpUri"].partition("#")
        assert f"\n## {anchor}" in (REPO / page).read_text() or (
            f"\n## flowcheck {anchor.removeprefix('flowcheck-')}" in (REPO / page).read_text()
        ), rule["helpUri"]


# -- pytest --------------------------------------------------------------------------------


def test_the_broken_flow_and_the_stale_export_fail_their_pytest_items_at_file_line(
    project: Project,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--flowcheck", "-p", "no:cacheprovider",
         "machines/checkout.py::live-transitions", "pyproject.toml::exports"],
        cwd=project.root, capture_output=True, text=True, timeout=600, check=False)
    out = done.stdout
    assert done.returncode == 1, out
    assert "2 failed" in out
    assert f"  at {_fault(project)} ({AT_FAULT})" in out
    assert f"exports/generation.json:{STALE_LINE}: stale: " in out
