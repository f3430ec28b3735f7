"""Shared fixtures: the project's machines, loaded the way the CLI loads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.project import Machine, discover, find_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_verification_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test verifies for real, as if with --no-cache: a verdict a test (or a developer)
    left in the cache must not answer another test. The cache's own tests turn it back on."""
    monkeypatch.setenv("FLOWCHECK_NO_CACHE", "1")


@pytest.fixture(scope="session")
def machines() -> dict[str, Machine]:
    """Every machine of the project by name (``course_builder``), charts read on first use."""
    return {m.name: m for m in discover(find_settings(ROOT))}
