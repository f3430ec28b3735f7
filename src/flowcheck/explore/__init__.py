"""Exploring a chart: exhaustive search of its snapshots, and the hypothesis campaign.

The names below load the explorer on first use: the settings, the commands and the cache
read :mod:`flowcheck.explore.limits` without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowcheck.explore.graph import (
        DEFAULT_MAX_CONFIGURATIONS,
        Exploration,
        ExplorationError,
        Letter,
        alphabet,
        explore,
        replay,
    )

__all__ = [
    "DEFAULT_MAX_CONFIGURATIONS",
    "Exploration",
    "ExplorationError",
    "Letter",
    "alphabet",
    "explore",
    "replay",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from flowcheck.explore import graph

        return getattr(graph, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
