"""The web simulator's behaviour, without HTTP: machines, sessions and counterexample replay.

One :class:`flowcheck.simulation.Session` per browser session, kept in memory. Every
public method takes and returns JSON-ready data, so the HTTP layer only routes and
encodes, and the tests can drive the simulator with or without a server.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import OrderedDict
from typing import Any

from flowcheck.chart.model import Chart, DataField, Invoke
from flowcheck.errors import FlowcheckError, PayloadError, UnknownNameError
from flowcheck.project import Machine
from flowcheck.simulation import Session, StepRecord

MAX_SESSIONS = 256
"""Sessions kept at once; the least recently used goes first (a tab left open long ago)."""

MAX_CANDIDATES = 64
"""Payload combinations tried per step when a counterexample carries no payloads."""

_DONE = "xstate.done.actor."
_ERROR = "xstate.error.actor."
_AFTER = "xstate.after."


class ReportError(FlowcheckError):
    """A verify report that cannot be read, or a counterexample that does not replay."""


class Simulator:
    """The machines being served and the open sessions. Thread-safe."""

    def __init__(self, machines: list[Machine]) -> None:
        self.charts: dict[str, Chart] = {m.name: m.chart for m in machines}
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- machines ------------------------------------------------------------------------------

    def chart(self, name: str) -> Chart:
        try:
            return self.charts[name]
        except KeyError:
            known = ", ".join(sorted(self.charts)) or "none"
            raise UnknownNameError(f"unknown machine {name!r}: the machines are {known}") from None

    def machines(self) -> list[dict[str, Any]]:
        return [describe_chart(name, chart) for name, chart in self.charts.items()]

    # -- sessions ------------------------------------------------------------------------------

    def open(self, machine: str) -> dict[str, Any]:
        """Start a session on ``machine`` in its initial configuration."""
        chart = self.chart(machine)
        session = Session(chart)
        sid = secrets.token_urlsafe(12)
        with self._lock:
            self._sessions[sid] = session
            self._names[sid] = machine
            while len(self._sessions) > MAX_SESSIONS:
                old, _ = self._sessions.popitem(last=False)
                self._names.pop(old, None)
            return self._view(sid, session)

    def view(self, sid: str) -> dict[str, Any]:
        with self._lock:
            return self._view(sid, self._session(sid))

    def send(self, sid: str, event: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        """Fire one event. An event that changes nothing is not kept; the view says why."""
        if not isinstance(event, str) or not event:
            raise PayloadError('send needs {"event": "NAME", "payload": {...}}')
        if payload is not None and not isinstance(payload, dict):
            raise PayloadError(f"event {event}: payload must be a JSON object")
        with self._lock:
            session = self._session(sid)
            if session.stepper.is_done(session.snapshot):
                raise PayloadError(
                    f"{session.chart.name} is in a final state; undo or reset to go on"
                )
            before = session.records[-1]
            record = session.send(event, payload)
            notice = None
            if _unchanged(before, record):
                session.undo()
                notice = _ignored_notice(session, event)
            return self._view(sid, session, notice=notice)

    def undo(self, sid: str) -> dict[str, Any]:
        with self._lock:
            session = self._session(sid)
            notice = None if session.undo() else "nothing to undo: this is the initial step"
            return self._view(sid, session, notice=notice)

    def reset(self, sid: str) -> dict[str, Any]:
        with self._lock:
            session = self._session(sid)
            session.reset()
            return self._view(sid, session)

    def _session(self, sid: str) -> Session:
        try:
            session = self._sessions[sid]
        except KeyError:
            raise UnknownNameError(
                f"unknown session {sid!r}: it expired or the server restarted; pick the flow again"
            ) from None
        self._sessions.move_to_end(sid)
        return session

    def _view(self, sid: str, session: Session, notice: str | None = None) -> dict[str, Any]:
        step = session.describe()
        telemetry = [
            {"step": i, **t}
            for i, record in enumerate(session.records)
            for t in session.describe(record)["telemetry"]
        ]
        return {
            "session": sid,
            "machine": self._names[sid],
            "step": step,
            "actions": [] if step["done"] else actions(session.chart, step["enabled"]),
            "history": [
                {"event": r.event, "payload": r.payload} for r in session.records[1:]
            ],
            "telemetry": telemetry,
            "can_undo": len(session.records) > 1,
            "notice": notice,
        }

    # -- counterexamples -----------------------------------------------------------------------

    def counterexamples(self, report: Any) -> list[dict[str, Any]]:
        """Every counterexample of a ``verify --format json`` report, resolved into steps.

        Each entry names the machine and property; ``steps`` are the events with concrete
        payloads that reproduce it here, or ``error`` says why it cannot be replayed.
        """
        found: list[dict[str, Any]] = []
        for m in _report_machines(report):
            name = m.get("name")
            for prop in m.get("properties") or []:
                if not isinstance(prop, dict) or not isinstance(prop.get("counterexample"), dict):
                    continue
                cx = prop["counterexample"]
                entry: dict[str, Any] = {
                    "machine": name,
                    "property": prop.get("id", "?"),
                    "message": prop.get("message", ""),
                    "events": cx.get("events", []),
                    "states": cx.get("states", []),
                }
                try:
                    entry["steps"] = self.plan(str(name), cx)
                except FlowcheckError as exc:
                    entry["error"] = str(exc)
                found.append(entry)
        return found

    def plan(self, machine: str, counterexample: dict[str, Any]) -> list[dict[str, Any]]:
        """Concrete (event, payload) steps that replay ``counterexample`` on ``machine``.

        Payloads given in the counterexample are used as they are. Where one is missing
        (invoke outcomes, payload events), the examples of the event are tried until the
        configuration after the step contains the states the counterexample recorded.
        """
        chart = self.chart(machine)
        events = counterexample.get("events")
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ReportError(f"{machine}: a counterexample needs \"events\": [names]")
        payloads = counterexample.get("payloads") or []
        states = counterexample.get("states") or []
        offset = 1 if len(states) == len(events) + 1 else 0
        if len(states) not in (len(events), len(events) + 1):
            states = []
        session = Session(chart)
        steps: list[dict[str, Any]] = []
        for i, event in enumerate(events):
            given = payloads[i] if i < len(payloads) else None
            expected = _state_ids(chart, states[i + offset]) if states else set()
            chosen = _replay_step(session, event, given, expected)
            if chosen is None:
                where = f" to reach {', '.join(sorted(expected))}" if expected else ""
                raise ReportError(
                    f"{machine}: step {i + 1} ({event}) of the counterexample does not replay"
                    f"{where}; regenerate the report with the current flow"
                )
            steps.append({"event": event, "payload": chosen})
        return steps


def describe_chart(name: str, chart: Chart) -> dict[str, Any]:
    """What the page needs to know about a machine."""
    return {
        "name": name,
        "id": chart.id,
        "description": chart.description,
        "initial": chart.initial,
        "states": [
            {"id": s.id, "kind": s.kind, "parent": s.parent, "tags": list(s.tags),
             "description": s.description}
            for s in chart.states
        ],
        "events": [
            {"name": e.name, "description": e.description,
             "fields": [field_json(f) for f in e.payload]}
            for e in chart.events
        ],
        "invokes": [
            {"id": inv.id, "state": s.id, "kind": inv.kind, "src": inv.src,
             "outputs": list(inv.outputs), "error_codes": list(inv.error_codes)}
            for s, inv in chart.invokes()
        ],
    }


def field_json(f: DataField) -> dict[str, Any]:
    return {"name": f.name, "type": f.type, "nullable": f.nullable, "default": f.default,
            "examples": list(f.examples), "enum": list(f.enum)}


def actions(chart: Chart, enabled: list[str]) -> list[dict[str, Any]]:
    """The buttons for the enabled events: user events with their payload fields, one
    button per example output of an invoke's done event, one per error code of its
    error event, one per delay."""
    specs = {e.name: e for e in chart.events}
    invokes = {inv.id: (s.id, inv) for s, inv in chart.invokes()}
    out: list[dict[str, Any]] = []
    for event in enabled:
        if event in specs:
            spec = specs[event]
            out.append({"event": event, "kind": "user", "label": event,
                        "description": spec.description,
                        "fields": [field_json(f) for f in spec.payload]})
        elif event.startswith(_DONE) and event[len(_DONE):] in invokes:
            _, inv = invokes[event[len(_DONE):]]
            for output in inv.outputs:
                out.append({"event": event, "kind": "done", "invoke": inv.id,
                            "label": f"{inv.id} done", "payload": {"output": output}})
        elif event.startswith(_ERROR) and event[len(_ERROR):] in invokes:
            _, inv = invokes[event[len(_ERROR):]]
            for code in inv.error_codes:
                out.append({"event": event, "kind": "error", "invoke": inv.id,
                            "label": f"{inv.id} error", "payload": {"error": {"code": code}}})
        elif event.startswith(_AFTER):
            delay = event[len(_AFTER):].split(".", 1)[0]
            out.append({"event": event, "kind": "delay", "label": f"after {delay}",
                        "payload": {}})
        else:
            out.append({"event": event, "kind": "event", "label": event, "payload": {}})
    return out


def _invoke_of(chart: Chart, event: str) -> Invoke | None:
    for prefix in (_DONE, _ERROR):
        if event.startswith(prefix):
            wanted = event[len(prefix):]
            return next((inv for _, inv in chart.invokes() if inv.id == wanted), None)
    return None


def _unchanged(before: StepRecord, after: StepRecord) -> bool:
    return before.snapshot == after.snapshot and not after.executed


def _ignored_notice(session: Session, event: str) -> str:
    active = set(session.stepper.active_ids(session.snapshot))
    guards = sorted({
        t.guard.name for t in session.chart.transitions()
        if t.event == event and t.source in active and t.guard is not None
    })
    if guards:
        return f"{event} changed nothing: guard {', '.join(guards)} is false in this context"
    return f"{event} changed nothing in this configuration"


def _report_machines(report: Any) -> list[dict[str, Any]]:
    machines = report.get("machines") if isinstance(report, dict) else None
    if not isinstance(machines, list):
        raise ReportError(
            'not a verify report: expected {"machines": [...]} as printed by '
            "flowcheck verify --format json"
        )
    return [m for m in machines if isinstance(m, dict)]


def _state_ids(chart: Chart, recorded: Any) -> set[str]:
    """State ids of a recorded configuration; dotted paths (failure.network_error) accepted."""
    ids = {s.id for s in chart.states}
    out: set[str] = set()
    for item in recorded if isinstance(recorded, list) else []:
        name = str(item)
        if name not in ids and "." in name:
            out.update(part for part in name.split(".") if part in ids)
        else:
            out.add(name)
    return out


def _replay_step(
    session: Session, event: str, given: Any, expected: set[str]
) -> dict[str, Any] | None:
    """Send ``event`` with the first candidate payload that reaches ``expected``; keep it."""
    candidates = [given] if isinstance(given, dict) else candidate_payloads(session.chart, event)
    for payload in candidates:
        try:
            session.send(event, payload)
        except FlowcheckError:
            continue
        if expected <= set(session.stepper.active_ids(session.snapshot)):
            return session.records[-1].payload
        session.undo()
    return None


def candidate_payloads(chart: Chart, event: str) -> list[dict[str, Any]]:
    """Payloads worth trying for ``event``: its declared examples, its invoke's outcomes."""
    inv = _invoke_of(chart, event)
    if inv is not None:
        if event.startswith(_DONE):
            return [{"output": o} for o in inv.outputs]
        return [{"error": {"code": c}} for c in inv.error_codes]
    spec = next((e for e in chart.events if e.name == event), None)
    if spec is None or not spec.payload:
        return [{}]
    domains = [_domain(f) for f in spec.payload]
    names = [f.name for f in spec.payload]
    combos = itertools.islice(itertools.product(*domains), MAX_CANDIDATES)
    return [dict(zip(names, values, strict=True)) for values in combos]


def _domain(f: DataField) -> list[Any]:
    values = list(f.enum or f.examples)
    if f.default is not None and f.default not in values:
        values.append(f.default)
    if not values:
        values = [{"string": "", "integer": 0, "boolean": False, "string[]": [],
                   "object": {}}.get(f.type)]
    return values
