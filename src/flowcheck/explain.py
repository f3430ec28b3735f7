"""Guards in words: what a guard asks, and why an event changes nothing right now.

A guard is an expression tree (flowcheck.chart.expr). :func:`condition` words the tree
(``title is not empty and desiredOutcome is not empty``); :func:`why_false` names the
parts that make it false, with the values involved (``desiredOutcome is empty``,
``failedStep is "publishing", not "creatingCourse"``); :func:`refusal` says why an event
changes nothing in a snapshot: no transition for it from the active states, or which
condition of each candidate transition's guard is false. The web simulator, the REPL and
``flowcheck simulate --script`` all explain a blocked event with it.

Paths are shown as designers name them: ``context.title`` is ``title``,
``event.error.code`` the ``error code``, other event fields ``event.smeId``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flowcheck.chart.expr import Expr, evaluate
from flowcheck.chart.model import Guard, Transition
from flowcheck.semantics import Snapshot, Stepper
from flowcheck.semantics.stepper import OPAQUE_GUARDS

_COMPARE = {"lt": "below", "le": "at most", "gt": "above", "ge": "at least"}


def path_words(path: str) -> str:
    """``context.title`` -> ``title``; ``event.error.code`` -> ``error code``."""
    if path.startswith("context."):
        return path[len("context."):]
    if path == "event.error.code":
        return "error code"
    if path.startswith("event.output."):
        return "output." + path[len("event.output."):]
    return path


def _subject(e: Expr) -> str:
    if e.op == "ref":
        return path_words(e.path or "")
    if e.op == "lit":
        return value_words(e.value)
    if e.op == "count":
        return f"the number of {_subject(e.args[0])}"
    return condition(e)


def value_words(value: Any) -> str:
    """A value as JSON (strings quoted, ``null``, ``[]``), so that empty shows."""
    if isinstance(value, tuple):
        value = list(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def condition(e: Expr) -> str:
    """What an expression asks, in words, without values."""
    op = e.op
    if op == "ref":
        return f"{path_words(e.path or '')} is true"
    if op == "lit":
        return "always" if e.value else "never"
    if op == "nonempty":
        return f"{_subject(e.args[0])} is not empty"
    if op == "not":
        inner = e.args[0]
        if inner.op == "nonempty":
            return f"{_subject(inner.args[0])} is empty"
        if inner.op == "eq":
            return f"{_subject(inner.args[0])} is not {_subject(inner.args[1])}"
        return f"not ({condition(inner)})"
    if op == "eq":
        return f"{_subject(e.args[0])} is {_subject(e.args[1])}"
    if op == "ne":
        return f"{_subject(e.args[0])} is not {_subject(e.args[1])}"
    if op in _COMPARE:
        return f"{_subject(e.args[0])} is {_COMPARE[op]} {_subject(e.args[1])}"
    if op == "in":
        return f"{_subject(e.args[0])} is in {_subject(e.args[1])}"
    if op in ("and", "or"):
        parts = [condition(a) for a in e.args]
        return f" {op} ".join(f"({p})" if a.op in ("and", "or") and a.op != op else p
                              for a, p in zip(e.args, parts, strict=True))
    return str(e)


def guard_words(guard: Guard) -> str:
    """A guard's condition in words; a guard without a body is named."""
    text = (f"{guard.name} (implemented outside the flow)" if guard.expr is None
            else condition(guard.expr))
    return f"not ({text})" if guard.negated else text


def why_false(e: Expr, context: dict[str, Any], event: dict[str, Any]) -> list[str]:
    """The parts of ``e`` that make it false in this context and event, worded with their
    values; empty when ``e`` holds."""
    return _why(e, context, event, wanted=True)


def _why(e: Expr, ctx: dict[str, Any], ev: dict[str, Any], wanted: bool) -> list[str]:
    """Why ``e`` is not ``wanted``: [] when it is."""
    if bool(evaluate(e, ctx, ev)) == wanted:
        return []
    op = e.op
    if op == "not":
        return _why(e.args[0], ctx, ev, not wanted)
    if op in ("and", "or"):
        # An and that is false is so because of its false parts; one that is true (when
        # false was wanted) because of all of them; the same for or, the other way round.
        # Either way, the parts that are not what was wanted are to blame.
        return [r for a in e.args for r in _why(a, ctx, ev, wanted)]
    return [_fact(e, ctx, ev)]


def _fact(e: Expr, ctx: dict[str, Any], ev: dict[str, Any]) -> str:
    """What is the case for a leaf condition, with its values."""
    holds = bool(evaluate(e, ctx, ev))
    op = e.op
    vals = [evaluate(a, ctx, ev) for a in e.args]
    if op == "nonempty":
        if holds:
            return f"{_subject(e.args[0])} is not empty ({value_words(vals[0])})"
        return f"{_subject(e.args[0])} is {'null' if vals[0] is None else 'empty'}"
    if op in ("eq", "ne"):
        left, right = _subject(e.args[0]), _shown(e.args[1], vals[1])
        same = vals[0] == vals[1]
        if same:
            return f"{left} is {right}"
        return f"{left} is {value_words(vals[0])}, not {right}"
    if op in _COMPARE:
        left, right = _subject(e.args[0]), _shown(e.args[1], vals[1])
        word = _COMPARE[op]
        return f"{left} is {value_words(vals[0])}, {'' if holds else 'not '}{word} {right}"
    if op == "in":
        left = _subject(e.args[0])
        where = f"{_subject(e.args[1])} ({value_words(vals[1])})"
        return f"{left} ({value_words(vals[0])}) is {'' if holds else 'not '}in {where}"
    if op == "ref":
        return f"{path_words(e.path or '')} is {value_words(evaluate(e, ctx, ev))}"
    if op == "lit":
        return "the guard is always false" if not holds else "the guard is always true"
    return f"{condition(e)} is {'true' if holds else 'false'}"


def _shown(e: Expr, value: Any) -> str:
    """The right-hand side of a comparison: a literal as its value, a path with its value."""
    if e.op == "lit":
        return value_words(value)
    return f"{_subject(e)} ({value_words(value)})"


@dataclass(frozen=True)
class Blocked:
    """One candidate transition an event could take, held back by its guard."""

    transition: Transition
    guard: str
    """The guard's name."""
    reasons: tuple[str, ...]
    """The false conditions with their values (or why an opaque guard is false)."""

    @property
    def targets(self) -> tuple[str, ...]:
        return self.transition.targets or (self.transition.source,)


@dataclass(frozen=True)
class Refusal:
    """Why an event changes nothing in a snapshot."""

    event: str
    blocked: tuple[Blocked, ...]
    """Every candidate transition (document order) with its false guard; empty when no
    transition from the active states handles the event at all."""

    @property
    def reasons(self) -> list[str]:
        """The false conditions, each once, in the order of the candidates."""
        return list(dict.fromkeys(r for b in self.blocked for r in b.reasons))

    def message(self) -> str:
        """``EVENT changed nothing: desiredOutcome is empty`` and, when candidates differ,
        what else holds back each one."""
        return f"{self.event} changed nothing: {self.summary()}"

    def summary(self) -> str:
        """Why, without the event: ``desiredOutcome is empty (to selectingSmes also
        courseId is empty)``."""
        if not self.blocked:
            return "no transition for it from the active states"
        common = [r for r in self.blocked[0].reasons
                  if all(r in b.reasons for b in self.blocked[1:])]
        if not common:
            return " | ".join(f"to {', '.join(b.targets)}: {'; '.join(b.reasons)}"
                              for b in self.blocked)
        extra = []
        for b in self.blocked:
            own = [r for r in b.reasons if r not in common]
            if own:
                extra.append(f"to {', '.join(b.targets)} also {'; '.join(own)}")
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"{'; '.join(common)}{tail}"


def refusal(
    stepper: Stepper, snap: Snapshot, event: str, payload: dict[str, Any] | None = None
) -> Refusal:
    """Why ``event`` with ``payload`` takes no transition in ``snap``: its candidate
    transitions (from the active states, document order) and their false conditions.

    Call it for an event that changed nothing; for one that fires, the candidates it
    lists are those whose guard is false (possibly none)."""
    chart = stepper.chart
    active = set(stepper.active_ids(snap))
    if chart.root is not None:
        active.add(chart.root.id)
    context = stepper.context_dict(snap.context)
    ev = {"type": event, **(payload or {})}
    blocked: list[Blocked] = []
    for t in chart.transitions():
        if t.event != event or t.source not in active or t.guard is None:
            continue
        reasons = _guard_reasons(t.guard, context, ev)
        if reasons:
            blocked.append(Blocked(t, t.guard.name, tuple(reasons)))
    return Refusal(event, tuple(blocked))


def _guard_reasons(guard: Guard, context: dict[str, Any], ev: dict[str, Any]) -> list[str]:
    if guard.expr is None:
        given = (ev.get(OPAQUE_GUARDS) or {}).get(guard.name, False)
        held = not given if guard.negated else bool(given)
        if held:
            return []
        return [f"guard {guard.name} (implemented outside the flow) is false: give its "
                f'outcome as "{OPAQUE_GUARDS}": {{"{guard.name}": {json.dumps(not given)}}}']
    return _why(guard.expr, context, ev, wanted=not guard.negated)
