"""Shared fixtures: the project's machines, loaded the way the CLI loads them.

Tests that need Node, real XState, Graphviz or npm skip where those are missing, so that a
developer without them can still run the rest. CI installs all of them (scripts/bootstrap.sh):
there, one missing tool fails the whole run at once instead of turning conformance tests into
silent skips.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from flowcheck.project import Machine, discover, find_settings

ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session: pytest.Session) -> None:
    if not os.environ.get("CI"):
        return
    missing = [name for name, ok in (
        ("node", shutil.which("node") is not None),
        ("npm", shutil.which("npm") is not None),
        ("Graphviz dot", shutil.which("dot") is not None),
        ("xstate in conformance/node_modules",
         (ROOT / "conformance" / "node_modules" / "xstate" / "package.json").is_file()),
        ("examples/frontend/node_modules", (ROOT / "examples" / "frontend" / "node_modules")
         .is_dir()),
    ) if not ok]
    if missing:
        raise pytest.UsageError(
            f"CI is missing {', '.join(missing)}: scripts/bootstrap.sh installs them; the tests "
            "that need them would otherwise be skipped in silence")


@pytest.fixture(autouse=True)
def _no_verification_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test verifies for real, as if with --no-cache: a verdict a test (or a developer)
    left in the cache must not answer another test. The cache's own tests turn it back on."""
    monkeypatch.setenv("FLOWCHECK_NO_CACHE", "1")


@pytest.fixture(scope="session")
def machines() -> dict[str, Machine]:
    """Every machine of the project by name (``course_builder``), charts read on first use."""
    return {m.name: m for m in discover(find_settings(ROOT))}
