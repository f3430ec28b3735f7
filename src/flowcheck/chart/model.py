"""The chart model: a statechart as plain, frozen data.

Everything in flowcheck after reading a flow works on these objects: the
Stepper, exploration, properties, exports and diagrams. They carry no
behaviour; the words are SCXML's and XState's.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from flowcheck.chart.expr import Expr

StateKind = Literal["atomic", "compound", "parallel", "final", "history"]

FAILURE = "failure"
SUCCESS = "success"
STEP = "step"
ABANDONED = "abandoned"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Guard(_Frozen):
    """A named guard. ``expr`` None means opaque: implemented elsewhere, not visible here."""

    name: str
    expr: Expr | None = None
    negated: bool = False
    params: str | None = None
    """The guard's XState ``params`` as canonical JSON text (kept and exported unchanged)."""

    @property
    def key(self) -> str:
        """What tells this guard apart where it has no body: its name, and its params (the
        same named guard with other params is another condition)."""
        return self.name if self.params is None else f"{self.name}({self.params})"

    @model_serializer(mode="wrap")
    def _omit_unset_params(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and self.params is None:
            data.pop("params", None)
        return data


class Assign(_Frozen):
    kind: Literal["assign"] = "assign"
    name: str
    updates: tuple[tuple[str, Expr], ...]


class Track(_Frozen):
    """Send one analytics event; ``properties`` are literals, ``include`` copies context fields."""

    kind: Literal["track"] = "track"
    event: str
    properties: tuple[tuple[str, Any], ...] = ()
    include: tuple[str, ...] = ()


class Raise(_Frozen):
    kind: Literal["raise"] = "raise"
    event: str


class SendParent(_Frozen):
    """Send ``event`` to the parent flow that runs this one as a child (XState ``sendParent``).

    It changes nothing in this chart: the parent handles the event like one a user sends."""

    kind: Literal["sendParent"] = "sendParent"
    event: str


class Custom(_Frozen):
    """An action flowcheck cannot see into; the frontend implements it."""

    kind: Literal["custom"] = "custom"
    name: str
    params: tuple[tuple[str, Any], ...] = ()
    declared: bool = True


Action = Annotated[Assign | Track | Raise | SendParent | Custom, Field(discriminator="kind")]


def action_name(action: Assign | Track | Raise | SendParent | Custom) -> str:
    """The XState action type an action is exported as."""
    if isinstance(action, Assign):
        return action.name
    if isinstance(action, Track):
        return "track"
    if isinstance(action, Raise):
        return f"raise{_pascal(action.event)}"
    if isinstance(action, SendParent):
        return f"notifyParent{_pascal(action.event)}"
    return action.name


def _pascal(name: str) -> str:
    return "".join(p.capitalize() for p in name.lower().split("_"))


class Transition(_Frozen):
    """One transition. ``event`` None is eventless (XState ``always``); no targets is targetless."""

    source: str
    event: str | None
    targets: tuple[str, ...] = ()
    guard: Guard | None = None
    actions: tuple[Action, ...] = ()
    reenter: bool = False
    order: int = 0
    delay: str | None = None


class Invoke(_Frozen):
    """An actor started while its state is active: a Connect-RPC method or a child flow."""

    id: str
    kind: Literal["rpc", "flow"]
    src: str
    input: tuple[tuple[str, Expr], ...] = ()
    outputs: tuple[dict[str, Any], ...] = ({},)
    error_codes: tuple[str, ...] = ("unavailable",)
    input_value: str | None = None
    """An input that is not an object of expressions (XState's input is any value), as
    canonical JSON text, kept and exported unchanged."""

    @model_serializer(mode="wrap")
    def _omit_unset_input_value(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and self.input_value is None:
            data.pop("input_value", None)
        return data


class State(_Frozen):
    """One state node. ``id`` is unique in the chart (XState's state id: an explicit id, or
    for imported machines the path ``machine.parent.child``); ``key`` is its key under its
    parent when that differs from the id (as in XState's ``states`` object)."""

    id: str
    kind: StateKind
    parent: str | None = None
    children: tuple[str, ...] = ()
    initial: str | None = None
    entry: tuple[Action, ...] = ()
    exit: tuple[Action, ...] = ()
    transitions: tuple[Transition, ...] = ()
    invokes: tuple[Invoke, ...] = ()
    tags: tuple[str, ...] = ()
    history: Literal["shallow", "deep"] | None = None
    description: str = ""
    output: tuple[tuple[str, Expr], ...] = ()
    key: str = ""

    @model_serializer(mode="wrap")
    def _omit_unset_key(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and not self.key:
            data.pop("key", None)
        return data

    @property
    def name(self) -> str:
        """The state's key under its parent (its id unless told otherwise)."""
        return self.key or self.id


# "object" and "object[]" (a pydantic model, a list of them) are read so that the
# context-taxonomy property can report server data mirrored in a context.
FieldType = Literal["string", "integer", "boolean", "string[]", "object", "object[]", "null"]


class DataField(_Frozen):
    """A field of the context or of an event payload, with its finite example domain.

    ``fact`` marks a context field its flow declares a domain fact (in the Context model,
    ``Field(..., json_schema_extra={"flowcheck": "domain-fact"})``): flow data whatever the
    context-taxonomy rules would make of its name, type or data flow. It is written out only
    when set, so charts without the marker serialise as they always have.
    """

    name: str
    type: FieldType
    nullable: bool = False
    default: Any = None
    examples: tuple[Any, ...] = ()
    enum: tuple[Any, ...] = ()
    fact: bool = False
    # Bounds of the pydantic type (``Field(ge=, le=, min_length=, max_length=)``): they
    # bound the values exploration derives for the field. Written out only when set.
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None

    @model_serializer(mode="wrap")
    def _omit_unset_fact(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            if not self.fact:
                data.pop("fact", None)
            for key in ("minimum", "maximum", "min_length", "max_length"):
                if data.get(key) is None:
                    data.pop(key, None)
        return data

    def admits(self, value: Any) -> bool:
        """Whether ``value`` is within the bounds of the field's type."""
        if value is None:
            return self.nullable
        if isinstance(value, int) and not isinstance(value, bool):
            return ((self.minimum is None or value >= self.minimum)
                    and (self.maximum is None or value <= self.maximum))
        if isinstance(value, str | tuple | list):
            return ((self.min_length is None or len(value) >= self.min_length)
                    and (self.max_length is None or len(value) <= self.max_length))
        return True


class EventSpec(_Frozen):
    """A user event: its name and payload fields. Invoke outcomes and delays are not listed."""

    name: str
    payload: tuple[DataField, ...] = ()
    description: str = ""


class Chart(_Frozen):
    """A whole statechart. ``states`` is in document order; top-level states have no parent."""

    id: str
    name: str
    description: str = ""
    initial: str
    states: tuple[State, ...]
    context: tuple[DataField, ...] = ()
    # The machine's input: the context fields a parent (or the frontend) may set when it
    # starts the flow. None when the flow does not declare it (it is explored from its
    # default context only, and reports say so); () when it takes no input.
    input: tuple[DataField, ...] | None = None
    events: tuple[EventSpec, ...] = ()
    entry: tuple[Action, ...] = ()
    # The machine's output (XState's root ``output``), evaluated on the context once a
    # top-level final state is reached: what a parent flow's ``xstate.done.actor.*`` carries.
    output: tuple[tuple[str, Expr], ...] = ()
    source: str = ""
    # Transitions and invokes on the machine's root node (XState allows ``on``, ``after``,
    # ``always`` and ``invoke`` there): a compound State with the chart's id, or None.
    root: State | None = None

    @model_serializer(mode="wrap")
    def _omit_unset_root(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and self.root is None:
            data.pop("root", None)
        return data

    def nodes(self) -> tuple[State, ...]:
        """Every state node with transitions: the root node (when it has any), then the
        states in document order."""
        return (self.root, *self.states) if self.root is not None else self.states

    def state(self, state_id: str) -> State:
        for s in self.nodes():
            if s.id == state_id:
                return s
        raise KeyError(state_id)

    def state_map(self) -> dict[str, State]:
        return {s.id: s for s in self.states}

    def top_level(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.states if s.parent is None)

    def transitions(self) -> list[Transition]:
        return [t for s in self.nodes() for t in s.transitions]

    def invokes(self) -> list[tuple[State, Invoke]]:
        return [(s, i) for s in self.nodes() for i in s.invokes]

    def delays(self) -> list[str]:
        return sorted({t.delay for t in self.transitions() if t.delay})

    def tagged(self, tag: str) -> list[str]:
        return [s.id for s in self.states if tag in s.tags]

    def to_json(self) -> str:
        """Stable JSON: same chart, same bytes."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def done_actor(invoke_id: str) -> str:
    return f"xstate.done.actor.{invoke_id}"


def error_actor(invoke_id: str) -> str:
    return f"xstate.error.actor.{invoke_id}"


def done_state(state_id: str) -> str:
    return f"xstate.done.state.{state_id}"


def after_event(delay: str, state_id: str) -> str:
    return f"xstate.after.{delay}.{state_id}"


def matches_event(event: str, descriptor: str) -> bool:
    """Whether a transition on ``descriptor`` takes ``event``, as XState matches them: the
    same name, ``*`` for any event, or ``a.b.*`` for any event whose name starts ``a.b.``
    (the descriptor itself included)."""
    if descriptor == event or descriptor == "*":
        return True
    if descriptor.endswith(".*"):
        stem = descriptor[:-2]
        return event in (stem, descriptor) or event.startswith(stem + ".")
    return False


def is_internal_event(name: str) -> bool:
    """Events that the outside world does not send: done events of states."""
    return name.startswith("xstate.done.state.")
