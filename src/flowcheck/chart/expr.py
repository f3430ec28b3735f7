"""Declarative expressions: the language of guards, assigns and invoke inputs.

An expression is a small tree of plain data. It is evaluated in Python by the
Stepper and by flows running on python-statemachine, and it is written out as
JSON for XState (params of named guards and actions) and as TypeScript in the
generated machine module. Nothing here ever evaluates a string as code.

Paths are dotted: ``context.title``, ``event.output.courseId``,
``event.error.code``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Op = Literal[
    "ref",
    "lit",
    "nonempty",
    "count",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "in",
    "append",
    "remove",
    "add",
]

BOOLEAN_OPS: frozenset[str] = frozenset(
    {"nonempty", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "in"}
)
ARITY: dict[str, tuple[int, int | None]] = {
    "ref": (0, 0),
    "lit": (0, 0),
    "nonempty": (1, 1),
    "count": (1, 1),
    "eq": (2, 2),
    "ne": (2, 2),
    "lt": (2, 2),
    "le": (2, 2),
    "gt": (2, 2),
    "ge": (2, 2),
    "and": (1, None),
    "or": (1, None),
    "not": (1, 1),
    "in": (2, 2),
    "append": (2, 2),
    "remove": (2, 2),
    "add": (2, 2),
}


class Expr(BaseModel):
    """One node of an expression tree."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    op: Op
    args: tuple[Expr, ...] = ()
    path: str | None = None
    value: Any = None

    def to_json(self) -> dict[str, Any]:
        if self.op == "ref":
            return {"ref": self.path}
        if self.op == "lit":
            return {"lit": _jsonable(self.value)}
        return {"op": self.op, "args": [a.to_json() for a in self.args]}

    def refs(self) -> list[str]:
        """Every path the expression reads, in order of appearance."""
        if self.op == "ref":
            return [self.path or ""]
        found: list[str] = []
        for a in self.args:
            found.extend(a.refs())
        return found

    def __str__(self) -> str:
        if self.op == "ref":
            return str(self.path)
        if self.op == "lit":
            return repr(self.value)
        return f"{self.op}({', '.join(str(a) for a in self.args)})"


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def expr_from_json(data: Any, where: str) -> Expr:
    """Read an expression written by :meth:`Expr.to_json`; raise ValueError naming ``where``."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: an expression must be an object, got {type(data).__name__}")
    if "ref" in data:
        path = data["ref"]
        if not isinstance(path, str) or not path.startswith(("context.", "event.")):
            raise ValueError(f"{where}: 'ref' must be a path starting with context. or event.")
        return Expr(op="ref", path=path)
    if "lit" in data:
        return Expr(op="lit", value=_freeze(data["lit"]))
    op = data.get("op")
    if not isinstance(op, str) or op not in ARITY or op in ("ref", "lit"):
        raise ValueError(f"{where}: unknown expression operator {op!r}")
    args = data.get("args", [])
    if not isinstance(args, list):
        raise ValueError(f"{where}: 'args' of {op!r} must be a list")
    low, high = ARITY[op]
    if len(args) < low or (high is not None and len(args) > high):
        raise ValueError(f"{where}: {op!r} takes {low}..{high or 'n'} arguments, got {len(args)}")
    return Expr(op=op, args=tuple(expr_from_json(a, where) for a in args))


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def lookup(path: str, context: dict[str, Any], event: dict[str, Any]) -> Any:
    """Resolve a dotted path against a context and an event payload; missing parts are None."""
    head, _, rest = path.partition(".")
    current: Any = context if head == "context" else event
    for part in rest.split(".") if rest else ():
        # Only plain data is walked: never attributes, so a path cannot reach code.
        current = current.get(part) if isinstance(current, dict) else None
    return current


def evaluate(e: Expr, context: dict[str, Any], event: dict[str, Any]) -> Any:
    """Evaluate an expression. Used by flows running on python-statemachine and by tests."""
    op = e.op
    if op == "ref":
        return _freeze(lookup(e.path or "", context, event))
    if op == "lit":
        return e.value
    if op == "and":
        return all(evaluate(a, context, event) for a in e.args)
    if op == "or":
        return any(evaluate(a, context, event) for a in e.args)
    vals = [evaluate(a, context, event) for a in e.args]
    return apply(op, vals)


def apply(op: str, vals: list[Any]) -> Any:
    """Apply a non-short-circuit operator to evaluated arguments."""
    if op == "nonempty":
        v = vals[0]
        return v is not None and v != "" and v != () and v != []
    if op == "count":
        return len(vals[0]) if vals[0] is not None else 0
    if op == "eq":
        return vals[0] == vals[1]
    if op == "ne":
        return vals[0] != vals[1]
    if op in ("lt", "le", "gt", "ge"):
        a, b = vals
        if a is None or b is None:
            return False
        if op == "lt":
            return bool(a < b)
        if op == "le":
            return bool(a <= b)
        if op == "gt":
            return bool(a > b)
        return bool(a >= b)
    if op == "not":
        return not vals[0]
    if op == "in":
        return vals[0] in (vals[1] or ())
    if op == "append":
        seq = tuple(vals[0] or ())
        return seq if vals[1] in seq else (*seq, vals[1])
    if op == "remove":
        return tuple(v for v in (vals[0] or ()) if v != vals[1])
    if op == "add":
        return (vals[0] or 0) + vals[1]
    raise ValueError(f"unknown operator {op!r}")
