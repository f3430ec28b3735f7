"""Chart -> XState v5 machine config (plain JSON, never ``machine.toJSON()`` output).

The config is what ``createMachine`` takes: every state carries its explicit
``id`` (so ``#id`` targets, ``xstate.done.state.<id>`` and
``xstate.after.<delay>.<id>`` events all use flowcheck's state ids), every
invoke its explicit ``id``, guards and actions are ``{"type", "params"}``
objects naming implementations the manifest lists. Keys come out in one fixed
order, so the same chart always gives the same bytes.

Expressions (invoke ``input``, the machine's and final states' ``output``) are
written as flowcheck expression JSON (``{"ref": "context.planId"}``); the typed
module turns them into functions, the manifest documents them.

This is the lowest layer of the export: the manifest and the typed module read
the chart in the order this module writes it (:func:`export_order`) and share its
JSON helpers; :mod:`flowcheck.formats.xstate.export` puts the files together.
"""

from __future__ import annotations

import json
from typing import Any

from flowcheck.chart.model import (
    Action,
    Assign,
    Chart,
    DataField,
    Guard,
    Raise,
    SendParent,
    State,
    Track,
    Transition,
    action_name,
    after_event,
    done_actor,
    done_state,
    error_actor,
)
from flowcheck.errors import FlowcheckError

JsonObject = dict[str, Any]

DEFAULT_DELAY_MS = 2000
"""What a named delay waits when the frontend does not say (manifest ``delays``, the
typed module's ``deps.delays``)."""


def required(f: DataField) -> bool:
    """Whether a payload or input field must be given: it has no default and cannot be
    null (the rule ``flowcheck simulate`` applies; a missing optional field takes its
    default, ``null`` for a nullable one)."""
    return f.default is None and not f.nullable


class ExportError(FlowcheckError):
    """A chart that cannot be written as an XState config."""


def dumps(data: Any) -> str:
    """The one JSON layout of every exported file: 2-space indent, final newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def export_config(chart: Chart) -> JsonObject:
    """The XState v5 config of ``chart`` as plain JSON data, keys in a fixed order."""
    states = chart.state_map()
    root: JsonObject = {"id": chart.id}
    if chart.description:
        root["description"] = chart.description
    # ``initial`` and ``states`` use state keys (XState's), which differ from the ids where
    # an imported machine's ids are paths (``machine.parent.child``).
    kind = chart.root.kind if chart.root is not None else "compound"
    if kind == "parallel":
        root["type"] = "parallel"
    elif kind == "compound":
        root["initial"] = states[chart.initial].name
    root["context"] = {f.name: to_json_value(f.default) for f in chart.context}
    if chart.entry:
        root["entry"] = [action_config(a) for a in chart.entry]
    if chart.root is not None:
        # The root node's own transitions, invokes, tags and exit (imported machines).
        body = _state_node(chart.root.model_copy(update={"children": ()}), states)
        for key in ("tags", "exit", "invoke", "on", "after", "always"):
            if key in body:
                root[key] = body[key]
    if chart.output:
        root["output"] = {k: v.to_json() for k, v in chart.output}
    if chart.top_level():
        root["states"] = {
            states[sid].name: _state_node(states[sid], states) for sid in chart.top_level()
        }
    return root


def to_json_value(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    return value


def action_config(action: Action) -> JsonObject:
    """One action as XState's ``{"type", "params"}`` object."""
    if isinstance(action, Track):
        return {
            "type": "track",
            "params": {
                "event": action.event,
                "properties": {k: to_json_value(v) for k, v in action.properties},
                "include": list(action.include),
            },
        }
    if isinstance(action, Assign | Raise | SendParent):
        return {"type": action_name(action)}
    out: JsonObject = {"type": action.name}
    if action.params:
        out["params"] = {k: to_json_value(v) for k, v in action.params}
    return out


def guard_config(guard: Guard, where: str) -> JsonObject:
    if guard.negated:
        # XState's not() is a function, not JSON: a negated guard needs its own name.
        raise ExportError(
            f"{where}: guard {guard.name!r} is negated and opaque; XState JSON cannot express "
            "not(...): declare a named guard for the negation"
        )
    out: JsonObject = {"type": guard.name}
    if guard.params is not None:
        out["params"] = json.loads(guard.params)
    return out


def reenter_matters(t: Transition, states: dict[str, State]) -> bool:
    """``reenter`` changes behaviour only when every target is the source or inside it,
    or may be at run time: a history state can restore the source itself."""
    return bool(t.targets) and all(
        x == t.source or _is_inside(x, t.source, states) or states[x].kind == "history"
        for x in t.targets
    )


def _is_inside(state_id: str, ancestor: str, states: dict[str, State]) -> bool:
    parent = states[state_id].parent
    while parent is not None:
        if parent == ancestor:
            return True
        parent = states[parent].parent
    return False


def transition_config(t: Transition, states: dict[str, State]) -> JsonObject:
    out: JsonObject = {}
    if t.targets:
        targets = [f"#{x}" for x in t.targets]
        out["target"] = targets[0] if len(targets) == 1 else targets
    if t.guard is not None:
        out["guard"] = guard_config(t.guard, f"transition {t.event or 'always'} of {t.source!r}")
    if t.actions:
        out["actions"] = [action_config(a) for a in t.actions]
    if t.reenter and reenter_matters(t, states):
        out["reenter"] = True
    return out


def export_order(s: State) -> list[Transition]:
    """A state's transitions in the order its exported config lists them (invoke outcomes,
    ``on`` grouped by event, ``after``, ``always``, ``onDone``), which is also the order an
    import reads them back in. Whatever is derived from the transitions (the manifest, the
    typed module) follows this order, so that an imported export exports the same bytes."""
    done = {done_actor(i.id): i.id for i in s.invokes}
    error = {error_actor(i.id): i.id for i in s.invokes}
    outcomes: dict[str, list[Transition]] = {}
    on: dict[str, list[Transition]] = {}
    after: dict[str, list[Transition]] = {}
    always: list[Transition] = []
    on_done: list[Transition] = []
    for t in s.transitions:
        if t.event is None:
            always.append(t)
        elif t.event == done_state(s.id) and s.kind in ("compound", "parallel"):
            on_done.append(t)
        elif t.event in done:
            outcomes.setdefault(f"{done[t.event]}\0done", []).append(t)
        elif t.event in error:
            outcomes.setdefault(f"{error[t.event]}\0error", []).append(t)
        elif t.delay is not None and t.event == after_event(t.delay, s.id):
            after.setdefault(t.delay, []).append(t)
        else:
            on.setdefault(t.event, []).append(t)
    ordered = [t for i in s.invokes for key in ("done", "error")
               for t in outcomes.get(f"{i.id}\0{key}", [])]
    for group in (*on.values(), *after.values()):
        ordered.extend(group)
    return ordered + always + on_done


def exported_transitions(chart: Chart) -> list[Transition]:
    """Every transition of the chart, state by state, in :func:`export_order`."""
    return [t for s in chart.nodes() for t in export_order(s)]


def _state_node(s: State, states: dict[str, State]) -> JsonObject:
    node: JsonObject = {"id": s.id}
    if s.kind in ("final", "parallel", "history"):
        node["type"] = s.kind
    if s.kind == "history" and s.history == "deep":
        node["history"] = "deep"
    if s.description:
        node["description"] = s.description
    if s.tags:
        node["tags"] = list(s.tags)
    if s.initial:
        node["initial"] = states[s.initial].name
    if s.entry:
        node["entry"] = [action_config(a) for a in s.entry]
    if s.exit:
        node["exit"] = [action_config(a) for a in s.exit]

    invoke_done = {done_actor(i.id): i.id for i in s.invokes}
    invoke_error = {error_actor(i.id): i.id for i in s.invokes}
    on: dict[str, list[JsonObject]] = {}
    after: dict[str, list[JsonObject]] = {}
    always: list[JsonObject] = []
    on_done: list[JsonObject] = []
    outcomes: dict[str, dict[str, list[JsonObject]]] = {i.id: {} for i in s.invokes}
    for t in s.transitions:
        if t.source != s.id:
            raise ExportError(f"transition {t.event} listed on {s.id!r} has source {t.source!r}")
        cfg = transition_config(t, states)
        if t.event is None:
            always.append(cfg)
        elif t.event == done_state(s.id) and s.kind in ("compound", "parallel"):
            on_done.append(cfg)
        elif t.event in invoke_done:
            outcomes[invoke_done[t.event]].setdefault("onDone", []).append(cfg)
        elif t.event in invoke_error:
            outcomes[invoke_error[t.event]].setdefault("onError", []).append(cfg)
        elif t.delay is not None and t.event == after_event(t.delay, s.id):
            after.setdefault(t.delay, []).append(cfg)
        else:
            on.setdefault(t.event, []).append(cfg)
    if s.invokes:
        invokes: list[JsonObject] = []
        for inv in s.invokes:
            item: JsonObject = {"id": inv.id, "src": inv.src}
            if inv.input:
                item["input"] = {k: v.to_json() for k, v in inv.input}
            elif inv.input_value is not None:
                item["input"] = json.loads(inv.input_value)
            for key in ("onDone", "onError"):
                if key in outcomes[inv.id]:
                    item[key] = outcomes[inv.id][key]
            invokes.append(item)
        node["invoke"] = invokes
    if on:
        node["on"] = on
    if after:
        node["after"] = after
    if always:
        node["always"] = always
    if on_done:
        node["onDone"] = on_done
    if s.output:
        node["output"] = {k: v.to_json() for k, v in s.output}
    if s.children:
        node["states"] = {states[c].name: _state_node(states[c], states) for c in s.children}
    return node
