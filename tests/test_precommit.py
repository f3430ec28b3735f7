"""The pre-commit hook: a valid hook manifest that runs ``flowcheck check`` once (no file
names) when a flow, a proto contract or an export changes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / ".pre-commit-hooks.yaml"
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")


def _hook() -> dict[str, Any]:
    clientlib = pytest.importorskip("pre_commit.clientlib")
    hooks: list[dict[str, Any]] = clientlib.load_manifest(str(MANIFEST))
    assert [h["id"] for h in hooks] == ["flowcheck"]
    return hooks[0]


def test_the_hook_manifest_is_valid_for_pre_commit() -> None:
    hook = _hook()
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False


def test_the_hook_runs_the_installed_flowcheck_check_with_the_compact_report() -> None:
    entry = _hook()["entry"].split()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["scripts"]
    assert entry[0] in scripts
    assert entry[1:] == ["check", "--compact"]


@pytest.mark.parametrize(
    ("path", "runs"),
    [
        ("machines/checkout.py", True),
        ("proto/mirai/v1/course.proto", True),
        ("exports/course_builder.machine.ts", True),
        ("src/flowcheck/cli.py", False),
        ("docs/machines/index.md", False),
        ("tests/fixtures/mutant_no_recovery.py", False),
    ],
)
def test_the_hook_runs_when_flows_contracts_or_exports_change(path: str, runs: bool) -> None:
    assert bool(re.search(_hook()["files"], path)) is runs


@pytest.mark.slow
@pytest.mark.skipif(not PRE_COMMIT.exists() or shutil.which("git") is None,
                    reason="pre-commit (dev extras) or git is not installed")
def test_try_repo_passes_on_this_repository(tmp_path: Path) -> None:
    """What a user does first: `pre-commit try-repo . flowcheck --all-files`. pre-commit
    builds the hook's virtualenv (pip-installing this project), so this takes ~20 s."""
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    done = subprocess.run(
        [str(PRE_COMMIT), "try-repo", ".", "flowcheck", "--all-files"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert re.search(r"flowcheck check\.+Passed", out), out
