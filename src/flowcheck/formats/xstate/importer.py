"""XState v5 config JSON -> Chart: machines written by hand or in Stately Studio.

Reads nested ``states``, ``#id``, sibling (``"review"``, ``"review.tags"``) and
child (``".tags"``) targets, ``on``/``always``/``after``/``onDone``, ``invoke``
with ``onDone``/``onError``, ``entry``/``exit``, ``tags``, ``type``,
``history``, ``initial``, ``context`` and ``output`` (of final states and of
the machine). Guards and actions are names: a manifest beside the file
(``<stem>.manifest.json``, as written by ``flowcheck export``) turns the names
it knows back into declarative guards and actions; every other name becomes
an opaque reference (``Guard(expr=None)``, ``Custom(declared=True)``) listed
in the report. Nothing from the file is ever evaluated. Anything flowcheck
cannot honour (unknown keys, XState v4 ``cond``, a target that resolves to no
state, wildcard events, ...) raises ImportFormatError naming the file, the
JSON path and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from flowcheck import inputs
from flowcheck.chart.expr import Expr, expr_from_json
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
    State,
    Track,
    Transition,
    action_name,
    after_event,
    done_actor,
    done_state,
    error_actor,
)
from flowcheck.errors import ImportFormatError, InputError

_IGNORED = frozenset({"meta", "version", "types", "schemas"})
"""Keys XState reads for tooling and typing only: they change nothing at run time."""
MAX_DEPTH = 50
"""Deepest state nesting read: far beyond any flow, well within Python's recursion limit."""
_ROOT_KEYS = frozenset({
    "id", "description", "initial", "context", "entry", "output", "states", "type", "on",
    "after", "always", "invoke", "tags", "exit",
})
_STATE_KEYS = frozenset({
    "id", "type", "history", "target", "description", "tags", "initial", "entry", "exit",
    "invoke", "on", "after", "always", "onDone", "output", "states",
})
_TRANSITION_KEYS = frozenset({"target", "guard", "actions", "reenter", "description"})
XSTATE_DEFAULT_ID = "(machine)"
"""The machine id XState gives a config without one."""
_INVOKE_KEYS = frozenset({"id", "src", "input", "onDone", "onError", "systemId"})
_EXPR_KEYS = frozenset({"ref", "lit", "op"})


@dataclass
class ImportReport:
    """What the import could not see into, and where it looked."""

    file: str
    manifest: str | None = None
    opaque_guards: list[str] = field(default_factory=list)
    opaque_actions: list[str] = field(default_factory=list)

    @property
    def opaque(self) -> list[str]:
        return [f"guard {g}" for g in self.opaque_guards] + [
            f"action {a}" for a in self.opaque_actions
        ]


def import_config(
    source: Path | str | Mapping[str, Any],
    manifest: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> tuple[Chart, ImportReport]:
    """Read an XState v5 config (a file path or parsed data) into a Chart and a report.

    For a file, ``<stem>.manifest.json`` beside it is used when present and no
    ``manifest`` is given.
    """
    if not isinstance(source, str | PathLike):
        label = name or "<config>"
        data: Any = dict(source) if isinstance(source, Mapping) else source
        stem = name or (str(data.get("id") or "machine") if isinstance(data, dict)
                        else "machine")
    else:
        path = Path(source)
        label = str(path)
        data = _load_json(path)
        stem = name or (path.name[: -len(".json")] if path.name.endswith(".json") else path.stem)
        beside = path.with_name(f"{stem}.manifest.json")
        sharpen = path.with_name(f"{stem}.flowcheck.json")
        if manifest is None and beside.is_file():
            manifest = _load_json(beside)
            if not isinstance(manifest, dict):
                raise ImportFormatError(f"{beside}: a manifest must be a JSON object")
            report_manifest: str | None = str(beside)
        elif manifest is None and sharpen.is_file():
            manifest = _side_file(sharpen)
            report_manifest = str(sharpen)
        else:
            report_manifest = None
    if not isinstance(source, str | PathLike):
        report_manifest = None
    if not isinstance(data, dict):
        raise ImportFormatError(
            f"{label}: the file holds a JSON {type(data).__name__}, not an XState machine config "
            "object ({\"id\": ..., \"initial\": ..., \"states\": {...}})"
        )
    if manifest is not None and not isinstance(manifest, Mapping):
        raise ImportFormatError(f"{report_manifest or label}: a manifest must be a JSON object")
    for what, doc in ((label, data), (report_manifest or f"the manifest of {label}", manifest)):
        try:
            inputs.check_nesting(doc, what)
        except InputError as exc:
            raise ImportFormatError(str(exc)) from exc
    reader = _Reader(label, manifest or {}, ImportReport(file=label, manifest=report_manifest))
    chart = reader.read(data, stem)
    return chart, reader.report


def _load_json(path: Path) -> Any:
    # A regular file within the input limit only: never a FIFO, a device or gigabytes.
    try:
        raw = inputs.read_bytes(path, "JSON file")
    except InputError as exc:
        raise ImportFormatError(str(exc)) from exc
    if not raw.strip():
        raise ImportFormatError(f"{path}: the file is empty; expected an XState config object")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(
            f"{path}: not UTF-8 (byte {exc.start}); save the file as UTF-8 JSON"
        ) from exc
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ImportFormatError(
            f"{path}: JSON nested too deeply to read; flatten the machine"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ImportFormatError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); XState configs must "
            "be plain JSON (no comments, functions or trailing commas)"
        ) from exc


@dataclass
class _Node:
    """A state as found in the file, before targets are resolved. Its ``id`` is XState's:
    the explicit ``id``, else the machine id and the keys from the root joined by dots."""

    key: str
    id: str
    path: str  # JSON path of the node
    data: dict[str, Any]
    parent: _Node | None
    children: list[_Node] = field(default_factory=list)
    keys: tuple[str, ...] = ()
    by_key: dict[str, _Node] | None = field(default=None, repr=False)

    def child(self, key: str) -> _Node | None:
        """The first child with this key (indexed once: resolving targets stays linear)."""
        if self.by_key is None:
            self.by_key = {}
            for c in self.children:
                self.by_key.setdefault(c.key, c)
        return self.by_key.get(key)


class _Reader:
    def __init__(self, label: str, manifest: Mapping[str, Any], report: ImportReport) -> None:
        self.label = label
        self.manifest = manifest
        self.report = report
        self.by_id: dict[str, _Node] = {}
        self.machine_id = ""
        self.root: _Node | None = None
        self.root_targeted = False
        self.guards: Mapping[str, Any] = _section(manifest, "guards")
        self.actions: Mapping[str, Any] = _section(manifest, "actions")
        self.counter = 0

    @property
    def manifest_label(self) -> str:
        return self.report.manifest or f"the manifest of {self.label}"

    def fail(self, where: str, problem: str) -> ImportFormatError:
        return ImportFormatError(f"{self.label}: {where or '(root)'}: {problem}")

    # -- structure ------------------------------------------------------------------

    def read(self, data: dict[str, Any], stem: str) -> Chart:
        self._keys(data, _ROOT_KEYS, "", "a machine config")
        # XState's id for a machine whose config gives none: its state ids, default invoke ids
        # and delay event names all start with it, so counterexamples replay in XState.
        machine_id = data.get("id", XSTATE_DEFAULT_ID)
        if not isinstance(machine_id, str) or not machine_id:
            raise self.fail("id", "the machine id must be a non-empty string")
        states = data.get("states", {})
        if not isinstance(states, dict):
            raise self.fail("states", "\"states\" must be an object of child states")
        self.machine_id = machine_id
        tops = [self._node(k, v, f"states.{k}", None) for k, v in states.items()]
        self.root = _Node(key="", id=machine_id, path="", data=data, parent=None,
                          children=tops)
        kind = data.get("type", "compound" if tops else "atomic")
        if kind not in ("compound", "parallel", "atomic") or (kind == "atomic") != (not tops):
            raise self.fail("type", f"a machine root of type {kind!r} with "
                            f"{len(tops)} child state(s): XState's root is compound, parallel, "
                            "or atomic when it has no states")
        if kind == "compound":
            initial = self._initial(data, tops, "", "the machine")
        else:
            if "initial" in data:
                raise self.fail("initial", f"a {kind} root has no initial child")
            initial = tops[0].id if tops else machine_id
        chart_states: list[State] = []
        for top in tops:
            self._states(top, chart_states)
        root = self._root_node(self.root, tops, str(kind))
        context = self._context(data.get("context", {}))
        entry = self._actions(data.get("entry"), "entry")
        output = self._machine_output(data.get("output"), context)
        description = data.get("description", "")
        if not isinstance(description, str):
            raise self.fail("description", "must be a string")
        self._check_fields(context, chart_states, entry, output)
        return Chart(
            id=machine_id,
            name=stem,
            description=description,
            initial=initial,
            states=tuple(chart_states),
            context=context,
            events=self._events([*([root] if root else []), *chart_states]),
            entry=entry,
            output=output,
            source=self.label,
            root=root,
            input=self._input(),
        )

    def _input(self) -> tuple[DataField, ...] | None:
        """The flow's declared input, from the manifest (XState configs cannot say it)."""
        raw = self.manifest.get("input")
        if raw is None:
            return None
        if not isinstance(raw, list):
            raise ImportFormatError(f"{self.manifest_label}: input must be a list of field "
                                    "descriptions (or null)")
        return tuple(self._field(f, "input") for f in raw)

    def _root_node(self, node: _Node, tops: list[_Node], kind: str) -> State | None:
        """The machine root's own transitions and invokes (XState allows them there)."""
        invokes = self._invokes(node)
        transitions = self._transitions(node, "compound", invokes)
        tags = node.data.get("tags", [])
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise self.fail("tags", "must be a string or a list of strings")
        # Root exit actions run when the actor is stopped from outside, never in a run.
        exit_ = self._actions(node.data.get("exit"), "exit")
        if (not transitions and not invokes and not tags and not exit_ and kind == "compound"
                and not self.root_targeted):
            return None
        return State(id=node.id, kind=kind, children=tuple(c.id for c in tops),
                     transitions=tuple(transitions), invokes=tuple(invokes), tags=tuple(tags),
                     exit=exit_)

    def _check_fields(
        self, context: tuple[DataField, ...], states: list[State], entry: tuple[Action, ...],
        output: tuple[tuple[str, Expr], ...],
    ) -> None:
        """Every context field a guard, an assign, a track or an input names exists."""
        fields = {f.name for f in context}
        known = ", ".join(sorted(fields)) or "none"

        def check(name: str, what: str) -> None:
            if name not in fields:
                raise ImportFormatError(
                    f"{self.label}: {what} uses context field {name!r}, which the context "
                    f"does not declare (fields: {known}); add it to \"context\"")

        def refs(expr: Expr, what: str) -> None:
            for path in expr.refs():
                head, _, rest = path.partition(".")
                if head == "context":
                    check(rest.split(".")[0], what)

        def actions(items: tuple[Action, ...]) -> None:
            for a in items:
                if isinstance(a, Assign):
                    for target, value in a.updates:
                        check(target, f"action {a.name!r}")
                        refs(value, f"action {a.name!r}")
                elif isinstance(a, Track):
                    for name in a.include:
                        check(name, f"track {a.event!r}")

        actions(entry)
        for _, value in output:
            refs(value, "the machine's output")
        for st in states:
            actions((*st.entry, *st.exit))
            for t in st.transitions:
                if t.guard is not None and t.guard.expr is not None:
                    refs(t.guard.expr, f"guard {t.guard.name!r}")
                actions(t.actions)
            for inv in st.invokes:
                for _, value in inv.input:
                    refs(value, f"the input of invoke {inv.id!r}")
            for _, value in st.output:
                refs(value, f"the output of {st.id!r}")

    def _machine_output(
        self, raw: Any, context: tuple[DataField, ...]
    ) -> tuple[tuple[str, Expr], ...]:
        """The root ``output``: expressions over the context (flowcheck computes it when the
        machine is done, from the context alone)."""
        output = self._exprs(raw, "output")
        fields = {f.name for f in context}
        for key, expr in output:
            for path in expr.refs():
                head, _, rest = path.partition(".")
                if head != "context" or rest.split(".", 1)[0] not in fields:
                    known = ", ".join(sorted(fields)) or "none"
                    raise self.fail(
                        f"output.{key}",
                        f"reads {path!r}; the machine output can only read context fields "
                        f"({known}): use {{\"ref\": \"context.<field>\"}}",
                    )
        return output

    def _keys(self, data: dict[str, Any], allowed: frozenset[str], where: str, what: str) -> None:
        for key in data:
            if key in allowed or key in _IGNORED:
                continue
            at = f"{where}.{key}" if where else key
            if key == "cond":
                raise self.fail(at, "XState v4 'cond' is not read by v5 (its production build "
                                "ignores it): rename it to 'guard'")
            if key == "internal":
                raise self.fail(at, "XState v4 'internal' is gone in v5: use 'reenter: true' "
                                "for an external self-transition, or drop it")
            hint = ", ".join(sorted(allowed))
            raise self.fail(at, f"unknown key {key!r} in {what}; allowed: {hint}")

    def _node(self, key: str, data: Any, where: str, parent: _Node | None) -> _Node:
        if not isinstance(data, dict):
            raise self.fail(where, f"a state must be an object, got {type(data).__name__}")
        depth = 1 if parent is None else where.count(".states.") + 1
        if depth > MAX_DEPTH:
            raise self.fail(where, f"states nested more than {MAX_DEPTH} deep; flatten the "
                            "machine (flows are a few levels deep)")
        self._keys(data, _STATE_KEYS, where, "a state")
        keys = (*(parent.keys if parent else ()), key)
        state_id = data.get("id", ".".join((self.machine_id, *keys)))
        if not isinstance(state_id, str) or not state_id or "#" in state_id:
            raise self.fail(f"{where}.id", "a state id must be a non-empty string without '#'")
        if state_id in self.by_id or state_id == self.machine_id:
            other = self.by_id[state_id].path if state_id in self.by_id else "the machine root"
            raise self.fail(
                where,
                f"state id {state_id!r} is also used at {other}; XState needs state ids unique "
                "across the machine: change one of the explicit \"id\"s",
            )
        node = _Node(key=key, id=state_id, path=where, data=data, parent=parent, keys=keys)
        self.by_id[state_id] = node
        children = data.get("states", {})
        if not isinstance(children, dict):
            raise self.fail(f"{where}.states", "must be an object of child states")
        node.children = [
            self._node(k, v, f"{where}.states.{k}", node) for k, v in children.items()
        ]
        return node

    def _initial(self, data: dict[str, Any], children: list[_Node], where: str, what: str) -> str:
        initial = data.get("initial")
        at = f"{where}.initial" if where else "initial"
        if initial is None:
            raise self.fail(at, f"{what} has child states but no \"initial\": name one child key")
        if not isinstance(initial, str):
            raise self.fail(at, "\"initial\" must be the key of a child state")
        key = initial[1:] if initial.startswith(".") else initial
        for c in children:
            if c.key == key or initial == f"#{c.id}":
                if c.data.get("type") == "history":
                    raise self.fail(at, f"initial {initial!r} is a history state; start in a "
                                    "real child (the history state's default is that child)")
                return c.id
        keys = ", ".join(c.key for c in children)
        raise self.fail(at, f"initial {initial!r} is not a child state (children: {keys})")

    def _kind(self, node: _Node) -> str:
        declared = node.data.get("type")
        where = f"{node.path}.type"
        if declared not in (None, "atomic", "compound", "parallel", "final", "history"):
            raise self.fail(where, f"unknown state type {declared!r}; use atomic, compound, "
                            "parallel, final or history")
        if declared in ("atomic", "final", "history") and node.children:
            raise self.fail(where, f"a {declared} state cannot have child states")
        if declared == "compound" and not node.children:
            raise self.fail(where, "a compound state needs child states")
        if declared is not None:
            return str(declared)
        if node.children:
            return "compound"
        # As XState: a state with a `history` key and no type is a history state.
        return "history" if node.data.get("history") not in (None, False) else "atomic"

    def _states(self, node: _Node, out: list[State]) -> None:
        data = node.data
        kind = self._kind(node)
        initial = None
        if kind == "compound":
            initial = self._initial(data, node.children, node.path, f"state {node.id!r}")
        elif "initial" in data:
            raise self.fail(f"{node.path}.initial", f"a {kind} state has no initial child")
        history = None
        if kind == "history":
            history = data.get("history", "shallow")
            if history is True:
                history = "shallow"
            if history not in ("shallow", "deep"):
                raise self.fail(f"{node.path}.history", "must be 'shallow' or 'deep'")
            if "target" in data:
                parent = node.parent
                target = data["target"]
                if parent is None or not isinstance(target, str) or self._resolve(
                    target, node, f"{node.path}.target"
                ) != self._initial(parent.data, parent.children, parent.path, "the parent"):
                    raise self.fail(
                        f"{node.path}.target",
                        "a history default other than the parent's initial state is not "
                        "supported: drop 'target' or make it the parent's initial state",
                    )
        elif "history" in data or "target" in data:
            key = "history" if "history" in data else "target"
            raise self.fail(f"{node.path}.{key}", "only history states take this key")
        invokes = self._invokes(node)
        transitions = self._transitions(node, kind, invokes)
        tags = data.get("tags", [])
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise self.fail(f"{node.path}.tags", "must be a string or a list of strings")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise self.fail(f"{node.path}.description", "must be a string")
        output = self._exprs(data.get("output"), f"{node.path}.output")
        if output and kind != "final":
            raise self.fail(f"{node.path}.output", "only final states have an output")
        out.append(State(
            id=node.id,
            kind=kind,
            parent=node.parent.id if node.parent else None,
            children=tuple(c.id for c in node.children),
            initial=initial,
            entry=self._actions(data.get("entry"), f"{node.path}.entry"),
            exit=self._actions(data.get("exit"), f"{node.path}.exit"),
            transitions=tuple(transitions),
            invokes=tuple(invokes),
            tags=tuple(tags),
            history=history,
            description=description,
            output=output,
            key=node.key if node.key != node.id else "",
        ))
        for child in node.children:
            self._states(child, out)

    # -- invokes and transitions ---------------------------------------------------

    def _invokes(self, node: _Node) -> list[Invoke]:
        raw = node.data.get("invoke")
        if raw is None:
            return []
        items = raw if isinstance(raw, list) else [raw]
        out: list[Invoke] = []
        known = self._manifest_invokes()
        for i, item in enumerate(items):
            where = f"{node.path}.invoke[{i}]" if isinstance(raw, list) else f"{node.path}.invoke"
            if not isinstance(item, dict):
                raise self.fail(where, "an invoke must be an object with \"src\" and \"id\"")
            self._keys(item, _INVOKE_KEYS, where, "an invoke")
            src = item.get("src")
            if not isinstance(src, str) or not src:
                raise self.fail(f"{where}.src", "src must name an actor (a string); inline "
                                "actor logic cannot be written in JSON")
            # Without an id XState uses "<index>.<state id>"; keep its event names.
            invoke_id = item.get("id", f"{i}.{node.id}")
            if not isinstance(invoke_id, str) or not invoke_id:
                raise self.fail(f"{where}.id", "an invoke id must be a non-empty string")
            spec = known.get(invoke_id, {})
            kind = spec.get("kind", "rpc")
            outputs = spec.get("outputs", [{}])
            errors = spec.get("errors", ["unavailable"])
            if (
                kind not in ("rpc", "flow")
                or not isinstance(outputs, list)
                or not all(isinstance(o, dict) for o in outputs)
                or not isinstance(errors, list)
                or not all(isinstance(c, str) for c in errors)
            ):
                raise ImportFormatError(
                    f"{self.manifest_label}: actor invoke {invoke_id!r}: kind must be rpc or "
                    "flow, outputs a list of objects and errors a list of Connect codes")
            raw_input = item.get("input")
            plain = raw_input is not None and not isinstance(raw_input, dict)
            out.append(Invoke(
                id=invoke_id,
                kind=kind,
                src=src,
                input=() if plain else self._exprs(raw_input, f"{where}.input"),
                input_value=json.dumps(raw_input, sort_keys=True) if plain else None,
                outputs=tuple(_freeze(o) for o in outputs),
                error_codes=tuple(errors),
            ))
        return out

    def _manifest_invokes(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for actor in _section(self.manifest, "actors").values():
            if not isinstance(actor, dict):
                continue
            for inv in actor.get("invokes", []):
                if isinstance(inv, dict) and isinstance(inv.get("id"), str):
                    found[inv["id"]] = {**inv, "kind": actor.get("kind", "rpc")}
        return found

    def _transitions(self, node: _Node, kind: str, invokes: list[Invoke]) -> list[Transition]:
        data = node.data
        out: list[Transition] = []
        raw_invokes = data.get("invoke")
        items = raw_invokes if isinstance(raw_invokes, list) else [raw_invokes]
        for i, inv in enumerate(invokes):
            raw_item = items[i]
            item: dict[str, Any] = raw_item if isinstance(raw_item, dict) else {}
            base = f"{node.path}.invoke[{i}]" if isinstance(raw_invokes, list) \
                else f"{node.path}.invoke"
            out += self._group(node, done_actor(inv.id), item.get("onDone"), f"{base}.onDone")
            out += self._group(node, error_actor(inv.id), item.get("onError"), f"{base}.onError")
        on = data.get("on", {})
        if not isinstance(on, dict):
            raise self.fail(f"{node.path}.on", "must be an object: event name -> transitions")
        for event, spec in on.items():
            where = f"{node.path}.on.{event}"
            if not event:
                raise self.fail(where, "an empty event name: name the event")
            out += self._group(node, event, spec, where)
        after = data.get("after", {})
        if not isinstance(after, dict):
            raise self.fail(f"{node.path}.after", "must be an object: delay -> transitions")
        for delay, spec in after.items():
            out += self._group(node, after_event(delay, node.id), spec,
                               f"{node.path}.after.{delay}", delay=delay)
        if "always" in data:
            out += self._group(node, None, data["always"], f"{node.path}.always")
        if "onDone" in data:
            if kind not in ("compound", "parallel"):
                raise self.fail(f"{node.path}.onDone", "only compound and parallel states "
                                "are done; put onDone on the parent of the final state")
            out += self._group(node, done_state(node.id), data["onDone"], f"{node.path}.onDone")
        return out

    def _group(
        self, node: _Node, event: str | None, spec: Any, where: str, delay: str | None = None
    ) -> list[Transition]:
        if spec is None:
            return []
        items = spec if isinstance(spec, list) else [spec]
        out = []
        for i, item in enumerate(items):
            at = f"{where}[{i}]" if isinstance(spec, list) else where
            out.append(self._transition(node, event, item, at, delay))
        return out

    def _transition(
        self, node: _Node, event: str | None, item: Any, where: str, delay: str | None
    ) -> Transition:
        if isinstance(item, str):
            item = {"target": item}
        if not isinstance(item, dict):
            raise self.fail(where, "a transition must be a target string or an object")
        self._keys(item, _TRANSITION_KEYS, where, "a transition")
        raw = item.get("target")
        targets: list[str] = []
        if raw is not None:
            listed = raw if isinstance(raw, list) else [raw]
            for j, t in enumerate(listed):
                at = f"{where}.target[{j}]" if isinstance(raw, list) else f"{where}.target"
                if not isinstance(t, str):
                    raise self.fail(at, "a target must be a string")
                targets.append(self._resolve(t, node, at))
        reenter = item.get("reenter", False)
        if not isinstance(reenter, bool):
            raise self.fail(f"{where}.reenter", "must be true or false")
        order = self.counter
        self.counter += 1
        return Transition(
            source=node.id,
            event=event,
            targets=tuple(targets),
            guard=self._guard(item.get("guard"), f"{where}.guard"),
            actions=self._actions(item.get("actions"), f"{where}.actions"),
            reenter=reenter,
            order=order,
            delay=delay,
        )

    def _resolve(self, target: str, node: _Node, where: str) -> str:
        """A target string to a state id: ``#id``, ``.child.path`` or ``sibling.path``."""
        if target.startswith("#"):
            # XState resolves the head id (the machine's own included), then walks the keys.
            head, _, rest = target[1:].partition(".")
            base = self.root if head == self.machine_id else self.by_id.get(head)
            if base is None and target[1:] in self.by_id:
                base, rest = self.by_id[target[1:]], ""
            if base is None:
                raise self.fail(where, f"target {target!r}: no state has id {head!r}; use "
                                "'#<id>' of an existing state")
            found = self._walk(base, rest.split(".") if rest else [])
        elif target.startswith("."):
            found = self._walk(node, target[1:].split("."))
        else:
            parts = target.split(".")
            owner = node if node is self.root else (node.parent or self.root)
            if owner is not None:
                first = owner.child(parts[0])
            else:
                first = next((s for s in self._tops(node) if s.key == parts[0]), None)
            found = self._walk(first, parts[1:]) if first is not None else None
        if found is not None and found is self.root:
            # A transition to the machine itself: its states start over (XState resets the
            # children of a non-reentering self-transition's source).
            self.root_targeted = True
            return self.machine_id
        if found is None:
            raise self.fail(
                where,
                f"target {target!r} does not resolve to a state from {node.id!r}; use a sibling "
                "key ('review'), a child path ('.tags') or an id ('#review')",
            )
        return found.id

    def _tops(self, node: _Node) -> list[_Node]:
        while node.parent is not None:
            node = node.parent
        return self.root.children if self.root is not None else [
            n for n in self.by_id.values() if n.parent is None]

    def _walk(self, node: _Node | None, keys: list[str]) -> _Node | None:
        for key in keys:
            if node is None:
                return None
            node = node.child(key)
        return node

    # -- guards and actions ----------------------------------------------------------

    def _guard(self, raw: Any, where: str) -> Guard | None:
        if raw is None:
            return None
        if isinstance(raw, dict):
            # XState reads "type" and "params" and ignores the rest.
            params = raw.get("params")
            raw = raw.get("type")
            if params is not None:
                if not isinstance(raw, str) or not raw:
                    raise self.fail(where, "a guard must be a name or {\"type\": name}")
                # A guard with params is opaque whatever the manifest says: the params are
                # kept and exported unchanged, the implementation decides what they mean.
                if raw not in self.report.opaque_guards:
                    self.report.opaque_guards.append(raw)
                return Guard(name=raw, expr=None,
                             params=json.dumps(params, sort_keys=True, separators=(",", ":")))
        if not isinstance(raw, str) or not raw:
            raise self.fail(where, "a guard must be a name or {\"type\": name}")
        self._listed("guard", raw, self.guards, "guards", where)
        known = self.guards.get(raw)
        if isinstance(known, dict) and known.get("expr") is not None:
            try:
                return Guard(name=raw, expr=expr_from_json(known["expr"], f"guard {raw}"))
            except ValueError as exc:
                raise ImportFormatError(f"{self.manifest_label}: {exc}") from exc
        if raw not in self.report.opaque_guards:
            self.report.opaque_guards.append(raw)
        return Guard(name=raw, expr=None)

    def _listed(
        self, what: str, name: str, known: Mapping[str, Any], section: str, where: str
    ) -> None:
        """With a manifest, every guard and action name must be one it declares: a name it
        lacks is a typo or a stale manifest, not an opaque implementation. A side file
        (``<machine>.flowcheck.json``) gives bodies to some names only."""
        if section not in self.manifest or name in known or self.manifest.get(_PARTIAL):
            return
        manifest = self.manifest_label
        names = ", ".join(sorted(known)[:8]) or "none"
        raise self.fail(where, f"{what} {name!r} is not declared in {manifest} ({section}: "
                        f"{names}); fix the name, or re-export the manifest")

    def _actions(self, raw: Any, where: str) -> tuple[Action, ...]:
        if raw is None:
            return ()
        items = raw if isinstance(raw, list) else [raw]
        out: list[Action] = []
        for i, item in enumerate(items):
            at = f"{where}[{i}]" if isinstance(raw, list) else where
            out.append(self._action(item, at))
        return tuple(out)

    def _action(self, item: Any, where: str) -> Action:
        params: dict[str, Any] = {}
        if isinstance(item, dict):
            # XState reads "type" and "params" and ignores the rest.
            raw_params = item.get("params", {})
            if not isinstance(raw_params, dict):
                raise self.fail(f"{where}.params", "action params must be an object")
            params = raw_params
            item = item.get("type")
        if not isinstance(item, str) or not item:
            raise self.fail(where, "an action must be a name or {\"type\": name, \"params\"}")
        if item == "track" and _is_track(params):
            return self._track(params, where)
        self._listed("action", item, self.actions, "actions", where)
        known = self.actions.get(item)
        kind = known.get("kind") if isinstance(known, dict) else None
        if isinstance(known, dict) and kind == "assign":
            updates = known.get("updates", {})
            try:
                pairs = tuple(
                    (k, expr_from_json(v, f"action {item}")) for k, v in updates.items()
                )
            except (ValueError, AttributeError) as exc:
                raise ImportFormatError(f"{self.manifest_label}: {exc}") from exc
            return Assign(name=item, updates=pairs)
        if isinstance(known, dict) and kind == "raise" and isinstance(known.get("event"), str):
            decl = Raise(event=known["event"])
            if action_name(decl) == item:
                return decl
        if isinstance(known, dict) and kind == "sendParent" \
                and isinstance(known.get("event"), str):
            sent = SendParent(event=known["event"])
            if action_name(sent) == item:
                return sent
        if isinstance(known, dict) and kind == "custom":
            return Custom(name=item, params=_pairs(params), declared=bool(known.get("declared",
                                                                                     True)))
        if item not in self.report.opaque_actions:
            self.report.opaque_actions.append(item)
        return Custom(name=item, params=_pairs(params), declared=True)

    def _track(self, params: dict[str, Any], where: str) -> Track:
        event = params.get("event")
        properties = params.get("properties", {})
        include = params.get("include", [])
        if (
            not isinstance(event, str)
            or not isinstance(properties, dict)
            or not isinstance(include, list)
            or not all(isinstance(x, str) for x in include)
            or set(params) - {"event", "properties", "include"}
        ):
            raise self.fail(f"{where}.params", "track takes {\"event\": name, \"properties\": "
                            "{...}, \"include\": [context fields]}")
        return Track(event=event, properties=_pairs(properties), include=tuple(include))

    def _exprs(self, raw: Any, where: str) -> tuple[tuple[str, Expr], ...]:
        if raw is None:
            return ()
        if not isinstance(raw, dict):
            raise self.fail(where, "must be an object mapping names to values or expressions")
        out: list[tuple[str, Expr]] = []
        for key, value in raw.items():
            if isinstance(value, dict) and value and set(value) <= _EXPR_KEYS | {"args"}:
                try:
                    out.append((key, expr_from_json(value, f"{where}.{key}")))
                except ValueError as exc:
                    raise self.fail(f"{where}.{key}", str(exc)) from exc
            else:
                out.append((key, Expr(op="lit", value=_freeze(value))))
        return tuple(out)

    # -- data ------------------------------------------------------------------------

    def _context(self, raw: Any) -> tuple[DataField, ...]:
        if not isinstance(raw, dict):
            raise self.fail("context", "the context must be a JSON object of field defaults")
        declared = {
            f["name"]: f for f in _list(self.manifest, "context")
            if isinstance(f, dict) and isinstance(f.get("name"), str)
        }
        out: list[DataField] = []
        for name, default in raw.items():
            spec = declared.get(name)
            if spec is not None:
                known = self._field(spec, f"context {name}")
                out.append(known.model_copy(update={"default": _freeze(default)}))
                continue
            out.append(DataField(name=name, type=self._infer(default, f"context.{name}"),
                                 nullable=default is None, default=_freeze(default)))
        return tuple(out)

    def _field(self, spec: Any, what: str) -> DataField:
        if not isinstance(spec, dict):
            raise ImportFormatError(f"{self.manifest_label}: {what}: a field description must "
                                    "be an object with name and type")
        try:
            return DataField(
                name=spec["name"],
                type=spec["type"],
                nullable=spec.get("nullable", False),
                default=_freeze(spec.get("default")),
                examples=tuple(_freeze(x) for x in spec.get("examples", [])),
                enum=tuple(_freeze(x) for x in spec.get("enum", [])),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ImportFormatError(
                f"{self.manifest_label}: {what}: not a field description ({_one_line(exc)})"
            ) from exc

    def _infer(self, value: Any, where: str) -> FieldType:
        """The field type of a context default. Context is any JSON value in XState: what is
        not a string, number, boolean or list of strings is read as an object (lists of
        objects, mixed lists) or as null."""
        if value is None or isinstance(value, str):
            return "string"
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            return "integer"
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return "string[]"
        if isinstance(value, list):
            return "object[]"
        return "object"

    def _events(self, states: list[State]) -> tuple[EventSpec, ...]:
        used: dict[str, None] = {}  # insertion-ordered, and linear to build
        for s in states:
            for t in s.transitions:
                if t.event and not t.event.startswith("xstate."):
                    used.setdefault(t.event)
        declared: dict[str, EventSpec] = {}
        for e in _list(self.manifest, "events"):
            if isinstance(e, dict) and isinstance(e.get("name"), str):
                declared[e["name"]] = EventSpec(
                    name=e["name"],
                    description=str(e.get("description", "")),
                    payload=tuple(
                        self._field(f, f"event {e['name']}") for f in _list(e, "payload")
                    ),
                )
        ordered = [declared.pop(n) for n in list(declared) if n in used]
        named = {e.name for e in ordered}
        ordered += [EventSpec(name=n) for n in used if n not in named]
        return tuple(ordered)


_PARTIAL = "$partial"


def _side_file(path: Path) -> dict[str, Any]:
    """``<machine>.flowcheck.json``: declarative bodies for some of a machine's guards (and
    assigns), to sharpen what flowcheck can prove about a machine written elsewhere::

        {"guards": {"isAdult": {"expr": {"op": "ge", "args": [{"ref": "context.age"},
                                                              {"lit": 18}]}}}}

    Names it does not give stay opaque (explored both ways)."""
    data = _load_json(path)
    if not isinstance(data, dict) or set(data) - {"guards", "actions", "context", "events"}:
        raise ImportFormatError(
            f"{path}: a side file is a JSON object with \"guards\" (name -> {{\"expr\": "
            "...}}) and optionally \"actions\", \"context\", \"events\" as in a manifest")
    guards = data.get("guards", {})
    if not isinstance(guards, dict) or not all(
            isinstance(g, dict) and "expr" in g for g in guards.values()):
        raise ImportFormatError(f"{path}: guards: each guard is {{\"expr\": expression}}")
    return {**data, _PARTIAL: True}


def _is_track(params: dict[str, Any]) -> bool:
    """Whether ``track`` params have flowcheck's shape; any other shape is the machine's own
    action named track, kept opaque with its params."""
    return (isinstance(params.get("event"), str) and set(params) <= {"event", "properties",
                                                                      "include"}
            and isinstance(params.get("properties", {}), dict)
            and isinstance(params.get("include", []), list))


def _one_line(exc: Exception) -> str:
    """The gist of an exception in one line (pydantic's messages span several)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _section(manifest: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = manifest.get(key, {})
    return value if isinstance(value, dict) else {}


def _list(manifest: Mapping[str, Any], key: str) -> list[Any]:
    value = manifest.get(key, [])
    return value if isinstance(value, list) else []


def _pairs(data: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((k, _freeze(v)) for k, v in data.items())


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value
