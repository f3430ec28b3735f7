"""The hypothesis campaign: drive the real python-statemachine class, compare with the Stepper.

Proofs are done on the Stepper, so they only hold for the flow designers run if
python-statemachine behaves the same. The campaign generates event sequences
(mostly events some active state handles, sometimes any event) with payloads drawn
from the payload fields' types, not only their examples, sends each one to a fresh
machine and to the Stepper, and after every event compares the configuration, the
context and the telemetry emitted, and checks the invariants:

- in a failure state, one of its retry events is allowed (``failure-retry``);
- every state entered or exited emitted its STATE_ENTERED / STATE_EXITED (``telemetry``);
- the context validates against the flow's Context model (``conformance``).

Network connections and file writes are blocked while the machine runs; an attempt is
a ``pure`` finding. The run is seeded and uses no example database, so one seed gives
one result; a failure is shrunk by hypothesis and reported as the event list that
``flowcheck simulate NAME --events ...`` replays.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from flowcheck.chart.model import FAILURE, Chart, DataField, Track
from flowcheck.explore.graph import Letter, alphabet, replay
from flowcheck.explore.sandbox import BlockedIO, IOAttempt, blocked_io
from flowcheck.properties.base import Finding
from flowcheck.semantics.stepper import Executed, Snapshot, StepError, Stepper

DEFAULT_EXAMPLES = 100
DEFAULT_MAX_EVENTS = 12
TEXT_ALPHABET = "ab_-"

Event = tuple[str, dict[str, Any]]


@dataclass
class Campaign:
    """What the campaign did and found."""

    ran: bool
    examples: int = 0
    events: int = 0
    seed: int = 0
    seconds: float = 0.0
    skipped: str | None = None
    findings: list[Finding] = field(default_factory=list)
    io_attempts: list[IOAttempt] = field(default_factory=list)


class _Failed(Exception):
    def __init__(self, prop: str, message: str, events: list[Event]) -> None:
        super().__init__(message)
        self.prop = prop
        self.message = message
        self.events = list(events)


def event_list(events: list[Event] | tuple[Event, ...]) -> str:
    """The ``--events`` argument of ``flowcheck simulate`` that replays ``events``."""
    parts = []
    for name, payload in events:
        parts.append(f"{name}:{json.dumps(payload, separators=(',', ':'))}" if payload else name)
    return ",".join(parts)


# -- strategies ---------------------------------------------------------------------------------


def field_strategy(f: DataField) -> st.SearchStrategy[Any]:
    """Values of one payload field: its examples mixed with values of its type."""
    examples = list(dict.fromkeys(_thaw(e) for e in f.examples))
    if f.enum:
        base: st.SearchStrategy[Any] = st.sampled_from([_thaw(e) for e in f.enum])
    elif f.type == "string":
        text = st.text(alphabet=TEXT_ALPHABET, max_size=3)
        base = st.one_of(st.sampled_from(examples), text) if examples else text
    elif f.type == "integer":
        ints = st.integers(min_value=-1, max_value=5)
        base = st.one_of(st.sampled_from(examples), ints) if examples else ints
    elif f.type == "boolean":
        base = st.booleans()
    elif f.type == "string[]":
        item = st.text(alphabet=TEXT_ALPHABET, max_size=3)
        lists = st.lists(item, max_size=3)
        base = st.one_of(st.sampled_from(examples), lists) if examples else lists
    else:
        base = st.sampled_from(examples) if examples else st.just(_thaw(f.default))
    return st.one_of(st.none(), base) if f.nullable else base


def payload_strategy(fields: tuple[DataField, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({f.name: field_strategy(f) for f in fields})


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class _Source:
    """An event the campaign can send: its Stepper name, the name python-statemachine knows
    it by, when it applies (masks as in :class:`Letter`) and how to make its payload."""

    event: str
    machine_event: str
    requires: int
    handled: int
    payload: st.SearchStrategy[dict[str, Any]]
    ends: bool = False  # every transition on it goes to a top-level final state


def _sources(chart: Chart, letters: list[Letter]) -> list[_Source]:
    specs = {e.name: e for e in chart.events}
    top_finals = {s.id for s in chart.states if s.kind == "final" and s.parent is None}
    targets: dict[str, set[str]] = {}
    for t in chart.transitions():
        if t.event:
            targets.setdefault(t.event, set()).update(t.targets or ("",))
    out: list[_Source] = []
    grouped: dict[tuple[str, int], list[Letter]] = {}
    for lt in letters:
        grouped.setdefault((lt.event, lt.requires), []).append(lt)
    for (event, requires), group in grouped.items():
        kind = group[0].kind
        handled = group[0].handled
        if kind == "user":
            payload = payload_strategy(specs[event].payload)
            machine_event = event
        elif kind == "delay":
            payload = st.just({})
            machine_event = "after." + event[len("xstate.after."):].rsplit(".", 1)[0]
        else:
            payload = st.sampled_from([lt.payload for lt in group])
            machine_event = event
        ends = targets.get(event, set()) <= top_finals
        out.append(_Source(event, machine_event, requires, handled, payload, ends))
    return out


# -- the run --------------------------------------------------------------------------------------


def run_campaign(
    chart: Chart,
    machine_class: type[Any],
    examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    max_events: int = DEFAULT_MAX_EVENTS,
    stepper: Stepper | None = None,
) -> Campaign:
    """Run ``examples`` generated event sequences on ``machine_class`` and on the Stepper."""
    result = Campaign(ran=examples > 0, seed=seed)
    if examples <= 0:
        result.skipped = "the hypothesis campaign did not run (--examples 0)"
        return result
    stepper = stepper or Stepper(chart)
    letters = alphabet(chart, stepper)
    sources = _sources(chart, letters)
    checker = _Checker(chart, machine_class, stepper, result)
    started = time.perf_counter()

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        report_multiple_bugs=False,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    @hypothesis_seed(seed)
    @given(st.data())
    def scenario(data: st.DataObject) -> None:
        length = data.draw(st.integers(0, max_events), label="length")
        checker.run(lambda snap, sent: _draw(data, sources, snap, sent, length))

    try:
        with _constants_of(machine_class):
            scenario()
    except _Failed as failed:
        result.findings.append(_finding(failed, stepper, chart))
    except Exception as exc:  # hypothesis itself failed (flaky run): report, never hide
        result.findings.append(Finding(
            "conformance",
            f"the campaign could not settle on a result ({type(exc).__name__}: {exc})"))
    result.seconds = time.perf_counter() - started
    return result


@contextmanager
def _constants_of(machine_class: type[Any]) -> Iterator[None]:
    """Make generation depend on the seed and the flow's own module only.

    Hypothesis mixes literals found in every loaded local module into what it generates,
    so the same seed would give different runs depending on what else was imported (the
    CLI, a test, a notebook). For the run, only the literals of the flow's module count.
    """
    try:
        from hypothesis.internal.conjecture import providers

        original = providers._get_local_constants
        module = sys.modules.get(machine_class.__module__)
        from_module = getattr(providers, "constants_from_module")  # noqa: B009
        empty = getattr(providers, "Constants")  # noqa: B009
        constants = from_module(module) if module is not None else empty()
    except (ImportError, AttributeError):  # another hypothesis version: nothing to pin
        yield
        return
    providers._get_local_constants = lambda: constants
    providers.CONSTANTS_CACHE.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def _draw(
    data: st.DataObject, sources: list[_Source], snap: Snapshot, sent: int, length: int
) -> Event | None:
    """The next event, or None to end the sequence (at ``length`` events, or when no
    active state handles any event). Shrinking goes towards shorter sequences and
    earlier sources."""
    config = snap.configuration
    live = [s for s in sources if config & s.requires == s.requires and config & s.handled]
    if not live or sent >= length:
        return None
    kind = data.draw(st.integers(0, 9), label="kind")
    if kind == 9:  # now and then any user event, handled here or not
        pool = [s for s in sources if s.requires == 0]
    elif kind >= 7:  # events that end the flow (cancel) less often, to go deeper
        pool = live
    else:
        pool = [s for s in live if not s.ends]
    source = data.draw(st.sampled_from(pool or live), label="event")
    payload = data.draw(source.payload, label=source.event)
    return source.event, payload


def _finding(failed: _Failed, stepper: Stepper, chart: Chart) -> Finding:
    cx = replay(stepper, failed.events)
    return Finding(
        failed.prop,
        f"{failed.message} (campaign; replay: flowcheck simulate {chart.name} --events "
        f"'{event_list(failed.events)}')",
        event=failed.events[-1][0] if failed.events else None,
        counterexample=cx,
    )


class _Checker:
    """Runs one generated sequence on a fresh machine and on the Stepper, step by step."""

    def __init__(self, chart: Chart, machine_class: type[Any], stepper: Stepper,
                 result: Campaign) -> None:
        self.chart = chart
        self.cls = machine_class
        self.stepper = stepper
        self.result = result
        policy = getattr(machine_class, "telemetry_policy", None)
        self.entered_name: str | None = getattr(policy, "entered", "STATE_ENTERED")
        self.exited_name: str | None = getattr(policy, "exited", "STATE_EXITED")
        self.context_model: type[BaseModel] | None = getattr(machine_class, "Context", None)
        from flowcheck.properties.failure_retry import retry_events

        self.failure_states = chart.tagged(FAILURE)
        self.retries = {f: set(retry_events(chart, f)) for f in self.failure_states}
        self.kinds = {s.id: s.kind for s in chart.states}

    def run(self, next_event: Callable[[Snapshot, int], Event | None]) -> None:
        self.result.examples += 1
        events: list[Event] = []
        machine = self._call(events, "starting the machine", self.cls)
        try:
            snap, executed = self.stepper.initial()
        except StepError:
            return
        self._compare(machine, snap, executed, 0, events, set())
        while True:
            nxt = next_event(snap, len(events))
            if nxt is None:
                return
            name, payload = nxt
            events.append((name, payload))
            self.result.events += 1
            before = {s.id for s in machine.configuration}
            sent = len(machine.telemetry)
            try:
                snap, executed = self.stepper.step(snap, name, payload)
            except StepError:
                return  # the chart cannot run this step: a well-formed finding
            source_name = self._machine_event(name)
            self._call(events, f"sending {name}", machine.send, source_name, **payload)
            self._compare(machine, snap, executed, sent, events, before)

    def _machine_event(self, name: str) -> str:
        if name.startswith("xstate.after."):
            return "after." + name[len("xstate.after."):].rsplit(".", 1)[0]
        return name

    def _call(self, events: list[Event], what: str, fn: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Any:
        attempts: list[IOAttempt] = []
        try:
            with blocked_io(attempts):
                value = fn(*args, **kwargs)
        except Exception as exc:
            if attempts or _is_blocked(exc):
                self.result.io_attempts += attempts
                detail = attempts[0].detail if attempts else str(exc)
                raise _Failed("pure", f"the machine tried {detail} while {what}",
                              events) from exc
            raise _Failed("conformance", f"python-statemachine raised {type(exc).__name__}: "
                          f"{exc} while {what}; the Stepper did not", events) from exc
        if attempts:
            self.result.io_attempts += attempts
            raise _Failed("pure", f"the machine tried {attempts[0].detail} while {what}", events)
        return value

    def _compare(self, machine: Any, snap: Snapshot, executed: list[Executed], sent: int,
                 events: list[Event], before: set[str]) -> None:
        stepper = self.stepper
        after = {s.id for s in machine.configuration}
        expected = set(stepper.active_ids(snap))
        if after != expected:
            raise _Failed("conformance", f"configuration differs: python-statemachine is in "
                          f"{_label(after)}, the Stepper in {_label(expected)}", events)
        context = machine.context.model_dump(mode="json")
        want = stepper.context_dict(snap.context)
        if context != want:
            diff = {k: (context.get(k), want.get(k)) for k in want if context.get(k) != want[k]}
            raise _Failed("conformance", "context differs (python-statemachine, Stepper): "
                          f"{diff}", events)
        emitted = [(e, dict(p)) for e, p in machine.telemetry[sent:]]
        tracked = [(x.action.event, x.properties or {}) for x in executed
                   if isinstance(x.action, Track)]
        if emitted != tracked:
            raise _Failed("conformance", f"telemetry differs: python-statemachine emitted "
                          f"{_names(emitted)}, the Stepper {_names(tracked)}", events)
        self._invariants(machine, before, after, emitted, events)

    def _invariants(self, machine: Any, before: set[str], after: set[str],
                    emitted: list[tuple[str, dict[str, Any]]], events: list[Event]) -> None:
        for fid in self.failure_states:
            if fid in after:
                allowed = {str(e.id) for e in machine.allowed_events}
                if not allowed & self.retries[fid]:
                    raise _Failed("failure-retry", f"in failure state {fid!r} no retry event "
                                  f"is allowed (allowed: {sorted(allowed)})", events)
        seen = {(e, p.get("state")) for e, p in emitted}
        checks = ((after - before, self.entered_name, "entered"),
                  (before - after, self.exited_name, "exited"))
        for states, name, verb in checks:
            for sid in sorted(states):
                if self.kinds.get(sid) == "history":
                    continue
                if name is None or (name, sid) not in seen:
                    raise _Failed("telemetry", f"state {sid!r} was {verb} without "
                                  f"{name or 'a track event'}", events)
        if self.context_model is not None:
            try:
                self.context_model.model_validate(machine.context.model_dump())
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first.get("loc", ()))
                raise _Failed("conformance", f"the context no longer validates against "
                              f"{self.context_model.__name__}: {where}: {first.get('msg')}",
                              events) from exc


def _is_blocked(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, BlockedIO):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _label(states: set[str]) -> str:
    return "{" + ", ".join(sorted(states)) + "}"


def _names(items: list[tuple[str, dict[str, Any]]]) -> str:
    return "[" + ", ".join(f"{e} {json.dumps(p, sort_keys=True)}" for e, p in items) + "]"
