"""The catalogue of bad inputs, and nothing lost when writing or interrupted.

Every bad input is refused the same way: exit code 2, one or two lines on stderr naming
the file (and the state, event or JSON path) and the fix, no traceback, and no file left
half-written. Failures of the flow itself are findings, not errors: a guard or an assign
that raises and eventless transitions that never settle are reported by ``well-formed``
with the events that lead there (exit 1); a context that grows without bound ends as
*bounded* at an exploration limit, never as a proof.

Writes are atomic and all-or-nothing: a failed write leaves the previous files as they
were; SIGINT or SIGTERM in the middle of an export leaves the previous files (before the
export's commit point) or the complete new set (after it), never a mix (SIGKILL:
tests/test_export_crash.py); Ctrl-C during a long exploration prints what was explored and
exits 130.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowcheck.cli import main
from flowcheck.formats import atomic

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
DATA = REPO / "tests" / "data"
FAST = ["--examples", "0"]


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    def run(*args: str | Path) -> Run:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def refused(run: Run, *mentions: str) -> None:
    """Exit 2 with one or two lines on stderr that mention each of ``mentions``."""
    assert run.code == 2, run.err
    assert "Traceback" not in run.err
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, run.err
    assert lines[0].startswith("error: "), run.err
    for text in mentions:
        assert text in run.err, f"{text!r} not in {run.err!r}"


def no_temporary_files(directory: Path) -> None:
    assert [p.name for p in directory.rglob("*.tmp")] == []


# -- machine modules ---------------------------------------------------------------------


def test_a_module_with_a_syntax_error_names_the_file_and_line(cli: Any, tmp_path: Path) -> None:
    module = tmp_path / "signup.py"
    module.write_text("from flowcheck.declare import Flow\n\nclass Signup(Flow)\n    pass\n")
    refused(cli("verify", module, *FAST), f"{module}:3", "SyntaxError", "fix the syntax")


def test_a_module_that_raises_on_import_names_the_line_and_the_exception(cli: Any) -> None:
    module = FIXTURES / "bad_import_error.py"
    refused(cli("verify", module, *FAST), f"{module}:7", "KeyError",
            "must import cleanly")


def test_a_module_that_is_not_utf8_is_refused_with_the_fix(cli: Any, tmp_path: Path) -> None:
    module = tmp_path / "latin.py"
    module.write_bytes("TITLE = 'caf\u00e9'\n".encode("latin-1"))
    refused(cli("verify", module, *FAST), str(module), "save the file as UTF-8")


def test_a_statechart_that_is_not_a_flow_is_refused_with_the_fix(cli: Any) -> None:
    module = FIXTURES / "bad_not_a_flow.py"
    refused(cli("verify", module, *FAST), str(module), "Signup",
            "derive it from flowcheck.declare.Flow")


def test_a_module_without_a_flow_is_refused_with_the_fix(cli: Any, tmp_path: Path) -> None:
    module = tmp_path / "helpers.py"
    module.write_text("def helper() -> int:\n    return 1\n")
    refused(cli("verify", module, *FAST), str(module), "no Flow subclass found",
            "class MyFlow(Flow)")


def test_an_empty_module_is_a_module_without_a_flow(cli: Any, tmp_path: Path) -> None:
    module = tmp_path / "empty.py"
    module.write_text("")
    refused(cli("verify", module, *FAST), str(module), "no Flow subclass found")


def test_duplicate_state_ids_name_the_file_the_id_and_both_places(cli: Any) -> None:
    module = FIXTURES / "bad_duplicate_ids.py"
    refused(cli("verify", module, *FAST), str(module), "'editing' is declared twice",
            "inside 'basics' and inside 'details'", "rename one")


def test_a_guard_that_is_a_plain_function_is_refused_naming_the_transition(cli: Any) -> None:
    module = FIXTURES / "bad_plain_guard.py"
    refused(cli("verify", module, *FAST), str(module), "'title_is_long'", "NAME_SUBMITTED",
            "flowcheck.declare.guard(name, expression)")


def test_a_missing_machines_directory_names_the_setting(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.flowcheck]\nmachines = ["flows"]\n')
    os.chdir(tmp_path)
    refused(cli("list"), str(tmp_path / "flows"), "[tool.flowcheck] machines")


def test_an_invalid_limit_in_pyproject_is_refused(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.flowcheck]\nmax-depth = "deep"\n')
    os.chdir(tmp_path)
    refused(cli("verify", *FAST), "pyproject.toml", "max-depth", "positive integer")


def test_an_unknown_machine_name_lists_the_machines(cli: Any) -> None:
    refused(cli("verify", "chekout", *FAST), "'chekout'", "checkout, course_builder")


# -- failures of the flow are findings -----------------------------------------------------


def _report(run: Run) -> dict[str, Any]:
    [machine] = json.loads(run.out)["machines"]
    return {p["id"]: p for p in machine["properties"]} | {"stats": machine["stats"]}


def _findings(report: dict[str, Any], pid: str) -> list[dict[str, Any]]:
    return list(report[pid]["findings"])


def test_a_guard_that_raises_is_a_finding_with_its_counterexample(cli: Any) -> None:
    run = cli("verify", FIXTURES / "bad_raising_step.py", "--format", "json", *FAST)
    assert run.code == 1 and "Traceback" not in run.err
    [finding] = [f for f in _findings(_report(run), "well-formed") if "shortTitle" in f["message"]]
    assert "raised TypeError" in finding["message"]
    assert finding["counterexample"]["events"] == ["SAVED"]


def test_an_assign_that_raises_is_a_finding_with_its_counterexample(cli: Any) -> None:
    run = cli("verify", FIXTURES / "bad_raising_step.py", "--format", "json", *FAST)
    assert run.code == 1
    [finding] = [f for f in _findings(_report(run), "well-formed") if "countTitle" in f["message"]]
    assert finding["counterexample"]["events"] == ["TITLE_COUNTED"]


def test_eventless_transitions_that_never_settle_are_a_finding(cli: Any) -> None:
    run = cli("verify", FIXTURES / "bad_eventless_loop.py", "--format", "json", *FAST)
    assert run.code == 1 and "Traceback" not in run.err
    [finding] = _findings(_report(run), "well-formed")
    assert "never settle" in finding["message"] and "add a guard" in finding["message"]
    assert finding["counterexample"]["events"] == ["CHECK_STARTED"]


def test_an_unbounded_counter_ends_bounded_at_the_depth_limit_not_proved(cli: Any) -> None:
    run = cli("verify", FIXTURES / "bad_unbounded_counter.py", "--format", "json", *FAST)
    report = _report(run)
    assert run.code == 0
    assert report["stats"]["complete"] is False and report["stats"]["limit"] == "depth"
    assert report["completable"]["status"] == "bounded"
    assert "max-depth" in report["completable"]["message"]
    assert "bounded, not proved" in run.err


@pytest.mark.parametrize(("option", "value", "limit"), [
    ("--max-configurations", "50", "configurations"),
    ("--max-depth", "7", "depth"),
    ("--max-memory", "1", "memory"),
    ("--max-seconds", "0.001", "time"),
])
def test_each_exploration_limit_is_named_when_it_stops_exploration(
    cli: Any, option: str, value: str, limit: str
) -> None:
    run = cli("verify", FIXTURES / "bad_unbounded_counter.py", "--format", "json", *FAST,
              option, value)
    stats = _report(run)["stats"]
    assert (stats["complete"], stats["limit"]) == (False, limit)


def test_check_fails_when_a_machine_is_only_bounded(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "machines").mkdir()
    shutil.copy(FIXTURES / "bad_unbounded_counter.py", tmp_path / "machines" / "counter.py")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.flowcheck]\nmachines = ["machines"]\nmax-depth = 20\n')
    os.chdir(tmp_path)
    assert cli("export").code == 0
    run = cli("check", *FAST)
    assert run.code == 1
    assert "counter: exploration stopped at the depth limit" in run.err


# -- payloads ---------------------------------------------------------------------------------


def test_a_payload_that_fails_its_model_names_the_event_and_the_field(cli: Any) -> None:
    run = cli("simulate", "checkout", "--events", 'PAYMENT_METHOD_ENTERED:{"paymentMethodId": 5}')
    refused(run, "PAYMENT_METHOD_ENTERED", "'paymentMethodId' must be string")


def test_a_payload_that_is_not_json_shows_how_to_write_it(cli: Any) -> None:
    run = cli("simulate", "checkout", "--events", "PAYMENT_METHOD_ENTERED:{paymentMethodId}")
    refused(run, "PAYMENT_METHOD_ENTERED", "not valid JSON", 'EVENT:{"field": "value"}')


def test_user_text_in_a_message_is_printed_as_is(cli: Any) -> None:
    # Rich markup in a message ("[/x]") used to crash the error printer itself.
    run = cli("simulate", "checkout", "--events", "[/x]")
    refused(run, "'[/x]'")


# -- XState JSON files ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "mentions"), [
    ("bad_not_json", ("bad_not_json.json:2:3", "not valid JSON", "no comments")),
    ("bad_not_an_object", ("holds a JSON list", "XState machine config object")),
    ("bad_unknown_key", ("predictableActionArguments", "unknown key", "allowed:")),
    ("bad_cond", ("states.choosing.on.FILE_CHOSEN.cond", "v4 'cond'", "rename it to 'guard'")),
    ("bad_target", ("states.choosing.on.FILE_CHOSEN.target", "'uploadng'", "sibling key")),
    ("bad_guard_name", ("'fileChoosen'", "bad_guard_name.manifest.json", "fix the name")),
], ids=["not-json", "not-an-object", "unknown-key", "v4-cond", "bad-target", "unknown-guard"])
def test_a_bad_xstate_file_names_the_file_the_json_path_and_the_fix(
    cli: Any, name: str, mentions: tuple[str, ...]
) -> None:
    path = DATA / f"{name}.json"
    refused(cli("verify", path, *FAST), str(path), *mentions)


def test_an_empty_json_file_is_refused(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("  \n")
    refused(cli("import", path), str(path), "the file is empty")


def test_a_json_file_that_is_not_utf8_is_refused_with_the_fix(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "latin.json"
    path.write_bytes('{"id": "caf\u00e9"}'.encode("latin-1"))
    refused(cli("import", path), str(path), "not UTF-8", "save the file as UTF-8")


def test_a_directory_given_as_a_json_file_is_refused(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "machine.json"
    path.mkdir()
    refused(cli("verify", path, *FAST), str(path), "is a directory")


def test_an_unreadable_json_file_says_why(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, where chmod 000 does not stop reading: refuse the read instead.
    path = tmp_path / "locked.json"
    path.write_text("{}")
    real = os.open

    def denied(name: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(name) == path:
            raise PermissionError(13, "Permission denied", str(name))
        return real(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    refused(cli("import", path), str(path), "cannot be read", "Permission denied")


def test_json_nested_too_deeply_is_refused(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"id": "m", "initial": "a", "states": {"a": ' + "[" * 5000 + "]" * 5000
                    + "}}")
    refused(cli("import", path), str(path), "nested")


def test_a_state_key_with_markup_characters_is_printed_as_is(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "markup.json"
    path.write_text(json.dumps({"id": "m", "initial": "[/a]", "states": {"b": {}}}))
    refused(cli("import", path), "initial '[/a]' is not a child state")


# -- outputs that cannot be written ------------------------------------------------------------


def test_a_report_path_under_a_file_is_refused_naming_the_file(
    cli: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "reports"
    blocker.write_text("a file, not a directory\n")
    run = cli("verify", "checkout", *FAST, "--output", blocker / "verify.json")
    refused(run, str(blocker / "verify.json"), f"{blocker} is a file, not a directory")
    assert blocker.read_text() == "a file, not a directory\n"
    no_temporary_files(tmp_path)


def test_a_directory_given_as_the_report_file_is_a_usage_error(
    cli: Any, tmp_path: Path
) -> None:
    refused(cli("verify", "checkout", *FAST, "--output", tmp_path), "--output", "is a directory",
            "flowcheck verify --help")


def test_a_file_given_as_the_export_directory_is_a_usage_error(
    cli: Any, tmp_path: Path
) -> None:
    target = tmp_path / "exports"
    target.write_text("")
    refused(cli("export", "--out", target), "--out", "is a file")


def test_a_diagram_directory_under_a_file_is_refused(cli: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "docs"
    blocker.write_text("")
    refused(cli("diagram", "checkout", "--format", "dot", "--out", blocker / "diagrams"),
            f"{blocker} is a file, not a directory")
    no_temporary_files(tmp_path)


# -- command-line misuse -------------------------------------------------------------------


@pytest.mark.parametrize(("args", "mentions"), [
    (["verify", "--bogus"], ("No such option '--bogus'", "flowcheck verify --help")),
    (["simulate"], ("Missing argument 'NAME'", "flowcheck simulate --help")),
    (["verify", "--format", "xml"], ("'xml' is not one of", "flowcheck verify --help")),
    (["verify", "--max-depth", "0"], ("--max-depth", "x>=1")),
    (["frobnicate"], ("No such command 'frobnicate'", "flowcheck --help")),
], ids=["unknown-option", "missing-argument", "bad-choice", "bad-number", "unknown-command"])
def test_command_line_misuse_is_one_line_and_exit_2(
    cli: Any, args: list[str], mentions: tuple[str, ...]
) -> None:
    refused(cli(*args), *mentions)


def test_the_installed_command_exits_2_without_a_traceback_on_misuse() -> None:
    proc = subprocess.run([sys.executable, "-m", "flowcheck.cli", "verify", "--bogus"],
                          capture_output=True, text=True, check=False, timeout=60, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: No such option") and "Traceback" not in proc.stderr


# -- files that are not files, too large, too deep ------------------------------------------


def installed(*args: str | Path, cwd: Path = REPO, timeout: float = 60) -> Run:
    """The installed command in its own process: a read that blocks fails the test by its
    timeout instead of hanging the suite."""
    proc = subprocess.run([sys.executable, "-m", "flowcheck.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, check=False, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "machine.json"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", [
    ["import"], ["simulate", "checkout", "--script"],
], ids=["import", "simulate-script"])
def test_a_fifo_is_refused_before_it_is_read(fifo: Path, command: list[str]) -> None:
    refused(installed(*command, fifo, timeout=30), str(fifo), "FIFO", "not a")


@pytest.mark.parametrize("command", [
    ["import"], ["simulate", "checkout", "--script"],
], ids=["import", "simulate-script"])
def test_a_device_is_refused_before_it_is_read(command: list[str]) -> None:
    refused(installed(*command, "/dev/zero", timeout=30), "/dev/zero", "character device")


@pytest.fixture
def sparse(tmp_path: Path) -> Path:
    """A 40 MB file (sparse: it costs no disk), over the default input limit of 32 MB."""
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(40 * 1024 * 1024)
    return path


def test_a_file_over_the_input_limit_is_refused_with_how_to_raise_it(
    cli: Any, sparse: Path
) -> None:
    refused(cli("import", sparse), str(sparse), "larger than the input limit of 32 MB",
            "--max-input-mb", "max-input-mb")


def test_the_input_limit_can_be_raised_for_one_command(cli: Any, sparse: Path) -> None:
    # Read this time; what it holds (NUL bytes) is then refused for what it is.
    refused(cli("--max-input-mb", "64", "import", sparse), str(sparse), "not valid JSON")


def test_the_input_limit_comes_from_the_project_settings(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.flowcheck]\nmax-input-mb = 0.001\n")
    config = tmp_path / "m.json"
    config.write_text(json.dumps({"id": "m", "initial": "a", "states": {"a": {}},
                                  "description": "x" * 4096}))
    os.chdir(tmp_path)
    refused(cli("verify", config, *FAST), str(config), "input limit of 0.001 MB")


def test_a_binary_scenario_file_is_refused(cli: Any, tmp_path: Path) -> None:
    script = tmp_path / "binary.yaml"
    script.write_bytes(bytes(range(256)) * 4)
    refused(cli("simulate", "checkout", "--script", script), str(script), "not UTF-8")


YAML_BOMB = "".join(
    [f"a0: &a0 [{', '.join(['x'] * 9)}]\n"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)]
    + ["machine: checkout\nsteps: []\n"])


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(cli: Any, tmp_path: Path) -> None:
    script = tmp_path / "bomb.yaml"
    script.write_text(YAML_BOMB)  # 9 ** 9 (387 million) nodes once expanded
    started = time.perf_counter()
    refused(cli("simulate", "checkout", "--script", script), str(script), "aliases",
            "1,000,000 nodes")
    assert time.perf_counter() - started < 10


def test_yaml_nested_too_deeply_is_refused(cli: Any, tmp_path: Path) -> None:
    script = tmp_path / "deep.yaml"
    script.write_text("machine: checkout\nsteps: " + "[" * 300 + "]" * 300 + "\n")
    refused(cli("simulate", "checkout", "--script", script), str(script), "nested")


# -- settings and options of the wrong type ---------------------------------------------------


@pytest.mark.parametrize(("line", "mentions"), [
    ('machines = "machines"', ("machines = 'machines'", "a list of directories")),
    ('examples = "ten"', ("examples = 'ten'", "an integer, 0 or more")),
    ("seed = 1.5", ("seed = 1.5", "an integer")),
    ('profile = "strict"', ("profile = 'strict'", '"generic" or "mirai"')),
    ('pytest = "yes"', ("pytest = 'yes'", "true or false")),
    ("taxonomy = 3", ("taxonomy = 3", "a table")),
    ("max-seconds = inf", ("max-seconds = inf", "finite positive number")),
    ("max-seconds = nan", ("max-seconds = nan", "finite positive number")),
    ("max-input-mb = -1", ("max-input-mb = -1", "finite positive number")),
    ('exports = ["a"]', ("exports = ['a']", "a directory")),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_setting_of_the_wrong_type_is_refused_naming_it(
    cli: Any, tmp_path: Path, line: str, mentions: tuple[str, ...]
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.flowcheck]\n{line}\n")
    os.chdir(tmp_path)
    refused(cli("verify", *FAST), "pyproject.toml", "[tool.flowcheck]", *mentions)


def test_a_tool_flowcheck_that_is_not_a_table_is_refused(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool]\nflowcheck = 5\n")
    os.chdir(tmp_path)
    refused(cli("list"), "pyproject.toml", "must be a table")


def test_a_pyproject_that_is_not_utf8_is_refused(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b"[tool.flowcheck]\nexports = '\xff'\n")
    os.chdir(tmp_path)
    refused(cli("list"), "pyproject.toml", "not UTF-8")


@pytest.mark.parametrize(("args", "mentions"), [
    (["verify", "checkout", "--max-seconds", "nan"], ("--max-seconds", "'nan'", "finite")),
    (["verify", "checkout", "--max-seconds", "inf"], ("--max-seconds", "'inf'", "finite")),
    (["verify", "checkout", "--max-seconds", "-1"], ("--max-seconds", "'-1'")),
    (["verify", "checkout", "--max-memory", "0"], ("--max-memory", "'0'")),
    (["verify", "checkout", "--max-memory", "1.5"], ("--max-memory", "whole number")),
    (["--max-input-mb", "nan", "list"], ("--max-input-mb", "'nan'")),
    (["--max-input-nesting", "0", "list"], ("--max-input-nesting",)),
    (["serve", "--port", "99999"], ("--port", "0<=x<=65535")),
    (["serve", "--port", "-1"], ("--port", "0<=x<=65535")),
    (["simulate", "checkout", "--events", "CART_SUBMITTED", "--script", "s.yaml"],
     ("--events and --script", "give one of the two")),
], ids=["seconds-nan", "seconds-inf", "seconds-negative", "memory-zero", "memory-fraction",
        "input-mb-nan", "nesting-zero", "port-too-high", "port-negative", "events-and-script"])
def test_a_limit_that_is_no_number_or_conflicting_options_are_refused(
    cli: Any, args: list[str], mentions: tuple[str, ...]
) -> None:
    refused(cli(*args), *mentions)


# -- nothing lost -----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project's flows with an exports directory of old files, one per exported file."""
    shutil.copytree(REPO / "machines", tmp_path / "machines")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.flowcheck]\nmachines = ["machines"]\nexports = "exports"\n')
    exports = tmp_path / "exports"
    exports.mkdir()
    for path in (REPO / "exports").iterdir():
        (exports / path.name).write_text("old\n")
    return tmp_path


def _old_files_intact(project: Path) -> None:
    exports = project / "exports"
    assert {p.name for p in exports.iterdir()} == {p.name for p in (REPO / "exports").iterdir()}
    assert {p.read_text() for p in exports.iterdir()} == {"old\n"}


def test_a_write_that_fails_mid_export_leaves_the_previous_files(
    cli: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.chdir(project)
    real = atomic._stage
    written: list[Path] = []

    def second_fails(path: Path, data: bytes, mode: int) -> None:
        written.append(path)
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        real(path, data, mode)

    monkeypatch.setattr(atomic, "_stage", second_fails)
    refused(cli("export"), "No space left on device")
    _old_files_intact(project)
    assert not (project / "exports" / atomic.STAGING).exists()


DRIVER = """
import os, signal, sys
from flowcheck.cli import main

name, at = sys.argv[2], int(sys.argv[3])
real, calls = getattr(os, name), []

def call(*args, **kwargs):
    result = real(*args, **kwargs)
    calls.append(name)
    if len(calls) == at:
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    return result

setattr(os, name, call)
sys.exit(main(["export"]))
"""


def _new_files_complete(project: Path) -> None:
    exports = project / "exports"
    assert {p.name for p in exports.iterdir()} == {p.name for p in (REPO / "exports").iterdir()}
    for path in exports.iterdir():
        assert path.read_bytes() == (REPO / "exports" / path.name).read_bytes()


@pytest.mark.parametrize(("signame", "code"), [("SIGINT", 130), ("SIGTERM", -signal.SIGTERM)])
@pytest.mark.parametrize(("call", "at", "outcome"), [
    ("fsync", 2, "old"),  # between two staged files: before the commit, rolled back
    ("replace", 2, "new"),  # between two installed files: after the commit, completed
], ids=["before-the-commit", "after-the-commit"])
def test_a_signal_mid_export_leaves_the_previous_files_or_the_new_ones(
    project: Path, signame: str, code: int, call: str, at: int, outcome: str
) -> None:
    proc = subprocess.run([sys.executable, "-c", DRIVER, signame, call, str(at)], cwd=project,
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    if outcome == "old":
        _old_files_intact(project)
    else:
        _new_files_complete(project)
    no_temporary_files(project)
    assert not (project / "exports" / atomic.STAGING).exists()


def test_a_failed_report_write_keeps_the_previous_report(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "verify.json"
    report.write_text("previous\n")

    def full(src: str, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full)
    refused(cli("verify", "checkout", *FAST, "--format", "json", "--output", report),
            str(report), "No space left on device")
    assert report.read_text() == "previous\n"
    no_temporary_files(tmp_path)


BIG_FLOW = """
import sys
sys.path.insert(0, {bench!r})
from synthetic import synthetic_flow

Big = synthetic_flow(steps=11)
Big.__module__ = __name__
"""


def test_ctrl_c_during_a_long_exploration_prints_what_was_explored_and_exits_130(
    tmp_path: Path,
) -> None:
    (tmp_path / "machines").mkdir()
    (tmp_path / "machines" / "big.py").write_text(BIG_FLOW.format(bench=str(REPO / "bench")))
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.flowcheck]\nmachines = ["machines"]\nproto = "{REPO / "proto"}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "flowcheck.cli", "verify", "big", *FAST],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(3)  # importing and reading take about a second; exploring takes far longer
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and out == ""
    line = next(x for x in err.splitlines() if x.startswith("big: "))
    explored = int(line.split()[1])
    assert explored > 1000 and "(interrupted" in line
    assert "nothing is proved" in err
