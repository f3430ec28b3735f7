"""Chart -> a typed TypeScript module: ``setup({types, guards, actions, actors, delays})``.

The module exports the context interface, the input type (the flow's ``Input``
model when it declares one: its required fields are required, and the
exported defaults leave them out), the output type (when the flow declares an
output), the event union users send (payload fields with a default are
optional), the internal events XState delivers to the machine itself (invoke
outcomes, delays, done states: kept out of what users may send), the tags, and
``create<Flow>Machine(deps)``, where ``deps`` injects what only the frontend
has: one function per Connect-RPC method, the child flows' machines (typed:
a child's snapshot and ``send`` are its own flow's), the analytics sink,
custom actions and optional delay overrides. Declarative guards and assigns
are generated as TypeScript from their expression trees, calling the shared
runtime (:mod:`flowcheck.formats.xstate.runtime`). The code is ``strict``-clean
and has no ``any``: event fields are read after narrowing the event to the
types the chart can deliver there, or through ``field()`` as ``unknown`` and
checked at run time before they land in a typed context field.

Exported names start with the flow's name in PascalCase (its module name,
``course_builder`` -> ``CourseBuilder``), so that modules never export the same
name; a child flow ``generation`` is imported from ``./generation.machine``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flowcheck.chart.expr import Expr
from flowcheck.chart.model import (
    Action,
    Assign,
    Chart,
    Custom,
    DataField,
    Guard,
    Raise,
    SendParent,
    Track,
    action_name,
    done_actor,
    error_actor,
)
from flowcheck.formats.xstate.config import (
    DEFAULT_DELAY_MS,
    ExportError,
    JsonObject,
    export_config,
    export_order,
    exported_transitions,
    required,
    to_json_value,
)
from flowcheck.formats.xstate.runtime import HELPERS, RUNTIME_MODULE

TsType = frozenset[str]
UNKNOWN: TsType = frozenset({"unknown"})
BOOLEAN: TsType = frozenset({"boolean"})
NUMBER: TsType = frozenset({"number"})
NULL: TsType = frozenset({"null"})
STRING: TsType = frozenset({"string"})
STRING_ARRAY: TsType = frozenset({"string[]"})

ALL_EVENTS = None  # an implementation that may see any event (entry, exit, eventless)

INTERNAL_PREFIXES = ("xstate.done.actor.", "xstate.error.actor.", "xstate.after.",
                     "xstate.done.state.")
"""Events XState raises for the machine itself; users never send them."""

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
"""A plain identifier (matched whole: ``fullmatch``, so a trailing newline is no match)."""

_REQUIRED = object()  # the "default" of a payload field the sender must give


class Code(str):
    """A TypeScript expression, written as is into the config literal."""

    __slots__ = ()


def pascal(name: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", name)
    out = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return out if out[:1].isalpha() else f"X{out}"


def _key(name: str) -> str:
    """A property name: the name itself when it is a plain identifier, else a string
    literal. ``__proto__`` is refused: in an object literal, quoted or not, it sets the
    prototype instead of defining a property."""
    if name == "__proto__":
        raise ExportError(f"{name!r} cannot be a name in the generated TypeScript (an object "
                          "literal reads it as the prototype): rename it")
    return name if _IDENT.fullmatch(name) else _str(name)


def _str(value: str) -> str:
    """A single-quoted TypeScript string literal: the JSON string literal of ``value``
    (every control character escaped) with its quotes swapped, and the line and paragraph
    separators escaped too, which older parsers take for line ends."""
    body = json.dumps(value, ensure_ascii=False)[1:-1].replace("\\\"", "\"").replace("'", "\\'")
    return "'" + body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "'"


def _template(text: str) -> str:
    """``text`` inside a template literal: escaped as in :func:`_str`, and neither a
    backtick nor ``${`` can end the literal or open a substitution."""
    return _str(text)[1:-1].replace("\\'", "'").replace("`", "\\`").replace("${", "\\${")


def _comment(text: str) -> str:
    """``text`` inside a comment: escaped as in :func:`_str` (no line ends, so it cannot end
    a ``//`` comment), and ``*/`` cannot end a ``/** */`` one."""
    return _template(text).replace("*/", "*\\/")


def _member(obj: str, name: str) -> str:
    """``obj.name``, or ``obj['name']`` when the name is not a plain identifier."""
    return f"{obj}.{name}" if _IDENT.fullmatch(name) else f"{obj}[{_str(name)}]"


def literal(value: Any, indent: int = 0) -> str:
    """A TypeScript literal for JSON data (``Code`` values verbatim), 2-space indented."""
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if isinstance(value, Code):
        return str(value)
    if isinstance(value, str):
        return _str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, tuple | list | dict) and value:
        flat = _flat(value)
        if flat is not None and len(flat) + len(pad) <= 96:
            return flat
    if isinstance(value, tuple | list):
        if not value:
            return "[]"
        items = ",\n".join(inner + literal(v, indent + 1) for v in value)
        return f"[\n{items}\n{pad}]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = ",\n".join(f"{inner}{_key(k)}: {literal(v, indent + 1)}" for k, v in value.items())
        return "{\n" + items + "\n" + pad + "}"
    raise TypeError(f"cannot write {value!r} as TypeScript")


def _flat(value: Any) -> str | None:
    """A one-line literal for small data without nested containers or code."""
    items = value.values() if isinstance(value, dict) else value
    if any(isinstance(v, Code | dict | list | tuple) for v in items):
        return None
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)}: {literal(v)}" for k, v in value.items()) + " }"
    return "[" + ", ".join(literal(v) for v in value) + "]"


def render_type(t: TsType) -> str:
    return " | ".join(sorted(t))


def field_type(f: DataField) -> TsType:
    if f.enum:
        atoms = {_str(v) if isinstance(v, str) else json.dumps(v) for v in f.enum}
    else:
        atoms = {{
            "string": "string", "integer": "number", "boolean": "boolean",
            "string[]": "string[]", "object": "Record<string, unknown>", "null": "null",
        }[f.type]}
    if f.nullable:
        atoms.add("null")
    return frozenset(atoms)


def _value_type(value: Any) -> TsType:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        return frozenset({_str(value)})
    if isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
        return STRING_ARRAY
    if isinstance(value, dict):
        return frozenset({"Record<string, unknown>"})
    return UNKNOWN


def _widen(t: TsType) -> TsType:
    return frozenset("string" if a.startswith("'") else a for a in t)


def assignable(src: TsType, dst: TsType) -> bool:
    if "unknown" in dst:
        return True
    if "unknown" in src:
        return False
    return all(a in dst or (a.startswith("'") and "string" in dst) for a in src)


@dataclass
class _Shape:
    """What the generator knows about one invoke's output type."""

    name: str
    fields: dict[str, TsType]  # keys present in every example output


@dataclass
class _Module:
    chart: Chart
    prefix: str
    helpers: set[str] = field(default_factory=set)
    widened: bool = False  # some implementation reads an internal event (``received``)
    event_fields: dict[str, dict[str, TsType]] = field(default_factory=dict)
    # event -> payload field -> its default, for the fields a sender may leave out
    payload_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, _Shape] = field(default_factory=dict)  # invoke id -> output shape
    output_decls: dict[str, str] = field(default_factory=dict)  # interface name -> body

    def use(self, name: str) -> None:
        self.helpers.add(name)


def _infer_shape(name: str, examples: tuple[dict[str, Any], ...]) -> tuple[_Shape, str]:
    keys: list[str] = []
    types: dict[str, set[str]] = {}
    present: dict[str, int] = {}
    for ex in examples:
        for k, v in ex.items():
            if k not in keys:
                keys.append(k)
            types.setdefault(k, set()).update(_widen(_value_type(v)))
            present[k] = present.get(k, 0) + 1
    lines = []
    typed: dict[str, TsType] = {}
    for k in keys:
        t = frozenset(types[k])
        required = present[k] == len(examples)
        if required:
            typed[k] = t
        lines.append(f"  {_key(k)}{'' if required else '?'}: {render_type(t)};")
    body = "\n".join(lines)
    return _Shape(name=name, fields=typed), body


# -- expressions ---------------------------------------------------------------------------


class _ExprWriter:
    def __init__(self, module: _Module, events: list[str] | None) -> None:
        self.m = module
        self.events = events
        self.context = {f.name: field_type(f) for f in module.chart.context}
        self.narrowed = False

    def write(self, e: Expr) -> tuple[str, TsType]:
        op = e.op
        if op == "lit":
            v = to_json_value(e.value)
            return literal(v), _value_type(v)
        if op == "ref":
            return self._ref(e.path or "")
        if op in ("and", "or"):
            joiner = " && " if op == "and" else " || "
            return "(" + joiner.join(self.boolean(a) for a in e.args) + ")", BOOLEAN
        if op == "not":
            return f"!{self.boolean(e.args[0])}", BOOLEAN
        args = [self.write(a) for a in e.args]
        codes = [c for c, _ in args]
        if op == "nonempty":
            self.m.use("nonempty")
            return f"nonempty({codes[0]})", BOOLEAN
        if op == "count":
            self.m.use("count")
            return f"count({codes[0]})", NUMBER
        if op in ("eq", "ne"):
            self.m.use("equals")
            call = f"equals({codes[0]}, {codes[1]})"
            return (call if op == "eq" else f"!{call}"), BOOLEAN
        if op in ("lt", "le", "gt", "ge"):
            self.m.use("compare")
            return f"compare('{op}', {codes[0]}, {codes[1]})", BOOLEAN
        if op == "in":
            self.m.use("includes")
            return f"includes({codes[0]}, {codes[1]})", BOOLEAN
        if op in ("append", "remove"):
            self.m.use(op)
            (seq, seq_t), (item, item_t) = args
            if seq_t <= frozenset({"string[]", "null"}) and assignable(item_t, STRING):
                return f"{op}<string>({seq}, {item})", STRING_ARRAY
            self.m.use("field")
            return f"{op}<unknown>(field({{ v: {seq} }}, 'v') as readonly unknown[] | null, " \
                f"{item})", frozenset({"unknown[]"})
        if op == "add":
            self.m.use("add")
            return f"add({codes[0]}, {codes[1]})", NUMBER
        raise ValueError(f"unknown operator {op!r}")

    def boolean(self, e: Expr) -> str:
        code, t = self.write(e)
        if t == BOOLEAN:
            return code
        self.m.use("truthy")
        return f"truthy({code})"

    def _ref(self, path: str) -> tuple[str, TsType]:
        head, _, rest = path.partition(".")
        parts = rest.split(".") if rest else []
        if head == "context" and parts and parts[0] in self.context:
            if len(parts) == 1:
                return _member("context", parts[0]), self.context[parts[0]]
            self.m.use("field")
            rest_args = ", ".join(_str(p) for p in parts[1:])
            return f"field({_member('context', parts[0])}, {rest_args})", UNKNOWN
        if head == "event" and parts:
            typed = self._event_type(parts)
            if typed is not None:
                self.narrowed = True
                code = "event." + ".".join(parts)
                default = self._payload_default(parts)
                if default is not _REQUIRED:
                    code = f"({code} ?? {literal(to_json_value(default))})"
                return code, typed
        self.m.use("field")
        args = ", ".join(_str(p) for p in parts)
        # Any head but ``context`` reads the event, as the evaluator does (chart.expr.lookup):
        # the head is never written as code.
        obj = "context" if head == "context" else "event"
        code = f"field({obj}{', ' + args if args else ''})"
        if head == "event" and len(parts) == 1:
            # A payload field left out takes its default, whatever event it is.
            defaults = {
                name: to_json_value(fields[parts[0]])
                for name, fields in self.m.payload_defaults.items()
                if (self.events is None or name in self.events)
                and parts[0] in fields and fields[parts[0]] is not None
            }
            if defaults:
                code = f"({code} ?? field({literal(defaults)}, event.type))"
        return code, UNKNOWN

    def _payload_default(self, parts: list[str]) -> Any:
        """The default of ``event.<parts>`` when a sender may leave it out, the same for
        every event reaching here that has one (:meth:`_event_type` checked that)."""
        if len(parts) != 1 or not self.events:
            return _REQUIRED
        for name in self.events:
            fields = self.m.payload_defaults.get(name, {})
            if parts[0] in fields:
                return fields[parts[0]]
        return _REQUIRED

    def _event_type(self, parts: list[str]) -> TsType | None:
        """The type of ``event.<parts>`` if every event reaching here has it, required."""
        if not self.events or any(not _IDENT.fullmatch(p) for p in parts):
            return None
        found: set[TsType] = set()
        defaults: list[Any] = []
        for name in self.events:
            fields = self.m.event_fields.get(name)
            t: TsType | None = None
            if fields is not None and len(parts) == 1:
                t = fields.get(parts[0])
                optional = self.m.payload_defaults.get(name, {})
                if parts[0] in optional and optional[parts[0]] not in defaults:
                    defaults.append(optional[parts[0]])
            elif name.startswith("xstate.done.actor.") and parts[0] == "output":
                shape = self.m.outputs.get(name[len("xstate.done.actor."):])
                if shape is not None and len(parts) == 2:
                    t = shape.fields.get(parts[1])
            elif name.startswith("xstate.error.actor.") and parts == ["error", "code"]:
                t = STRING
            if t is None:
                return None
            found.add(t)
        if len(defaults) > 1:
            return None  # left out, the field takes a default that depends on the event
        return found.pop() if len(found) == 1 else None


# -- the module ------------------------------------------------------------------------------


def _usage(chart: Chart) -> tuple[dict[str, list[str] | None], dict[str, list[str] | None]]:
    """For each guard and action name, the event types it can see (None: any event)."""
    guards: dict[str, list[str] | None] = {}
    actions: dict[str, list[str] | None] = {}

    def note(table: dict[str, list[str] | None], name: str, event: str | None) -> None:
        if event is None:
            table[name] = ALL_EVENTS
        elif name not in table:
            table[name] = [event]
        else:
            seen = table[name]
            if seen is not None and event not in seen:
                seen.append(event)

    for a in chart.entry:
        note(actions, action_name(a), None)
    for s in chart.states:
        for a in (*s.entry, *s.exit):
            note(actions, action_name(a), None)
        for t in export_order(s):
            if t.guard is not None:
                note(guards, t.guard.name, t.event)
            for a in t.actions:
                note(actions, action_name(a), t.event)
    return guards, actions


def internal_event(name: str) -> bool:
    return name.startswith(INTERNAL_PREFIXES)


@dataclass(frozen=True)
class _Names:
    """The names one module exports, all starting with the flow's PascalCase name."""

    prefix: str

    @property
    def context(self) -> str:
        return f"{self.prefix}Context"

    @property
    def input(self) -> str:
        return f"{self.prefix}Input"

    @property
    def output(self) -> str:
        return f"{self.prefix}Output"

    @property
    def event(self) -> str:
        return f"{self.prefix}Event"

    @property
    def internal(self) -> str:
        return f"{self.prefix}InternalEvent"

    @property
    def tag(self) -> str:
        return f"{self.prefix}Tag"

    @property
    def deps(self) -> str:
        return f"{self.prefix}Deps"

    @property
    def machine(self) -> str:
        return f"{self.prefix}Machine"

    @property
    def defaults(self) -> str:
        return f"{self.prefix[:1].lower()}{self.prefix[1:]}Defaults"

    @property
    def factory(self) -> str:
        return f"create{self.prefix}Machine"


def flow_names(name: str) -> _Names:
    """The exported names of the module of the flow ``name`` (its module name)."""
    return _Names(pascal(name))


def _input_blocks(chart: Chart, n: _Names) -> tuple[list[str], str, list[str]]:
    """The input type's declaration, the type ``setup`` gets, and the context fields the
    input must give (left out of the exported defaults). An input that may be left out is
    ``<Flow>Input | void`` in ``setup``: XState drops ``undefined`` from the input type it
    infers there, and would then require an input."""
    if chart.input is None:
        return [
            "/** Machine input: context fields to start from; missing fields take the "
            "defaults.\n * (The flow declares no `Input`: any context field may be given.) */\n"
            f"export type {n.input} = Partial<{n.context}>;"
        ], f"{n.input} | void", []
    if not chart.input:
        return [
            "/** The flow takes no input: start it without one (or with `{}`). */\n"
            f"export type {n.input} = Record<string, never>;"
        ], f"{n.input} | void", []
    lines = [
        f"  {_key(f.name)}{'' if required(f) else '?'}: {render_type(field_type(f))};"
        for f in chart.input
    ]
    given = [f.name for f in chart.input if required(f)]
    note = (
        "Required fields have no default (the exported\n * defaults leave them out); "
        "optional ones take the defaults when missing."
        if given else "Missing fields take the\n * defaults."
    )
    return [
        "/** Machine input (the flow's `Input`): what a parent or the frontend starts it "
        f"with.\n * {note} */\nexport interface {n.input} {{\n" + "\n".join(lines) + "\n}"
    ], n.input, given


def render_module(chart: Chart, name: str) -> str:
    """The TypeScript module of ``chart`` (exported as ``<name>.machine.ts``)."""
    n = flow_names(name)
    m = _Module(chart=chart, prefix=n.prefix)
    output_t = n.output if chart.output else None

    for e in chart.events:
        m.event_fields[e.name] = {f.name: field_type(f) for f in e.payload}
        optional = {f.name: f.default for f in e.payload if not required(f)}
        if optional:
            m.payload_defaults[e.name] = optional
    children = _child_flows(chart)
    rpc_outputs: dict[str, str] = {}  # src -> output type name
    taken: set[str] = {output_t} if output_t else set()
    for _, inv in chart.invokes():
        if inv.kind == "flow":
            # The child's own output type; the generated code reads it through field().
            m.outputs[inv.id] = _Shape(f"OutputFrom<{children[inv.src].machine}>", {})
            continue
        if inv.src in rpc_outputs:
            type_name = rpc_outputs[inv.src]
            m.outputs[inv.id] = _Shape(type_name, m.outputs[_first_invoke(chart, inv.src)].fields)
            continue
        base = n.prefix + pascal(inv.src.rsplit("/", 1)[-1]) + "Output"
        type_name = base
        k = 2
        while type_name in taken:
            type_name = f"{base}{k}"
            k += 1
        taken.add(type_name)
        examples = tuple(
            o for i in chart.invokes() if i[1].src == inv.src for o in i[1].outputs
        )
        shape, body = _infer_shape(type_name, examples)
        m.outputs[inv.id] = shape
        rpc_outputs[inv.src] = type_name
        m.output_decls[type_name] = body

    guard_usage, action_usage = _usage(chart)
    customs = _customs(chart)
    guard_impls = _guards(m, chart, guard_usage)
    action_impls = _actions(m, chart, action_usage, customs)
    actor_impls = _actors(m, chart)
    blocks: list[str] = []

    # context, input, output, defaults
    ctx_lines = [f"  {_key(f.name)}: {render_type(field_type(f))};" for f in chart.context]
    blocks.append(
        f"/** The data of the `{_comment(chart.id)}` flow (XState context). */\n"
        f"export interface {n.context} {{\n" + "\n".join(ctx_lines)
        + ("\n" if ctx_lines else "") + "}"
    )
    input_decls, setup_input, given = _input_blocks(chart, n)
    blocks.extend(input_decls)
    if output_t:
        blocks.append(_output_interface(m, chart, output_t))
    defaults = _object_block(
        {f.name: to_json_value(f.default) for f in chart.context if f.name not in given}
    )
    if given:
        blocks.append(
            "/** The context the flow starts from, but for the fields the input gives\n"
            f" * ({', '.join(f'`{_comment(g)}`' for g in given)}): those have no default. */\n"
            f"export const {n.defaults}: Omit<{n.context}, "
            f"{' | '.join(_str(g) for g in given)}> = {defaults};"
        )
    else:
        doc = (
            "/** The context every run starts from. */" if chart.input is not None
            else "/** The context the flow starts from; the input overrides any of it. */"
        )
        blocks.append(f"{doc}\nexport const {n.defaults}: {n.context} = {defaults};")
    for type_name, body in m.output_decls.items():
        blocks.append(
            f"export interface {type_name} {{\n{body}\n}}" if body
            else f"export type {type_name} = Record<string, unknown>;"
        )

    # events
    blocks.append(_event_union(m, chart, n))
    internal = _internal_events(m, chart)
    blocks.append(
        "/** Events XState delivers to the machine itself (invoke outcomes, delays, done\n"
        " * states): its guards and actions read them, users never send them. */\n"
        + (f"export type {n.internal} =\n" + "\n".join(f"  | {x}" for x in internal) + ";"
           if internal else f"export type {n.internal} = never;")
    )
    if m.widened:
        blocks.append(
            "/** The event as the machine's implementations receive it: XState's typing knows\n"
            f" * only `{n.event}`, but it delivers the internal events to them as well. */\n"
            f"function received(event: {n.event}): {n.event} | {n.internal} {{\n"
            "  return event;\n}"
        )
    tags = sorted({t for s in chart.states for t in s.tags})
    blocks.append(
        "/** The tags of the flow's states (`snapshot.hasTag(...)`). */\n"
        f"export type {n.tag} = " + (" | ".join(_str(t) for t in tags) if tags else "never")
        + ";"
    )

    # deps
    rpc_lines: list[str] = []
    flow_lines: list[str] = []
    seen_src: set[str] = set()
    for _, inv in chart.invokes():
        if inv.src in seen_src:
            continue
        seen_src.add(inv.src)
        if inv.kind == "rpc":
            input_type = _input_type(m, chart, inv.src)
            out_name = m.outputs[inv.id].name
            rpc_lines.append(
                f"    {_key(inv.src)}: (input: {input_type}) => Promise<{out_name}>;"
            )
        else:
            flow_lines.append(
                f"    {_key(inv.src)}: {children[inv.src].machine};"
            )
    deps_lines = [
        "  /** The analytics sink: every `track` action calls it. */",
        "  track: TrackSink;",
    ]
    if rpc_lines:
        deps_lines += [
            "  /** One function per Connect-RPC method; reject with an error carrying its code. */",
            "  rpc: {", *rpc_lines, "  };",
        ]
    if flow_lines:
        deps_lines += [
            "  /** Child flows, by flow name: each its own exported machine, created with its",
            "   * own deps (`create<Flow>Machine(...)`). */",
            "  flows: {", *flow_lines, "  };",
        ]
    if customs:
        deps_lines += ["  /** Actions only the frontend can perform. */", "  actions: {"]
        deps_lines += [
            f"    {_key(c)}: (params: Readonly<Record<string, unknown>>) => void;"
            for c in customs
        ]
        deps_lines.append("  };")
    delays = chart.delays()
    if delays:
        union = " | ".join(_str(d) for d in delays)
        deps_lines += [
            f"  /** Delay overrides in ms (default {DEFAULT_DELAY_MS}). */",
            f"  delays?: Partial<Record<{union}, number>>;",
        ]
    blocks.append(
        f"/** What the caller injects. */\nexport interface {n.deps} {{\n"
        + "\n".join(deps_lines) + "\n}"
    )

    type_lines = [
        f"context: {n.context}",
        f"events: {n.event}",
        f"input: {setup_input}",
        *([f"output: {output_t}"] if output_t else []),
        f"tags: {n.tag}",
    ]
    invokes = chart.invokes()
    if invokes:
        type_lines.append(
            "children: {\n"
            + "\n".join(f"        {_key(inv.id)}: {_str(inv.src)};" for _, inv in invokes)
            + "\n      }"
        )
    setup_parts = [
        "    types: {} as {\n" + "".join(f"      {line};\n" for line in type_lines) + "    }"
    ]
    if guard_impls:
        setup_parts.append("    guards: {\n" + ",\n".join(guard_impls) + "\n    }")
    setup_parts.append("    actions: {\n" + ",\n".join(action_impls) + "\n    }")
    if actor_impls:
        setup_parts.append("    actors: {\n" + ",\n".join(actor_impls) + "\n    }")
    if delays:
        setup_parts.append(
            "    delays: {\n"
            + ",\n".join(
                f"      {_key(d)}: deps.delays?.[{_str(d)}] ?? {DEFAULT_DELAY_MS}" for d in delays
            )
            + "\n    }"
        )
    config = _ts_config(m, chart, n, given)
    factory = (
        f"/** The `{_comment(chart.id)}` machine, with the caller's actors, analytics sink and "
        "actions. */\n"
        f"export function {n.factory}(deps: {n.deps}) {{\n"
        "  return setup({\n" + ",\n".join(setup_parts) + "\n  }).createMachine("
        + literal(config, 1) + ");\n}"
    )
    machine_type = (
        f"/** The machine's type: what a parent flow's `deps.flows` takes, and what\n"
        f" * `ActorRefFrom<{n.machine}>` types a running `{_comment(chart.id)}` with. */\n"
        f"export type {n.machine} = ReturnType<typeof {n.factory}>;"
    )

    everywhere = _actions_everywhere(chart)
    imports = ["setup"]
    if any(isinstance(a, Assign) for _, a in everywhere):
        imports.append("assign")
    if any(isinstance(a, Raise) for _, a in everywhere):
        imports.append("raise")
    if any(inv.kind == "rpc" for _, inv in invokes):
        imports.append("fromPromise")
    if any(isinstance(a, SendParent) for _, a in everywhere):
        imports.append("enqueueActions")
    xstate_types = ["OutputFrom"] if children else []
    runtime_types = ["TrackParams", "TrackSink"]
    if invokes:
        runtime_types.append("RpcError")
    if any(inv.kind == "rpc" for _, inv in invokes):
        m.use("toRpcError")
    import_lines = [_import(sorted(imports), xstate_types, "xstate")]
    runtime_values = [h for h in HELPERS if h in m.helpers]
    import_lines.append(_import(sorted(runtime_values), sorted(runtime_types), RUNTIME_MODULE))
    for src in sorted(children):
        import_lines.append(
            f"import type {{ {children[src].machine} }} from {_str(f'./{src}.machine')};"
        )

    header = (
        f"// Generated by flowcheck from the flow `{_comment(name)}` (XState id "
        f"`{_comment(chart.id)}`). Do not edit:\n"
        f"// change the flow and run `flowcheck export {_comment(name)}`; "
        "`flowcheck export --check`\n"
        "// fails in CI when this file is stale.\n"
    )
    parts = [header + "\n".join(import_lines), *blocks, factory, machine_type]
    return "\n\n".join(parts) + "\n"


def _object_block(values: dict[str, Any]) -> str:
    """An object literal with one key per line (however short)."""
    if not values:
        return "{}"
    return "{\n" + ",\n".join(f"  {_key(k)}: {literal(v, 1)}" for k, v in values.items()) \
        + "\n}"


def _import(values: list[str], types: list[str], module: str) -> str:
    names = values + [f"type {t}" for t in types]
    return f"import {{ {', '.join(names)} }} from '{module}';"


def _child_flows(chart: Chart) -> dict[str, _Names]:
    """The flows ``chart`` runs as children, by flow name (their modules sit beside it)."""
    return {inv.src: flow_names(inv.src) for _, inv in chart.invokes() if inv.kind == "flow"}


def _event_union(m: _Module, chart: Chart, n: _Names) -> str:
    members: list[str] = []
    names: list[str] = []
    for e in chart.events:
        names.append(e.name)
        fields = "".join(
            f"; {_key(f.name)}{'' if required(f) else '?'}: {render_type(field_type(f))}"
            for f in e.payload
        )
        members.append(f"{{ type: {_str(e.name)}{fields} }}")
    for _, a in _actions_everywhere(chart):
        if isinstance(a, Raise) and a.event not in names:
            names.append(a.event)
            members.append(f"{{ type: {_str(a.event)} }}")
    doc = (
        "/** The events users send (and the flow raises); a payload field with a default may\n"
        " * be left out. */\n"
    )
    if not members:
        return doc + f"export type {n.event} = {{ type: never }};"
    return doc + f"export type {n.event} =\n" + "\n".join(f"  | {x}" for x in members) + ";"


def _internal_events(m: _Module, chart: Chart) -> list[str]:
    members: list[str] = []
    for _, inv in chart.invokes():
        members.append(
            f"{{ type: {_str(done_actor(inv.id))}; output: {m.outputs[inv.id].name} }}"
        )
        members.append(f"{{ type: {_str(error_actor(inv.id))}; error: RpcError }}")
    seen: list[str] = []
    for t in exported_transitions(chart):
        if t.event and t.event.startswith(("xstate.after.", "xstate.done.state.")) \
                and t.event not in seen:
            seen.append(t.event)
    members.extend(f"{{ type: {_str(ev_name)} }}" for ev_name in seen)
    return members


def _first_invoke(chart: Chart, src: str) -> str:
    return next(i.id for _, i in chart.invokes() if i.src == src)


def _actions_everywhere(chart: Chart) -> list[tuple[str, Action]]:
    out: list[tuple[str, Action]] = [(chart.id, a) for a in chart.entry]
    for s in chart.states:
        out.extend((s.id, a) for a in (*s.entry, *s.exit))
        for t in export_order(s):
            out.extend((s.id, a) for a in t.actions)
    return out


def _customs(chart: Chart) -> list[str]:
    names: list[str] = []
    for _, a in _actions_everywhere(chart):
        if isinstance(a, Custom) and a.name not in names:
            names.append(a.name)
    return names


def _output_interface(m: _Module, chart: Chart, type_name: str) -> str:
    """The machine's output type, from the types of the expressions that compute it."""
    writer = _ExprWriter(m, ALL_EVENTS)
    lines = [
        f"  {_key(k)}: {render_type(writer.write(v)[1])};" for k, v in chart.output
    ]
    return (
        "/** The machine's output once it is done: what a parent running it as a child\n"
        " * receives in `xstate.done.actor.<id>`. */\n"
        f"export interface {type_name} {{\n" + "\n".join(lines) + "\n}"
    )


def _input_type(m: _Module, chart: Chart, src: str) -> str:
    variants: list[str] = []
    for _, inv in chart.invokes():
        if inv.src != src:
            continue
        writer = _ExprWriter(m, ALL_EVENTS)
        fields = [f"{_key(k)}: {render_type(_widen(writer.write(v)[1]))}" for k, v in inv.input]
        variant = "{ " + "; ".join(fields) + " }" if fields else "Record<string, never>"
        if variant not in variants:
            variants.append(variant)
    return " | ".join(variants)


@dataclass
class _Impl:
    """The parameter list and the first lines of one guard or action implementation."""

    args: str
    prologue: str


def _impl(m: _Module, code: str, events: list[str] | None, narrowed: bool, where: str) -> _Impl:
    """Destructure what ``code`` reads; narrow ``event`` to the types the chart delivers
    here (and fail loudly otherwise), widening it first when some are internal."""
    used = [x for x in ("context", "event") if re.search(rf"\b{x}\b", code)]
    if not narrowed or events is None:
        return _Impl("{ " + ", ".join(used) + " }" if used else "", "")
    widen = any(internal_event(e) for e in events)
    m.use("isEvent")
    m.widened = m.widened or widen
    names = ["event: sent" if x == "event" and widen else x for x in used]
    types = ", ".join(_str(e) for e in events)
    prologue = "        const event = received(sent);\n" if widen else ""
    prologue += (
        f"        if (!isEvent(event, [{types}])) {{\n"
        f"          throw new Error(`{_template(where)}: unexpected event ${{event.type}}`);\n"
        "        }\n"
    )
    return _Impl("{ " + ", ".join(names) + " }", prologue)


def _guards(m: _Module, chart: Chart, usage: dict[str, list[str] | None]) -> list[str]:
    out: list[str] = []
    done: set[str] = set()
    for t in exported_transitions(chart):
        g: Guard | None = t.guard
        if g is None or g.name in done:
            continue
        done.add(g.name)
        if g.expr is None:
            # An opaque guard (imported chart): the frontend must provide it; fail loudly.
            message = f"guard {g.name} is opaque: provide it with machine.provide()"
            out.append(
                f"      {_key(g.name)}: () => {{\n"
                f"        throw new Error({_str(message)});\n"
                "      }"
            )
            continue
        writer = _ExprWriter(m, usage.get(g.name))
        code = writer.boolean(g.expr)
        impl = _impl(m, code, usage.get(g.name), writer.narrowed, f"guard {g.name}")
        if impl.prologue:
            out.append(
                f"      {_key(g.name)}: ({impl.args}) => {{\n"
                + impl.prologue
                + f"        return {code};\n      }}"
            )
        else:
            out.append(f"      {_key(g.name)}: ({impl.args}) => {code}")
    return out


def _checker(t: TsType) -> str:
    """A type predicate for ``t`` (the atoms flowcheck context fields can have)."""
    tests = []
    for atom in sorted(t):
        if atom in ("string", "number", "boolean"):
            tests.append(f"typeof v === '{atom}'")
        elif atom == "null":
            tests.append("v === null")
        elif atom == "string[]":
            tests.append("(Array.isArray(v) && v.every((x) => typeof x === 'string'))")
        elif atom == "Record<string, unknown>":
            tests.append("(typeof v === 'object' && v !== null && !Array.isArray(v))")
        else:
            tests.append(f"v === {atom}")
    return f"(v: unknown): v is {render_type(t)} => " + " || ".join(tests)


def _actions(
    m: _Module, chart: Chart, usage: dict[str, list[str] | None], customs: list[str]
) -> list[str]:
    out: list[str] = [
        f"      track: ({{ context }}, params: TrackParams<{m.prefix}Context>) => {{\n"
        "        const properties: Record<string, unknown> = { ...params.properties };\n"
        "        for (const name of params.include) properties[name] = context[name];\n"
        "        deps.track(params.event, properties);\n"
        "      }"
    ]
    fields = {f.name: field_type(f) for f in chart.context}
    done: set[str] = {"track"}
    for _, a in _actions_everywhere(chart):
        name = action_name(a)
        if name in done:
            continue
        done.add(name)
        if isinstance(a, Assign):
            writer = _ExprWriter(m, usage.get(name))
            lines = []
            for fname, expr in a.updates:
                code, t = writer.write(expr)
                target = fields[fname]
                if not assignable(t, target):
                    m.use("expect")
                    code = f"expect({code}, {_checker(target)}, {_str(f'{name}: {fname}')})"
                lines.append(f"          {_key(fname)}: {code}")
            body = "{\n" + ",\n".join(lines) + "\n        }"
            impl = _impl(m, body, usage.get(name), writer.narrowed, f"action {name}")
            out.append(
                f"      {_key(name)}: assign(({impl.args}) => {{\n{impl.prologue}"
                f"        return {body};\n      }})"
            )
        elif isinstance(a, Raise):
            out.append(f"      {_key(name)}: raise({{ type: {_str(a.event)} }})")
        elif isinstance(a, SendParent):
            # XState's sendParent throws when the actor has no parent: a standalone run of
            # the flow has no one to tell, so it sends nothing.
            out.append(
                f"      {_key(name)}: enqueueActions(({{ enqueue, self }}) => {{\n"
                "        // Run standalone (no parent), there is no one to tell.\n"
                f"        if (self._parent) enqueue.sendParent({{ type: {_str(a.event)} }});\n"
                "      })"
            )
        elif isinstance(a, Custom):
            out.append(
                f"      {_key(name)}: (_, params: Readonly<Record<string, unknown>> | undefined) =>"
                f"\n        deps.actions[{_str(name)}](params ?? {{}})"
            )
        else:
            assert isinstance(a, Track)
    return out


def _actors(m: _Module, chart: Chart) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for _, inv in chart.invokes():
        if inv.src in seen:
            continue
        seen.add(inv.src)
        if inv.kind == "flow":
            out.append(f"      {_key(inv.src)}: deps.flows[{_str(inv.src)}]")
            continue
        out_name = m.outputs[inv.id].name
        in_type = _input_type(m, chart, inv.src)
        out.append(
            f"      {_key(inv.src)}: fromPromise<{out_name}, {in_type}>(async ({{ input }}) => {{\n"
            "        try {\n"
            f"          return await deps.rpc[{_str(inv.src)}](input);\n"
            "        } catch (error) {\n"
            "          throw toRpcError(error);\n"
            "        }\n"
            "      })"
        )
    return out


def _expr_function(m: _Module, pairs: tuple[tuple[str, Expr], ...]) -> Code:
    writer = _ExprWriter(m, ALL_EVENTS)
    items = [(k, writer.write(v)[0]) for k, v in pairs]
    body = ", ".join(f"{_key(k)}: {c}" for k, c in items)
    used = [x for x in ("context", "event") if re.search(rf"\b{x}\b", body)]
    # Annotated, so that the function reads the same whatever XState infers around it.
    annotation = "; ".join(
        f"{x}: {m.prefix}{'Context' if x == 'context' else 'Event'}" for x in used
    )
    params = "{ " + ", ".join(used) + " }: { " + annotation + " }" if used else ""
    return Code(f"({params}) => ({{ {body} }})")


def _ts_config(m: _Module, chart: Chart, n: _Names, given: list[str]) -> JsonObject:
    """The JSON config with expressions turned into functions and context taken from input."""
    config = export_config(chart)
    if chart.input is not None and not chart.input:
        # No input: every run starts from the defaults.
        config["context"] = Code(f"() => ({{ ...{n.defaults} }})")
    else:
        spread = "input" if given else "(input ?? {})"
        config["context"] = Code(f"({{ input }}) => ({{ ...{n.defaults}, ...{spread} }})")
    if "output" in config:
        config["output"] = _expr_function(m, chart.output)
    states = chart.state_map()

    def patch(node: JsonObject) -> None:
        s = states[node["id"]]
        for inv, item in zip(s.invokes, node.get("invoke", []), strict=True):
            if "input" in item:
                item["input"] = _expr_function(m, inv.input)
        if "output" in node:
            node["output"] = _expr_function(m, s.output)
        for child in node.get("states", {}).values():
            patch(child)

    for top in config["states"].values():
        patch(top)
    return config
