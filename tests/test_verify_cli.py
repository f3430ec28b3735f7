"""``flowcheck verify`` and ``flowcheck check`` from the command line: formats and exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from flowcheck.cli import main

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
SARIF_SCHEMA = json.loads((REPO / "tests" / "data" / "sarif-2.1.0.json").read_text())
FAST = ["--examples", "10"]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = _run(capsys, "verify", *args, "--format", "json", *FAST)
    return code, json.loads(out)


def test_json_report_follows_the_design_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _json(capsys, "checkout")
    assert code == 0
    assert report["ok"] is True
    (machine,) = report["machines"]
    assert machine["name"] == "checkout" and machine["ok"] is True
    stats = machine["stats"]
    for key, kind in (("states", int), ("transitions", int), ("configurations", int),
                      ("edges", int), ("complete", bool), ("seconds", float)):
        assert isinstance(stats[key], kind), key
    assert stats["complete"] is True
    for prop in machine["properties"]:
        assert {"id", "ok", "message", "counterexample"} <= set(prop)
        assert prop["ok"] is True and prop["counterexample"] is None
        # Exhaustive checks are proofs; the hypothesis campaign samples, so it is "tested".
        expected = "tested" if prop["id"] == "conformance" else "proved"
        assert prop["status"] == expected, prop["id"]


def test_a_counterexample_in_json_has_events_and_a_configuration_per_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = _json(capsys, str(FIXTURES / "mutant_no_recovery.py"))
    assert code == 1 and report["ok"] is False
    (prop,) = [p for p in report["machines"][0]["properties"] if p["id"] == "failure-retry"]
    cx = prop["counterexample"]
    assert all(isinstance(e, str) for e in cx["events"])
    assert len(cx["states"]) == len(cx["events"]) + 1
    assert cx["states"][-1] == ["failure", "network_error"]


@pytest.mark.parametrize(("fixture", "prop"), [
    ("mutant_flag_event.py", "semantic-events"),
    ("mutant_unreachable.py", "reachable"),
    ("mutant_overlapping_guards.py", "deterministic"),
])
def test_a_mutant_makes_verify_exit_1_naming_the_property(
    capsys: pytest.CaptureFixture[str], fixture: str, prop: str
) -> None:
    code, out, _ = _run(capsys, "verify", str(FIXTURES / fixture), *FAST)
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith(prop))
    assert "failed" in line


def test_an_xstate_json_config_is_verified_through_the_importer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = _json(capsys, str(FIXTURES / "mutant_final_transition.json"))
    assert code == 1
    failed = [p["id"] for p in report["machines"][0]["properties"] if not p["ok"]]
    assert failed == ["well-formed"]


def test_max_configurations_gives_a_bounded_report_never_a_proof(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = _json(capsys, "checkout", "--max-configurations", "5")
    assert code == 0
    machine = report["machines"][0]
    assert machine["stats"]["complete"] is False
    statuses = {p["id"]: p["status"] for p in machine["properties"]}
    assert statuses["reachable"] == "bounded" and statuses["completable"] == "bounded"


def test_junit_report_has_a_suite_per_machine_and_a_case_per_property(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "verify", "checkout", str(FIXTURES / "mutant_no_recovery.py"),
                        "--format", "junit", *FAST)
    assert code == 1
    root = ET.fromstring(out)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["checkout", "mutant_no_recovery"]
    cases = {c.get("name"): c for c in suites[1].findall("testcase")}
    assert cases["failure-retry"].find("failure") is not None
    assert cases["reachable"].find("failure") is None
    assert suites[0].get("failures") == "0"


def test_sarif_report_validates_against_the_sarif_2_1_0_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "verify", str(FIXTURES / "mutant_no_recovery.py"),
                        str(FIXTURES / "mutant_final_transition.json"), "--format", "sarif",
                        *FAST)
    assert code == 1
    log = json.loads(out)
    jsonschema.Draft202012Validator(SARIF_SCHEMA).validate(log)
    assert {r["ruleId"] for r in log["runs"][0]["results"]} == {
        "failure-retry", "completable", "well-formed"}


def test_sarif_locates_a_finding_at_the_line_declaring_its_state(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = _run(capsys, "verify", str(FIXTURES / "mutant_unreachable.py"),
                     "--format", "sarif", *FAST)
    (result,) = json.loads(out)["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "tests/fixtures/mutant_unreachable.py"
    source = (FIXTURES / "mutant_unreachable.py").read_text().splitlines()
    assert source[location["region"]["startLine"] - 1].strip().startswith("savedCards =")


def test_output_writes_the_report_to_a_file_and_leaves_no_temporary_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    target = tmp_path / "reports" / "verify.json"
    code, out, _ = _run(capsys, "verify", "checkout", "--format", "json", "--output",
                          str(target), *FAST)
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["ok"] is True
    assert [p.name for p in target.parent.iterdir()] == ["verify.json"]


def test_text_report_shows_the_counterexample_and_how_to_replay_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "verify", str(FIXTURES / "mutant_dead_end_recovery.py"), *FAST)
    assert code == 1
    assert "counterexample for failure-retry" in out
    section = out.split("counterexample for failure-retry")[1]
    assert "xstate.error.actor.confirmPayment" in section.split("replay:")[0]
    # The fixture is not a project machine, so the replay names its file, and it replays.
    line = next(x for x in section.splitlines() if "replay: flowcheck simulate" in x)
    target, events = line.split("replay: flowcheck simulate ")[1].split(" --events ")
    assert target.endswith("mutant_dead_end_recovery.py")
    code, replayed, _ = _run(capsys, "simulate", target, "--events", events.strip("'"), "--json")
    assert code == 0
    assert json.loads(replayed)["steps"][-1]["configuration"] == ["failure", "network_error"]


def test_an_unknown_machine_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "verify", "no_such_flow")
    assert code == 2
    assert "unknown machine 'no_such_flow'" in err


def test_a_flow_module_with_a_final_state_transition_is_refused_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    module = tmp_path / "final_exit.py"
    module.write_text(
        "from flowcheck.declare import Flow, State, success\n\n\n"
        "class FinalExit(Flow):\n"
        "    flow_id = 'finalExit'\n"
        "    start = State(initial=True)\n"
        "    done = success('Done.')\n"
        "    FINISHED = start.to(done)\n"
        "    RESTARTED = done.to(start)\n"
    )
    code, _, err = _run(capsys, "verify", str(module))
    assert code == 2
    assert "final state" in err.lower()


def test_check_verifies_every_machine_and_the_exports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(capsys, "check", "--format", "json", *FAST)
    report = json.loads(out)
    assert sorted(m["name"] for m in report["machines"]) == [
        "checkout", "course_builder", "generation", "registration"]
    assert report["ok"] is True
    assert code == 0, err


def test_an_interrupt_prints_what_was_explored_and_exits_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flowcheck.commands import verify
    from flowcheck.verification import verify_chart

    calls: list[str] = []

    def interrupted_after_the_first(chart: Any, *args: Any, **kwargs: Any) -> Any:
        if calls:
            raise KeyboardInterrupt
        calls.append(chart.name)
        return verify_chart(chart, *args, **kwargs)

    monkeypatch.setattr(verify, "verify_chart", interrupted_after_the_first)
    code, out, err = _run(capsys, "verify", "checkout", "generation", *FAST)
    assert code == 130
    assert out == ""
    from flowcheck.explore.graph import explore
    from flowcheck.project import find_settings, select

    (checkout,) = select(find_settings(), ["checkout"])
    explored = explore(checkout.chart).configurations
    assert f"checkout: {explored} configurations" in err and "interrupted" in err


def test_compact_is_for_the_text_report_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "check", "--compact", "--format", "json")
    assert code == 2
    assert "--compact" in err


def test_a_bounded_property_is_a_note_level_sarif_result_at_the_flow(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "verify", "checkout", "--max-configurations", "5",
                        "--format", "sarif", *FAST)
    assert code == 0
    log = json.loads(out)
    jsonschema.Draft202012Validator(SARIF_SCHEMA).validate(log)
    notes = [r for r in log["runs"][0]["results"] if r["level"] == "note"]
    assert {r["ruleId"] for r in notes} >= {"reachable", "completable"}
    assert all("bounded, not proved" in r["message"]["text"] for r in notes)
    source = (REPO / "machines" / "checkout.py").read_text().splitlines()
    line = notes[0]["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert source[line - 1].startswith("class Checkout(")


def test_check_on_a_bounded_machine_has_a_failing_exploration_test_case_in_junit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from variants import variant

    bounded = variant("checkout")
    settings = bounded.root / "pyproject.toml"
    settings.write_text(settings.read_text() + "max-configurations = 5\n")
    monkeypatch.chdir(bounded.root)
    code, out, _ = _run(capsys, "check", "--format", "junit", *FAST)
    assert code == 1
    root = ET.fromstring(out)
    checkout = root.find("testsuite[@name='checkout']")
    assert checkout is not None
    cases = {c.get("name"): c for c in checkout.findall("testcase")}
    failure = cases["exploration"].find("failure")
    assert failure is not None and "bounded, not proved" in (failure.text or "")
    reachable = cases["reachable"]
    assert reachable.find("failure") is None
    assert (reachable.findtext("system-out") or "").startswith("bounded: ")
    status = reachable.find("properties/property[@name='flowcheck.status']")
    assert status is not None and status.get("value") == "bounded"
