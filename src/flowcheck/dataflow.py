"""Where a chart's context data comes from and where it goes.

For each context field, :func:`field_flows` lists the assigns that write it (each with the
step it runs in: a user event, an invoke's done or error event, a delay, an eventless
transition, a state's entry or exit) and the places that read it (guards, invoke inputs,
assigns, outputs, tracked properties). It reads the chart only: nothing runs.

Custom actions are opaque (the frontend implements them, or the chart was imported with
names flowcheck does not know): any of them may write any field unseen. Each
:class:`FieldFlow` lists them in ``opaque``, so that a conclusion resting on the absence of a
write ("never written by a user event") can say what it assumes, or not be drawn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from flowcheck.chart.expr import Expr
from flowcheck.chart.model import Action, Assign, Chart, Custom, DataField, Invoke, Track

__all__ = ["FieldFlow", "Opaque", "Origin", "Step", "Use", "UseKind", "Write", "field_flows"]

Origin = Literal["user", "done", "error", "delay", "eventless", "state-done", "entry", "exit"]
"""What runs an action: ``user`` is an event the outside world sends (a user, or a child flow's
``sendParent``); ``done``/``error`` an invoke's outcome (``xstate.done.actor.<id>``,
``xstate.error.actor.<id>``); ``delay`` an ``after`` timer; ``state-done`` a compound state's
``xstate.done.state.<id>``; ``entry``/``exit`` a state's (or the machine's) entry and exit
actions, which run on whatever step enters or leaves the state."""

UseKind = Literal["guard", "input", "assign", "output", "track"]


@dataclass(frozen=True)
class Step:
    """Where an action runs: the state whose transition (or entry, exit) carries it."""

    state: str
    event: str | None
    origin: Origin
    invoke: Invoke | None = None  # the invoke whose done or error event this is

    def describe(self) -> str:
        """The step in words, e.g. ``xstate.done.actor.createCourse`` or ``entry of basics``."""
        if self.origin in ("entry", "exit"):
            return f"{self.origin} of {self.state}"
        if self.event is None:
            return f"an eventless transition of {self.state}"
        return self.event


@dataclass(frozen=True)
class Write:
    """One assign of one context field."""

    field: str
    value: Expr
    action: str
    step: Step

    @property
    def reads(self) -> tuple[str, ...]:
        """The paths the written value is computed from (``event.output.url``, ...)."""
        return tuple(self.value.refs())

    @property
    def from_response(self) -> bool:
        """Computed from an RPC's response: ``event.output.*`` on an rpc invoke's done event."""
        invoke = self.step.invoke
        return (
            self.step.origin == "done"
            and invoke is not None
            and invoke.kind == "rpc"
            and any(r == "event.output" or r.startswith("event.output.") for r in self.reads)
        )

    def resets(self, data: DataField) -> bool:
        """Writes the field's default back (clearing it), carrying no data of its own."""
        return self.value.op == "lit" and self.value.value == data.default


@dataclass(frozen=True)
class Use:
    """One place that reads a context field. ``key`` is the invoke-input or output key it is
    passed on under when the expression is the field itself (``{"courseId": ctx("courseId")}``);
    ``target`` is the field an assign writes, the invoke id, or the tracked event."""

    field: str
    kind: UseKind
    state: str
    target: str = ""
    key: str | None = None
    invoke: Invoke | None = None


@dataclass(frozen=True)
class Opaque:
    """A custom action: it may write any field, unseen."""

    action: str
    step: Step


@dataclass(frozen=True)
class FieldFlow:
    """The data flow of one context field."""

    field: DataField
    writes: tuple[Write, ...]
    uses: tuple[Use, ...]
    opaque: tuple[Opaque, ...]

    @property
    def data_writes(self) -> tuple[Write, ...]:
        """The writes that carry a value (every write but a reset to the default)."""
        return tuple(w for w in self.writes if not w.resets(self.field))

    @property
    def user_writes(self) -> tuple[Write, ...]:
        """Writes on events the outside world sends, resets to the default included."""
        return tuple(w for w in self.writes if w.step.origin == "user")

    @property
    def response_writes(self) -> tuple[Write, ...]:
        return tuple(w for w in self.writes if w.from_response)

    def passed_as(self) -> tuple[str, ...]:
        """The keys of invoke inputs and outputs this field is handed on under, whole."""
        return tuple(u.key for u in self.uses if u.key is not None)


def field_flows(chart: Chart) -> dict[str, FieldFlow]:
    """The data flow of every context field of ``chart``, by field name, in context order."""
    invokes = {i.id: i for _, i in chart.invokes()}
    writes: dict[str, list[Write]] = {f.name: [] for f in chart.context}
    uses: dict[str, list[Use]] = {f.name: [] for f in chart.context}
    opaque: list[Opaque] = []

    def actions(group: Iterable[Action], step: Step) -> None:
        for action in group:
            if isinstance(action, Assign):
                for name, value in action.updates:
                    writes.setdefault(name, []).append(Write(name, value, action.name, step))
                    for f in _fields(value):
                        uses.setdefault(f, []).append(
                            Use(f, "assign", step.state, target=name)
                        )
            elif isinstance(action, Track):
                for f in action.include:
                    uses.setdefault(f, []).append(Use(f, "track", step.state, target=action.event))
            elif isinstance(action, Custom):
                opaque.append(Opaque(action.name, step))

    actions(chart.entry, Step(chart.id, None, "entry"))
    for state in chart.states:
        actions(state.entry, Step(state.id, None, "entry"))
        actions(state.exit, Step(state.id, None, "exit"))
        for t in state.transitions:
            step = _step(state.id, t.event, t.delay, invokes)
            actions(t.actions, step)
            if t.guard is not None and t.guard.expr is not None:
                for f in _fields(t.guard.expr):
                    uses.setdefault(f, []).append(
                        Use(f, "guard", state.id, target=t.guard.name)
                    )
        for invoke in state.invokes:
            for key, value in invoke.input:
                whole = _whole(value)
                for f in _fields(value):
                    uses.setdefault(f, []).append(Use(
                        f, "input", state.id, target=invoke.id,
                        key=key if whole == f else None, invoke=invoke,
                    ))
        for key, value in state.output:
            _output(uses, state.id, key, value)
    for key, value in chart.output:
        _output(uses, chart.id, key, value)
    return {
        f.name: FieldFlow(
            field=f, writes=tuple(writes[f.name]), uses=tuple(uses[f.name]),
            opaque=tuple(opaque),
        )
        for f in chart.context
    }


def _step(state: str, event: str | None, delay: str | None, invokes: dict[str, Invoke]) -> Step:
    if event is None:
        return Step(state, None, "eventless")
    if event.startswith("xstate.done.actor."):
        return Step(state, event, "done", invokes.get(event.removeprefix("xstate.done.actor.")))
    if event.startswith("xstate.error.actor."):
        invoke = invokes.get(event.removeprefix("xstate.error.actor."))
        return Step(state, event, "error", invoke)
    if delay is not None or event.startswith("xstate.after."):
        return Step(state, event, "delay")
    if event.startswith("xstate.done.state."):
        return Step(state, event, "state-done")
    return Step(state, event, "user")


def _output(uses: dict[str, list[Use]], owner: str, key: str, value: Expr) -> None:
    whole = _whole(value)
    for f in _fields(value):
        uses.setdefault(f, []).append(
            Use(f, "output", owner, target=owner, key=key if whole == f else None)
        )


def _fields(e: Expr) -> list[str]:
    """The context fields an expression reads, each once."""
    found: list[str] = []
    for path in e.refs():
        head, _, rest = path.partition(".")
        name = rest.split(".", 1)[0]
        if head == "context" and name and name not in found:
            found.append(name)
    return found


def _whole(e: Expr) -> str | None:
    """The field an expression is, when it is exactly ``context.<field>``."""
    if e.op == "ref" and e.path is not None:
        head, _, rest = e.path.partition(".")
        if head == "context" and rest and "." not in rest:
            return rest
    return None
