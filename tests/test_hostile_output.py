"""Names from a machine cannot forge output: text escapes them, the formats keep them data.

A machine written by someone else names its states, events and guards, and its guards
raise exceptions with messages of their own. Printed raw, a newline in a state id starts
a line that reads like one of flowcheck's (``error: ...``) and an escape sequence paints
it red. Every text a command prints shows such characters as visible escapes (``\\n``,
``\\x1b``, ``\\u2028``), on stdout and stderr alike; JSON and SARIF carry the names as
they are (data), JUnit as XML can hold them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from flowcheck.cli import main

FORGED = "\n\x1b[31merror: forged\x1b[0m"
STATE = f"dead{FORGED}"
EVENT = "GO\u2028'$(touch pwned)'\u202e"


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An XState config whose dead end and event carry forged lines, in a bare project."""
    (tmp_path / "pyproject.toml").write_text('[tool.flowcheck]\ncache-dir = ".cache"\n')
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps({"id": "m", "initial": "a", "states": {
        "a": {"on": {EVENT: f"b{FORGED}"}},
        f"b{FORGED}": {"id": STATE},
    }}))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_no_forged_line(*texts: str) -> None:
    for text in texts:
        assert "\x1b" not in text and "\u2028" not in text and "\u202e" not in text
        for line in text.splitlines():
            assert not line.lstrip().startswith("error: forged"), line
            assert not line.startswith("[31m"), line


@pytest.mark.parametrize("extra", [[], ["--compact"]], ids=["table", "compact"])
def test_the_text_report_shows_control_characters_as_escapes(
    hostile: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    code, out, err = run(capsys, "verify", hostile, *extra)
    assert code == 1
    assert_no_forged_line(out, err)
    assert "dead\\n\\x1b[31merror: forged\\x1b[0m" in out
    assert "GO\\u2028'$(touch pwned)'" in out


def test_the_json_report_keeps_the_names_as_data(
    hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "verify", hostile, "--format", "json")
    assert code == 1
    assert_no_forged_line(err)
    report = json.loads(out)
    findings = [f for m in report["machines"] for p in m["properties"] for f in p["findings"]]
    assert any(f["state"] == STATE for f in findings)
    assert any(EVENT in f["counterexample"]["events"] for f in findings if f["counterexample"])


def test_the_sarif_report_keeps_the_names_as_data(
    hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "verify", hostile, "--format", "sarif")
    assert code == 1
    results = json.loads(out)["runs"][0]["results"]
    assert any(STATE in r["message"]["text"] for r in results)


def test_the_junit_report_stays_well_formed_xml(
    hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "verify", hostile, "--format", "junit")
    assert code == 1
    root = ET.fromstring(out)  # an escape character left raw would not parse
    failures = [f.text or "" for f in root.iter("failure")]
    assert any("dead\n\\x1b[31merror: forged\\x1b[0m" in text for text in failures)


def test_an_error_naming_a_hostile_name_stays_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"id": "m", "initial": "a", "states": {
        "a": {"on": {"GO": f"#nowhere{FORGED}"}}}}))
    code, out, err = run(capsys, "verify", path)
    assert code == 2
    assert_no_forged_line(out, err)
    assert len(err.splitlines()) == 1


def test_import_prints_the_machine_id_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"id": f"m{FORGED}", "initial": "a",
                                "states": {"a": {"id": "a"}}}))
    code, out, err = run(capsys, "import", path)
    assert code == 0
    assert_no_forged_line(out, err)


GUARD_RAISES = """
from pydantic import BaseModel

from flowcheck.declare import Flow, ctx, guard, lt, step, success


class TitleContext(BaseModel):
    title: str = "Intro{forged}"


class Titling(Flow):
    flow_id = "titling"
    Context = TitleContext

    editing = step("Type a title.", initial=True)
    saved = success("Saved.")

    SAVED = editing.to(saved, cond=guard("short{forged}", lt(ctx("title"), 3)))
"""


def test_a_flow_whose_guard_raises_is_reported_escaped_in_every_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "machines").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        '[tool.flowcheck]\nmachines = ["machines"]\ncache-dir = ".cache"\n')
    (tmp_path / "machines" / "titling.py").write_text(
        GUARD_RAISES.replace("{forged}", FORGED.encode("unicode_escape").decode()))
    monkeypatch.chdir(tmp_path)
    texts = ""
    for args in (["verify", "titling", "--examples", "0"],
                 ["verify", "titling", "--examples", "0", "--compact"],
                 ["simulate", "titling", "--events", "SAVED"],
                 ["simulate", "titling", "--events", "SAVED", "--json"],
                 ["paths", "titling"],
                 ["list"]):
        _, out, err = run(capsys, *args)
        assert_no_forged_line(out, err)
        texts += out + err
    assert "error: forged" in texts  # shown, escaped


def test_a_replay_command_pasted_into_a_shell_runs_flowcheck_and_nothing_else(
    hostile: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import subprocess

    code, out, _ = run(capsys, "verify", hostile, "--format", "sarif")
    assert code == 1
    replays = [r["properties"]["replay"] for r in json.loads(out)["runs"][0]["results"]
               if "replay" in r.get("properties", {})]
    assert replays
    for replay in replays:
        # The shell runs the command as pasted, with flowcheck standing in for a function
        # that prints its arguments: a $(...) or a quote in a name would run or split here.
        shell = subprocess.run(["sh", "-c", 'flowcheck() { printf "%s\\n" "$@"; }; ' + replay],
                               cwd=tmp_path, capture_output=True, text=True, check=True)
        assert shell.stdout.split("\n")[:4] == ["simulate", str(hostile.name), "--events",
                                                EVENT]
        assert not (tmp_path / "pwned").exists()
