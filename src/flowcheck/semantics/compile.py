"""Compile expressions and charts into the fast form the Stepper runs.

Contexts are tuples in field order, configurations are bit masks over state
indices; guards and assigns become closures over ``(context, event)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowcheck.chart.expr import Expr, apply

Context = tuple[Any, ...]
Payload = dict[str, Any]
Compiled = Callable[[Context, Payload], Any]


class FrozenDict(dict[str, Any]):
    """An object value (an invoke output, an object field) inside a snapshot: snapshots
    are hashed, so it hashes by content. It is never changed once built."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


def _thaw_lookup(value: Any) -> Any:
    """A value read from a context or an event, made hashable (lists to tuples, objects to
    FrozenDict) so that it can be stored in a snapshot."""
    if isinstance(value, list | tuple):
        return tuple(_thaw_lookup(v) for v in value)
    if isinstance(value, dict) and not isinstance(value, FrozenDict):
        return FrozenDict({k: _thaw_lookup(v) for k, v in value.items()})
    return value


freeze = _thaw_lookup


def compile_expr(e: Expr, fields: dict[str, int]) -> Compiled:
    """A closure computing ``e`` from a context tuple and an event payload dict."""
    op = e.op
    if op == "lit":
        value = _thaw_lookup(e.value)
        return lambda c, ev: value
    if op == "ref":
        path = e.path or ""
        head, _, rest = path.partition(".")
        parts = rest.split(".") if rest else []
        if head == "context":
            if not parts or parts[0] not in fields:
                raise KeyError(path)
            index = fields[parts[0]]
            if len(parts) == 1:
                return lambda c, ev: c[index]
            tail = parts[1:]

            def ctx_deep(c: Context, ev: Payload) -> Any:
                cur: Any = c[index]
                for p in tail:
                    cur = cur.get(p) if isinstance(cur, dict) else None
                return _thaw_lookup(cur)

            return ctx_deep
        if len(parts) == 1:
            key = parts[0]
            return lambda c, ev: _thaw_lookup(ev.get(key))

        def ev_deep(c: Context, ev: Payload) -> Any:
            cur: Any = ev
            for p in parts:
                cur = cur.get(p) if isinstance(cur, dict) else None
            return _thaw_lookup(cur)

        return ev_deep
    args = [compile_expr(a, fields) for a in e.args]
    if op == "and":
        return lambda c, ev: all(a(c, ev) for a in args)
    if op == "or":
        return lambda c, ev: any(a(c, ev) for a in args)
    if op == "not":
        (a0,) = args
        return lambda c, ev: not a0(c, ev)
    if op == "eq":
        a0, a1 = args
        return lambda c, ev: a0(c, ev) == a1(c, ev)
    if op == "nonempty":
        (a0,) = args

        def nonempty(c: Context, ev: Payload) -> bool:
            v = a0(c, ev)
            return v is not None and v != "" and v != ()

        return nonempty
    return lambda c, ev: apply(op, [a(c, ev) for a in args])
