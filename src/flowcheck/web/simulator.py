"""The web simulator's behaviour, without HTTP: machines, sessions, scenarios and
counterexample replay.

One :class:`flowcheck.simulation.Session` per browser session, kept in memory, with the
project's flows so that child flows play inline. Every public method takes and returns
JSON-ready data, so the HTTP layer only routes and encodes, and the tests can drive the
simulator with or without a server.

Memory is bounded whoever calls: at most :data:`MAX_SESSIONS` sessions, each of at most
:data:`MAX_STEPS` steps, and :data:`MAX_TOTAL_STEPS` steps over all of them; a session idle
for :data:`IDLE_SECONDS` is closed. The least recently used session goes first, and a
closed session is remembered (:data:`MAX_CLOSED` of them) so that a designer who comes
back to it is told why it is gone rather than that it never existed.
"""

from __future__ import annotations

import inspect
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowcheck.chart.model import Chart, DataField, Track, Transition
from flowcheck.errors import FlowcheckError, PayloadError, UnknownNameError
from flowcheck.explain import guard_words
from flowcheck.formats.diagram import label_lines
from flowcheck.project import Machine
from flowcheck.scenarios import (
    ScenarioError,
    compare,
    dump,
    from_session,
    header,
    input_of,
    load,
    machine_of,
    scenarios,
)
from flowcheck.simulation import (
    Session,
    candidate_payloads,
    default_payload,
    default_value,
    unchanged,
)
from flowcheck.web.traces import TraceRuns
from flowcheck.whatif import Outcome, what_if

MAX_SESSIONS = 256
"""Sessions kept at once; the least recently used goes first (a tab left open long ago)."""

MAX_STEPS = 1000
"""Steps one session keeps (and a shared link may replay): a designer's walk is tens."""

MAX_TOTAL_STEPS = 20_000
"""Steps kept over all sessions (a step keeps its snapshot for undo: about 1-4 KB)."""

IDLE_SECONDS = 12 * 3600.0
"""A session unused this long is closed: its tab was left open overnight."""

MAX_CLOSED = 4096
"""Closed sessions remembered (id and why, about 200 bytes each) to explain a 410."""

_DONE = "xstate.done.actor."
_ERROR = "xstate.error.actor."
_AFTER = "xstate.after."
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}")


class ReportError(FlowcheckError):
    """A verify report that cannot be read, or a counterexample that does not replay."""


class SessionClosedError(UnknownNameError):
    """A session the simulator closed (idle, or crowded out by newer ones); ``reason`` says
    which, in words that finish "closed ..."."""

    def __init__(self, sid: str, machine: str, reason: str) -> None:
        super().__init__(
            f"session {sid!r} ({machine}) was closed {reason}: open the flow again, or reload "
            "the page, which replays the session from the steps in its address"
        )
        self.sid, self.machine, self.reason = sid, machine, reason


@dataclass(frozen=True)
class SessionLimits:
    """How much the simulator keeps; the defaults are the module's constants."""

    sessions: int = MAX_SESSIONS
    steps: int = MAX_STEPS
    total_steps: int = MAX_TOTAL_STEPS
    idle_seconds: float = IDLE_SECONDS
    closed: int = MAX_CLOSED


@dataclass
class _Entry:
    session: Session
    machine: str
    used: float


class Simulator:
    """The machines being served and the open sessions. Thread-safe.

    ``scenarios`` is the project's scenario directory: the page lists its files and saves
    sessions into it (None: neither)."""

    def __init__(
        self, machines: list[Machine], scenarios: Path | None = None,
        limits: SessionLimits | None = None, clock: Callable[[], float] = time.monotonic,
        traces: TraceRuns | None = None,
    ) -> None:
        self.charts: dict[str, Chart] = {m.name: m.chart for m in machines}
        self.traces = traces
        self.descriptions = {m.name: flow_description(m) for m in machines}
        self.scenarios = scenarios
        self.limits = limits or SessionLimits()
        self._clock = clock
        self._sessions: OrderedDict[str, _Entry] = OrderedDict()
        self._closed: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    # -- machines ------------------------------------------------------------------------------

    def chart(self, name: str) -> Chart:
        try:
            return self.charts[name]
        except KeyError:
            known = ", ".join(sorted(self.charts)) or "none"
            raise UnknownNameError(f"unknown machine {name!r}: the machines are {known}") from None

    def machines(self) -> list[dict[str, Any]]:
        return [describe_chart(name, chart, self.descriptions.get(name, ""))
                for name, chart in self.charts.items()]

    # -- sessions ------------------------------------------------------------------------------

    def open(self, machine: str, steps: Any = None, *, input: dict[str, Any] | None = None,
             children: bool = True) -> dict[str, Any]:
        """Start a session on ``machine`` in its initial configuration; with ``steps``
        (``[{event, payload, actor}]``, a shared link's), replay them. A step that does not
        replay stops the replay there, and the view's notice says which. ``input`` starts
        the flow with those context fields; without ``children``, a flow's invokes are left
        to the done and error events sent to it (as a trace's explanation has them)."""
        chart = self.chart(machine)
        session = Session(chart, flows=self.charts if children else None, input=input)
        notice = None
        if steps is not None:
            notice = _replay_steps(session, steps, self.limits.steps)
        sid = secrets.token_urlsafe(12)
        with self._lock:
            self._sessions[sid] = _Entry(session, machine, self._clock())
            self._evict(keep=sid)
            return self._view(sid, session, notice=notice)

    def view(self, sid: str) -> dict[str, Any]:
        with self._lock:
            return self._view(sid, self._session(sid))

    def close(self, sid: str, reason: str = "on request") -> None:
        """Forget a session; coming back to it is a :class:`SessionClosedError` saying
        ``reason``."""
        with self._lock:
            self._close(sid, reason)

    def stats(self) -> dict[str, int]:
        """What is held now: sessions, their steps, closed sessions remembered."""
        with self._lock:
            return {"sessions": len(self._sessions),
                    "steps": sum(len(e.session.records) for e in self._sessions.values()),
                    "closed": len(self._closed)}

    def send(
        self, sid: str, event: str, payload: dict[str, Any] | None, actor: Any = None,
        expect: Any = None,
    ) -> dict[str, Any]:
        """Fire one event, at the top-level flow or at the running child ``actor``. An
        event that changes nothing is not kept; the view says why. With ``expect`` (a
        scenario step's expectations), the view's ``check`` lists those that do not hold."""
        if not isinstance(event, str) or not event:
            raise PayloadError('send needs {"event": "NAME", "payload": {...}}')
        if payload is not None and not isinstance(payload, dict):
            raise PayloadError(f"event {event}: payload must be a JSON object")
        if actor is not None and not isinstance(actor, str):
            raise PayloadError(f"event {event}: actor must be the id of a running child flow")
        if expect is not None and not isinstance(expect, dict):
            raise PayloadError(f"event {event}: expect must be a JSON object")
        with self._lock:
            session = self._session(sid)
            if session.stepper.is_done(session.snapshot):
                raise PayloadError(
                    f"{session.chart.name} is in a final state; undo or reset to go on"
                )
            if len(session.records) - 1 >= self.limits.steps:
                raise PayloadError(
                    f"this session has {self.limits.steps} steps, the most one session keeps: "
                    "save it as a scenario, then undo or reset to go on"
                )
            before = session.records[-1]
            record = session.send(event, payload, actor or None)
            notice = None
            if unchanged(before, record):
                session.undo()
                why = session.refusal(event, record.payload, actor or None)
                where = f"{actor}: " if actor else ""
                notice = where + (why.message() if why else f"{event} changed nothing")
            else:
                self._evict(keep=sid)
            check = None
            if expect is not None:
                check = compare(expect, session.describe())
            return self._view(sid, session, notice=notice, check=check)

    def check(self, sid: str, event: str, payload: Any, actor: Any = None) -> dict[str, Any]:
        """Whether ``event`` with ``payload`` would change anything now, and if not why;
        the session is left as it was."""
        if not isinstance(payload, dict):
            raise PayloadError(f"event {event}: payload must be a JSON object")
        with self._lock:
            session = self._session(sid)
            why = session.refusal(str(event), payload, actor or None)
            return {"enabled": why is None, "reason": why.message() if why else None}

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
        """The session ``sid``, now the most recently used. Call with the lock held."""
        now = self._clock()
        entry = self._sessions.get(sid)
        if entry is not None and now - entry.used > self.limits.idle_seconds:
            self._close(sid, f"after {_duration(self.limits.idle_seconds)} without use")
            entry = None
        if entry is None:
            if sid in self._closed:
                machine, reason = self._closed[sid]
                raise SessionClosedError(sid, machine, reason)
            raise UnknownNameError(
                f"unknown session {sid!r}: the server restarted or the link is wrong; "
                "pick the flow again"
            )
        entry.used = now
        self._sessions.move_to_end(sid)
        return entry.session

    def _evict(self, keep: str) -> None:
        """Close idle sessions, then the least recently used until the limits hold again;
        never ``keep``, the one being used. Call with the lock held."""
        limits = self.limits
        now = self._clock()
        for sid, entry in list(self._sessions.items()):
            if now - entry.used <= limits.idle_seconds:
                break  # in order of use: the rest are more recent
            if sid != keep:
                self._close(sid, f"after {_duration(limits.idle_seconds)} without use")
        while len(self._sessions) > limits.sessions:
            self._close(self._oldest(keep), "to make room for newer sessions (the simulator "
                        f"keeps the {limits.sessions} most recently used)")
        total = sum(len(e.session.records) for e in self._sessions.values())
        while total > limits.total_steps and len(self._sessions) > 1:
            oldest = self._oldest(keep)
            total -= len(self._sessions[oldest].session.records)
            self._close(oldest, "to make room for newer sessions (the simulator keeps "
                        f"{limits.total_steps} steps over all sessions)")

    def _oldest(self, keep: str) -> str:
        return next(sid for sid in self._sessions if sid != keep)

    def _close(self, sid: str, reason: str) -> None:
        entry = self._sessions.pop(sid, None)
        if entry is None:
            return
        self._closed[sid] = (entry.machine, reason)
        while len(self._closed) > self.limits.closed:
            self._closed.popitem(last=False)

    def _view(self, sid: str, session: Session, notice: str | None = None,
              check: list[str] | None = None) -> dict[str, Any]:
        step = session.describe()
        record = session.records[-1]
        telemetry = []
        for i, rec in enumerate(session.records):
            for actor, x in rec.log:
                if isinstance(x.action, Track):
                    entry = {"step": i, "event": x.action.event, "properties": x.properties or {}}
                    if actor:
                        entry["actor"] = actor
                    telemetry.append(entry)
        running = []
        if not step["done"]:
            for path, run in session.actors():
                parent_chart = session.chart_of(path.rpartition(".")[0] or None)
                invoke = path.rpartition(".")[2]
                state = next((s.id for s, inv in parent_chart.invokes() if inv.id == invoke), "")
                child_step = session.describe(actor=path)
                running.append({
                    "actor": path, "machine": run.machine, "invoke": invoke, "state": state,
                    "step": child_step,
                    "actions": [] if child_step["done"] or child_step["errored"] else
                    _actions(session, path, child_step["enabled"]),
                })
        history = []
        for r in session.records[1:]:
            item: dict[str, Any] = {"event": r.event, "payload": r.payload}
            if r.actor:
                item["actor"] = r.actor
            history.append(item)
        return {
            "session": sid,
            "machine": self._sessions[sid].machine,
            "step": step,
            "actions": [] if step["done"] else _actions(session, None, step["enabled"]),
            "actors": running,
            "history": history,
            "telemetry": telemetry,
            "deliveries": [
                {"actor": d.actor, "event": d.event, "payload": d.payload}
                for d in record.deliveries
            ],
            "whatif": [] if step["done"] else [_outcome_json(o) for o in what_if(session)],
            "can_undo": len(session.records) > 1,
            "notice": notice,
            "check": check,
        }

    # -- scenarios -----------------------------------------------------------------------------

    def scenario_text(self, sid: str, name: str, file: str = "") -> str:
        """The session as a scenario file (YAML) that ``flowcheck simulate --script`` runs."""
        with self._lock:
            session = self._session(sid)
            return _scenario_yaml(session, name, file or f"scenarios/{session.chart.name}.yaml")

    def save_scenario(self, sid: str, name: str, file: Any, overwrite: bool = False
                      ) -> dict[str, Any]:
        """Write the session as ``<scenarios>/<file>``; refuse to overwrite unless told."""
        directory = self._scenario_dir()
        stem = str(file or "").removesuffix(".yaml").removesuffix(".yml")
        if not _FILE.fullmatch(stem) or ".." in stem:
            raise ScenarioError(
                f"scenario file name {file!r}: use letters, digits, '_', '-' and '.', "
                "e.g. course_builder_published"
            )
        path = directory / f"{stem}.yaml"
        if path.exists() and not overwrite:
            raise ScenarioError(f"scenarios/{path.name} exists already: pick another name "
                                "(or overwrite it)")
        with self._lock:
            session = self._session(sid)
            text = _scenario_yaml(session, name or stem, f"scenarios/{path.name}")
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        return {"file": path.name, "path": f"scenarios/{path.name}", "yaml": text}

    def scenario_files(self) -> list[dict[str, Any]]:
        """The scenario files of the project: file, machine, names and step counts."""
        if self.scenarios is None or not self.scenarios.is_dir():
            return []
        out = []
        for path in sorted(self.scenarios.iterdir()):
            if path.suffix not in (".yaml", ".yml", ".json") or path.name.startswith("."):
                continue
            entry: dict[str, Any] = {"file": path.name}
            try:
                data = load(path)
                machine = machine_of(path.name, data)
                entry["machine"] = machine
                if machine in self.charts:
                    entry["scenarios"] = [{"name": n, "steps": len(s)}
                                          for n, s in scenarios(path.name, data, machine)]
                else:
                    entry["error"] = f"no machine {machine!r} in this project"
            except FlowcheckError as exc:
                entry["error"] = str(exc)
            out.append(entry)
        return out

    def scenario_file(self, file: str) -> dict[str, Any]:
        """One scenario file, parsed: its machine, input and scenarios' steps."""
        directory = self._scenario_dir()
        if not _FILE.fullmatch(file) or ".." in file:
            raise UnknownNameError(f"no scenario file {file!r}")
        path = directory / file
        if not path.is_file():
            raise UnknownNameError(f"no scenario file {file!r} in scenarios/")
        data = load(path)
        machine = machine_of(file, data) or ""
        self.chart(machine)
        return {
            "file": file, "machine": machine, "input": input_of(file, data),
            "scenarios": [{"name": n, "steps": s} for n, s in scenarios(file, data, machine)],
        }

    def _scenario_dir(self) -> Path:
        if self.scenarios is None:
            raise ScenarioError("this simulator has no scenarios directory "
                                "(start it with --scenarios DIR)")
        return self.scenarios

    # -- traces -------------------------------------------------------------------------------

    def trace_runs(self) -> dict[str, Any]:
        """The loaded trace's flows: counts by outcome, the listed runs, the label weights."""
        if self.traces is None:
            return {"loaded": False}
        return self.traces.to_json()

    def play_trace(self, run_id: Any) -> dict[str, Any]:
        """Open a session started as the listed run was (its input, child flows left to the
        events the run's explanation sends) and return it with the run's explained steps."""
        if self.traces is None:
            raise UnknownNameError("no trace is loaded: start flowcheck serve --traces FILE")
        played = self.traces.explain(run_id, self.limits.steps)
        machine = played["run"]["machine"]
        played["view"] = self.open(machine, input=played["input"], children=False)
        return played

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


def flow_description(machine: Machine) -> str:
    """A flow's description: its class docstring, else its module's (the flows of this
    project describe themselves at the top of their module)."""
    chart = machine.chart
    if chart.description:
        return chart.description
    module = inspect.getmodule(machine.cls)
    return inspect.cleandoc(module.__doc__ or "") if module is not None else ""


def describe_chart(name: str, chart: Chart, description: str = "") -> dict[str, Any]:
    """What the page needs to know about a machine."""
    return {
        "name": name,
        "id": chart.id,
        "description": description or chart.description,
        "initial": chart.initial,
        "states": [
            {"id": s.id, "kind": s.kind, "parent": s.parent, "tags": list(s.tags),
             "description": s.description,
             "invokes": [{"id": inv.id, "kind": inv.kind, "src": inv.src} for inv in s.invokes]}
            for s in chart.states
        ],
        "events": [
            {"name": e.name, "description": e.description,
             "fields": [field_json(f) for f in e.payload],
             "payload": default_payload(chart, e.name)}
            for e in chart.events
        ],
        "transitions": [_transition_json(t) for t in chart.transitions()],
        "invokes": [
            {"id": inv.id, "state": s.id, "kind": inv.kind, "src": inv.src,
             "outputs": list(inv.outputs), "error_codes": list(inv.error_codes)}
            for s, inv in chart.invokes()
        ],
        "input": [field_json(f) for f in chart.input or ()],
    }


def _transition_json(t: Transition) -> dict[str, Any]:
    return {
        "source": t.source, "event": t.event, "targets": list(t.targets),
        "label": " ".join(label_lines(t)),
        "guard": t.guard.name if t.guard else None,
        "condition": guard_words(t.guard) if t.guard else None,
    }


def field_json(f: DataField) -> dict[str, Any]:
    return {"name": f.name, "type": f.type, "nullable": f.nullable, "default": f.default,
            "examples": list(f.examples), "enum": list(f.enum)}


def actions(chart: Chart, enabled: list[str]) -> list[dict[str, Any]]:
    """The buttons for the enabled events: user events with their payload fields (each
    with the value it is filled in with), one button per example output of an invoke's
    done event, one per error code of its error event, one per delay."""
    specs = {e.name: e for e in chart.events}
    invokes = {inv.id: (s.id, inv) for s, inv in chart.invokes()}
    out: list[dict[str, Any]] = []
    for event in enabled:
        if event in specs:
            spec = specs[event]
            out.append({"event": event, "kind": "user", "label": event,
                        "description": spec.description,
                        "fields": [field_json(f) | {"value": default_value(f)}
                                   for f in spec.payload],
                        "payload": default_payload(chart, event)})
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
            delay = event[len(_AFTER):].rsplit(".", 1)[0]
            out.append({"event": event, "kind": "delay", "label": f"after {delay}",
                        "payload": {}})
        else:
            out.append({"event": event, "kind": "event", "label": event, "payload": {}})
    return out


def _actions(session: Session, actor: str | None, enabled: list[str]) -> list[dict[str, Any]]:
    """:func:`actions` for the flow at ``actor``, each saying whether it would change
    anything now (``enabled``) and if not why (``reason``); ``reads_payload`` when its
    guards read the event, so that the page checks again as the form changes; invoke
    outcomes of a child flow playing inline are marked ``shortcut``."""
    chart = session.chart_of(actor)
    running = {path.rpartition(".")[2] for path, _ in session.actors()
               if (path.rpartition(".")[0] or None) == actor}
    out = actions(chart, enabled)
    reads = _payload_guards(chart)
    for action in out:
        why = None
        try:
            why = session.refusal(action["event"], action.get("payload") or {}, actor)
        except FlowcheckError as exc:
            action["enabled"], action["reason"] = False, str(exc)
            continue
        action["enabled"] = why is None
        action["reason"] = why.message() if why else None
        if action["kind"] == "user":
            action["reads_payload"] = action["event"] in reads
        if action.get("invoke") in running:
            action["shortcut"] = True
    return out


def _payload_guards(chart: Chart) -> set[str]:
    """The events some of whose guards read the event's payload."""
    return {
        t.event for t in chart.transitions()
        if t.event and t.guard is not None and t.guard.expr is not None
        and any(ref.startswith("event.") for ref in t.guard.expr.refs())
    }


def _outcome_json(o: Outcome) -> dict[str, Any]:
    return {
        "actor": o.actor, "source": o.source, "kind": o.kind, "event": o.event,
        "payload": o.payload, "codes": o.codes, "lands": o.lands, "actor_lands": o.actor_lands,
        "stops": o.stops, "failure": o.failure,
        "recovery": [{"event": r.event, "payload": r.payload, "actor": r.actor,
                      "leads_to": r.leads_to} for r in o.recovery],
    }


def _scenario_yaml(session: Session, name: str, file: str) -> str:
    data = from_session(session, name)
    return dump(data, header(session.chart.name, name, file))


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} hours"
    if seconds >= 60:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


def _replay_steps(session: Session, steps: Any, limit: int) -> str | None:
    """Send a shared link's steps; the notice when one does not replay."""
    if not isinstance(steps, list) or len(steps) > limit:
        raise PayloadError(f"steps must be a list of at most {limit} {{event, payload}}")
    for n, step in enumerate(steps, start=1):
        if not isinstance(step, dict) or not isinstance(step.get("event"), str):
            raise PayloadError(f"step {n} must be {{\"event\": NAME, \"payload\": {{...}}}}")
        payload = step.get("payload") or {}
        actor = step.get("actor") or None
        if not isinstance(payload, dict) or (actor is not None and not isinstance(actor, str)):
            raise PayloadError(f"step {n} ({step['event']}): payload must be an object, "
                               "actor a child flow's id")
        before = session.records[-1]
        try:
            record = session.send(step["event"], payload, actor)
        except FlowcheckError as exc:
            return (f"the link's step {n} ({step['event']}) does not replay on the current "
                    f"flow ({exc}); the session stops before it")
        if unchanged(before, record):
            session.undo()
            return (f"the link's step {n} ({step['event']}) changes nothing on the current "
                    "flow; the session stops before it")
    return None


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
