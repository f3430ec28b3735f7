"""Stepping the chart model: configurations, micro and macro steps (XState v5 semantics)."""

from __future__ import annotations

from typing import Any

from flowcheck.semantics.compile import Context
from flowcheck.semantics.stepper import Executed, Snapshot, StepError, Stepper

__all__ = ["Executed", "Snapshot", "StepError", "Stepper", "start_context"]


def start_context(stepper: Stepper, input: dict[str, Any] | None) -> Context | None:
    """The context a flow starts with when started with ``input`` (context fields set by a
    parent or the frontend, XState's ``input``); None for the default context."""
    if input is None:
        return None
    base = stepper.context_dict(stepper.initial_context())
    return stepper.context_tuple({**base, **input})
