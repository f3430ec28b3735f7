"""semantic-events: events say what happened in the domain, not which flag to flip.

Every user event name is SCREAMING_SNAKE_CASE and none is a boolean-flag setter:
SET_IS_*, TOGGLE_* or *_FLAG (UI flags belong in the UI store, not in the flow).
"""

from __future__ import annotations

from flowcheck.properties._witness import SCREAMING_SNAKE, is_user_event, path_to_transition
from flowcheck.properties.base import Finding, Subject

ID = "semantic-events"
PROFILES = ("mirai",)  # a rule of the platform, not of statecharts in general
TITLE = "event names are SCREAMING_SNAKE_CASE domain events, no SET_IS_*, TOGGLE_* or *_FLAG"
STATIC = True


def problem(name: str) -> str | None:
    """Why ``name`` is not a semantic event name, or None."""
    if not SCREAMING_SNAKE.match(name):
        return "is not SCREAMING_SNAKE_CASE (e.g. COURSE_CREATED)"
    if name.startswith("SET_IS_") or name.startswith("TOGGLE_") or name.endswith("_FLAG"):
        return ("sets a boolean flag: name what happened instead (PAYMENT_SUBMITTED, not "
                "SET_IS_LOADING), and keep UI flags out of the flow")
    return None


def check(subject: Subject) -> list[Finding]:
    chart = subject.chart
    findings: list[Finding] = []
    seen: set[str] = set()
    for t in chart.transitions():
        name = t.event
        if name is None or not is_user_event(name) or name in seen:
            continue
        seen.add(name)
        why = problem(name)
        if why:
            findings.append(Finding(ID, f"event {name} {why}", state=t.source, event=name,
                                    counterexample=path_to_transition(subject.graph, t)))
    return findings
