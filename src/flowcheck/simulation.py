"""A simulation session on the Stepper: validated events, history for undo, telemetry.

Shared by ``flowcheck simulate`` (scripted and interactive), scenario files and
the web simulator. Nothing here prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from flowcheck.chart.model import Chart, DataField, Track, error_actor
from flowcheck.errors import PayloadError, UnknownNameError
from flowcheck.semantics import Executed, Snapshot, Stepper, start

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


@dataclass
class StepRecord:
    event: str | None
    payload: dict[str, Any]
    snapshot: Snapshot
    executed: list[Executed]


@dataclass
class Session:
    """Step a chart event by event, keeping every snapshot so that undo is free."""

    chart: Chart
    stepper: Stepper = field(init=False)
    records: list[StepRecord] = field(default_factory=list)
    input: dict[str, Any] | None = None
    """What the flow is started with (context fields); None: its default context."""

    def __post_init__(self) -> None:
        self.stepper = Stepper(self.chart)
        self.reset()

    def reset(self) -> StepRecord:
        snap, executed = start(self.stepper, self.input)
        self.records = [StepRecord(None, {}, snap, executed)]
        return self.records[0]

    @property
    def snapshot(self) -> Snapshot:
        return self.records[-1].snapshot

    def known_events(self) -> list[str]:
        names = [e.name for e in self.chart.events]
        names += list(invoke_events(self.chart))
        for t in self.chart.transitions():
            if t.event and t.event not in names and not t.event.startswith("xstate.done.state."):
                names.append(t.event)
        return names

    def enabled(self) -> list[str]:
        """Events with a transition from an active state, done-state events left out."""
        return [
            e for e in self.stepper.enabled_events(self.snapshot)
            if not e.startswith("xstate.done.state.")
        ]

    def send(self, event: str, payload: dict[str, Any] | None = None) -> StepRecord:
        if event not in self.known_events():
            raise UnknownNameError(
                f"unknown event {event!r} for {self.chart.name}; enabled now: "
                f"{', '.join(self.enabled()) or 'none'}"
            )
        data = validate_payload(self.chart, event, payload or {})
        snap, executed = self.stepper.step(self.snapshot, event, data)
        record = StepRecord(event, data, snap, executed)
        self.records.append(record)
        return record

    def undo(self) -> bool:
        if len(self.records) <= 1:
            return False
        self.records.pop()
        return True

    def describe(self, record: StepRecord | None = None) -> dict[str, Any]:
        """A JSON-ready view of one step: configuration, value, context, telemetry, done."""
        record = record or self.records[-1]
        snap = record.snapshot
        return {
            "event": record.event,
            "payload": record.payload,
            "configuration": self.stepper.active_ids(snap),
            "value": self.stepper.value(snap),
            "context": self.stepper.context_dict(snap.context),
            "telemetry": telemetry(record.executed),
            "done": self.stepper.is_done(snap),
            "errored": self.stepper.is_errored(snap),
            "enabled": [] if self.stepper.is_stopped(snap) else self.enabled(),
        }


def telemetry(executed: list[Executed]) -> list[dict[str, Any]]:
    return [
        {"event": x.action.event, "properties": x.properties or {}}
        for x in executed
        if isinstance(x.action, Track)
    ]
