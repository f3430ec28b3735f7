"""Stepping the chart model: configurations, micro and macro steps (XState v5 semantics)."""

from __future__ import annotations

from typing import Any

from flowcheck.semantics.compile import Context
from flowcheck.semantics.stepper import OPAQUE_GUARDS, Executed, Snapshot, StepError, Stepper

__all__ = ["Executed", "Snapshot", "StepError", "Stepper", "start", "start_context"]


def start_context(stepper: Stepper, input: dict[str, Any] | None) -> Context | None:
    """The context a flow starts with when started with ``input`` (context fields set by a
    parent or the frontend, XState's ``input``); None for the default context."""
    given = {k: v for k, v in (input or {}).items() if k != OPAQUE_GUARDS}
    if not given:
        return None
    base = stepper.context_dict(stepper.initial_context())
    return stepper.context_tuple({**base, **given})


def start(
    stepper: Stepper, input: dict[str, Any] | None, record: bool = True
) -> tuple[Snapshot, list[Executed]]:
    """The initial step of a flow started with ``input``: context fields, and under
    ``$guards`` the outcomes of guards without a body met in that step."""
    guards = (input or {}).get(OPAQUE_GUARDS)
    return stepper.initial(context=start_context(stepper, input), record=record,
                           guards=guards if isinstance(guards, dict) else None)
