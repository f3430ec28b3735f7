"""Stepping the chart model: configurations, micro and macro steps (XState v5 semantics)."""

from flowcheck.semantics.stepper import Executed, Snapshot, StepError, Stepper

__all__ = ["Executed", "Snapshot", "StepError", "Stepper"]
