"""Exploring a chart: exhaustive search of its snapshots, and the hypothesis campaign."""

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
