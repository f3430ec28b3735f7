"""contract: every invoke is an RPC of the proto contract or a child flow, used as declared.

The ``.proto`` files are the single source of truth (architecture rules, §1 Proto-First),
and a machine does not fetch (§3, Decoupled Context: server data comes in through the
context). So for every invoke of the chart:

- an RPC (``mirai.v1.CourseService/CreateCourse``) must name a method of the contracts under
  the proto root (``[tool.flowcheck] proto``), compiled with protoc (see
  :mod:`flowcheck.contracts.proto`);
- every input key must be a field of the request message, by JSON name (``desiredOutcome``),
  and the value's static type, where it can be derived (a context field's declared type, a
  literal's), must fit the field: ``string[]`` a repeated string, a string an enum (when the
  strings are known they must name enum values: ``"outline"`` names
  ``GENERATION_KIND_OUTLINE``), an integer any number, an object a message;
- every response field that the ``xstate.done.actor.<id>`` transitions read
  (``event.output.<field>`` in their guards and assigns) and every key of the invoke's
  example outputs must exist in the response message, with a fitting value;
- the error codes the flow distinguishes must be Connect codes;
- a child flow must be a machine of the project (a module of that name) that declares an
  output (XState delivers ``xstate.done.actor.<id>`` with the child machine's output, and
  without one the output is undefined); every ``event.output.<field>`` the parent reads
  on that done event, and every key of the invoke's example outputs, must be a key of the
  child's output, and every example must have all of them (the child always outputs every
  key); every input key the parent maps must be a context field of the child; every
  event the child sends to its parent (``send_parent``, XState ``sendParent``, anywhere in
  the child's chart) must be handled by a transition of the invoking state or one of its
  ancestors, since XState drops an event no active state handles and the parent would
  never learn of it;
- anything else (``fetchCourses``, a service the contract does not have) is fetching inside
  the machine.

Where a finding points: at the proto declaration it is about when there is one (the
service lacking a method, the message lacking a field, the field whose type does not fit),
at the child flow's declaration for a child flow (its ``output`` or its class when it has
none, its ``Context`` for an input, its ``send_parent`` for a sent event), otherwise at
the flow: the machine file and the line where the invoke id is written. The message always
names the flow, the invoke with its machine line, and the proto or child file and line.
This is a check of the declaration, so it needs no exploration.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowcheck.chart.expr import Expr
from flowcheck.chart.model import (
    Chart,
    DataField,
    Invoke,
    SendParent,
    State,
    Transition,
    done_actor,
)
from flowcheck.contracts.proto import Contracts, Message, Method, ProtoField, load_contracts
from flowcheck.errors import FlowcheckError
from flowcheck.locations import defined_in, object_line, shown, source_map
from flowcheck.project import Settings, find_settings, load_machine, machine_files
from flowcheck.properties.base import Finding, Subject

ID = "contract"
PROFILES = ("mirai",)  # a rule of the platform, not of statecharts in general
TITLE = (
    "every invoke is a proto RPC used as declared (request, response, codes) or a child flow "
    "used as declared (input, output, events sent to the parent)"
)
# A check of the declaration: passing is a proof whatever exploration reached.
STATIC = True

CONNECT_CODES: frozenset[str] = frozenset(
    {
        "canceled",
        "unknown",
        "invalid_argument",
        "deadline_exceeded",
        "not_found",
        "already_exists",
        "permission_denied",
        "resource_exhausted",
        "failed_precondition",
        "aborted",
        "out_of_range",
        "unimplemented",
        "internal",
        "unavailable",
        "data_loss",
        "unauthenticated",
    }
)

_METHOD = re.compile(r"^/?(?P<service>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)/(?P<method>[A-Za-z_]\w*)$")
_INTEGERS = frozenset(
    {"int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64",
     "sfixed32", "sfixed64"}
)
_NUMBERS = frozenset({"double", "float"})
# Well-known types and what their JSON form is (proto3 JSON mapping).
_WELL_KNOWN: Mapping[str, str] = {
    "google.protobuf.Timestamp": "string",
    "google.protobuf.Duration": "string",
    "google.protobuf.FieldMask": "string",
    "google.protobuf.StringValue": "string",
    "google.protobuf.BytesValue": "string",
    "google.protobuf.BoolValue": "bool",
    "google.protobuf.Int32Value": "int32",
    "google.protobuf.Int64Value": "int64",
    "google.protobuf.UInt32Value": "uint32",
    "google.protobuf.UInt64Value": "uint64",
    "google.protobuf.DoubleValue": "double",
    "google.protobuf.FloatValue": "float",
    "google.protobuf.Value": "any",
    "google.protobuf.ListValue": "any",
}


def check(subject: Subject) -> list[Finding]:
    """One finding per way an invoke departs from the contract or fetches."""
    chart = subject.chart
    invokes = chart.invokes()
    if not invokes:
        return []
    settings = _settings(subject)
    checker = _Checker(chart, settings, _source(subject))
    for state, invoke in invokes:
        if invoke.kind == "flow":
            checker.child_flow(state, invoke)
        else:
            checker.rpc(state, invoke)
    return checker.findings


def _settings(subject: Subject) -> Settings:
    if subject.settings is not None:
        return subject.settings
    start = subject.source.parent if subject.source is not None else None
    return find_settings(start)


def _source(subject: Subject) -> Path | None:
    if subject.source is not None:
        return subject.source
    return Path(subject.chart.source) if subject.chart.source else None


# ---------------------------------------------------------------------------------------
# Static types of flow values


@dataclass(frozen=True)
class _Type:
    """What the flow passes: a chart field type (or ``number``/``array``/``any``) and, when
    known, the exact values (the strings an enum field must accept)."""

    kind: str
    values: tuple[Any, ...] | None = None

    def __str__(self) -> str:
        return self.kind


_ANY = _Type("any")


def _type_of_value(value: Any) -> _Type:
    if value is None:
        return _Type("null")
    if isinstance(value, bool):
        return _Type("boolean", (value,))
    if isinstance(value, int):
        return _Type("integer", (value,))
    if isinstance(value, float):
        return _Type("number", (value,))
    if isinstance(value, str):
        return _Type("string", (value,))
    if isinstance(value, dict):
        return _Type("object")
    if isinstance(value, list | tuple):
        if not value:
            return _Type("array")
        if all(isinstance(v, str) for v in value):
            return _Type("string[]", tuple(value))
        if all(isinstance(v, dict) for v in value):
            return _Type("object[]")
    return _ANY


def _type_of_expr(expr: Expr, context: Mapping[str, DataField]) -> _Type:
    if expr.op == "lit":
        return _type_of_value(expr.value)
    if expr.op == "ref":
        head, _, name = (expr.path or "").partition(".")
        data = context.get(name) if head == "context" else None
        if data is None:
            return _ANY
        return _Type(data.type, tuple(data.enum) if data.enum else None)
    if expr.op in ("append", "remove"):
        inner = _type_of_expr(expr.args[0], context)
        return _Type(inner.kind)
    if expr.op in ("count",):
        return _Type("integer")
    if expr.op == "add":
        kinds = {_type_of_expr(a, context).kind for a in expr.args}
        return _Type("integer") if kinds <= {"integer"} else _Type("number")
    return _Type("boolean")


# ---------------------------------------------------------------------------------------
# The checks


class _Checker:
    def __init__(self, chart: Chart, settings: Settings, source: Path | None) -> None:
        self.chart = chart
        self.settings = settings
        self.source = source
        self.findings: list[Finding] = []
        self.context = {f.name: f for f in chart.context}
        self._contracts: Contracts | None = None

    # -- locations ----------------------------------------------------------------------

    @property
    def contracts(self) -> Contracts:
        if self._contracts is None:
            self._contracts = load_contracts(self.settings.proto)
        return self._contracts

    def _shown(self, path: Path) -> str:
        return shown(path, self.settings.root)

    def machine_file(self) -> str | None:
        return self._shown(self.source) if self.source is not None else None

    def invoke_line(self, invoke: Invoke) -> int | None:
        """The line where the invoke id is written (not its on_done/on_error uses)."""
        return source_map(self.source).invokes.get(invoke.id) if self.source else None

    def proto_file(self, shown: str) -> str:
        """A contracts path (relative to the proto root's parent) relative to the project."""
        return self._shown(self.contracts.root.parent / shown)

    def service_line(self, method: Method) -> int:
        """The line of ``service <Name> {`` in the file declaring ``method``."""
        short = method.service.rsplit(".", 1)[-1]
        pattern = re.compile(rf"^\s*service\s+{re.escape(short)}\b")
        path = self.contracts.root.parent / method.file
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return method.line
        return next(
            (n for n, line in enumerate(lines, start=1) if pattern.match(line)), method.line
        )

    def where(self, invoke: Invoke) -> str:
        file, line = self.machine_file(), self.invoke_line(invoke)
        if file is None:
            return ""
        return f" ({file}:{line})" if line else f" ({file})"

    def add(
        self,
        state: State,
        invoke: Invoke,
        message: str,
        proto: tuple[str, int] | None = None,
        event: str | None = None,
        at: tuple[str, int] | None = None,
    ) -> None:
        """Record a finding; it points at ``proto`` (a contracts path and line), at ``at`` (a
        project file and line), or else at the invoke in the machine file."""
        lead = f"{self.chart.name}: invoke {invoke.id!r} of state {state.id!r}{self.where(invoke)}"
        if proto is not None:
            file, line = self.proto_file(proto[0]), proto[1]
            text = f"{lead} {message} ({file}:{line})"
        elif at is not None:
            file, line = at
            text = f"{lead} {message} ({file}:{line})"
        else:
            file, line = self.machine_file() or "", self.invoke_line(invoke) or 0
            text = f"{lead} {message}"
        self.findings.append(
            Finding(
                property=ID,
                message=text,
                state=state.id,
                event=event,
                file=file or None,
                line=line or None,
            )
        )

    # -- child flows --------------------------------------------------------------------

    def child_flow(self, state: State, invoke: Invoke) -> None:
        files = {p.stem: p for p in machine_files(self.settings)}
        if invoke.src not in files:
            self.add(
                state,
                invoke,
                f"runs child flow {invoke.src!r}, which is not a machine of this project "
                f"(machines: {', '.join(sorted(files)) or 'none'}); name the flow's module, or "
                f"add {invoke.src}.py to the machines directory",
            )
            return
        try:
            child = _child(files[invoke.src])
        except FlowcheckError as exc:
            self.add(state, invoke, f"runs child flow {invoke.src!r}, which cannot be read: {exc}")
            return
        shown = self._shown(child.path)
        self._child_input(state, invoke, child, (shown, child.context_line))
        self._child_sends(state, invoke, child, shown)
        keys = [k for k, _ in child.chart.output]
        if not keys:
            reads = self._output_reads(invoke)
            read = f", yet the parent reads {reads[0][0]} in {reads[0][1]}" if reads else ""
            self.add(
                state,
                invoke,
                f"runs child flow {invoke.src!r}, which declares no output: XState ends the "
                f"child with output undefined, so {done_actor(invoke.id)} carries none{read}; "
                f"declare it on {child.class_name}, e.g. "
                f"output = {{\"<key>\": ctx(\"<field>\")}}",
                at=(shown, child.class_line),
            )
            return
        self._child_reads(state, invoke, child, keys, (shown, child.output_line))
        self._child_examples(state, invoke, child, keys, (shown, child.output_line))

    def _child_input(
        self, state: State, invoke: Invoke, child: _Child, at: tuple[str, int]
    ) -> None:
        fields = [f.name for f in child.chart.context]
        for key, _ in invoke.input:
            if key not in fields:
                self.add(
                    state,
                    invoke,
                    f"maps input {key!r}, which child flow {invoke.src!r} has no context field "
                    f"for (its context: {', '.join(fields) or 'none'}); the input only fills "
                    "context fields: fix the key or add the field to the child's Context",
                    at=at,
                )

    def _child_sends(self, state: State, invoke: Invoke, child: _Child, shown: str) -> None:
        states = self.chart.state_map()
        handled: set[str] = set()
        around: State | None = state
        while around is not None:
            handled.update(t.event for t in around.transitions if t.event)
            around = states[around.parent] if around.parent else None
        for event, line in child.sends:
            if event in handled:
                continue
            self.add(
                state,
                invoke,
                f"runs child flow {invoke.src!r}, which sends {event} to its parent, but "
                f"neither {state.id!r} nor a state around it handles {event}: XState drops "
                "the event, so this flow never learns of it; add a transition on "
                f"{event} from {state.id!r}",
                event=event,
                at=(shown, line),
            )

    def _child_reads(
        self, state: State, invoke: Invoke, child: _Child, keys: list[str], at: tuple[str, int]
    ) -> None:
        done = done_actor(invoke.id)
        for path, what in self._output_reads(invoke):
            key = path.split(".")[2]
            if key in keys:
                continue
            self.add(
                state,
                invoke,
                f"reads {path} in {what} on {done}, but child flow {invoke.src!r} "
                f"outputs only {', '.join(keys)}; read one of those, or add "
                f"{key!r} to {child.class_name}.output",
                event=done,
                at=at,
            )

    def _output_reads(self, invoke: Invoke) -> list[tuple[str, str]]:
        """Every (``event.output.<field>...`` path, guard or assign) read on the invoke's
        done event, once each, in document order."""
        done = done_actor(invoke.id)
        found: list[tuple[str, str]] = []
        for transition in self.chart.transitions():
            if transition.event != done:
                continue
            for expr, what in _reads(transition):
                for path in expr.refs():
                    parts = path.split(".")
                    if parts[:2] == ["event", "output"] and len(parts) > 2 \
                            and (path, what) not in found:
                        found.append((path, what))
        return found

    def _child_examples(
        self, state: State, invoke: Invoke, child: _Child, keys: list[str], at: tuple[str, int]
    ) -> None:
        reported: set[str] = set()
        for example in invoke.outputs:
            extra = [k for k in example if k not in keys and k not in reported]
            missing = [k for k in keys if k not in example and f"-{k}" not in reported]
            for key in extra:
                reported.add(key)
                self.add(
                    state,
                    invoke,
                    f"has an example output with {key!r}, which child flow {invoke.src!r} "
                    f"never outputs (its output: {', '.join(keys)}); exploration would try "
                    "an outcome the child cannot produce: make the example match the output",
                    at=at,
                )
            for key in missing:
                reported.add(f"-{key}")
                self.add(
                    state,
                    invoke,
                    f"has an example output without {key!r}, which child flow {invoke.src!r} "
                    f"always outputs (its output: {', '.join(keys)}); give every example "
                    "exactly the child's output keys",
                    at=at,
                )

    # -- RPCs ---------------------------------------------------------------------------

    def rpc(self, state: State, invoke: Invoke) -> None:
        self._codes(state, invoke)
        match = _METHOD.match(invoke.src)
        service = match["service"] if match else None
        services = sorted({m.service for m in self.contracts.methods.values()})
        if match is None or service not in services:
            why = (
                f"no service {service} in the contract" if match is not None
                else "not a Connect-RPC method name (package.Service/Method)"
            )
            self.add(
                state,
                invoke,
                f"calls {invoke.src!r} ({why}): that is fetching inside the machine, which the "
                "architecture rules forbid (§3 Decoupled Context: server data comes in through "
                "the context). Invoke an RPC declared in the proto files "
                f"(services: {', '.join(services)}) or a child flow",
            )
            return
        method = self.contracts.method(invoke.src)
        if method is None:
            siblings = [m for m in self.contracts.methods.values() if m.service == service]
            names = ", ".join(m.name for m in siblings)
            self.add(
                state,
                invoke,
                f"calls {invoke.src}, but service {service} has no method {match['method']} "
                f"(its methods: {names}); fix the name or add the rpc to the contract first",
                proto=(siblings[0].file, self.service_line(siblings[0])),
            )
            return
        self._request(state, invoke, method)
        self._response_reads(state, invoke, method)
        self._output_examples(state, invoke, method)

    def _codes(self, state: State, invoke: Invoke) -> None:
        unknown = [c for c in invoke.error_codes if c not in CONNECT_CODES]
        if unknown:
            self.add(
                state,
                invoke,
                f"expects error code(s) {', '.join(map(repr, unknown))}, which Connect never "
                f"sends; use Connect codes ({', '.join(sorted(CONNECT_CODES))})",
            )

    def _request(self, state: State, invoke: Invoke, method: Method) -> None:
        request = method.input_type
        for key, expr in invoke.input:
            proto_field = request.fields.get(key)
            if proto_field is None:
                self.add(
                    state,
                    invoke,
                    f"maps input {key!r}, which {method.full_name}'s request {request.name} "
                    f"does not have{_hint(key, request)}",
                    proto=(request.file, request.line),
                )
                continue
            flow_type = _type_of_expr(expr, self.context)
            problem = self._fit(flow_type, proto_field)
            if problem:
                self.add(
                    state,
                    invoke,
                    f"maps input {key!r} to {expr} ({flow_type}), but {request.name}.{key} "
                    f"{problem}",
                    proto=(request.file, proto_field.line),
                )

    def _response_reads(self, state: State, invoke: Invoke, method: Method) -> None:
        done = done_actor(invoke.id)
        seen: set[tuple[str, str]] = set()
        for transition in self.chart.transitions():
            if transition.event != done:
                continue
            for expr, what in _reads(transition):
                for path in expr.refs():
                    if not path.startswith("event.output.") or (path, what) in seen:
                        continue
                    seen.add((path, what))
                    self._read(state, invoke, method, path, what, done)
                for compared, literal in _comparisons(expr):
                    self._compared(state, invoke, method, compared, literal, what, done)

    def _read(
        self, state: State, invoke: Invoke, method: Method, path: str, what: str, done: str
    ) -> None:
        resolved = self._resolve(method.output_type, path.split(".")[2:])
        if isinstance(resolved, tuple):
            message, missing = resolved
            self.add(
                state,
                invoke,
                f"reads {path} in {what} on {done}, but {message.name} has no field "
                f"{missing!r}{_hint(missing, message)}",
                proto=(message.file, message.line),
                event=done,
            )

    def _compared(
        self,
        state: State,
        invoke: Invoke,
        method: Method,
        path: str,
        literal: Any,
        what: str,
        done: str,
    ) -> None:
        resolved = self._resolve(method.output_type, path.split(".")[2:])
        if not isinstance(resolved, _Resolved) or resolved.field is None:
            return
        problem = self._fit(_type_of_value(literal), resolved.field)
        if problem:
            self.add(
                state,
                invoke,
                f"compares {path} with {literal!r} in {what} on {done}, but "
                f"{resolved.message.name}.{resolved.field.json_name} {problem}",
                proto=(resolved.message.file, resolved.field.line),
                event=done,
            )

    def _output_examples(self, state: State, invoke: Invoke, method: Method) -> None:
        reported: set[str] = set()
        for example in invoke.outputs:
            for where, problem, proto in self._example(method.output_type, example, ""):
                if where in reported:
                    continue
                reported.add(where)
                self.add(state, invoke, f"has an example output with {where}{problem}", proto=proto)

    def _example(
        self, message: Message, example: Mapping[str, Any], prefix: str
    ) -> Iterator[tuple[str, str, tuple[str, int]]]:
        for key, value in example.items():
            where = f"{prefix}.{key}" if prefix else key
            proto_field = message.fields.get(key)
            if proto_field is None:
                yield (
                    where,
                    f", but {message.name} has no field {key!r}{_hint(key, message)}",
                    (message.file, message.line),
                )
                continue
            problem = self._fit(_type_of_value(value), proto_field)
            if problem:
                yield (
                    where,
                    f" = {value!r}, but {message.name}.{key} {problem}",
                    (message.file, proto_field.line),
                )
                continue
            nested = self._message_of(proto_field)
            if nested is None:
                continue
            items = value if proto_field.repeated and isinstance(value, list | tuple) else [value]
            for item in items:
                if isinstance(item, Mapping):
                    yield from self._example(nested, item, where)

    # -- the contract side --------------------------------------------------------------

    def _message_of(self, proto_field: ProtoField) -> Message | None:
        if not proto_field.type.startswith("message:"):
            return None
        name = proto_field.type.removeprefix("message:")
        if name in _WELL_KNOWN or name.startswith("google.protobuf."):
            return None
        return self.contracts.message(name)

    def _resolve(
        self, message: Message, parts: list[str]
    ) -> _Resolved | tuple[Message, str]:
        """Walk ``parts`` (JSON names) from ``message``: the field reached, or the message
        lacking a part and that part."""
        current = message
        reached: ProtoField | None = None
        for i, part in enumerate(parts):
            reached = current.fields.get(part)
            if reached is None:
                return current, part
            if i == len(parts) - 1:
                break
            nested = self._message_of(reached)
            if nested is None or reached.repeated:
                return _Resolved(current, None)  # beyond what a path can check
            current = nested
        return _Resolved(current, reached)

    def _fit(self, flow: _Type, proto_field: ProtoField) -> str | None:
        """Why a value of type ``flow`` does not fit ``proto_field``; None when it does."""
        kind = flow.kind
        if kind in ("any", "null"):
            return None
        described = _describe(proto_field)
        if proto_field.repeated:
            if self._is_map(proto_field):
                return None if kind == "object" else f"is a map ({described})"
            if kind == "array":
                return None
            element = {"string[]": "string", "object[]": "object"}.get(kind)
            if element is None:
                return f"is {described}, not a single {kind}"
            return self._fit_single(_Type(element, flow.values), proto_field.type, described)
        if kind in ("string[]", "object[]", "array"):
            return f"is {described}, not a list"
        return self._fit_single(flow, proto_field.type, described)

    def _fit_single(self, flow: _Type, proto_type: str, described: str) -> str | None:
        kind = flow.kind
        scalar = proto_type
        if scalar.startswith("message:"):
            scalar = _WELL_KNOWN.get(scalar.removeprefix("message:"), scalar)
        if scalar == "any":
            return None
        if scalar.startswith("enum:"):
            return self._fit_enum(flow, scalar.removeprefix("enum:"), described)
        if scalar.startswith("message:"):
            return None if kind == "object" else f"is {described}, not a {kind}"
        ok = (
            (scalar in ("string", "bytes") and kind == "string")
            or (scalar == "bool" and kind == "boolean")
            or (scalar in _INTEGERS and kind == "integer")
            or (scalar in _NUMBERS and kind in ("integer", "number"))
        )
        return None if ok else f"is {described}, not a {kind}"

    def _fit_enum(self, flow: _Type, enum_name: str, described: str) -> str | None:
        if flow.kind == "integer":
            return None
        if flow.kind != "string":
            return f"is {described}, not a {flow.kind}"
        enum = self.contracts.enum(enum_name)
        if enum is None or flow.values is None:
            return None
        prefix = _upper_snake(enum_name.rsplit(".", 1)[-1]) + "_"
        short = [v.removeprefix(prefix) for v in enum.values]
        names = {*enum.values, *short}
        bad = [v for v in flow.values if isinstance(v, str) and v and v.upper() not in names]
        if not bad:
            return None
        spelled = ", ".join(repr(n.lower()) for n in short if n != "UNSPECIFIED")
        return (
            f"is {described} and {', '.join(map(repr, bad))} names none of its values; "
            f"a flow names them in lower case without the {prefix} prefix: {spelled}"
        )

    def _is_map(self, proto_field: ProtoField) -> bool:
        name = proto_field.type.removeprefix("message:")
        return proto_field.type.startswith("message:") and name.endswith("Entry") and (
            name.rsplit(".", 1)[-1] == _pascal(proto_field.name) + "Entry"
        )


@dataclass(frozen=True)
class _Child:
    """A child flow as its parent sees it: the chart and where its declarations are."""

    path: Path
    chart: Chart
    class_name: str
    class_line: int
    output_line: int
    context_line: int
    sends: tuple[tuple[str, int], ...] = ()


_CHILDREN: dict[tuple[Path, int, int], _Child] = {}


def _child(path: Path) -> _Child:
    """The child flow in ``path``, read once per version of the file."""
    stat = path.stat()
    key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
    found = _CHILDREN.get(key)
    if found is None:
        machine = load_machine(path)
        cls = machine.cls
        class_line = object_line(cls)
        found = _CHILDREN[key] = _Child(
            path=path,
            chart=machine.chart,
            class_name=cls.__name__,
            class_line=class_line,
            output_line=source_map(path).attribute_line(class_line, "output") or class_line,
            context_line=object_line(cls.Context) if defined_in(cls.Context, path) else class_line,
            sends=_sends(machine.chart, path, class_line),
        )
    return found


def _sends(chart: Chart, path: Path, fallback: int) -> tuple[tuple[str, int], ...]:
    """Every event the chart sends to its parent, once each in document order, with the line
    of its ``send_parent`` in ``path``."""
    actions = [*chart.entry]
    for s in chart.states:
        actions.extend((*s.entry, *s.exit))
        for t in s.transitions:
            actions.extend(t.actions)
    events = list(dict.fromkeys(a.event for a in actions if isinstance(a, SendParent)))
    calls = source_map(path).sends
    return tuple((event, calls.get(event, fallback)) for event in events)


@dataclass(frozen=True)
class _Resolved:
    message: Message
    field: ProtoField | None


def _reads(transition: Transition) -> Iterator[tuple[Expr, str]]:
    """The expressions of a transition that can read the event, with a label for messages."""
    if transition.guard is not None and transition.guard.expr is not None:
        yield transition.guard.expr, f"guard {transition.guard.name!r}"
    for action in transition.actions:
        if action.kind == "assign":
            for _, expr in action.updates:
                yield expr, f"assign {action.name!r}"


def _comparisons(expr: Expr) -> Iterator[tuple[str, Any]]:
    """(``event.output...`` path, literal) pairs compared with eq/ne/in anywhere in ``expr``."""
    if expr.op in ("eq", "ne") and len(expr.args) == 2:
        a, b = expr.args
        for ref, lit in ((a, b), (b, a)):
            if _is_output_ref(ref) and lit.op == "lit" and lit.value is not None:
                yield ref.path or "", lit.value
    if expr.op == "in" and len(expr.args) == 2:
        ref, lit = expr.args
        if _is_output_ref(ref) and lit.op == "lit" and isinstance(lit.value, tuple):
            for value in lit.value:
                if value is not None:
                    yield ref.path or "", value
    for arg in expr.args:
        yield from _comparisons(arg)


def _is_output_ref(expr: Expr) -> bool:
    return expr.op == "ref" and (expr.path or "").startswith("event.output.")


def _describe(proto_field: ProtoField) -> str:
    kind = proto_field.type.split(":", 1)[-1]
    what = "an enum " if proto_field.type.startswith("enum:") else ""
    return f"{'repeated ' if proto_field.repeated else ''}{what}{kind}"


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _pascal(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def _hint(key: str, message: Message) -> str:
    """``; its fields are a, b`` plus the JSON name when ``key`` is a proto field name."""
    by_proto_name = {f.name: f.json_name for f in message.fields.values()}
    if key in by_proto_name and by_proto_name[key] != key:
        return f"; use its JSON name {by_proto_name[key]!r}"
    fields = ", ".join(message.fields) or "none"
    return f"; its fields are {fields}"
