"""Chart -> a typed TypeScript module: ``setup({types, guards, actions, actors, delays})``.

The module exports the context interface, the event union, the input type, the
output type (when the flow declares an output) and
``create<Flow>Machine(deps)``, where ``deps`` injects what only the frontend
has: one function per Connect-RPC method, the child flows' actor logic, the
analytics sink, custom actions and optional delay overrides. Declarative
guards and assigns are generated as TypeScript from their expression trees,
with the same semantics as flowcheck's evaluator (missing fields read as
``null``, Python truthiness, set-like ``append``). The code is ``strict``-clean
and has no ``any``: event fields are read after narrowing the event to the
types the chart can deliver there, or through ``field()`` as ``unknown`` and
checked at run time before they land in a typed context field.
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
from flowcheck.formats.xstate.export import (
    JsonObject,
    export_config,
    export_order,
    exported_transitions,
    to_json_value,
)
from flowcheck.formats.xstate.manifest import DEFAULT_DELAY_MS

TsType = frozenset[str]
UNKNOWN: TsType = frozenset({"unknown"})
BOOLEAN: TsType = frozenset({"boolean"})
NUMBER: TsType = frozenset({"number"})
NULL: TsType = frozenset({"null"})
STRING: TsType = frozenset({"string"})
STRING_ARRAY: TsType = frozenset({"string[]"})

ALL_EVENTS = None  # an implementation that may see any event (entry, exit, eventless)

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")

_CONNECT_CODES = (
    "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found",
    "already_exists", "permission_denied", "resource_exhausted", "failed_precondition",
    "aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss",
    "unauthenticated",
)

_HELPERS: dict[str, str] = {
    "field": """\
/** Reads a dotted path; a missing part reads as null (flowcheck's semantics). */
function field(value: unknown, ...path: readonly string[]): unknown {
  let current: unknown = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || !(key in current)) return null;
    current = (current as Record<string, unknown>)[key];
  }
  return current ?? null;
}""",
    "truthy": """\
/** Python truthiness: empty strings, arrays and objects, 0 and null are false. */
function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}""",
    "nonempty": """\
function nonempty(value: unknown): boolean {
  if (value === null || value === undefined || value === '') return false;
  return !(Array.isArray(value) && value.length === 0);
}""",
    "count": """\
function count(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  throw new TypeError(`count() of ${JSON.stringify(value)}`);
}""",
    "equals": """\
function equals(a: unknown, b: unknown): boolean {
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => equals(x, b[i]));
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    const keys = Object.keys(ra);
    return keys.length === Object.keys(rb).length &&
      keys.every((k) => k in rb && equals(ra[k], rb[k]));
  }
  return false;
}""",
    "compare": """\
function compare(op: 'lt' | 'le' | 'gt' | 'ge', a: unknown, b: unknown): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return false;
  if (!((typeof a === 'number' && typeof b === 'number') ||
        (typeof a === 'string' && typeof b === 'string'))) {
    throw new TypeError(`cannot compare ${JSON.stringify(a)} with ${JSON.stringify(b)}`);
  }
  switch (op) {
    case 'lt': return a < b;
    case 'le': return a <= b;
    case 'gt': return a > b;
    default: return a >= b;
  }
}""",
    "includes": """\
function includes(item: unknown, collection: unknown): boolean {
  if (collection === null || collection === undefined) return false;
  if (typeof collection === 'string') return typeof item === 'string' && collection.includes(item);
  if (Array.isArray(collection)) return collection.some((x) => equals(x, item));
  throw new TypeError(`'in' needs a list or a string, got ${JSON.stringify(collection)}`);
}""",
    "append": """\
/** ``seq`` plus ``item`` at the end unless already present. */
function append<T>(seq: readonly T[] | null, item: T): T[] {
  const list = seq ?? [];
  return list.some((x) => equals(x, item)) ? [...list] : [...list, item];
}""",
    "remove": """\
function remove<T>(seq: readonly T[] | null, item: T): T[] {
  return (seq ?? []).filter((x) => !equals(x, item));
}""",
    "add": """\
function add(a: unknown, b: unknown): number {
  const x = a ?? 0;
  if (typeof x !== 'number' || typeof b !== 'number') {
    throw new TypeError(`add() of ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
  }
  return x + b;
}""",
    "expect": """\
/** A value read as unknown, checked before it lands in a typed context field. */
function expect<T>(value: unknown, check: (v: unknown) => v is T, what: string): T {
  if (!check(value)) throw new TypeError(`${what}: unexpected value ${JSON.stringify(value)}`);
  return value;
}""",
    "rpcError": """\
/** Connect codes as flowcheck names them; connect-es reports them as numbers. */
const CONNECT_CODES = [CODES] as const;

/** The error an RPC actor rejects with, reduced to its Connect code. */
export interface RpcError {
  code: string;
}

function toRpcError(error: unknown): RpcError {
  const code = field(error, 'code');
  if (typeof code === 'string') return { code };
  if (typeof code === 'number' && code >= 1 && code <= CONNECT_CODES.length) {
    return { code: CONNECT_CODES[code - 1] ?? 'unknown' };
  }
  return { code: 'unknown' };
}""",
}


class Code(str):
    """A TypeScript expression, written as is into the config literal."""

    __slots__ = ()


def pascal(name: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", name)
    out = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return out if out[:1].isalpha() else f"X{out}"


def camel(name: str) -> str:
    p = pascal(name)
    return p[:1].lower() + p[1:]


def _key(name: str) -> str:
    return name if _IDENT.match(name) else _str(name)


def _str(value: str) -> str:
    """A single-quoted TypeScript string literal."""
    body = json.dumps(value, ensure_ascii=False)[1:-1].replace("\\\"", "\"").replace("'", "\\'")
    return f"'{body}'"


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
    event_fields: dict[str, dict[str, TsType]] = field(default_factory=dict)
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
            self.m.use("equals")
            self.m.use("includes")
            return f"includes({codes[0]}, {codes[1]})", BOOLEAN
        if op in ("append", "remove"):
            self.m.use("equals")
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
                return f"context.{parts[0]}", self.context[parts[0]]
            self.m.use("field")
            return f"field(context.{parts[0]}, {', '.join(_str(p) for p in parts[1:])})", UNKNOWN
        if head == "event" and parts:
            typed = self._event_type(parts)
            if typed is not None:
                self.narrowed = True
                return "event." + ".".join(parts), typed
        self.m.use("field")
        args = ", ".join(_str(p) for p in parts)
        return f"field({head}{', ' + args if args else ''})", UNKNOWN

    def _event_type(self, parts: list[str]) -> TsType | None:
        """The type of ``event.<parts>`` if every event reaching here has it, required."""
        if not self.events or any(not _IDENT.match(p) for p in parts):
            return None
        found: set[TsType] = set()
        for name in self.events:
            fields = self.m.event_fields.get(name)
            t: TsType | None = None
            if fields is not None and len(parts) == 1:
                t = fields.get(parts[0])
            elif name.startswith("xstate.done.actor.") and parts[0] == "output":
                shape = self.m.outputs.get(name[len("xstate.done.actor."):])
                if shape is not None and len(parts) == 2:
                    t = shape.fields.get(parts[1])
            elif name.startswith("xstate.error.actor.") and parts == ["error", "code"]:
                t = STRING
            if t is None:
                return None
            found.add(t)
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


def render_module(chart: Chart, name: str) -> str:
    """The TypeScript module of ``chart`` (exported as ``<name>.machine.ts``)."""
    prefix = pascal(chart.id)
    m = _Module(chart=chart, prefix=prefix)
    ctx_t = f"{prefix}Context"
    event_t = f"{prefix}Event"
    input_t = f"{prefix}Input"
    output_t = f"{prefix}Output" if chart.output else None
    deps_t = f"{prefix}Deps"

    for e in chart.events:
        m.event_fields[e.name] = {f.name: field_type(f) for f in e.payload}
    rpc_outputs: dict[str, str] = {}  # src -> output type name
    taken: set[str] = {output_t} if output_t else set()
    for _, inv in chart.invokes():
        if inv.src in rpc_outputs:
            type_name = rpc_outputs[inv.src]
            m.outputs[inv.id] = _Shape(type_name, m.outputs[_first_invoke(chart, inv.src)].fields)
            continue
        base = pascal(inv.src.rsplit("/", 1)[-1] if inv.kind == "rpc" else inv.src) + "Output"
        type_name = base
        n = 2
        while type_name in taken:
            type_name = f"{base}{n}"
            n += 1
        taken.add(type_name)
        examples = tuple(
            o for i in chart.invokes() if i[1].src == inv.src for o in i[1].outputs
        )
        shape, body = _infer_shape(type_name, examples)
        m.outputs[inv.id] = shape
        rpc_outputs[inv.src] = type_name
        m.output_decls[type_name] = body

    guard_usage, action_usage = _usage(chart)
    blocks: list[str] = []

    # context and input
    ctx_lines = [f"  {_key(f.name)}: {render_type(field_type(f))};" for f in chart.context]
    blocks.append(
        f"/** The data of the `{chart.id}` flow (XState context). */\n"
        f"export interface {ctx_t} {{\n" + "\n".join(ctx_lines) + ("\n" if ctx_lines else "")
        + "}"
    )
    blocks.append(
        "/** Machine input: ids and form data to start from; missing fields take the defaults. */\n"
        f"export type {input_t} = Partial<{ctx_t}>;"
    )
    if output_t:
        blocks.append(_output_interface(m, chart, output_t))
    defaults = {f.name: to_json_value(f.default) for f in chart.context}
    blocks.append(
        f"export const {camel(chart.id)}Defaults: {ctx_t} = {literal(defaults)};"
    )
    for type_name, body in m.output_decls.items():
        blocks.append(
            f"export interface {type_name} {{\n{body}\n}}" if body
            else f"export type {type_name} = Record<string, unknown>;"
        )

    # events
    members: list[str] = []
    event_names = [e.name for e in chart.events]
    for e in chart.events:
        fields = "".join(f"; {_key(f.name)}: {render_type(field_type(f))}" for f in e.payload)
        members.append(f"{{ type: {_str(e.name)}{fields} }}")
    raised = [
        a.event for _, a in _actions_everywhere(chart) if isinstance(a, Raise)
    ]
    for ev_name in raised:
        if ev_name not in event_names:
            event_names.append(ev_name)
            members.append(f"{{ type: {_str(ev_name)} }}")
    if chart.invokes():
        m.use("rpcError")
        m.use("field")
    for _, inv in chart.invokes():
        members.append(
            f"{{ type: {_str(done_actor(inv.id))}; output: {m.outputs[inv.id].name} }}"
        )
        members.append(f"{{ type: {_str(error_actor(inv.id))}; error: RpcError }}")
    internal: list[str] = []
    for t in exported_transitions(chart):
        if t.event and t.event.startswith(("xstate.after.", "xstate.done.state.")) \
                and t.event not in internal:
            internal.append(t.event)
    members.extend(f"{{ type: {_str(ev_name)} }}" for ev_name in internal)
    blocks.append(
        f"/** Every event the machine handles: user events, raised events, invoke outcomes. */\n"
        f"export type {event_t} =\n" + "\n".join(f"  | {x}" for x in members) + ";"
        if members else f"export type {event_t} = {{ type: never }};"
    )
    if any(g is not None for g in guard_usage.values()) or any(
        u is not None for u in action_usage.values()
    ):
        blocks.append(
            f"function isEvent<T extends {event_t}['type']>(\n"
            f"  event: {event_t},\n"
            "  types: readonly T[]\n"
            f"): event is Extract<{event_t}, {{ type: T }}> {{\n"
            "  return (types as readonly string[]).includes(event.type);\n"
            "}"
        )

    # deps
    rpc_lines: list[str] = []
    flow_lines: list[str] = []
    seen_src: set[str] = set()
    for _, inv in chart.invokes():
        if inv.src in seen_src:
            continue
        seen_src.add(inv.src)
        input_type = _input_type(m, chart, inv.src)
        out_name = m.outputs[inv.id].name
        if inv.kind == "rpc":
            rpc_lines.append(
                f"    {_key(inv.src)}: (input: {input_type}) => Promise<{out_name}>;"
            )
        else:
            flow_lines.append(f"    {_key(inv.src)}: AnyActorLogic;")
    customs = _customs(chart)
    deps_lines = [
        "  /** The analytics sink: every `track` action calls it. */",
        "  track: (event: string, properties: Record<string, unknown>) => void;",
    ]
    if rpc_lines:
        deps_lines += [
            "  /** One function per Connect-RPC method; reject with an error carrying its code. */",
            "  rpc: {", *rpc_lines, "  };",
        ]
    if flow_lines:
        deps_lines += ["  /** Child flows (their machines), by flow name. */", "  flows: {",
                       *flow_lines, "  };"]
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
        f"/** What the caller injects. */\nexport interface {deps_t} {{\n"
        + "\n".join(deps_lines) + "\n}"
    )
    blocks.append(
        "/** Params of the `track` action: literal properties plus copied context fields. */\n"
        "export interface TrackParams {\n"
        "  event: string;\n"
        "  properties: Readonly<Record<string, unknown>>;\n"
        f"  include: readonly (keyof {ctx_t})[];\n"
        "}"
    )

    # implementations
    guard_impls = _guards(m, chart, guard_usage)
    action_impls = _actions(m, chart, action_usage, customs)
    actor_impls = _actors(m, chart)
    setup_parts = [
        f"    types: {{}} as {{ context: {ctx_t}; events: {event_t}; input: {input_t} }}"
        if output_t is None else
        f"    types: {{}} as {{\n      context: {ctx_t};\n      events: {event_t};\n"
        f"      input: {input_t};\n      output: {output_t};\n    }}",
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
    config = _ts_config(m, chart)
    factory = (
        f"/** The `{chart.id}` machine, with the caller's actors, analytics sink and actions. */\n"
        f"export function create{prefix}Machine(deps: {deps_t}) {{\n"
        "  return setup({\n" + ",\n".join(setup_parts) + "\n  }).createMachine("
        + literal(config, 1) + ");\n}"
    )

    imports = ["assign", "raise", "setup"]
    if any(inv.kind == "rpc" for _, inv in chart.invokes()):
        imports.append("fromPromise")
    if not any(isinstance(a, Raise) for _, a in _actions_everywhere(chart)):
        imports.remove("raise")
    if not any(isinstance(a, Assign) for _, a in _actions_everywhere(chart)):
        imports.remove("assign")
    if any(isinstance(a, SendParent) for _, a in _actions_everywhere(chart)):
        imports.append("enqueueActions")
    type_imports = ["AnyActorLogic"] if flow_lines else []
    import_list = sorted(imports) + [f"type {t}" for t in type_imports]

    header = (
        f"// Generated by flowcheck from the flow `{name}` (XState id `{chart.id}`). Do not edit:\n"
        f"// change the flow and run `flowcheck export {name}`; `flowcheck export --check`\n"
        "// fails in CI when this file is stale.\n"
    )
    helper_code = [
        _HELPERS[h].replace("[CODES]", "[" + ", ".join(_str(c) for c in _CONNECT_CODES) + "]")
        for h in _HELPERS if h in m.helpers
    ]
    parts = [
        header + f"import {{ {', '.join(import_list)} }} from 'xstate';",
        *blocks,
        *helper_code,
        factory,
    ]
    return "\n\n".join(parts) + "\n"


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


def _narrow(events: list[str] | None, where: str) -> str:
    """Narrow ``event`` to the types the chart delivers here (and fail loudly otherwise)."""
    if events is None:
        return ""
    types = ", ".join(_str(e) for e in events)
    return (
        f"        if (!isEvent(event, [{types}])) {{\n"
        f"          throw new Error(`{where}: unexpected event ${{event.type}}`);\n"
        "        }\n"
    )


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
            out.append(
                f"      {_key(g.name)}: () => {{\n"
                f"        throw new Error('guard {g.name} is opaque: provide it with "
                "machine.provide()');\n"
                "      }"
            )
            continue
        writer = _ExprWriter(m, usage.get(g.name))
        code = writer.boolean(g.expr)
        args = _args(code)
        if writer.narrowed:
            out.append(
                f"      {_key(g.name)}: ({args}) => {{\n"
                + _narrow(usage.get(g.name), f"guard {g.name}")
                + f"        return {code};\n      }}"
            )
        else:
            out.append(f"      {_key(g.name)}: ({args}) => {code}")
    return out


def _args(code: str) -> str:
    used = [n for n in ("context", "event") if re.search(rf"\b{n}\b", code)]
    return "{ " + ", ".join(used) + " }" if used else ""


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
        "      track: ({ context }, params: TrackParams) => {\n"
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
            all_code = body
            args = _args(all_code)
            narrow = _narrow(usage.get(name), f"action {name}") if writer.narrowed else ""
            out.append(
                f"      {_key(name)}: assign(({args}) => {{\n{narrow}"
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
    args = _args(body)
    used = [n for n in ("context", "event") if n in args]
    # Annotated: a child flow's actor logic is untyped, so nothing else would type it.
    annotation = "; ".join(
        f"{n}: {m.prefix}{'Context' if n == 'context' else 'Event'}" for n in used
    )
    params = f"{args}: {{ {annotation} }}" if used else ""
    return Code(f"({params}) => ({{ {body} }})")


def _ts_config(m: _Module, chart: Chart) -> JsonObject:
    """The JSON config with expressions turned into functions and context taken from input."""
    config = export_config(chart)
    config["context"] = Code(
        f"({{ input }}) => ({{ ...{camel(chart.id)}Defaults, ...input }})"
    )
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
