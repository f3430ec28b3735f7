"""A simulation session on the Stepper: validated events, history for undo, telemetry,
and child flows played inline.

Shared by ``flowcheck simulate`` (scripted and interactive), scenario files and
the web simulator. Nothing here prints.

Child flows: given the project's flows, a session starts a child flow whenever its
parent enters a state that invokes it (``child_flow(...)``), with the input the invoke
passes (its input expressions evaluated on the parent's context), and stops it when the
parent leaves that state. Events can be sent to a running child (its *actor*, named by
the invoke id; ``a.b`` for a grandchild). What the child sends its parent (``sendParent``)
is delivered to the parent at once, in order; when the child reaches a top-level final
state, the parent receives ``xstate.done.actor.<invoke id>`` with ``{"output": ...}``, the
child's real output, and ``xstate.error.actor.<invoke id>`` when the child stops on an
error. The done/error events can still be sent to the parent directly (a shortcut that
skips the child). Every step keeps the whole tree of runs, so undo is still free.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowcheck.chart.expr import evaluate
from flowcheck.chart.model import (
    Chart,
    DataField,
    SendParent,
    Track,
    done_actor,
    error_actor,
)
from flowcheck.composition import child_of
from flowcheck.errors import PayloadError, UnknownNameError
from flowcheck.explain import Refusal, refusal
from flowcheck.semantics import Executed, Snapshot, Stepper, start
from flowcheck.semantics.stepper import MacrostepTrace

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
}


def invoke_events(chart: Chart) -> dict[str, str]:
    """Invoke outcome events -> the state whose invoke sends them."""
    out: dict[str, str] = {}
    for state, inv in chart.invokes():
        out[f"xstate.done.actor.{inv.id}"] = state.id
        out[error_actor(inv.id)] = state.id
    return out


def default_value(f: DataField) -> Any:
    """The value a payload field is filled in with, everywhere a person is asked for one
    (the web simulator's forms, the REPL's prompts, the docs): the first example that is
    not empty, else the default, else the first example, else the type's empty value.

    Not empty first, because an empty example is usually the one a guard refuses (an
    empty title, RETRY without a fresh key): the value a designer wants to try first is
    the one that moves the flow on."""
    for value in f.examples or f.enum:
        if value not in ("", None, (), []):
            return _thaw(value)
    if f.default is not None:
        return _thaw(f.default)
    if f.examples:
        return _thaw(f.examples[0])
    if f.enum:
        return _thaw(f.enum[0])
    if f.nullable:
        return None
    return {"string": "", "integer": 0, "boolean": False, "string[]": [], "object": {},
            "object[]": []}.get(f.type)


def default_payload(chart: Chart, event: str) -> dict[str, Any]:
    """The payload an event is sent with when nobody changes it: each field's
    :func:`default_value`; for an invoke's done event its first declared output, for its
    error event its first error code."""
    for _, inv in chart.invokes():
        if event == done_actor(inv.id):
            return {"output": dict(inv.outputs[0]) if inv.outputs else {}}
        if event == error_actor(inv.id):
            return {"error": {"code": inv.error_codes[0] if inv.error_codes else "unknown"}}
    spec = next((e for e in chart.events if e.name == event), None)
    if spec is None:
        return {}
    return {f.name: default_value(f) for f in spec.payload}


MAX_CANDIDATES = 64
"""Payload combinations :func:`candidate_payloads` gives at most."""


def candidate_payloads(chart: Chart, event: str) -> list[dict[str, Any]]:
    """Payloads worth trying for ``event``: every combination of its fields' examples (and
    defaults), or its invoke's declared outputs or error codes."""
    for _, inv in chart.invokes():
        if event == done_actor(inv.id):
            return [{"output": dict(o)} for o in inv.outputs]
        if event == error_actor(inv.id):
            return [{"error": {"code": c}} for c in inv.error_codes]
    spec = next((e for e in chart.events if e.name == event), None)
    if spec is None or not spec.payload:
        return [{}]
    domains = [_domain(f) for f in spec.payload]
    names = [f.name for f in spec.payload]
    combos = itertools.islice(itertools.product(*domains), MAX_CANDIDATES)
    return [dict(zip(names, values, strict=True)) for values in combos]


def _domain(f: DataField) -> list[Any]:
    values = [_thaw(v) for v in f.enum or f.examples]
    if f.default is not None and _thaw(f.default) not in values:
        values.append(_thaw(f.default))
    if not values:
        values = [default_value(f)]
    return values


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def validate_payload(chart: Chart, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Check a user event's payload against its declared fields; return it with defaults."""
    spec = next((e for e in chart.events if e.name == event), None)
    if spec is None:
        return payload
    fields = {f.name: f for f in spec.payload}
    unknown = sorted(set(payload) - set(fields) - {"$guards"})
    if unknown:
        allowed = ", ".join(fields) or "none"
        raise PayloadError(
            f"event {event}: unknown payload field(s) {', '.join(unknown)}; "
            f"its fields are {allowed}"
        )
    out = dict(payload)
    for f in spec.payload:
        if f.name not in payload:
            if f.default is None and not f.nullable:
                raise PayloadError(
                    f"event {event}: payload field {f.name!r} ({f.type}) is required, "
                    f"e.g. {f.name}={json.dumps(f.examples[0] if f.examples else '')}"
                )
            out[f.name] = f.default
            continue
        _check_field(event, f, payload[f.name])
    return out


def _check_field(event: str, f: DataField, value: Any) -> None:
    if value is None and f.nullable:
        return
    ok: bool
    if f.type == "string[]":
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    elif f.type == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, _TYPES.get(f.type, (object,)))
    if ok and f.enum and value not in f.enum:
        ok = False
    if not ok:
        want = f"one of {list(f.enum)}" if f.enum else f.type
        raise PayloadError(
            f"event {event}: payload field {f.name!r} must be {want}, got {json.dumps(value)}"
        )


def parse_event_list(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse ``E1,E2:{"k": "v"},E3`` (payloads are JSON objects and may contain commas)."""
    items: list[str] = []
    depth = 0
    current = ""
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            current += ch
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    events: list[tuple[str, dict[str, Any]]] = []
    for raw in items:
        raw = raw.strip()
        if not raw:
            continue
        name, sep, payload_text = raw.partition(":")
        payload: dict[str, Any] = {}
        if sep:
            try:
                loaded = json.loads(payload_text)
            except json.JSONDecodeError as exc:
                raise PayloadError(
                    f"event {name}: payload is not valid JSON ({exc.msg} at column {exc.colno}); "
                    'write it as EVENT:{"field": "value"}'
                ) from exc
            if not isinstance(loaded, dict):
                raise PayloadError(f"event {name}: payload must be a JSON object")
            payload = loaded
        events.append((name.strip(), payload))
    return events


@dataclass(frozen=True)
class Run:
    """One flow of a session after a step: its snapshot and the child flows its invokes
    run, by invoke id (document order)."""

    machine: str
    snapshot: Snapshot
    children: tuple[tuple[str, Run], ...] = ()

    def child(self, invoke: str) -> Run | None:
        return next((run for name, run in self.children if name == invoke), None)

    def actors(self, prefix: str = "") -> list[tuple[str, Run]]:
        """Every running descendant with its actor path (``generateOutline``, ``a.b``),
        depth first."""
        out: list[tuple[str, Run]] = []
        for name, run in self.children:
            path = f"{prefix}.{name}" if prefix else name
            out.append((path, run))
            out.extend(run.actors(path))
        return out


@dataclass(frozen=True)
class Delivery:
    """An event a child flow gave its parent during a step."""

    actor: str
    """The child's actor path."""
    event: str
    payload: dict[str, Any]


@dataclass
class StepRecord:
    """One step of a session. ``snapshot`` and ``executed`` are the top-level flow's;
    ``run`` holds every flow's snapshot, ``log`` every action run, with the actor path
    of the flow that ran it (``""``: the top-level flow)."""

    event: str | None
    payload: dict[str, Any]
    snapshot: Snapshot
    executed: list[Executed]
    actor: str | None = None
    """The running child the event was sent to; None: the top-level flow."""
    run: Run | None = None
    log: list[tuple[str, Executed]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def executed_by(self, actor: str | None) -> list[Executed]:
        """The actions the flow at ``actor`` ran in this step (None: the top-level flow)."""
        if actor is None:
            return self.executed
        return [x for a, x in self.log if a == actor]


_Outbox = list[tuple[str, dict[str, Any]]]
"""What a flow gives its parent in a step: ("send", {event}), ("done", output),
("error", error)."""


@dataclass
class Session:
    """Step a chart event by event, keeping every snapshot so that undo is free.

    ``flows`` are the project's charts by name: a flow invoke whose ``src`` names one of
    them runs that chart as a child; without ``flows`` invokes are left to the done and
    error events sent to the flow."""

    chart: Chart
    stepper: Stepper = field(init=False)
    records: list[StepRecord] = field(default_factory=list)
    input: dict[str, Any] | None = None
    """What the flow is started with (context fields); None: its default context."""
    flows: Mapping[str, Chart] | None = None

    def __post_init__(self) -> None:
        self.stepper = Stepper(self.chart)
        self._steppers: dict[str, Stepper] = {self.chart.name: self.stepper}
        self._charts: dict[str, Chart] = {self.chart.name: self.chart}
        self.reset()

    def reset(self) -> StepRecord:
        log: list[tuple[str, Executed]] = []
        deliveries: list[Delivery] = []
        snap, executed = start(self.stepper, self.input)
        log.extend(("", x) for x in executed)
        run = Run(self.chart.name, snap)
        outbox: _Outbox = []
        run = self._sync(run, set(self.stepper.active_ids(snap)), "", log, deliveries, outbox)
        self.records = [self._record(None, {}, None, run, log, deliveries)]
        return self.records[0]

    @property
    def snapshot(self) -> Snapshot:
        return self.records[-1].snapshot

    @property
    def run(self) -> Run:
        run = self.records[-1].run
        assert run is not None
        return run

    # -- actors -----------------------------------------------------------------------------

    def actors(self, record: StepRecord | None = None) -> list[tuple[str, Run]]:
        """The running child flows after a step (default: the last), depth first."""
        run = (record or self.records[-1]).run
        return run.actors() if run is not None else []

    def actor_run(self, actor: str | None, record: StepRecord | None = None) -> Run:
        """The run of the flow at ``actor`` (None: the top-level flow)."""
        run = (record or self.records[-1]).run
        assert run is not None
        if not actor:
            return run
        for path, child in run.actors():
            if path == actor:
                return child
        running = ", ".join(p for p, _ in run.actors()) or "none"
        raise UnknownNameError(
            f"no child flow {actor!r} is running in {self.chart.name} now "
            f"(running: {running}); a child runs while its parent's invoking state is active"
        )

    def chart_of(self, actor: str | None) -> Chart:
        return self._charts[self.actor_run(actor).machine]

    def stepper_of(self, actor: str | None) -> Stepper:
        return self._stepper(self.actor_run(actor).machine)

    def snapshot_of(self, actor: str | None) -> Snapshot:
        return self.actor_run(actor).snapshot

    def _stepper(self, machine: str) -> Stepper:
        if machine not in self._steppers:
            self._steppers[machine] = Stepper(self._charts[machine])
        return self._steppers[machine]

    def child_chart(self, chart: Chart, invoke: str) -> Chart | None:
        """The chart a flow invoke of ``chart`` runs, when the session knows it."""
        inv = next((i for _, i in chart.invokes() if i.id == invoke), None)
        if inv is None or inv.kind != "flow" or not self.flows:
            return None
        name = child_of(dict(self.flows), inv.src)
        if name is None:
            return None
        self._charts.setdefault(name, self.flows[name])
        return self.flows[name]

    # -- events -----------------------------------------------------------------------------

    def known_events(self, actor: str | None = None) -> list[str]:
        chart = self.chart_of(actor)
        names = [e.name for e in chart.events]
        names += list(invoke_events(chart))
        for t in chart.transitions():
            if t.event and t.event not in names and not t.event.startswith("xstate.done.state."):
                names.append(t.event)
        return names

    def enabled(self, actor: str | None = None) -> list[str]:
        """Events with a transition from an active state, done-state events left out."""
        stepper = self.stepper_of(actor)
        return [
            e for e in stepper.enabled_events(self.snapshot_of(actor))
            if not e.startswith("xstate.done.state.")
        ]

    def send(
        self, event: str, payload: dict[str, Any] | None = None, actor: str | None = None
    ) -> StepRecord:
        """Send ``event`` to the top-level flow, or to the running child at ``actor``."""
        chart = self.chart_of(actor)
        if event not in self.known_events(actor):
            where = f"the child flow {actor} ({chart.name})" if actor else chart.name
            raise UnknownNameError(
                f"unknown event {event!r} for {where}; enabled now: "
                f"{', '.join(self.enabled(actor)) or 'none'}"
            )
        data = validate_payload(chart, event, payload or {})
        log: list[tuple[str, Executed]] = []
        deliveries: list[Delivery] = []
        path = actor.split(".") if actor else []
        run, _ = self._dispatch(self.run, path, event, data, "", log, deliveries)
        record = self._record(event, data, actor or None, run, log, deliveries)
        self.records.append(record)
        return record

    def refusal(
        self, event: str, payload: dict[str, Any] | None = None, actor: str | None = None
    ) -> Refusal | None:
        """Why ``event`` would change nothing now (its guards, in words), or None when it
        would do something. The session is left as it was."""
        before = self.records[-1]
        record = self.send(event, payload, actor)
        self.undo()
        if not unchanged(before, record):
            return None
        return refusal(self.stepper_of(actor), self.snapshot_of(actor), event, record.payload)

    def undo(self) -> bool:
        if len(self.records) <= 1:
            return False
        self.records.pop()
        return True

    def _record(
        self, event: str | None, payload: dict[str, Any], actor: str | None, run: Run,
        log: list[tuple[str, Executed]], deliveries: list[Delivery],
    ) -> StepRecord:
        own = [x for a, x in log if a == ""]
        return StepRecord(event, payload, run.snapshot, own, actor, run, log, deliveries)

    # -- stepping the tree of runs ---------------------------------------------------------

    def _dispatch(
        self, run: Run, path: list[str], event: str, data: dict[str, Any], prefix: str,
        log: list[tuple[str, Executed]], deliveries: list[Delivery],
    ) -> tuple[Run, _Outbox]:
        """Send to the run at ``path`` below ``run``; deliver what the child gives its
        parent on the way up. Returns ``run`` after the step and what it gives its parent."""
        if not path:
            return self._step(run, event, data, prefix, log, deliveries)
        head, rest = path[0], path[1:]
        child = run.child(head)
        assert child is not None
        child_path = f"{prefix}.{head}" if prefix else head
        child, child_out = self._dispatch(child, rest, event, data, child_path, log, deliveries)
        run = _with_child(run, head, child)
        outbox: _Outbox = []
        run = self._deliver(run, head, child_out, prefix, log, deliveries, outbox)
        return run, outbox

    def _step(
        self, run: Run, event: str, data: dict[str, Any], prefix: str,
        log: list[tuple[str, Executed]], deliveries: list[Delivery],
    ) -> tuple[Run, _Outbox]:
        stepper = self._stepper(run.machine)
        was_stopped = stepper.is_stopped(run.snapshot)
        trace = MacrostepTrace()
        snap, executed = stepper.step(run.snapshot, event, data, trace=trace)
        log.extend((prefix, x) for x in executed)
        outbox: _Outbox = [("send", {"event": x.action.event}) for x in executed
                           if isinstance(x.action, SendParent)]
        if not was_stopped:
            outbox += _ending(stepper, snap, event, data)
        run = Run(run.machine, snap, run.children)
        run = self._sync(run, trace.entered, prefix, log, deliveries, outbox)
        return run, outbox

    def _sync(
        self, run: Run, entered: set[str], prefix: str, log: list[tuple[str, Executed]],
        deliveries: list[Delivery], outbox: _Outbox,
    ) -> Run:
        """Start the child flows of the invoking states just entered, stop those of states
        left, and deliver what new children give at once."""
        chart = self._charts[run.machine]
        stepper = self._stepper(run.machine)
        snap = run.snapshot
        active = set() if stepper.is_stopped(snap) else set(stepper.active_ids(snap))
        if chart.root is not None and not stepper.is_stopped(snap):
            active.add(chart.root.id)
        children: list[tuple[str, Run]] = []
        started: list[tuple[str, _Outbox]] = []
        for state, inv in chart.invokes():
            if state.id not in active or self.child_chart(chart, inv.id) is None:
                continue
            old = run.child(inv.id)
            if old is not None and state.id not in entered:
                children.append((inv.id, old))
                continue
            child, child_out = self._start_child(chart, run, inv.id, prefix, log, deliveries)
            children.append((inv.id, child))
            started.append((inv.id, child_out))
        run = Run(run.machine, snap, tuple(children))
        for invoke, child_out in started:
            run = self._deliver(run, invoke, child_out, prefix, log, deliveries, outbox)
        return run

    def _start_child(
        self, chart: Chart, parent: Run, invoke: str, prefix: str,
        log: list[tuple[str, Executed]], deliveries: list[Delivery],
    ) -> tuple[Run, _Outbox]:
        child_chart = self.child_chart(chart, invoke)
        assert child_chart is not None
        inv = next(i for _, i in chart.invokes() if i.id == invoke)
        context = self._stepper(parent.machine).context_dict(parent.snapshot.context)
        given = {k: _thaw(evaluate(e, context, {})) for k, e in inv.input}
        stepper = self._stepper(child_chart.name)
        snap, executed = start(stepper, given)
        path = f"{prefix}.{invoke}" if prefix else invoke
        log.extend((path, x) for x in executed)
        outbox: _Outbox = [("send", {"event": x.action.event}) for x in executed
                           if isinstance(x.action, SendParent)]
        outbox += _ending(stepper, snap, "xstate.init", {})
        run = Run(child_chart.name, snap)
        run = self._sync(run, set(stepper.active_ids(snap)), path, log, deliveries, outbox)
        return run, outbox

    def _deliver(
        self, run: Run, invoke: str, messages: _Outbox, prefix: str,
        log: list[tuple[str, Executed]], deliveries: list[Delivery], outbox: _Outbox,
    ) -> Run:
        """Step ``run`` with each event its child ``invoke`` gave it, in order."""
        path = f"{prefix}.{invoke}" if prefix else invoke
        for kind, data in messages:
            if kind == "send":
                event, payload = str(data["event"]), {}
            elif kind == "done":
                event, payload = done_actor(invoke), {"output": data}
            else:
                event, payload = error_actor(invoke), {"error": data}
            deliveries.append(Delivery(path, event, payload))
            run, out = self._step(run, event, payload, prefix, log, deliveries)
            outbox.extend(out)
        return run

    # -- views ------------------------------------------------------------------------------

    def describe(
        self, record: StepRecord | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """A JSON-ready view of one step of the flow at ``actor`` (None: the top-level
        flow): configuration, value, context, telemetry, done, and for the top-level flow
        the running child flows (``actors``, by actor path)."""
        record = record or self.records[-1]
        run = self.actor_run(actor, record)
        stepper = self._stepper(run.machine)
        snap = run.snapshot
        view: dict[str, Any] = {
            "event": record.event,
            "payload": record.payload,
            "configuration": stepper.active_ids(snap),
            "value": stepper.value(snap),
            "context": stepper.context_dict(snap.context),
            "telemetry": telemetry(record.executed_by(actor)),
            "done": stepper.is_done(snap),
            "errored": stepper.is_errored(snap),
            "enabled": [] if stepper.is_stopped(snap) else [
                e for e in stepper.enabled_events(snap)
                if not e.startswith("xstate.done.state.")],
        }
        if actor is None:
            view["actors"] = {
                path: {k: v for k, v in self.describe(record, path).items()
                       if k not in ("event", "payload")} | {"machine": child.machine}
                for path, child in run.actors()
            }
        return view


def unchanged(before: StepRecord, after: StepRecord) -> bool:
    """Whether a step changed nothing: same runs (every flow's snapshot), no action run."""
    return before.run == after.run and not after.log


def _with_child(run: Run, invoke: str, child: Run) -> Run:
    return Run(run.machine, run.snapshot,
               tuple((n, child if n == invoke else r) for n, r in run.children))


def _ending(stepper: Stepper, snap: Snapshot, event: str, data: dict[str, Any]) -> _Outbox:
    """What a flow that just stopped gives its parent: its output, or its error."""
    if stepper.is_done(snap):
        return [("done", stepper.output(snap) or {})]
    if stepper.is_errored(snap):
        error = data.get("error") if event.startswith("xstate.error.actor.") else None
        return [("error", error if isinstance(error, dict) else {"code": "unknown"})]
    return []


def telemetry(executed: list[Executed]) -> list[dict[str, Any]]:
    return [
        {"event": x.action.event, "properties": x.properties or {}}
        for x in executed
        if isinstance(x.action, Track)
    ]
