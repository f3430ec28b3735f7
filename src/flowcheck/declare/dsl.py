"""Authoring helpers: what a flow author writes on top of python-statemachine.

Guards and actions are declarative (their meaning is data that flowcheck reads,
explores and exports) and callable (python-statemachine runs them). States get
flowcheck metadata (tags, invokes) attached as attributes the reader picks up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel
from statemachine import State

from flowcheck.chart.expr import Expr, evaluate
from flowcheck.chart.model import (
    ABANDONED,
    FAILURE,
    STEP,
    SUCCESS,
    Assign,
    Custom,
    Guard,
    Invoke,
    Raise,
    SendParent,
    Track,
    done_actor,
    error_actor,
)

FLOWCHECK_ATTR = "__flowcheck__"
STATE_META = "_flowcheck_meta"

Operand = Expr | str | int | float | bool | None | tuple[Any, ...] | list[Any]


# -- expressions -------------------------------------------------------------------------


def ctx(path: str) -> Expr:
    """A context field: ``ctx("title")``."""
    return Expr(op="ref", path=f"context.{path}")


def ev(path: str) -> Expr:
    """A field of the event being processed: ``ev("smeId")``, ``ev("output.courseId")``."""
    return Expr(op="ref", path=f"event.{path}")


def output(path: str) -> Expr:
    """A field of an invoke's output, in its ``xstate.done.actor.*`` event."""
    return ev(f"output.{path}")


def lit(value: Any) -> Expr:
    if isinstance(value, list):
        value = tuple(value)
    return Expr(op="lit", value=value)


def _e(value: Operand) -> Expr:
    return value if isinstance(value, Expr) else lit(value)


def _op(op: str, *args: Operand) -> Expr:
    return Expr.model_validate({"op": op, "args": tuple(_e(a) for a in args)})


def nonempty(value: Operand) -> Expr:
    return _op("nonempty", value)


def count(value: Operand) -> Expr:
    return _op("count", value)


def count_at_least(value: Operand, n: int) -> Expr:
    return _op("ge", count(value), n)


def eq(a: Operand, b: Operand) -> Expr:
    return _op("eq", a, b)


def ne(a: Operand, b: Operand) -> Expr:
    return _op("ne", a, b)


def lt(a: Operand, b: Operand) -> Expr:
    return _op("lt", a, b)


def le(a: Operand, b: Operand) -> Expr:
    return _op("le", a, b)


def gt(a: Operand, b: Operand) -> Expr:
    return _op("gt", a, b)


def ge(a: Operand, b: Operand) -> Expr:
    return _op("ge", a, b)


def and_(*args: Operand) -> Expr:
    return _op("and", *args)


def or_(*args: Operand) -> Expr:
    return _op("or", *args)


def not_(a: Operand) -> Expr:
    return _op("not", a)


def in_(a: Operand, values: Operand) -> Expr:
    return _op("in", a, values)


def append(seq: Operand, item: Operand) -> Expr:
    """``seq`` with ``item`` added at the end unless already present (set semantics)."""
    return _op("append", seq, item)


def remove(seq: Operand, item: Operand) -> Expr:
    return _op("remove", seq, item)


def add(a: Operand, b: Operand) -> Expr:
    return _op("add", a, b)


def is_code(*codes: str) -> Expr:
    """The Connect error code of an ``xstate.error.actor.*`` event is one of ``codes``."""
    if len(codes) == 1:
        return eq(ev("error.code"), codes[0])
    return in_(ev("error.code"), tuple(codes))


# -- runtime glue --------------------------------------------------------------------------


def _context_of(machine: Any) -> dict[str, Any]:
    model: BaseModel = machine.context
    return model.model_dump()


def _event_of(kwargs: dict[str, Any]) -> dict[str, Any]:
    skip = {"event_data", "machine", "model", "transition", "state", "source", "target",
            "event", "previous_configuration", "new_configuration"}
    return {k: v for k, v in kwargs.items() if k not in skip}


def _callback(name: str, decl: Any, run: Callable[..., Any]) -> Callable[..., Any]:
    def callback(*_args: Any, **kwargs: Any) -> Any:
        return run(kwargs["machine"], _event_of(kwargs))

    callback.__name__ = name
    callback.__qualname__ = name
    setattr(callback, FLOWCHECK_ATTR, decl)
    return callback


def declaration(func: Any) -> Any:
    """The chart-model object behind an authoring helper, or None for a plain callable."""
    return getattr(func, FLOWCHECK_ATTR, None)


# -- guards -------------------------------------------------------------------------------


MAX_EVALUATIONS = 1000
"""Evaluations of opaque guards in one step before it is taken for an endless loop (the
Stepper's bound on microsteps)."""
OPAQUE_OUTCOMES = "$guards"
"""The event field an opaque guard reads its outcome from (the Stepper's ``OPAQUE_GUARDS``)."""


def guard(
    name: str,
    expr: Expr | None = None,
    *,
    opaque: bool = False,
    params: dict[str, Any] | None = None,
) -> Callable[..., Any]:
    """A named, declarative guard: ``cond=guard("basicsFilled", and_(...))``.

    ``guard("isValid", opaque=True)`` is a guard the frontend implements (one imported from
    an XState machine without a body): flowcheck explores it both ways, true and false at
    each evaluation, and exports it as ``{"type": "isValid"}`` with its ``params``, kept
    unchanged. In Python its outcome is read from the ``"$guards"`` field of the event whose
    step it is evaluated in (``{"$guards": {"isValid": true}}``; with params the key is
    ``Guard.key``, ``isValid({"min":3})``), false when absent, as in the Stepper."""
    if opaque == (expr is not None):
        raise TypeError(
            f"guard {name!r}: give it an expression, guard(name, expression), or declare "
            "it implemented elsewhere with guard(name, opaque=True), not both"
        )
    if params is not None and not opaque:
        raise TypeError(
            f"guard {name!r}: params belong to an opaque guard (its implementation reads "
            "them); a declarative guard says everything in its expression"
        )
    text = None if params is None else json.dumps(params, sort_keys=True, separators=(",", ":"))
    decl = Guard(name=name, expr=expr, params=text)

    def run(machine: Any, event: dict[str, Any]) -> bool:
        if expr is None:
            held = event.get(OPAQUE_OUTCOMES, getattr(machine, "flowcheck_outcomes", None))
            outcome = bool((held or {}).get(decl.key, False))
            if OPAQUE_OUTCOMES not in event and outcome:
                return _eventless_again(machine, decl.key)
            return outcome
        return bool(evaluate(expr, _context_of(machine), event))

    return _callback(name, decl, run)


def _eventless_again(machine: Any, name: str) -> bool:
    """Whether an opaque guard that holds for the step holds again on an eventless
    transition. XState selects eventless transitions again only after a microstep that
    changed the snapshot (a targetless one with plain actions fires once a step);
    python-statemachine selects them after every microstep. So the guard holds once per
    snapshot, and a step that never settles stops as the Stepper's does."""
    seen: dict[str, Any] = machine.__dict__.setdefault("flowcheck_fired", {})
    snapshot = (sorted(str(s.id) for s in machine.configuration), repr(machine.context))
    if seen.get(name) == snapshot:
        return False
    seen[name] = snapshot
    machine.flowcheck_evaluations = getattr(machine, "flowcheck_evaluations", 0) + 1
    if machine.flowcheck_evaluations > MAX_EVALUATIONS:
        raise RuntimeError(
            f"eventless transitions never settle (guard {name!r} held more than "
            f"{MAX_EVALUATIONS} times in one step): add a guard that becomes false"
        )
    return True


# -- actions ------------------------------------------------------------------------------


def assign(name: str, /, **updates: Operand) -> Callable[..., Any]:
    """Update context fields; every value reads the context as it was before the assign."""
    decl = Assign(name=name, updates=tuple((k, _e(v)) for k, v in updates.items()))

    def run(machine: Any, event: dict[str, Any]) -> None:
        before = _context_of(machine)
        new = {field: evaluate(value, before, event) for field, value in decl.updates}
        machine.context = machine.context.model_copy(update=_thaw(new))
        machine.flowcheck_log.append(decl)

    return _callback(name, decl, run)


def _thaw(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def track(event: str, include: Iterable[str] = (), **properties: Any) -> Callable[..., Any]:
    """Send an analytics event with literal ``properties`` plus the ``include``d context fields."""
    decl = Track(event=event, properties=tuple(sorted(properties.items())), include=tuple(include))
    return _callback(f"track_{event}", decl, lambda machine, event_: emit(machine, decl))


def emit(machine: Any, decl: Track) -> None:
    context = _context_of(machine)
    props = dict(decl.properties)
    for name in decl.include:
        props[name] = context.get(name)
    machine.telemetry.append((decl.event, props))
    machine.flowcheck_log.append(decl)


def raise_(event: str) -> Callable[..., Any]:
    """Raise an internal event, processed before the next external one."""
    decl = Raise(event=event)

    def run(machine: Any, _event: dict[str, Any]) -> None:
        machine.flowcheck_log.append(decl)
        # The raised event keeps the step's opaque-guard outcomes, as in the Stepper.
        held = getattr(machine, "flowcheck_outcomes", None)
        machine.raise_(event, **({OPAQUE_OUTCOMES: held} if held else {}))

    return _callback(f"raise_{event}", decl, run)


def send_parent(event: str) -> Callable[..., Any]:
    """Tell the parent flow that runs this one as a child: XState's ``sendParent``.

    The parent handles ``event`` like one its user sends, in the state that invokes this
    flow. In Python it is recorded in ``machine.sent_to_parent``; run without a parent (a
    standalone run), the exported machine sends nothing."""
    decl = SendParent(event=event)

    def run(machine: Any, _event: dict[str, Any]) -> None:
        machine.flowcheck_log.append(decl)
        machine.sent_to_parent.append(event)

    return _callback(f"send_parent_{event}", decl, run)


def custom(
    name: str, /, run: Callable[..., Any] | None = None, **params: Any
) -> Callable[..., Any]:
    """An action the frontend implements (focus a field, scroll); flowcheck treats it as opaque.

    ``run``, if given, is called in Python with the machine; it must not touch the outside world.
    ``params`` are the action's XState params (``custom("navigate", path="/home")``), exported
    unchanged for the implementation to read.
    """
    decl = Custom(name=name, params=tuple(sorted(params.items())))

    def call(machine: Any, event: dict[str, Any]) -> None:
        machine.flowcheck_log.append(decl)
        if run is not None:
            run(machine)

    return _callback(name, decl, call)


# -- states and invokes -------------------------------------------------------------------


def _meta(state: State) -> dict[str, Any]:
    meta: dict[str, Any] | None = getattr(state, STATE_META, None)
    if meta is None:
        meta = {"tags": [], "invokes": [], "description": ""}
        setattr(state, STATE_META, meta)
    return meta


def tag(state: State, *tags: str, description: str = "", key: str = "") -> State:
    """Attach tags and a description to a state (any state: atomic, compound, parallel).

    ``key`` is the state's key in XState's ``states`` object, and so in
    ``snapshot.value``, when it cannot be the attribute name: a key that is not a Python
    identifier (``"In Progress"``) or one that two parents use (``idle``)."""
    _meta(state)["tags"].extend(tags)
    if description:
        _meta(state)["description"] = description
    if key:
        _meta(state)["key"] = key
    return state


def step(description: str = "", **kwargs: Any) -> State:
    """A wizard step the user sees."""
    return tag(State(**kwargs), STEP, description=description)


def failure(description: str = "", **kwargs: Any) -> State:
    """An explicit failure state: needs a retry transition out of it."""
    return tag(State(**kwargs), FAILURE, description=description)


def success(description: str = "") -> State:
    """A final state that means the flow achieved its goal."""
    return tag(State(final=True), SUCCESS, description=description)


def abandoned(description: str = "") -> State:
    """A final state the user chose (cancel); not a success, not a failure."""
    return tag(State(final=True), ABANDONED, description=description)


def rpc(
    invoke_id: str,
    method: str,
    input: dict[str, Operand] | None = None,
    outputs: Iterable[dict[str, Any]] = ({},),
    errors: Iterable[str] = ("unavailable",),
) -> Invoke:
    """A Connect-RPC call (``mirai.v1.CourseService/CreateCourse``) made while a state is active.

    ``outputs`` are example responses and ``errors`` the Connect codes the flow distinguishes:
    together they are the outcomes exploration tries.
    """
    return _invoke("rpc", invoke_id, method, input, outputs, errors)


def child_flow(
    invoke_id: str,
    flow: str,
    input: dict[str, Operand] | None = None,
    outputs: Iterable[dict[str, Any]] = ({},),
    errors: Iterable[str] = ("unavailable",),
) -> Invoke:
    """Another flow run as a child actor (checkout inside registration)."""
    return _invoke("flow", invoke_id, flow, input, outputs, errors)


def _invoke(
    kind: Literal["rpc", "flow"],
    invoke_id: str,
    src: str,
    input: dict[str, Operand] | None,
    outputs: Iterable[dict[str, Any]],
    errors: Iterable[str],
) -> Invoke:
    return Invoke(
        id=invoke_id,
        kind=kind,
        src=src,
        input=tuple((k, _e(v)) for k, v in (input or {}).items()),
        outputs=tuple(outputs),
        error_codes=tuple(errors),
    )


def invoking(invoke: Invoke, description: str = "", **kwargs: Any) -> State:
    """A state that runs ``invoke`` while active; its outcomes are the events
    :func:`on_done` and :func:`on_error` name."""
    state = State(**kwargs)
    _meta(state)["invokes"].append(invoke)
    if description:
        _meta(state)["description"] = description
    return state


def on_done(invoke_id: str) -> str:
    """The event an invoke sends when it completes: use as ``Event(..., id=on_done("x"))``."""
    return done_actor(invoke_id)


def on_error(invoke_id: str) -> str:
    return error_actor(invoke_id)


def after(delay: str) -> str:
    """The event of a named delay, as ``Event(waiting.to(polling), id=after("POLL_INTERVAL"))``."""
    return f"after.{delay}"
