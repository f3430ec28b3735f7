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
    field_index = _context_field(e.args[0], fields) if op == "nonempty" else None
    if field_index is not None:
        index = field_index

        def nonempty_field(c: Context, ev: Payload) -> bool:
            v = c[index]
            return v is not None and v != "" and v != ()

        return nonempty_field
    args = [compile_expr(a, fields) for a in e.args]
    if len(args) == 2 and op in _BINARY:
        # The operators exploration meets most, without building an argument list: the
        # same results (and the same errors) as ``apply``.
        return _BINARY[op](*args)
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


def _context_field(e: Expr, fields: dict[str, int]) -> int | None:
    """The index of a plain ``context.<field>`` reference, else None."""
    if e.op != "ref" or not e.path:
        return None
    head, _, rest = e.path.partition(".")
    if head != "context" or not rest or "." in rest or rest not in fields:
        return None
    return fields[rest]


def _lt(a0: Compiled, a1: Compiled) -> Compiled:
    def lt(c: Context, ev: Payload) -> bool:
        a = a0(c, ev)
        b = a1(c, ev)
        return False if a is None or b is None else bool(a < b)

    return lt


def _le(a0: Compiled, a1: Compiled) -> Compiled:
    def le(c: Context, ev: Payload) -> bool:
        a = a0(c, ev)
        b = a1(c, ev)
        return False if a is None or b is None else bool(a <= b)

    return le


def _gt(a0: Compiled, a1: Compiled) -> Compiled:
    def gt(c: Context, ev: Payload) -> bool:
        a = a0(c, ev)
        b = a1(c, ev)
        return False if a is None or b is None else bool(a > b)

    return gt


def _ge(a0: Compiled, a1: Compiled) -> Compiled:
    def ge(c: Context, ev: Payload) -> bool:
        a = a0(c, ev)
        b = a1(c, ev)
        return False if a is None or b is None else bool(a >= b)

    return ge


def _add(a0: Compiled, a1: Compiled) -> Compiled:
    def add(c: Context, ev: Payload) -> Any:
        a = a0(c, ev)
        return (a or 0) + a1(c, ev)

    return add


def _equal(negate: bool) -> Callable[[Compiled, Compiled], Compiled]:
    def make(a0: Compiled, a1: Compiled) -> Compiled:
        if negate:
            return lambda c, ev: a0(c, ev) != a1(c, ev)
        return lambda c, ev: a0(c, ev) == a1(c, ev)

    return make


_BINARY: dict[str, Callable[[Compiled, Compiled], Compiled]] = {
    "lt": _lt,
    "le": _le,
    "gt": _gt,
    "ge": _ge,
    "add": _add,
    "ne": _equal(True),
}
