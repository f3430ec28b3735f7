"""How far exploration goes, and the defaults of a run: plain data that the project's
settings, the commands and the cache share without loading the explorer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_CONFIGURATIONS = 1_000_000
DEFAULT_MAX_DEPTH = 10_000
DEFAULT_MAX_MEMORY_MB = 2048
DEFAULT_MAX_SECONDS = 300.0
DEFAULT_EXAMPLES = 100
"""Hypothesis examples per flow in the campaign (see :mod:`flowcheck.explore.campaign`)."""


@dataclass(frozen=True)
class Limits:
    """When exploration stops early: the first limit reached makes the result bounded.

    ``depth`` bounds the length of the event sequences explored, ``memory_mb`` an estimate
    of the memory the snapshots and edges take (from their counts, not measured),
    ``seconds`` the time spent. The defaults keep a CI job safe from a flow whose context
    grows without bound.
    """

    configurations: int = DEFAULT_MAX_CONFIGURATIONS
    depth: int = DEFAULT_MAX_DEPTH
    memory_mb: int = DEFAULT_MAX_MEMORY_MB
    seconds: float = DEFAULT_MAX_SECONDS


Progress = Callable[[int, int], None]
"""Called with (snapshots expanded, snapshots discovered) every few thousand expansions."""
