"""The frontend example: the exported course builder module, used as it is by a Vite + React
app, type-checks and bundles, and its Vitest suite drives the machine through real XState
(happy path to ``published``, a network failure and RETRY, a failed generation job)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "examples" / "frontend"
NPM = shutil.which("npm")

pytestmark = pytest.mark.skipif(NPM is None, reason="npm is not installed (Node.js 20 is needed)")


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _npm(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    assert NPM is not None
    # CI=true makes some tools colour their output anyway: ask for plain text.
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    done = subprocess.run([NPM, *args], cwd=APP, capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)
    done.stdout, done.stderr = ANSI.sub("", done.stdout), ANSI.sub("", done.stderr)
    return done


@pytest.fixture(scope="module")
def installed() -> Path:
    """The app with its locked packages (``npm ci`` only when node_modules is missing)."""
    if not (APP / "node_modules" / "xstate" / "package.json").is_file():
        done = _npm("ci", "--no-audit", "--no-fund", "--loglevel=error", timeout=300)
        assert done.returncode == 0, done.stderr
    return APP


def test_the_app_type_checks_and_builds_with_the_exported_machine(installed: Path) -> None:
    done = _npm("run", "build")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (installed / "dist" / "index.html").is_file()


def test_the_vitest_suite_drives_the_machine_to_published_and_through_a_retry(
    installed: Path,
) -> None:
    done = _npm("test", "--", "--reporter=verbose")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert re.search(r"Tests\s+\d+ passed", out), out
    assert "published" in out and "RETRY" in out, "the suite no longer names its scenarios"


def test_the_app_pins_the_xstate_of_the_conformance_harness() -> None:
    app = json.loads((APP / "package.json").read_text(encoding="utf-8"))
    harness = json.loads((APP.parent.parent / "conformance" / "package.json").read_text("utf-8"))
    assert app["dependencies"]["xstate"] == harness["dependencies"]["xstate"]
    lock = json.loads((APP / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/xstate"]["version"] == app["dependencies"]["xstate"]
