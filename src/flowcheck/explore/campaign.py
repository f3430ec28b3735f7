"""The hypothesis campaign: drive the real python-statemachine class, compare with the Stepper.

Proofs are done on the Stepper, so they only hold for the flow designers run if
python-statemachine behaves the same. The campaign generates event sequences (mostly
events some active state handles, sometimes any event), sends each one to a fresh machine
and to the Stepper, and after every event compares the configuration, the context and the
telemetry emitted, and checks the invariants:

- in a failure state, one of its retry events is allowed (``failure-retry``);
- every state entered or exited emitted the track events its own entry or exit actions
  declare (``telemetry``);
- the context validates against the flow's Context model (``conformance``).

Values are drawn from the pydantic types, not from the examples: payload fields (any
text for a string, integers within ``ge``/``le``, every ``Literal`` value, booleans,
lists, None when nullable, lengths within ``min_length``/``max_length``), the output
fields an invoke's transitions read, every one of the 16 Connect codes for an invoke
error, and the flow's input when it declares one (the machine then starts from the
context's defaults with the drawn input fields set). Examples, and the literals of the
flow's own module, stay likely.

With the exploration's result (``graph``), the campaign first replays the exploration's
**transition cover**: a few shortest explored event paths which, together, fire every
transition exploration fired (see :func:`transition_cover`), each once, in a fixed order.
That part is deterministic and is what makes every transition agree between the two
implementations; the random runs then spend the ``examples`` budget on what exploration
did not try (values drawn from the types, other sequences and contexts): the ``examples``
budget minus the cover's runs, and at least half of it. The cover checks
that the implementations agree and that nothing attempts I/O (the invariants below are the
exhaustive properties' on those very steps); a failure there is reported as it is (its
path is already short) and the random runs are skipped.
``Campaign`` says how long each part took.

With the exploration's result, the campaign is also the adversary of its
environment abstraction (see :mod:`flowcheck.explore.adversary`): a step whose guard
outcomes exploration never saw there fails the run as ``conformance``, shrunk like any
other failure, and ``Campaign.abstraction_missed`` says so, whatever else was found. A
bounded exploration is not checked against: it claims no coverage.

One difference between python-statemachine and XState is accepted: when one microstep
exits several states of a parallel state, python-statemachine runs their exit actions
deepest first, XState (and the Stepper, which follows it) in reverse document order, so
region by region. The exit telemetry of states exited together is compared as a multiset;
everything else, the order of all other telemetry included, must match exactly.

Network connections and file writes are blocked while the machine runs; an attempt is
a ``pure`` finding. The run is seeded and uses no example database, so one seed gives
one result; a failure is shrunk by hypothesis and reported as the event list that
``flowcheck simulate NAME --events ...`` replays (with ``--input`` when the run started
from a drawn input).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import annotated_types
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from flowcheck.chart.model import FAILURE, Chart, DataField, Track
from flowcheck.explore.adversary import GuardOutcomes
from flowcheck.explore.domains import CONNECT_CODES
from flowcheck.explore.graph import DEFAULT_EXAMPLES, Exploration, Letter, alphabet, replay
from flowcheck.explore.sandbox import BlockedIO, IOAttempt, blocked_io
from flowcheck.properties.base import Counterexample, Finding, event_list
from flowcheck.semantics.stepper import OPAQUE_GUARDS, Executed, Snapshot, StepError, Stepper

DEFAULT_MAX_EVENTS = 12

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
    abstraction_missed: bool = False
    """Some generated step showed guard outcomes the exploration never saw where it was
    (see :mod:`flowcheck.explore.adversary`): exploration's environment did not cover every
    value, so what it found is no proof."""
    adversary_skipped: str | None = None
    """Why steps were not checked against the exploration (None: they were)."""
    adversary_seconds: float = 0.0
    """Time spent checking steps against the exploration, within ``seconds``."""
    cover_runs: int = 0
    """Runs of the transition cover, replayed before the random ones (not in ``examples``)."""
    cover_events: int = 0
    cover_transitions: int = 0
    """Transitions the cover's runs fire (on the Stepper), of ``transitions``."""
    transitions: int = 0
    cover_seconds: float = 0.0
    """Time spent on the cover (computing it and replaying it), within ``seconds``."""
    random_seconds: float = 0.0
    """Time spent on the random runs, within ``seconds``."""


class _Failed(Exception):
    def __init__(self, prop: str, message: str, events: list[Event],
                 start: dict[str, Any] | None = None, missed: bool = False) -> None:
        super().__init__(message)
        self.prop = prop
        self.message = message
        self.events = list(events)
        self.start = start
        self.missed = missed


# -- strategies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bounds:
    """What a pydantic field's constraints allow: ``ge``/``gt``/``le``/``lt``, lengths."""

    low: int | None = None
    high: int | None = None
    min_length: int = 0
    max_length: int | None = None

    def admits(self, value: Any) -> bool:
        if isinstance(value, int) and not isinstance(value, bool):
            return ((self.low is None or value >= self.low)
                    and (self.high is None or value <= self.high))
        if isinstance(value, str | list | tuple):
            return len(value) >= self.min_length and (
                self.max_length is None or len(value) <= self.max_length)
        return True


def _bounds(metadata: Sequence[Any]) -> _Bounds:
    low: int | None = None
    high: int | None = None
    min_length, max_length = 0, None
    for m in metadata:
        if isinstance(m, annotated_types.Ge) and isinstance(m.ge, int):
            low = m.ge
        elif isinstance(m, annotated_types.Gt) and isinstance(m.gt, int):
            low = m.gt + 1
        elif isinstance(m, annotated_types.Le) and isinstance(m.le, int):
            high = m.le
        elif isinstance(m, annotated_types.Lt) and isinstance(m.lt, int):
            high = m.lt - 1
        elif isinstance(m, annotated_types.MinLen):
            min_length = m.min_length
        elif isinstance(m, annotated_types.MaxLen):
            max_length = m.max_length
    return _Bounds(low, high, min_length, max_length)


def field_metadata(model: type[BaseModel] | None, name: str) -> list[Any]:
    """The constraints pydantic keeps for field ``name`` of ``model`` (``Ge``, ``MaxLen``...)."""
    if model is None:
        return []
    info = model.model_fields.get(name)
    return list(info.metadata) if info is not None else []


def field_strategy(f: DataField, metadata: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Values of one field, from its type: every ``Literal`` value, booleans, integers
    within its bounds, any text, lists of text; None too when nullable. The field's examples
    are mixed in, so that readable values stay likely. ``metadata`` are the pydantic
    constraints of the field (see :func:`field_metadata`)."""
    bounds = _bounds(metadata)
    examples = [_thaw(e) for e in dict.fromkeys(f.examples) if bounds.admits(e)]
    base: st.SearchStrategy[Any]
    if f.enum:
        base = st.sampled_from([_thaw(e) for e in f.enum])
    elif f.type == "boolean":
        base = st.booleans()
    elif f.type == "integer":
        base = _with_examples(examples, st.integers(min_value=bounds.low, max_value=bounds.high))
    elif f.type == "string":
        base = _with_examples(examples, st.text(min_size=bounds.min_length,
                                                max_size=bounds.max_length))
    elif f.type == "string[]":
        items = [i for e in examples if isinstance(e, list) for i in e if isinstance(i, str)]
        item = _with_examples(list(dict.fromkeys(items)), st.text())
        base = _with_examples(examples, st.lists(item, min_size=bounds.min_length,
                                                 max_size=bounds.max_length))
    elif f.type == "null":
        base = st.none()
    else:  # objects are not flow data: their examples, or the default
        base = st.sampled_from(examples) if examples else st.just(_thaw(f.default))
    return st.one_of(st.none(), base) if f.nullable else base


def payload_strategy(
    fields: tuple[DataField, ...], model: type[BaseModel] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads of an event (or inputs of a flow) whose fields are ``fields``; ``model`` is
    the pydantic model they were read from, for their constraints."""
    return st.fixed_dictionaries(
        {f.name: field_strategy(f, field_metadata(model, f.name)) for f in fields})


def output_strategy(
    seeds: list[dict[str, Any]], read: list[str]
) -> st.SearchStrategy[dict[str, Any]]:
    """Outputs of an invoke: its example outputs, or one of them with each key in ``read``
    (the keys its transitions read) drawn from the type of that key's example values."""
    examples = st.sampled_from(seeds)
    if not read:
        return examples
    parts = {k: _value_strategy([s[k] for s in seeds if k in s]) for k in read}
    drawn = st.tuples(examples, st.fixed_dictionaries(parts)).map(
        lambda pair: {**pair[0], **pair[1]})
    return st.one_of(examples, drawn)


def error_strategy(declared: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads of an invoke's error event: any of the 16 Connect codes, the ``declared``
    ones (those the flow lists or compares with) more often."""
    codes = [c for c in dict.fromkeys(declared) if c]
    drawn = st.sampled_from(CONNECT_CODES)
    return _with_examples(codes, drawn).map(lambda code: {"error": {"code": code}})


def _value_strategy(values: list[Any]) -> st.SearchStrategy[Any]:
    """Values of the type ``values`` share (text when they share none), with them mixed in."""
    known = list(dict.fromkeys(json.dumps(v, sort_keys=True) for v in values))
    values = [json.loads(v) for v in known]
    if values and all(isinstance(v, bool) for v in values):
        return st.booleans()
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return _with_examples(values, st.integers())
    if all(isinstance(v, str) for v in values):
        return _with_examples(values, st.text())
    if all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in values):
        return _with_examples(values, st.lists(st.text()))
    return st.sampled_from(values)


def _with_examples(examples: list[Any], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(examples), values) if examples else values


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


def _sources(chart: Chart, letters: list[Letter], machine_class: type[Any]) -> list[_Source]:
    specs = {e.name: e for e in chart.events}
    models: dict[str, type[BaseModel]] = getattr(machine_class, "payloads", {}) or {}
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
        machine_event = event
        payload: st.SearchStrategy[dict[str, Any]]
        if kind == "user":
            payload = payload_strategy(specs[event].payload, models.get(event))
        elif kind == "delay":
            payload = st.just({})
            machine_event = "after." + event[len("xstate.after."):].rsplit(".", 1)[0]
        elif kind == "done":
            seeds = [dict(lt.payload.get("output") or {}) for lt in group]
            payload = output_strategy(seeds, _output_keys_read(chart, event)).map(
                lambda out: {"output": out})
        else:
            payload = error_strategy(
                [str((lt.payload.get("error") or {}).get("code")) for lt in group])
        ends = targets.get(event, set()) <= top_finals
        out.append(_Source(event, machine_event, requires, handled, payload, ends))
    return out


def _output_keys_read(chart: Chart, event: str) -> list[str]:
    """The output keys that the guards and assigns of transitions on ``event`` read."""
    keys: list[str] = []
    for t in chart.transitions():
        if t.event != event:
            continue
        exprs = [t.guard.expr] if t.guard is not None and t.guard.expr is not None else []
        for a in t.actions:
            exprs.extend(e for _, e in getattr(a, "updates", ()))
        for e in exprs:
            for path in e.refs():
                parts = path.split(".")
                if parts[:2] == ["event", "output"] and len(parts) > 2 and parts[2] not in keys:
                    keys.append(parts[2])
    return keys


# -- the run --------------------------------------------------------------------------------------


def run_campaign(
    chart: Chart,
    machine_class: type[Any],
    examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    max_events: int = DEFAULT_MAX_EVENTS,
    stepper: Stepper | None = None,
    graph: Exploration | None = None,
) -> Campaign:
    """Run event sequences on ``machine_class`` and on the Stepper: with ``graph``, the
    transition cover first, then generated ones (``examples`` in all, and at least half of
    them generated); without, ``examples`` generated ones.

    With ``graph``, the finished exploration of ``chart``, every step is also checked
    against the guard outcomes exploration saw (see :mod:`flowcheck.explore.adversary`).
    """
    result = Campaign(ran=examples > 0, seed=seed)
    if examples <= 0:
        result.skipped = "the hypothesis campaign did not run (--examples 0)"
        return result
    stepper = stepper or Stepper(chart)
    letters = alphabet(chart, stepper)
    sources = _sources(chart, letters, machine_class)
    adversary, result.adversary_skipped = _adversary(graph, stepper)
    checker = _Checker(chart, machine_class, stepper, result, adversary)
    inputs = input_strategy(chart, machine_class)
    started = time.perf_counter()
    reported: _Failed | None = None
    if graph is not None:
        reported = _replay_cover(graph, checker, result)
        result.cover_seconds = time.perf_counter() - started
        if reported is not None:
            result.findings.append(_finding(reported, stepper, chart))
            if adversary is not None:
                result.adversary_seconds = adversary.seconds
            result.seconds = result.cover_seconds
            return result
    random_started = time.perf_counter()

    # The cover's runs count against the budget: the random runs take what is left, and at
    # least half of it, for the values exploration did not try (the adversary's share).
    random_budget = max(examples - result.cover_runs, (examples + 1) // 2)

    @settings(
        max_examples=random_budget,
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
        start = data.draw(inputs, label="input") if inputs is not None else None
        if start is not None and all(checker.defaults.get(k) == v for k, v in start.items()):
            start = None  # the defaults: the run any flow starts with, nothing to replay
        length = data.draw(st.integers(0, max_events), label="length")
        checker.run(lambda snap, sent: _draw(data, sources, snap, sent, length), start)

    try:
        with _constants_of(machine_class):
            scenario()
    except _Failed as failed:
        reported = failed
        result.findings.append(_finding(failed, stepper, chart))
    except Exception as exc:  # hypothesis itself failed (flaky run): report, never hide
        result.findings.append(Finding(
            "conformance",
            f"the campaign could not settle on a result ({type(exc).__name__}: {exc})"))
    first_miss = checker.first_miss
    if first_miss is not None and (reported is None or not reported.missed):
        # Hypothesis reported another failure; the miss is a finding of its own (unshrunk).
        result.findings.append(_finding(first_miss, stepper, chart))
    if adversary is not None:
        result.adversary_seconds = adversary.seconds
    result.random_seconds = time.perf_counter() - random_started
    result.seconds = time.perf_counter() - started
    return result


# -- the transition cover -----------------------------------------------------------------------


COVER_BUDGET = 20_000
"""Explored steps replayed with a trace, at most, to find where the transitions that fire
inside steps (eventless ones, those of raised and done events) fire: a dead transition
would otherwise cost the whole exploration again. The cover is then partial, and says so."""


RUN_COST = 8
"""What starting a fresh python-statemachine instance costs, in events sent."""


@dataclass(frozen=True)
class CoverPath:
    """One run of the cover: the input the flow starts with, and the events sent."""

    input: dict[str, Any] | None
    events: tuple[Event, ...]
    fires: frozenset[int]
    """The transitions it fires (indices in ``chart.transitions()``)."""


@dataclass(frozen=True)
class TransitionCover:
    """A few explored event paths that together fire every transition exploration fired."""

    paths: tuple[CoverPath, ...]
    fired: int
    """Transitions the paths fire."""
    transitions: int
    """Transitions the chart declares."""


def transition_cover(graph: Exploration, budget: int = COVER_BUDGET) -> TransitionCover:
    """The transition cover of an exploration.

    For every declared transition, the first explored step (in breadth-first order) that
    fires it is its *witness*: the shortest event path to the witness's snapshot, then its
    letter, fires the transition. Transitions an event selects are found by asking each
    explored snapshot which transitions the event's first microstep takes; those that fire
    inside steps, by replaying explored steps with the Stepper's trace (at most ``budget``
    of them). The witnesses' paths are then chosen greedily, the one firing the most
    transitions not fired yet per unit of cost first, until none adds any; the result is in
    breadth-first order of the witnesses. Same exploration, same cover."""
    from flowcheck.semantics import start_context
    from flowcheck.semantics.stepper import MacrostepTrace

    stepper = graph.stepper
    declared = stepper.chart.transitions()
    number = {id(t): i for i, t in enumerate(declared)}
    witness: dict[int, tuple[int, int]] = {}  # transition -> (node, letter; -1: initial)

    def see(fired: list[Any], where: tuple[int, int]) -> None:
        for t in fired:
            k = number.get(id(t))
            if k is not None and k not in witness:
                witness[k] = where

    for root, initial in zip(graph.root_nodes, graph.roots, strict=True):
        trace = MacrostepTrace()
        try:
            stepper.initial(start_context(stepper, initial), record=False, trace=trace,
                            guards=(initial or {}).get(OPAQUE_GUARDS))
        except StepError:
            continue
        see(trace.fired, (root, -1))
    by_event: dict[str, int] = {}
    for t in declared:
        if t.event is not None:
            by_event[t.event] = by_event.get(t.event, 0) + 1
    applicable: dict[int, list[int]] = {}
    letters = graph.alphabet
    for node in range(graph.expanded):
        if len(witness) == len(declared):
            break
        snap = graph.snapshots[node]
        config = snap.configuration
        if config & stepper.stopped_mask:
            continue
        tried = applicable.get(config)
        if tried is None:
            tried = applicable[config] = [
                i for i, lt in enumerate(letters)
                if config & lt.handled and config & lt.requires == lt.requires]
        for li in tried:
            lt = letters[li]
            if lt.event not in by_event:
                continue
            try:
                taken = stepper.selected(snap, lt.event, {**lt.payload, "type": lt.event})
            except StepError:
                continue
            see(taken, (node, li))
    inside = len(witness) < len(declared)
    for e in range(min(graph.edges, budget) if inside else 0):
        if len(witness) == len(declared):
            break
        node, li = graph.edge_src[e], graph.edge_letter[e]
        name, payload = graph.letter_event(li)
        trace = MacrostepTrace()
        try:
            stepper.step(graph.snapshots[node], name, payload, record=False, trace=trace)
        except StepError:
            continue
        see(trace.fired, (node, li))
    candidates = []
    for node, li in sorted(set(witness.values())):
        path = graph.path_to(node) + ([li] if li >= 0 else [])
        start = graph.input_of(node)
        events = tuple(graph.letter_event(i) for i in path)
        candidates.append((node, li, start, events,
                           _fired_along(stepper, start, events, number)))
    kept: list[tuple[int, int, CoverPath]] = []
    covered: set[int] = set()
    while True:
        # The path firing most new transitions per unit of cost (a fresh machine costs
        # about as much as RUN_COST events); ties go to the earliest witness.
        best = max(candidates, default=None, key=lambda c: (
            len(c[4] - covered) / (RUN_COST + len(c[3])), -c[0], -c[1]))
        if best is None or not best[4] - covered:
            break
        node, li, start, events, fires = best
        covered |= fires
        kept.append((node, li, CoverPath(start, events, frozenset(fires))))
        candidates.remove(best)
    kept.sort(key=lambda k: (k[0], k[1]))
    return TransitionCover(tuple(p for _, _, p in kept), len(covered), len(declared))


def _fired_along(stepper: Stepper, start: dict[str, Any] | None, events: tuple[Event, ...],
                 number: dict[int, int]) -> set[int]:
    """The transitions a run fires on the Stepper: its initial step, then each event."""
    from flowcheck.semantics import start_context
    from flowcheck.semantics.stepper import MacrostepTrace

    trace = MacrostepTrace()
    try:
        snap, _ = stepper.initial(start_context(stepper, start), record=False, trace=trace,
                                  guards=(start or {}).get(OPAQUE_GUARDS))
        for name, payload in events:
            snap, _ = stepper.step(snap, name, payload, record=False, trace=trace)
    except StepError:
        pass
    return {k for t in trace.fired if (k := number.get(id(t))) is not None}


def _replay_cover(graph: Exploration, checker: _Checker, result: Campaign) -> _Failed | None:
    """Replay the cover of ``graph`` through ``checker``; the first failure, if any."""
    cover = transition_cover(graph)
    result.cover_transitions, result.transitions = cover.fired, cover.transitions
    examples, events = result.examples, result.events
    failed: _Failed | None = None
    # The cover's paths are explored ones: once the machine agrees with the Stepper there
    # (configuration, context, telemetry), the exhaustive failure-retry and telemetry
    # properties have judged the same steps, with shorter counterexamples. The cover looks
    # for differences between the implementations, and for I/O.
    checker.invariants = False
    try:
        for path in cover.paths:
            queue = list(path.events)

            def next_event(snap: Snapshot, sent: int, queue: list[Event] = queue
                           ) -> Event | None:
                return queue[sent] if sent < len(queue) else None

            checker.run(next_event, path.input)
    except _Failed as exc:
        failed = exc
    finally:
        checker.invariants = True
    result.cover_runs = result.examples - examples
    result.cover_events = result.events - events
    result.examples, result.events = examples, events
    return failed


def _adversary(graph: Exploration | None, stepper: Stepper
               ) -> tuple[GuardOutcomes | None, str | None]:
    if graph is None:
        return None, "no exploration to check the steps against"
    if not graph.complete:
        # Unexpanded snapshots had no letter tried: what was seen is not what exploration
        # claims, and a bounded result is no proof anyway.
        return None, "exploration did not finish"
    return GuardOutcomes(graph, stepper), None


def input_strategy(
    chart: Chart, machine_class: type[Any]
) -> st.SearchStrategy[dict[str, Any]] | None:
    """Inputs the flow may be started with, drawn from its Input model; None when it
    declares no input (it starts from its defaults). Each field shrinks towards the
    context's default, so that a counterexample shows only the input fields it needs."""
    fields = chart.input
    if fields is None:
        return None
    model = getattr(machine_class, "Input", None)
    model = model if isinstance(model, type) and issubclass(model, BaseModel) else None
    defaults = {f.name: _thaw(f.default) for f in chart.context}
    return st.fixed_dictionaries({
        f.name: st.one_of(st.just(defaults.get(f.name)),
                          field_strategy(f, field_metadata(model, f.name)))
        for f in fields
    })


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
    kind = data.draw(_KIND, label="kind")
    if kind == 9:  # now and then any user event, handled here or not
        pool = [s for s in sources if s.requires == 0]
    elif kind >= 7:  # events that end the flow (cancel) less often, to go deeper
        pool = live
    else:
        pool = [s for s in live if not s.ends]
    source = data.draw(_one_of(pool or live), label="event")
    payload = data.draw(source.payload, label=source.event)
    return source.event, payload


_KIND = st.integers(0, 9)
_POOLS: dict[tuple[int, ...], st.SearchStrategy[_Source]] = {}


def _one_of(pool: list[_Source]) -> st.SearchStrategy[_Source]:
    """``sampled_from(pool)``, built once per pool: a strategy made afresh at every draw
    costs more than the draw (the values drawn are the same)."""
    key = tuple(id(s) for s in pool)
    found = _POOLS.get(key)
    if found is None or len(_POOLS) > 4096:
        if len(_POOLS) > 4096:
            _POOLS.clear()
        found = _POOLS[key] = st.sampled_from(pool)
    return found


def _finding(failed: _Failed, stepper: Stepper, chart: Chart) -> Finding:
    cx: Counterexample = replay(stepper, failed.events, failed.start)
    command = f"flowcheck simulate {chart.name} --events {_quoted(event_list(failed.events))}"
    if failed.start is not None:
        command += f" --input {_quoted(json.dumps(failed.start, separators=(',', ':')))}"
    return Finding(
        failed.prop,
        f"{failed.message} (campaign; replay: {command})",
        event=failed.events[-1][0] if failed.events else None,
        counterexample=cx,
    )


def _quoted(text: str) -> str:
    """``text`` as one shell word in single quotes (drawn text may hold any character)."""
    return "'" + text.replace("'", "'\\''") + "'"


class _Checker:
    """Runs one generated sequence on a fresh machine and on the Stepper, step by step."""

    def __init__(self, chart: Chart, machine_class: type[Any], stepper: Stepper,
                 result: Campaign, adversary: GuardOutcomes | None = None) -> None:
        self.chart = chart
        self.cls = machine_class
        self.stepper = stepper
        self.result = result
        self.adversary = adversary
        self.first_miss: _Failed | None = None
        self.invariants = True
        """Whether each step also checks the invariants (failure-retry, telemetry)."""
        self.start: dict[str, Any] | None = None
        self.context_model: type[BaseModel] | None = getattr(machine_class, "Context", None)
        from flowcheck.properties.failure_retry import retry_events

        self.failure_states = chart.tagged(FAILURE)
        self.retries = {f: set(retry_events(chart, f)) for f in self.failure_states}
        self.kinds = {s.id: s.kind for s in chart.states}
        self.entry_tracks = {s.id: [a for a in s.entry if isinstance(a, Track)]
                             for s in chart.states}
        self.exit_tracks = {s.id: [a for a in s.exit if isinstance(a, Track)]
                            for s in chart.states}
        # Exit actions as the Stepper runs them: the same objects it logs as executed.
        self.exit_actions = {id(a) for node in stepper.nodes for a in node.exit}
        self.defaults = stepper.context_dict(stepper.initial_context())

    def run(self, next_event: Callable[[Snapshot, int], Event | None],
            start: dict[str, Any] | None = None) -> None:
        self.result.examples += 1
        self.start = start
        events: list[Event] = []
        context = None
        if start is None:
            machine = self._call(events, "starting the machine", self.cls)
        else:
            values = {**self.defaults, **start}
            machine = self._call(events, f"starting the machine with input {start}",
                                 lambda: self.cls(context=self.cls.Context(**values)))
            context = self.stepper.context_tuple(values)
        try:
            snap, executed = self.stepper.initial(context=context)
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
            self._against_exploration(snap, name, payload, events)
            before = {s.id for s in machine.configuration}
            sent = len(machine.telemetry)
            try:
                snap, executed = self.stepper.step(snap, name, payload)
            except StepError:
                return  # the chart cannot run this step: a well-formed finding
            source_name = self._machine_event(name)
            self._call(events, f"sending {name}", machine.send, source_name, **payload)
            self._compare(machine, snap, executed, sent, events, before)

    def _fail(self, prop: str, message: str, events: list[Event]) -> _Failed:
        return _Failed(prop, message, events, self.start)

    def _against_exploration(self, snap: Snapshot, name: str, payload: dict[str, Any],
                             events: list[Event]) -> None:
        if self.adversary is None:
            return
        miss = self.adversary.check(snap, name, payload)
        if miss is None:
            return
        self.result.abstraction_missed = True
        failed = _Failed("conformance", miss.describe(), events, self.start, missed=True)
        if self.first_miss is None:
            self.first_miss = failed
        raise failed

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
                raise self._fail("pure", f"the machine tried {detail} while {what}",
                                 events) from exc
            raise self._fail("conformance", f"python-statemachine raised "
                             f"{type(exc).__name__}: {exc} while {what}; the Stepper did not",
                             events) from exc
        if attempts:
            self.result.io_attempts += attempts
            raise self._fail("pure", f"the machine tried {attempts[0].detail} while {what}",
                             events)
        return value

    def _compare(self, machine: Any, snap: Snapshot, executed: list[Executed], sent: int,
                 events: list[Event], before: set[str]) -> None:
        stepper = self.stepper
        after = {s.id for s in machine.configuration}
        expected = set(stepper.active_ids(snap))
        if after != expected:
            raise self._fail("conformance", f"configuration differs: python-statemachine is "
                             f"in {_label(after)}, the Stepper in {_label(expected)}", events)
        context = machine.context.model_dump(mode="json")
        want = stepper.context_dict(snap.context)
        if context != want:
            diff = {k: (context.get(k), want.get(k)) for k in want if context.get(k) != want[k]}
            raise self._fail("conformance", "context differs (python-statemachine, Stepper): "
                             f"{diff}", events)
        emitted = [(e, dict(p)) for e, p in machine.telemetry[sent:]]
        tracked, together = _tracked(executed, self.exit_actions)
        if not _same_telemetry(emitted, tracked, together):
            raise self._fail("conformance", f"telemetry differs: python-statemachine emitted "
                             f"{_names(emitted)}, the Stepper {_names(tracked)}", events)
        if self.invariants:
            self._invariants(machine, before, after, emitted, events)
        self._validates(machine, events)

    def _validates(self, machine: Any, events: list[Event]) -> None:
        """The machine's context still validates against the flow's Context model."""
        if self.context_model is not None:
            try:
                self.context_model.model_validate(machine.context.model_dump())
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first.get("loc", ()))
                raise self._fail("conformance", f"the context no longer validates against "
                                 f"{self.context_model.__name__}: {where}: {first.get('msg')}",
                                 events) from exc

    def _invariants(self, machine: Any, before: set[str], after: set[str],
                    emitted: list[tuple[str, dict[str, Any]]], events: list[Event]) -> None:
        for fid in self.failure_states:
            if fid in after:
                allowed = {str(e.id) for e in machine.allowed_events}
                if not allowed & self.retries[fid]:
                    raise self._fail("failure-retry", f"in failure state {fid!r} no retry "
                                     f"event is allowed (allowed: {sorted(allowed)})", events)
        checks = ((after - before, self.entry_tracks, "entered", "entry"),
                  (before - after, self.exit_tracks, "exited", "exit"))
        for states, declared, verb, where in checks:
            for sid in sorted(states):
                if self.kinds.get(sid) == "history":
                    continue
                for track in declared.get(sid, ()):
                    if not any(_emits(track, e, p) for e, p in emitted):
                        raise self._fail("telemetry", f"state {sid!r} was {verb} without "
                                         f"{track.event}, which its {where} actions track",
                                         events)


Tracked = list[tuple[str, dict[str, Any]]]


def _tracked(executed: list[Executed], exit_actions: set[int]) -> tuple[Tracked, list[int]]:
    """The telemetry the Stepper sent, and per item the run of consecutive exit actions it
    belongs to (states exited together, in one microstep), or -1 outside exits."""
    tracked: Tracked = []
    together: list[int] = []
    run = 0
    exiting = False
    for x in executed:
        is_exit = id(x.action) in exit_actions
        if is_exit and not exiting:
            run += 1
        exiting = is_exit
        if isinstance(x.action, Track):
            tracked.append((x.action.event, x.properties or {}))
            together.append(run if is_exit else -1)
    return tracked, together


def _same_telemetry(emitted: Tracked, tracked: Tracked, together: list[int]) -> bool:
    """Equal, except that exit telemetry of states exited together may come in any order."""
    if emitted == tracked:
        return True
    if len(emitted) != len(tracked):
        return False
    i = 0
    while i < len(tracked):
        run = together[i]
        if run < 0:
            if emitted[i] != tracked[i]:
                return False
            i += 1
            continue
        j = i
        while j < len(tracked) and together[j] == run:
            j += 1
        if sorted(map(_item_key, emitted[i:j])) != sorted(map(_item_key, tracked[i:j])):
            return False
        i = j
    return True


def _item_key(item: tuple[str, dict[str, Any]]) -> str:
    return json.dumps(item, sort_keys=True, default=str)


def _emits(track: Track, event: str, properties: dict[str, Any]) -> bool:
    """Whether an emitted track event is one ``track`` declares: its name, and its literal
    properties (context fields it includes may hold anything)."""
    return event == track.event and all(
        properties.get(k) == _thaw(v) for k, v in track.properties)


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

