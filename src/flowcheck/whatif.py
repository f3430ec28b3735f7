"""What can go wrong here: every way the world can fail the flow from a session's step.

From the current step, every running invoke (of the flow and of its running child flows)
can fail with any of the Connect error codes, and every pending timer can fire. For each
one this module plays it on the session (and undoes it), groups the codes by where they
land, and from each failure state it lands in finds the way back: the user events that
lead out of it, with the payload that does, and where they lead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowcheck.chart.model import FAILURE, Chart, error_actor
from flowcheck.errors import FlowcheckError
from flowcheck.explore.domains import CONNECT_CODES
from flowcheck.simulation import Session, candidate_payloads, default_payload

MAX_TRIES = 16
"""Payloads tried per event when looking for the way out of a failure."""


@dataclass
class Recovery:
    """A user event out of a failure state and where it leads."""

    event: str
    payload: dict[str, Any]
    actor: str | None
    leads_to: list[str]
    """The configuration after it (of the flow the event is sent to)."""


@dataclass
class Outcome:
    """One thing that can go wrong now and where it lands."""

    actor: str | None
    """The running child flow it happens in (None: the top-level flow)."""
    source: str
    """The invoke id, or the delay of a timer."""
    kind: str
    """``error`` or ``timer``."""
    event: str
    payload: dict[str, Any]
    """What to send to make it happen (the first code of the group)."""
    codes: list[str]
    """The error codes that land here, declared ones first (empty for a timer)."""
    lands: list[str]
    """The top-level flow's configuration afterwards."""
    actor_lands: list[str] | None
    """The child flow's configuration afterwards, when it still runs."""
    stops: bool
    """Whether the flow stops with an error (no transition takes it)."""
    failure: bool
    """Whether it lands in a state tagged failure."""
    recovery: list[Recovery] = field(default_factory=list)


def what_if(session: Session) -> list[Outcome]:
    """Every invoke error and timer that can happen in the session's current step."""
    out: list[Outcome] = []
    actors: list[str | None] = [None, *(path for path, _ in session.actors())]
    for actor in actors:
        chart = session.chart_of(actor)
        stepper = session.stepper_of(actor)
        snap = session.snapshot_of(actor)
        if stepper.is_stopped(snap):
            continue
        enabled = session.enabled(actor)
        for state, inv in chart.invokes():
            event = error_actor(inv.id)
            if event not in enabled:
                continue
            del state
            out += _errors(session, actor, inv.id, list(inv.error_codes))
        for event in enabled:
            if event.startswith("xstate.after."):
                delay = event[len("xstate.after."):].rsplit(".", 1)[0]
                found = _play(session, actor, event, {})
                if found is not None:
                    lands, actor_lands, stops, failure, recovery = found
                    out.append(Outcome(actor, delay, "timer", event, {}, [], lands, actor_lands,
                                       stops, failure, recovery))
    return out


def _errors(session: Session, actor: str | None, invoke: str,
            declared: list[str]) -> list[Outcome]:
    codes = [*declared, *(c for c in CONNECT_CODES if c not in declared)]
    groups: dict[tuple[Any, ...], Outcome] = {}
    event = error_actor(invoke)
    for code in codes:
        payload = {"error": {"code": code}}
        found = _play(session, actor, event, payload, recover=False)
        if found is None:
            continue
        lands, actor_lands, stops, failure, _ = found
        key = (tuple(lands), tuple(actor_lands or ()), stops)
        if key in groups:
            groups[key].codes.append(code)
            continue
        recovery = _play(session, actor, event, payload)
        groups[key] = Outcome(actor, invoke, "error", event, payload, [code], lands,
                              actor_lands, stops, failure, recovery[4] if recovery else [])
    return list(groups.values())


def _play(
    session: Session, actor: str | None, event: str, payload: dict[str, Any],
    recover: bool = True,
) -> tuple[list[str], list[str] | None, bool, bool, list[Recovery]] | None:
    """Send the event, read where it lands (and the way back), undo."""
    try:
        session.send(event, payload, actor)
    except FlowcheckError:
        return None
    try:
        lands = session.describe()["configuration"]
        running = dict(session.actors())
        actor_lands = None
        if actor is not None and actor in running:
            actor_lands = session.describe(actor=actor)["configuration"]
        where = actor if actor_lands is not None else None
        stepper = session.stepper_of(where)
        snap = session.snapshot_of(where)
        stops = stepper.is_errored(snap)
        chart = session.chart_of(where)
        failure = _in_failure(chart, stepper.active_ids(snap))
        recovery = _recovery(session, where) if recover and failure else []
        return lands, actor_lands, stops, failure, recovery
    finally:
        session.undo()


def _in_failure(chart: Chart, active: list[str]) -> bool:
    failures = set(chart.tagged(FAILURE))
    return any(s in failures for s in active)


def _recovery(session: Session, actor: str | None) -> list[Recovery]:
    """The user events that lead out of the failure the session is in."""
    chart = session.chart_of(actor)
    found: list[Recovery] = []
    for event in session.enabled(actor):
        if event.startswith("xstate."):
            continue
        default = default_payload(chart, event)
        tries = [default, *(p for p in candidate_payloads(chart, event) if p != default)]
        for payload in tries[:MAX_TRIES]:
            try:
                session.send(event, payload, actor)
            except FlowcheckError:
                continue
            try:
                stepper = session.stepper_of(actor) if _running(session, actor) else None
                if stepper is None:
                    continue
                snap = session.snapshot_of(actor)
                active = stepper.active_ids(snap)
                # Back into the flow: out of the failure, and not merely to its end.
                if not _in_failure(chart, active) and not stepper.is_stopped(snap):
                    found.append(Recovery(event, payload, actor, active))
                    break
            finally:
                session.undo()
    return found


def _running(session: Session, actor: str | None) -> bool:
    return actor is None or actor in dict(session.actors())
