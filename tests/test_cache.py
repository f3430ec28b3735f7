"""The verification cache: a verdict read back is the verdict computed, and it is computed
again exactly when something it depends on changed (the flow, the flows composed with it,
the protos it invokes), never because an entry is damaged, and never with --no-cache.

Each test works on a copy of the project (``tests/variants.py``) with the cache on (the
suite turns it off everywhere else) and counts the flows verified by wrapping
``verify_chart``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from variants import REPO, Variant, variant

import flowcheck.commands.verify as verify_command
from flowcheck.cache import DEFAULT_DIR, entry_text, report_from_text
from flowcheck.cli import main
from flowcheck.commands.verify import render
from flowcheck.pytest_plugin import failure_text
from flowcheck.verification import MachineReport

NEVER = 'and_(nonempty(ctx("paymentMethodId")), not_(nonempty(ctx("paymentMethodId"))))'
FLOWS = ["checkout", "course_builder", "generation", "registration"]
SURVEY = '''"""A flow that invokes nothing."""

from __future__ import annotations

from pydantic import BaseModel

from flowcheck.declare import Flow, step, success


class SurveyContext(BaseModel):
    answer: str = ""


class Survey(Flow):
    flow_id = "survey"
    Context = SurveyContext

    asking = step("Ask.", initial=True)
    done = success("Thanks.")

    ANSWERED = asking.to(done)
'''


@pytest.fixture(autouse=True)
def _cache_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWCHECK_NO_CACHE", raising=False)


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the flows verified (not read from the cache), in order."""
    names: list[str] = []
    real = verify_command.verify_chart

    def counting(chart: Any, *args: Any, **kwargs: Any) -> MachineReport:
        names.append(chart.name)
        return real(chart, *args, **kwargs)

    monkeypatch.setattr(verify_command, "verify_chart", counting)
    yield names


def _project(monkeypatch: pytest.MonkeyPatch, *patches: tuple[str, str],
             survey: bool = False) -> Variant:
    """A copy of the project (machines, protos, exports), patched, as the working directory."""
    project = variant("checkout", *patches)
    shutil.copytree(REPO / "exports", project.root / "exports")
    if survey:
        (project.root / "machines" / "survey.py").write_text(SURVEY, encoding="utf-8")
    monkeypatch.chdir(project.root)
    return project


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def _entries(root: Path) -> list[Path]:
    return sorted((root / DEFAULT_DIR).glob("v*/reports/*.json"))


FAILING = ('guard("paymentMethodChosen", nonempty(ctx("paymentMethodId")))',
           f'guard("paymentMethodChosen", {NEVER})')
IMPORTS = ("    nonempty,\n", "    nonempty,\n    and_,\n    not_,\n")


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "sarif"])
def test_a_verdict_read_from_the_cache_prints_what_the_cold_run_printed(
    fmt: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    verified: list[str],
) -> None:
    _project(monkeypatch, FAILING, IMPORTS)
    cold_code, cold = _run(capsys, "verify", "checkout", "--examples", "5", "--format", fmt)
    assert verified == ["checkout"]
    warm_code, warm = _run(capsys, "verify", "checkout", "--examples", "5", "--format", fmt)

    assert verified == ["checkout"]  # not verified again
    assert (warm_code, warm) == (cold_code, cold)
    assert cold_code == 1 and "paymentMethodChosen" in cold  # a finding, with its location


def test_the_cache_form_of_a_report_renders_like_the_report_in_every_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _project(monkeypatch, FAILING, IMPORTS)
    report = project.verify("checkout", examples=5)
    report.replay_target = "checkout"
    back = report_from_text(entry_text(report))
    back.replay_target = "checkout"

    assert any(f.counterexample for r in report.results for f in r.findings)
    for fmt in ("text", "json", "junit", "sarif"):
        assert render([back], fmt, project.root) == render([report], fmt, project.root), fmt
    for r, b in zip(report.results, back.results, strict=True):
        assert failure_text("checkout", b, project.root) == failure_text(
            "checkout", r, project.root)
    assert back.chart == report.chart


def test_editing_a_flow_verifies_it_and_the_flows_composed_with_it_again_and_no_other(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    verified: list[str],
) -> None:
    project = _project(monkeypatch)
    _run(capsys, "check", "--examples", "0", "--jobs", "1")
    assert sorted(verified) == FLOWS
    verified.clear()
    _append(project.root / "machines" / "checkout.py", "\n# an edit\n")

    _run(capsys, "check", "--examples", "0", "--jobs", "1")

    # registration runs checkout as a child flow: its environment may have changed.
    assert sorted(verified) == ["checkout", "registration"]


def test_editing_a_module_a_flow_imports_verifies_that_flow_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    verified: list[str],
) -> None:
    project = _project(monkeypatch, ("from __future__ import annotations\n",
                                     "from __future__ import annotations\n\nimport _shared\n"))
    (project.root / "machines" / "_shared.py").write_text("LIMIT = 1\n", encoding="utf-8")
    _run(capsys, "verify", "generation", "checkout", "--examples", "0")
    verified.clear()
    _append(project.root / "machines" / "_shared.py", "LIMIT = 2\n")

    _run(capsys, "verify", "generation", "checkout", "--examples", "0")

    assert verified == ["checkout"]


def test_editing_a_proto_verifies_the_flows_that_invoke_again_and_not_the_others(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    verified: list[str],
) -> None:
    project = _project(monkeypatch, survey=True)
    _run(capsys, "check", "--examples", "0", "--jobs", "1")
    assert sorted(verified) == sorted([*FLOWS, "survey"])
    verified.clear()
    _append(project.root / "proto" / "mirai" / "v1" / "common.proto", "\n// an edit\n")

    _run(capsys, "check", "--examples", "0", "--jobs", "1")

    assert sorted(verified) == FLOWS


def test_a_damaged_cache_entry_is_verified_again_without_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    verified: list[str],
) -> None:
    project = _project(monkeypatch)
    code, before = _run(capsys, "verify", "checkout", "generation", "--examples", "0",
                        "--format", "json")
    entries = _entries(project.root)
    assert len(entries) == 2
    entries[0].write_bytes(b'{"report": {"name": "checkout", "ch')  # cut short
    entry = json.loads(entries[1].read_text(encoding="utf-8"))
    entry["report"]["results"] = "not a list of results"
    entries[1].write_text(json.dumps(entry), encoding="utf-8")
    verified.clear()

    code_after, after = _run(capsys, "verify", "checkout", "generation", "--examples", "0",
                             "--format", "json")

    assert sorted(verified) == ["checkout", "generation"]
    assert code_after == code == 0
    assert [m["name"] for m in json.loads(after)["machines"]] == ["checkout", "generation"]

    def verdicts(report: str) -> list[list[tuple[str, str]]]:
        return [[(p["id"], p["status"]) for p in m["properties"]]
                for m in json.loads(report)["machines"]]

    assert verdicts(after) == verdicts(before)  # the damaged entries changed no verdict
    verified.clear()
    _run(capsys, "verify", "checkout", "generation", "--examples", "0")
    assert verified == []  # the entries were written again


def test_no_cache_verifies_every_flow_and_leaves_the_cache_as_it_was(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    verified: list[str],
) -> None:
    project = _project(monkeypatch)
    _run(capsys, "verify", "checkout", "--examples", "0")
    before = {p: p.read_bytes() for p in (project.root / DEFAULT_DIR).rglob("*") if p.is_file()}
    verified.clear()

    _run(capsys, "verify", "checkout", "--examples", "0", "--no-cache")
    _run(capsys, "check", "--examples", "0", "--no-cache", "--jobs", "1")

    assert verified == ["checkout", *FLOWS]
    after = {p: p.read_bytes() for p in (project.root / DEFAULT_DIR).rglob("*") if p.is_file()}
    assert after == before


def test_other_options_are_other_verdicts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    verified: list[str],
) -> None:
    _project(monkeypatch)
    for args in (["--examples", "0"], ["--examples", "0", "--seed", "1"],
                 ["--examples", "0", "--max-depth", "50"], ["--examples", "0"]):
        _run(capsys, "verify", "generation", *args)

    assert verified == ["generation"] * 3


def test_the_cache_lives_where_settings_say_and_keeps_itself_out_of_git(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    project = _project(monkeypatch)
    _append(project.root / "pyproject.toml", 'cache-dir = "build/verdicts"\n')

    _run(capsys, "verify", "generation", "--examples", "0")

    directory = project.root / "build" / "verdicts"
    assert list(directory.glob("v*/reports/*.json"))
    assert not (project.root / DEFAULT_DIR).exists()
    assert (directory / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    assert (directory / "CACHEDIR.TAG").read_text(encoding="utf-8").startswith(
        "Signature: 8a477f597d28d172789f06886806bc55")


def test_the_export_check_from_the_cache_says_what_the_full_comparison_says(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    project = _project(monkeypatch)
    config = project.root / "exports" / "generation.json"
    original = config.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    lines[2] = lines[2].rstrip("\n") + " \n"  # a trailing space: stale from line 3 on
    config.write_text("".join(lines), encoding="utf-8")
    (project.root / "exports" / "gone.machine.ts").write_text("// orphan\n", encoding="utf-8")

    def checks(*extra: str) -> list[dict[str, Any]]:
        main(["check", "--examples", "0", "--jobs", "1", "--format", "json", *extra])
        found: list[dict[str, Any]] = json.loads(capsys.readouterr().out)["checks"]
        return found

    full = checks("--no-cache")
    assert checks() == full and checks() == full  # cold, then warm
    assert {c["name"]: c["state"] for c in full if c["suite"] == "exports"}[
        "exports/generation.json"] == "stale"
    config.write_text(original, encoding="utf-8")
    (project.root / "exports" / "gone.machine.ts").unlink()
    assert checks() == checks("--no-cache")
    assert all(c["ok"] for c in checks())
