"""Shared fixtures: the project's machines, loaded the way the CLI loads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.project import Machine, discover, find_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def machines() -> dict[str, Machine]:
    """Every machine of the project by name (``course_builder``), charts read on first use."""
    return {m.name: m for m in discover(find_settings(ROOT))}
