"""Read a :class:`~flowcheck.declare.flow.Flow` class into the chart model.

python-statemachine accepts some charts it then runs wrongly (duplicate ids in
two compounds, convention callbacks nobody can export); the reader refuses them
with an error that names the class, the state and the fix.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from statemachine import HistoryState, State

from flowcheck.chart.expr import Expr
from flowcheck.chart.model import (
    Action,
    Assign,
    Chart,
    Custom,
    DataField,
    EventSpec,
    FieldType,
    Guard,
    Invoke,
    Raise,
    SendParent,
    Track,
    Transition,
    after_event,
    done_state,
)
from flowcheck.chart.model import (
    State as ChartState,
)
from flowcheck.declare.dsl import STATE_META, declaration, lit
from flowcheck.declare.flow import Flow
from flowcheck.errors import MachineError

_CONVENTION = re.compile(r"^(on_enter_|on_exit_|before_|after_|on_)(?!state$|transition$)\w+$")


def read_chart(cls: type[Any], name: str | None = None) -> Chart:
    """Turn a Flow subclass into a :class:`Chart`; raise MachineError if it cannot be honoured."""
    if not (isinstance(cls, type) and issubclass(cls, Flow)):
        what = cls.__name__ if isinstance(cls, type) else type(cls).__name__
        raise MachineError(
            f"{what} is not a flowcheck Flow: derive the class from flowcheck.declare.Flow "
            "(a python-statemachine StateChart with flow metadata)"
        )
    return _Reader(cls, name or cls.__module__.rsplit(".", 1)[-1]).read()


class _Reader:
    def __init__(self, cls: type[Flow], name: str) -> None:
        self.cls = cls
        self.name = name
        self.label = cls.__name__
        self.guard_names: dict[str, Expr] = {}
        self.action_names: dict[str, Any] = {}

    def fail(self, message: str) -> MachineError:
        return MachineError(f"{self.label}: {message}")

    def read(self) -> Chart:
        cls = self.cls
        if not cls.flow_id:
            raise self.fail("no flow_id: set flow_id = '<xstateId>' on the class")
        self._reject_conventions()
        order: list[State] = []
        seen: dict[str, str] = {}
        for top in cls.states:
            self._walk(top, None, order, seen)
        if not order:
            raise self.fail("no states: declare at least one State")
        tops = [s for s in cls.states]
        if cls._flowcheck_root_without_initial:
            raise self.fail(
                "the chart has no initial state: mark one top-level State(initial=True)"
            )
        initial = self._initial_of(tops, "the chart")
        policy = cls.telemetry_policy
        states: list[ChartState] = []
        counter = 0
        for state in order:
            chart_state, counter = self._state(state, counter)
            states.append(chart_state)
        self._unique_keys(states)
        context = _fields(cls.Context, self.label, "Context")
        chart = Chart(
            input=self._input(context),
            id=cls.flow_id,
            name=self.name,
            description=inspect.cleandoc(cls.__doc__ or ""),
            initial=initial,
            states=tuple(states),
            context=context,
            events=self._events(states),
            entry=tuple(policy.on_start(cls.flow_id)),
            output=self._output(context),
            source=inspect.getsourcefile(cls) or "",
        )
        return chart

    def _input(self, context: tuple[DataField, ...]) -> tuple[DataField, ...] | None:
        """The class's ``Input`` model: each field sets the context field of its name, so it
        must be one, of the same type."""
        model = self.cls.Input
        if model is None:
            return None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise self.fail(
                f"Input is {model!r}; declare it as a pydantic model whose fields are context "
                "fields (or flowcheck.declare.NoInput for a flow started without input)"
            )
        # An input field's seeds are its own examples and the context default, not the
        # placeholder examples payload fields get.
        fields = tuple(
            f.model_copy(update={"examples": tuple(model.model_fields[f.name].examples or ())})
            for f in _fields(model, self.label, "Input")
        )
        by_name = {f.name: f for f in context}
        for f in fields:
            known = by_name.get(f.name)
            if known is None:
                names = ", ".join(sorted(by_name)) or "none"
                raise self.fail(
                    f"Input field {f.name!r} is not a context field (fields: {names}): the "
                    "input sets the context, so name a context field or add it to Context"
                )
            if (known.type, known.nullable) != (f.type, f.nullable) and not (
                known.nullable and f.type == known.type
            ):
                raise self.fail(
                    f"Input field {f.name!r} is {f.type}{' | None' if f.nullable else ''} but "
                    f"the context field is {known.type}{' | None' if known.nullable else ''}: "
                    "give both the same type"
                )
        return fields

    def _output(self, context: tuple[DataField, ...]) -> tuple[tuple[str, Expr], ...]:
        """The class's ``output``: the machine output, read from the context only (XState
        computes it when the machine is done, when there is no event of the flow's own)."""
        declared = self.cls.output
        if not isinstance(declared, dict):
            raise self.fail(
                f"output is a {type(declared).__name__}; write it as a dict of output keys to "
                'expressions, e.g. output = {"jobId": ctx("jobId")}'
            )
        fields = {f.name for f in context}
        out: list[tuple[str, Expr]] = []
        for key, value in declared.items():
            if not isinstance(key, str) or not key:
                raise self.fail(f"output key {key!r} is not a non-empty string: name the key")
            if not isinstance(value, Expr | str | int | float | bool | list | tuple | None):
                raise self.fail(
                    f"output {key!r} is a {type(value).__name__}; use an expression such as "
                    "ctx(<field>) or a plain literal"
                )
            expr = value if isinstance(value, Expr) else lit(value)
            for path in expr.refs():
                head, _, rest = path.partition(".")
                name = rest.split(".", 1)[0]
                if head != "context" or name not in fields:
                    known = ", ".join(sorted(fields)) or "none"
                    raise self.fail(
                        f"output {key!r} reads {path!r}, which is not a context field; the "
                        f"output is computed from the context (fields: {known}): use "
                        "ctx(<field>)"
                    )
            out.append((key, expr))
        return tuple(out)

    # -- structure --------------------------------------------------------------------

    def _reject_conventions(self) -> None:
        for klass in self.cls.__mro__:
            if klass is Flow or not issubclass(klass, Flow):
                continue
            for attr, value in vars(klass).items():
                if callable(value) and _CONVENTION.match(attr) and not isinstance(value, State):
                    raise self.fail(
                        f"method {attr}() is a naming-convention callback that XState export "
                        "cannot see: pass a flowcheck action in enter=, exit= or on= instead"
                    )

    def _walk(
        self, state: State, parent: str | None, order: list[State], seen: dict[str, str]
    ) -> None:
        where = f"inside {parent!r}" if parent else "at the top level"
        if state.id in seen:
            raise self.fail(
                f"state id {state.id!r} is declared twice ({seen[state.id]} and {where}); "
                "python-statemachine needs ids unique across the whole chart: rename one"
            )
        seen[state.id] = where
        order.append(state)
        for child in state.states:
            self._walk(child, state.id, order, seen)
        for hist in state.history:
            self._walk(hist, state.id, order, seen)

    def _unique_keys(self, states: list[ChartState]) -> None:
        """Sibling states need distinct XState keys (``tag(..., key=...)`` sets one)."""
        seen: dict[tuple[str | None, str], str] = {}
        for st in states:
            other = seen.setdefault((st.parent, st.name), st.id)
            if other != st.id:
                where = f"under {st.parent!r}" if st.parent else "at the top level"
                raise self.fail(
                    f"states {other!r} and {st.id!r} {where} both have the XState key "
                    f"{st.name!r}; keys are unique among siblings: change one key"
                )

    def _initial_of(self, children: list[State], owner: str) -> str:
        marked = [c for c in children if c.initial and not isinstance(c, HistoryState)]
        if not marked:
            raise self.fail(
                f"{owner} has no initial state: mark one child State(initial=True)"
            )
        if len(marked) > 1:
            names = ", ".join(repr(c.id) for c in marked)
            raise self.fail(f"{owner} has several initial states ({names}): keep one")
        return str(marked[0].id)

    def _state(self, state: State, counter: int) -> tuple[ChartState, int]:
        meta = getattr(state, STATE_META, None) or {"tags": [], "invokes": [], "description": ""}
        parent = state.parent.id if state.parent is not None else None
        policy = self.cls.telemetry_policy
        if isinstance(state, HistoryState):
            kind = "history"
            history: Any = "deep" if state.type.is_deep else "shallow"
        else:
            history = None
            if state.final:
                kind = "final"
            elif state.parallel:
                kind = "parallel"
            elif state.states:
                kind = "compound"
            else:
                kind = "atomic"
        children = tuple(c.id for c in [*state.states, *state.history])
        initial = None
        if kind == "compound":
            if any(state is s for s in self.cls._flowcheck_without_initial):
                raise self.fail(
                    f"compound state {state.id!r} has no initial state: mark one child "
                    "State(initial=True) (python-statemachine would pick the first child, "
                    "XState none)"
                )
            initial = self._initial_of(list(state.states), f"compound state {state.id!r}")
        transitions: list[Transition] = []
        for t in state.transitions:
            if t.initial:
                continue
            for chart_t in self._transitions(state, t):
                transitions.append(chart_t.model_copy(update={"order": counter}))
                counter += 1
        if kind == "final" and transitions:
            raise self.fail(
                f"final state {state.id!r} has an outgoing transition "
                f"({transitions[0].event or 'eventless'}): a final state ends its region; "
                "make it a normal State or remove the transition"
            )
        entry: list[Action] = []
        exit_: list[Action] = []
        if kind != "history":
            entry.extend(
                policy.on_entry(self.cls.flow_id, state.id, meta["tags"], kind == "final")
            )
            if not (kind == "final" and parent is None):
                # A top-level final state is never exited: XState stops the machine there
                # (running its exit actions on stop, which python-statemachine does not).
                exit_.extend(policy.on_exit(self.cls.flow_id, state.id))
            entry.extend(self._actions(state.enter, f"entry of {state.id!r}"))
            exit_.extend(self._actions(state.exit, f"exit of {state.id!r}"))
        invokes: tuple[Invoke, ...] = tuple(meta["invokes"])
        if state.invoke and any(not s.is_convention for s in _specs(state.invoke)):
            raise self.fail(
                f"state {state.id!r} uses python-statemachine's invoke=, which would really run "
                "it: declare it with flowcheck.declare.invoking(rpc(...)) instead"
            )
        return (
            ChartState(
                id=state.id,
                kind=kind,
                parent=parent,
                children=children,
                initial=initial,
                entry=tuple(entry),
                exit=tuple(exit_),
                transitions=tuple(transitions),
                invokes=invokes,
                tags=tuple(meta["tags"]),
                history=history,
                description=meta["description"],
                key=_key(meta, state.id),
            ),
            counter,
        )

    def _transitions(self, state: State, t: Any) -> list[Transition]:
        targets = tuple(s.id for s in t.targets)
        if t.internal and t.is_self:
            raise self.fail(
                f"internal self-transition on {state.id!r} ({t.event or 'eventless'}): "
                "python-statemachine re-runs entry actions there; use .to(None, ...) for a "
                "targetless transition"
            )
        extras = ((t.before, "before"), (t.after, "after"), (t.validators, "validators"))
        for group, label in extras:
            if any(not s.is_convention for s in _specs(group)):
                raise self.fail(
                    f"transition {t.event or 'eventless'} from {state.id!r} uses {label}=; "
                    "flowcheck exports only on= actions: move them there"
                )
        guard = self._guard(state, t)
        actions = tuple(self._actions(t.on, f"transition {t.event} from {state.id!r}"))
        reenter = bool(targets) and not t.internal
        events = [str(e) for e in t.events]
        names = _event_names(events)
        if not names:
            return [
                Transition(
                    source=state.id, event=None, targets=targets, guard=guard,
                    actions=actions, reenter=reenter,
                )
            ]
        out: list[Transition] = []
        for event in names:
            delay = None
            if event.startswith("after."):
                delay = event[len("after."):]
                event = after_event(delay, state.id)
            out.append(
                Transition(
                    source=state.id, event=event, targets=targets, guard=guard,
                    actions=actions, reenter=reenter, delay=delay,
                )
            )
        return out

    def _guard(self, state: State, t: Any) -> Guard | None:
        parts: list[Guard] = []
        for spec in _specs(t.cond):
            if spec.is_convention:
                continue
            decl = declaration(spec.func)
            if not isinstance(decl, Guard):
                what = getattr(spec.func, "__name__", repr(spec.func))
                raise self.fail(
                    f"guard {what!r} on {t.event or 'eventless'} from {state.id!r} is not "
                    "declarative: write it as flowcheck.declare.guard(name, expression)"
                )
            if spec.expected_value is False and decl.expr is None:
                # Explored both ways like the guard itself; XState JSON has no not().
                decl = decl.model_copy(update={"negated": not decl.negated})
            elif spec.expected_value is False:
                decl = Guard(name=f"not{decl.name[:1].upper()}{decl.name[1:]}",
                             expr=Expr(op="not", args=(decl.expr,)))
            parts.append(self._register_guard(decl))
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        opaque = [p.name for p in parts if p.expr is None]
        if opaque:
            raise self.fail(
                f"{t.event or 'eventless'} from {state.id!r} combines the opaque guard "
                f"{opaque[0]!r} with other guards; XState takes one guard per transition: "
                "declare one guard (opaque, or with an expression) for the combination"
            )
        name = "And".join(p.name[:1].upper() + p.name[1:] for p in parts)
        name = name[:1].lower() + name[1:]
        exprs = tuple(p.expr for p in parts if p.expr is not None)
        return self._register_guard(Guard(name=name, expr=Expr(op="and", args=exprs)))

    def _register_guard(self, decl: Guard) -> Guard:
        known = self.guard_names.get(decl.name, decl.expr)
        if known != decl.expr:
            raise self.fail(
                f"two different guards are both named {decl.name!r}: give each its own name"
            )
        self.guard_names[decl.name] = decl.expr  # type: ignore[assignment]
        return decl

    def _actions(self, group: Any, where: str) -> list[Action]:
        out: list[Action] = []
        for spec in _specs(group):
            if spec.is_convention:
                continue
            decl = declaration(spec.func)
            if isinstance(decl, Assign | Track | Raise | SendParent | Custom):
                if isinstance(decl, Assign | Custom):
                    # One custom action may take different params at each use, as in XState.
                    same = decl.model_copy(update={"params": ()}) \
                        if isinstance(decl, Custom) else decl
                    known = self.action_names.get(decl.name)
                    if known is not None and known != same:
                        raise self.fail(
                            f"two different actions are both named {decl.name!r} "
                            f"(second one in {where}): give each its own name"
                        )
                    self.action_names[decl.name] = same
                out.append(decl)
            else:
                name = getattr(spec.func, "__name__", None) or str(spec.func)
                out.append(Custom(name=str(name), declared=False))
        return out

    def _events(self, states: list[ChartState]) -> tuple[EventSpec, ...]:
        used: list[str] = []
        for s in states:
            for t in s.transitions:
                if t.event and not t.event.startswith("xstate.") and t.event not in used:
                    used.append(t.event)
        for declared in self.cls.payloads:
            if declared not in used:
                raise self.fail(
                    f"payloads names event {declared!r}, but no transition uses it: "
                    "remove the entry or add the transition"
                )
        specs = []
        for event in used:
            model = self.cls.payloads.get(event)
            payload = _fields(model, self.label, f"payload of {event}") if model else ()
            doc = inspect.cleandoc(model.__doc__ or "") if model and model.__doc__ else ""
            specs.append(EventSpec(name=event, payload=payload, description=doc))
        return tuple(specs)


def _key(meta: dict[str, Any], state_id: str) -> str:
    """The state's XState key when ``tag(..., key=...)`` gives one other than its id."""
    key = meta.get("key", "")
    return "" if key == state_id else str(key)


def _specs(group: Any) -> list[Any]:
    """The callback specs of one python-statemachine group (cond, on, enter, exit)."""
    return list(group)


def _event_names(events: list[str]) -> list[str]:
    """Map python-statemachine event ids to XState's, dropping the underscore aliases."""
    names: list[str] = []
    for e in events:
        if e.startswith("done_state_") or (e.startswith("error_") and "." not in e):
            continue
        if e.startswith("done_invoke_"):
            continue
        if e.startswith("done.state."):
            e = done_state(e[len("done.state."):])
        if e not in names:
            names.append(e)
    return names


_SCALARS: dict[type, FieldType] = {str: "string", int: "integer", bool: "boolean"}
_DEFAULT_EXAMPLES: dict[str, tuple[Any, ...]] = {
    "string": ("example",),
    "integer": (0, 1),
    "boolean": (False, True),
}


def _fields(model: type[BaseModel] | None, label: str, where: str) -> tuple[DataField, ...]:
    if model is None:
        return ()
    out: list[DataField] = []
    for name, info in model.model_fields.items():
        ftype, nullable, enum = _field_type(info.annotation, label, where, name)
        examples = tuple(info.examples or ()) or enum or _DEFAULT_EXAMPLES.get(ftype, ())
        default = None if info.is_required() else _default(info)
        out.append(
            DataField(
                name=name, type=ftype, nullable=nullable, default=_freeze(default),
                examples=tuple(_freeze(e) for e in examples), enum=enum,
                fact=_domain_fact(info, label, where, name),
                **_bounds(info),
            )
        )
    return tuple(out)


def _bounds(info: FieldInfo) -> dict[str, int]:
    """``ge``/``gt``/``le``/``lt``/``min_length``/``max_length`` of a pydantic field."""
    out: dict[str, int] = {}
    for item in info.metadata:
        for attr, key, shift in (("ge", "minimum", 0), ("gt", "minimum", 1),
                                 ("le", "maximum", 0), ("lt", "maximum", -1),
                                 ("min_length", "min_length", 0),
                                 ("max_length", "max_length", 0)):
            value = getattr(item, attr, None)
            if isinstance(value, int) and not isinstance(value, bool):
                out[key] = value + shift
    return out


DOMAIN_FACT = "domain-fact"
"""The marker that declares a context field a fact of the domain, not a UI flag or server
data: ``Field(..., json_schema_extra={"flowcheck": "domain-fact"})``."""


def _domain_fact(info: FieldInfo, label: str, where: str, name: str) -> bool:
    extra = info.json_schema_extra
    if not isinstance(extra, dict) or "flowcheck" not in extra:
        return False
    if extra["flowcheck"] != DOMAIN_FACT:
        raise MachineError(
            f"{label}: field {name!r} of {where} has json_schema_extra "
            f"{{'flowcheck': {extra['flowcheck']!r}}}; the marker flowcheck reads is "
            f"{{'flowcheck': {DOMAIN_FACT!r}}} (a fact of the domain the flow decides on)"
        )
    return True


def _default(info: FieldInfo) -> Any:
    return _plain(info.get_default(call_default_factory=True))


def _plain(value: Any) -> Any:
    """Model instances in a default as plain data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_json(annotation: Any) -> bool:
    """``Any`` or a ``dict`` type: a JSON value of any shape."""
    return annotation is Any or annotation is dict or typing.get_origin(annotation) is dict


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _field_type(
    annotation: Any, label: str, where: str, name: str
) -> tuple[FieldType, bool, tuple[Any, ...]]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            inner, _, enum = _field_type(rest[0], label, where, name)
            return inner, True, enum
    if origin is typing.Literal:
        kinds = {type(a) for a in args}
        if len(kinds) == 1 and next(iter(kinds)) in _SCALARS:
            return _SCALARS[next(iter(kinds))], False, tuple(args)
    if origin in (list, tuple) and args and args[0] is str:
        return "string[]", False, ()
    if annotation in _SCALARS:
        return _SCALARS[annotation], False, ()
    # Models are not flow data, but they are read (not refused) so that the
    # context-taxonomy property reports them with the rule they break. So are JSON
    # values of any shape (``dict[str, Any]``, ``list[Any]``, ``Any``): XState's context
    # is any JSON value, and a machine brought in from XState keeps its own.
    if origin in (list, tuple) and args and (_is_model(args[0]) or _is_json(args[0])):
        return "object[]", False, ()
    if _is_model(annotation) or _is_json(annotation):
        return "object", False, ()
    raise MachineError(
        f"{label}: field {name!r} of {where} has type {annotation!r}; flow data is ids and form "
        "input: use str, int, bool, a Literal, list[str], or one of those | None (dict[str, Any] "
        "for a JSON object)"
    )
