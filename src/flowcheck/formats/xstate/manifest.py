"""The manifest: what the frontend must provide to run an exported config.

``<name>.manifest.json`` lists every named guard (with its expression), every
action (assigns with their updates, ``track``, raises, sends to the parent
flow with their event, custom actions with their params), every actor
(Connect-RPC methods and child flows, with each invoke's input, example outputs
and the error codes the flow routes), every named delay with a default, the
context, input and event payload shapes (and which input and payload fields a
sender must give), the machine's output (what a parent running
the flow as a child receives, with its types), and the tracking plan: every
telemetry event with its properties and the states that send it. The conformance
harness builds XState implementations from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowcheck.chart.expr import Expr
from flowcheck.chart.model import (
    Action,
    Assign,
    Chart,
    Custom,
    DataField,
    Raise,
    SendParent,
    Track,
    action_name,
)
from flowcheck.formats.xstate.config import (
    DEFAULT_DELAY_MS,
    ExportError,
    JsonObject,
    export_order,
    exported_transitions,
    required,
    to_json_value,
)


def field_json(f: DataField) -> JsonObject:
    return {
        "name": f.name,
        "type": f.type,
        "nullable": f.nullable,
        "default": to_json_value(f.default),
        "examples": to_json_value(f.examples),
        "enum": to_json_value(f.enum),
    }


def given_field_json(f: DataField) -> JsonObject:
    """A payload or input field: also whether the sender must give it (no default, not
    nullable); one left out takes its default."""
    return {**field_json(f), "required": required(f)}


def _all_actions(chart: Chart) -> list[tuple[str, Action]]:
    """Every action with the state it belongs to (the chart id for the root), document order."""
    found: list[tuple[str, Action]] = [(chart.id, a) for a in chart.entry]
    for s in chart.states:
        found.extend((s.id, a) for a in s.entry)
        found.extend((s.id, a) for a in s.exit)
        for t in export_order(s):
            found.extend((s.id, a) for a in t.actions)
    return found


def _action_spec(action: Action) -> JsonObject:
    if isinstance(action, Assign):
        return {
            "kind": "assign",
            "updates": {name: expr.to_json() for name, expr in action.updates},
        }
    if isinstance(action, Track):
        return {"kind": "track"}
    if isinstance(action, Raise):
        return {"kind": "raise", "event": action.event}
    if isinstance(action, SendParent):
        return {"kind": "sendParent", "event": action.event}
    assert isinstance(action, Custom)
    return {
        "kind": "custom",
        "params": {k: to_json_value(v) for k, v in action.params},
        "declared": action.declared,
    }


def build_manifest(chart: Chart) -> JsonObject:
    """The manifest of ``chart`` as plain JSON data, keys in a fixed order."""
    guards: JsonObject = {}
    for t in exported_transitions(chart):
        if t.guard is None:
            continue
        spec: JsonObject = (
            {"expr": t.guard.expr.to_json()} if t.guard.expr is not None else {"opaque": True}
        )
        known = guards.get(t.guard.name)
        if known is not None and known != spec:
            raise ExportError(f"two different guards are named {t.guard.name!r}: rename one")
        guards[t.guard.name] = spec

    actions: JsonObject = {}
    for _, action in _all_actions(chart):
        name = action_name(action)
        spec = _action_spec(action)
        known = actions.get(name)
        if isinstance(action, Custom) and known is not None and known["kind"] == "custom":
            # The same custom action may be used with different params; list the union.
            continue
        if known is not None and known != spec:
            raise ExportError(f"two different actions are named {name!r}: rename one")
        actions[name] = spec

    actors: JsonObject = {}
    for state, inv in chart.invokes():
        entry = actors.setdefault(inv.src, {"kind": inv.kind, "invokes": []})
        if entry["kind"] != inv.kind:
            raise ExportError(f"actor {inv.src!r} is invoked both as an rpc and as a flow")
        entry["invokes"].append({
            "id": inv.id,
            "state": state.id,
            "input": {k: v.to_json() for k, v in inv.input},
            "outputs": [to_json_value(o) for o in inv.outputs],
            "errors": list(inv.error_codes),
        })

    return {
        "flow": chart.id,
        "name": chart.name,
        "context": [field_json(f) for f in chart.context],
        "input": None if chart.input is None else [given_field_json(f) for f in chart.input],
        "output": output_spec(chart),
        "events": [
            {
                "name": e.name,
                "description": e.description,
                "payload": [given_field_json(f) for f in e.payload],
            }
            for e in chart.events
        ],
        "guards": guards,
        "actions": actions,
        "actors": actors,
        "delays": {d: {"ms": DEFAULT_DELAY_MS} for d in chart.delays()},
        "telemetry": tracking_plan(chart),
    }


def output_spec(chart: Chart) -> JsonObject:
    """The machine's output, key by key: its type (from the context field it reads, or the
    literal) and its expression. Empty when the flow declares no output."""
    context = {f.name: f for f in chart.context}
    out: JsonObject = {}
    for key, expr in chart.output:
        kind, nullable, enum = output_type(expr, context)
        out[key] = {
            "type": kind,
            "nullable": nullable,
            "enum": to_json_value(enum),
            "expr": expr.to_json(),
        }
    return out


def output_type(
    expr: Expr, context: Mapping[str, DataField]
) -> tuple[str, bool, tuple[Any, ...]]:
    """(type, nullable, enum) of an output value, in the manifest's field type names;
    ``unknown`` where the expression does not say (a path into an object field)."""
    if expr.op == "ref":
        head, _, rest = (expr.path or "").partition(".")
        field = context.get(rest) if head == "context" else None
        if field is None:
            return "unknown", True, ()
        return field.type, field.nullable, field.enum
    if expr.op == "lit":
        return _literal_type(expr.value), expr.value is None, ()
    if expr.op in ("count", "add"):
        return "integer", False, ()
    if expr.op in ("append", "remove"):
        kind, _, _ = output_type(expr.args[0], context)
        return kind, False, ()
    return "boolean", False, ()


def _literal_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string"
    if isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
        return "string[]"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def tracking_plan(chart: Chart) -> list[JsonObject]:
    """Every analytics event the flow sends: property names, included context, states."""
    plan: dict[str, dict[str, list[str]]] = {}
    for where, action in _all_actions(chart):
        if not isinstance(action, Track):
            continue
        item = plan.setdefault(action.event, {"properties": [], "include": [], "states": []})
        for key, _ in action.properties:
            if key not in item["properties"]:
                item["properties"].append(key)
        for key in action.include:
            if key not in item["include"]:
                item["include"].append(key)
        if where not in item["states"]:
            item["states"].append(where)
    out: list[JsonObject] = []
    for event, item in plan.items():
        row: dict[str, Any] = {"event": event}
        row.update(item)
        out.append(row)
    return out
