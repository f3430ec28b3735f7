"""What a flow's telemetry can look like: the flow as an automaton over tracked events.

A step of a flow (an event a user sends, an invoke's outcome, a delay) runs actions, and
its ``track`` actions send their events in order: exits, the transition's own actions,
entries. A trace holds those and nothing else. The events that caused the steps are not
tracked, and a step that runs no ``track`` action (a form field typed into) leaves no line.
Replaying a trace therefore searches the model: from each snapshot the flow may be in,
every step the environment can take (the letters of the exploration's alphabet, each run
on the Stepper) is a candidate, and the ones whose tracked events match the next lines of
the trace, in order, are kept. Steps that track nothing are taken silently in between,
so the context they change (a payment method typed in) enables the guards that follow.

The search keeps *hypotheses*: a snapshot, and the tracked events still to come of the
step in progress (none between steps). The set of hypotheses after each line of a run is
one state of a deterministic automaton over *observations* (a line reduced to what the
flow's ``track`` actions can tell apart: the event name, the literal properties they send,
whether the context fields they include are there). The automaton is built lazily, a
subset construction driven by the traces: each (state, observation) pair is computed once
and cached, so a million lines that follow a few hundred paths through a flow cost a
few hundred searches and a million dictionary lookups.

Matching is by the tracking plan: a line matches a ``track`` action when the event name is
the same, every literal property the action sends has the same value, and every context
field it includes is present (its value is real data the model does not predict). Extra
properties are allowed. Each transition of the automaton remembers, for every hypothesis
it reaches, one hypothesis it came from and the chart transitions the step took, so one
explanation of a run (its *witness*) is read back at the end in time linear in the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from flowcheck.chart.model import Action, Chart, State, Track, Transition
from flowcheck.errors import FlowcheckError
from flowcheck.explore.graph import Exploration, explore
from flowcheck.paths import TransitionKey
from flowcheck.semantics import start_context
from flowcheck.semantics.stepper import (
    OPAQUE_GUARDS,
    MacrostepTrace,
    Snapshot,
    StepError,
    Stepper,
)


class ReplayLimitError(FlowcheckError):
    """Replay needed more snapshots of a flow than the exploration limits allow."""


DEAD = -1
"""The transition of the automaton where no hypothesis survives: the line deviates."""


class _Other:
    """A property value no ``track`` action of the flow sends (or a property left out)."""

    def __repr__(self) -> str:
        return "<other>"


OTHER: Any = _Other()

Obs = tuple[str, tuple[Any, ...], tuple[bool, ...]]
"""A line as the flow's tracking plan sees it: the event, the value of each literal
property some ``track`` action of that event sends (:data:`OTHER` when the line has none
of those values), and for each context field such an action includes whether it is there."""

Hyp = tuple[int, int]
"""A hypothesis: a snapshot (by node number) and the rest of the step in progress (by
number; 0 when the step is over)."""


class Item(NamedTuple):
    """One tracked event as the chart declares it."""

    event: str
    properties: tuple[tuple[str, Any], ...]
    include: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        """The event as a line would carry it: included fields shown as ``"<planId>"``."""
        props: dict[str, Any] = dict(self.properties)
        for name in self.include:
            props.setdefault(name, f"<{name}>")
        return {"event": self.event, "properties": props}


class Allowed(NamedTuple):
    """What the model allowed at a point of a run: the next tracked event (None: the flow
    may end there), and the events that start the steps sending it (``start`` for the
    flow's first step; several steps may send the same event)."""

    item: Item | None
    events: tuple[str, ...]


class _Step(NamedTuple):
    dst: int
    items: tuple[int, ...]
    events: tuple[str, ...]
    fired: tuple[TransitionKey, ...]
    letter: int
    """The first letter of the alphabet that takes this step."""


_Back = tuple[Hyp, tuple[TransitionKey, ...], int, int]
"""Where a hypothesis came from: the hypothesis before the line, the chart transitions
the step took (when the line began it), the snapshot the step started from (after the
silent steps from the earlier hypothesis) and its letter (-1: the line went on with a
step already begun)."""


class Step(NamedTuple):
    """One step of an explained run: the event (with its payload) that caused it, and the
    index of the run's line that its tracked events begin with (None for a step that
    tracks nothing)."""

    event: str
    payload: dict[str, Any]
    line: int | None


class Explanation(NamedTuple):
    """How the model explains a run: the input the flow was started with (None: its
    default context) and the steps, each with the lines it sent."""

    input: dict[str, Any] | None
    steps: list[Step]


class _Shape(NamedTuple):
    """What lines of one event name are reduced to."""

    keys: tuple[str, ...]
    values: tuple[frozenset[Any], ...]
    include: tuple[str, ...]


START = "start"
"""The name :class:`Allowed` gives the flow's first step (XState's ``xstate.init``)."""


class Automaton:
    """The tracked behaviour of one chart. Build once per flow; :meth:`feed` is the hot path.

    ``exploration`` gives the Stepper, the alphabet and the inputs the flow may start
    with (explored once here when not given).
    """

    def __init__(self, chart: Chart, exploration: Exploration | None = None) -> None:
        exploration = exploration or explore(chart)
        self.chart = chart
        self.max_snapshots = exploration.limits.configurations
        """Past this many snapshots replay stops (a context that grows without bound)."""
        self.stepper: Stepper = exploration.stepper
        self.complete = exploration.complete
        self._letters = exploration.alphabet
        self._table = [(lt.event, lt.payload, lt.requires, lt.handled)
                       for lt in exploration.alphabet]
        self._keys = {id(t): (s.id, i) for s in chart.nodes()
                      for i, t in enumerate(s.transitions)}
        self._applicable: dict[int, list[int]] = {}
        self.snapshots: list[Snapshot] = []
        self._node_ids: dict[Snapshot, int] = {}
        self._tracked: list[list[_Step] | None] = []
        self._silent: list[dict[int, int] | None] = []
        self._closures: dict[int, dict[int, tuple[int, int] | None]] = {}
        self.items: list[Item] = []
        self._item_ids: dict[Item, int] = {}
        self._literal: list[dict[str, Any]] = []
        self._rests: list[tuple[tuple[str, ...], tuple[int, ...]]] = [((), ())]
        self._rest_ids: dict[tuple[tuple[str, ...], tuple[int, ...]], int] = {}
        self._sets: list[tuple[Hyp, ...]] = []
        self._set_ids: dict[tuple[Hyp, ...], int] = {}
        self._finished: list[bool] = []
        self._may_end: list[bool] = []
        self.delta: dict[tuple[int, Obs], int] = {}
        """(state, observation) -> edge number, or :data:`DEAD`."""
        self.edge_dst: list[int] = []
        """The state each edge leads to."""
        self._edge_back: list[dict[Hyp, _Back]] = []
        self.edge_items: list[tuple[Item, ...]] = []
        """The tracked events (of the chart) each edge's line matched, in a stable order."""
        self._shapes = _shapes(_tracks(chart))
        self._initial_fired: dict[int, tuple[TransitionKey, ...]] = {}
        self._inputs: dict[int, dict[str, Any] | None] = {}
        self.start = self._start(exploration.roots)
        """The state before a run's first line."""

    # -- observations ----------------------------------------------------------------------

    def observe(self, event: str, properties: dict[str, Any]) -> Obs | None:
        """A line reduced to what the tracking plan tells apart; None when no ``track``
        action of the flow sends that event name. Values no action sends are kept as they
        are here (cheap); :meth:`feed` reads them as :data:`OTHER`."""
        shape = self._shapes.get(event)
        if shape is None:
            return None
        values = tuple([properties.get(key, OTHER) for key in shape.keys])
        if shape.include:
            return event, values, tuple([name in properties for name in shape.include])
        return event, values, ()

    def normal(self, obs: Obs) -> Obs:
        """``obs`` with every property value no ``track`` action sends read as :data:`OTHER`:
        the form the automaton is built on, so that the values real users send (ids,
        amounts) never multiply its states."""
        shape = self._shapes[obs[0]]
        values: list[Any] = []
        for value, known in zip(obs[1], shape.values, strict=True):
            try:
                values.append(value if value in known else OTHER)
            except TypeError:  # a list or an object
                frozen = _frozen(value)
                values.append(frozen if frozen in known else OTHER)
        return obs[0], tuple(values), obs[2]

    def literal_keys(self, event: str) -> frozenset[str]:
        """The properties ``track`` actions send as literals with ``event`` (with any event,
        for one the flow never sends): what tells its lines apart."""
        shape = self._shapes.get(event)
        if shape is not None:
            return frozenset(shape.keys)
        return frozenset(k for s in self._shapes.values() for k in s.keys)

    def matches(self, item: int, obs: Obs) -> bool:
        it = self.items[item]
        if it.event != obs[0]:
            return False
        literal = self._literal[item]
        shape = self._shapes[it.event]
        for key, value in zip(shape.keys, obs[1], strict=True):
            if key in literal and literal[key] != value:
                return False
        for name, present in zip(shape.include, obs[2], strict=True):
            if not present and name in it.include:
                return False
        return True

    # -- the automaton -----------------------------------------------------------------------

    def feed(self, state: int, obs: Obs) -> int:
        """The edge a line takes from ``state`` (its target is ``edge_dst[edge]``), or
        :data:`DEAD` when the model allows no such line there."""
        delta = self.delta
        try:
            edge = delta.get((state, obs))
        except TypeError:  # an unhashable property value
            edge = None
        if edge is None:
            key = (state, self.normal(obs))
            edge = delta.get(key)
            if edge is None:
                edge = delta[key] = self._compute(state, key[1])
        return edge

    def is_finished(self, state: int) -> bool:
        """Every hypothesis has ended the flow: nothing more can follow."""
        return self._finished[state]

    def may_end(self, state: int) -> bool:
        """Some hypothesis has ended the flow (the run may be complete)."""
        return self._may_end[state]

    def allowed(self, state: int) -> list[Allowed]:
        """The next tracked events the model allows in ``state``, each with the events of the
        steps that send it, in a stable order."""
        found: dict[Item | None, list[str]] = {}
        for node, rest in self._sets[state]:
            if rest:
                events, items = self._rests[rest]
                _add(found, self.items[items[0]], events)
                continue
            if self.stepper.is_done(self.snapshots[node]):
                _add(found, None, ("(end)",))
            for near in self._closure(node):
                for step in self._steps(near):
                    _add(found, self.items[step.items[0]], step.events)
        return [Allowed(item, tuple(events)) for item, events in found.items()]

    def witness(self, edges: Sequence[int]) -> list[TransitionKey]:
        """The chart transitions one explanation of a run took, in order, from the edges
        its lines took (the first from :attr:`start`)."""
        if not edges:
            return []
        hyps = self._sets[self.edge_dst[edges[-1]]]
        hyp = min(hyps, key=lambda h: (h[1] != 0, not self._is_done(h[0])))
        steps: list[tuple[TransitionKey, ...]] = []
        for edge in reversed(edges):
            hyp, fired, _, _ = self._edge_back[edge][hyp]
            steps.append(fired)
        out = list(self._initial_fired.get(hyp[0], ()))
        for fired in reversed(steps):
            out.extend(fired)
        return out

    def explain(self, edges: Sequence[int]) -> Explanation:
        """One explanation of a run, from the edges its lines took: the events that caused
        its steps, silent ones included, each with the line its telemetry begins with.
        Replayed on the Stepper from the input given, they send the run's lines."""
        if not edges:
            return Explanation(None, [])
        hyps = self._sets[self.edge_dst[edges[-1]]]
        hyp = min(hyps, key=lambda h: (h[1] != 0, not self._is_done(h[0])))
        backwards: list[Step] = []
        for index in range(len(edges) - 1, -1, -1):
            hyp, _, near, letter = self._edge_back[edges[index]][hyp]
            if letter < 0:
                continue
            event, payload, _, _ = self._table[letter]
            backwards.append(Step(event, dict(payload), index))
            parents = self._closures[hyp[0]]
            link = parents[near]
            while link is not None:
                near, silent = link
                event, payload, _, _ = self._table[silent]
                backwards.append(Step(event, dict(payload), None))
                link = parents[near]
        backwards.reverse()
        return Explanation(self._inputs.get(hyp[0]), backwards)

    @property
    def states(self) -> int:
        """How many states of the automaton were built so far."""
        return len(self._sets)

    # -- building ------------------------------------------------------------------------------

    def _start(self, roots: Iterable[dict[str, Any] | None]) -> int:
        hyps: dict[Hyp, None] = {}
        for given in roots:
            guards = (given or {}).get(OPAQUE_GUARDS)
            trace = MacrostepTrace()
            try:
                snap, log = self.stepper.initial(
                    context=start_context(self.stepper, given), record=True, trace=trace,
                    guards=guards if isinstance(guards, dict) else None)
            except StepError:
                continue
            node = self._node(snap)
            self._initial_fired.setdefault(node, tuple(self._key(t) for t in trace.fired))
            self._inputs.setdefault(node, given)
            items = tuple(self._item(e.action) for e in log if isinstance(e.action, Track))
            hyps.setdefault((node, self._rest((START,), items)), None)
        return self._set(tuple(sorted(hyps)))

    def _compute(self, state: int, obs: Obs) -> int:
        reached: dict[Hyp, _Back] = {}
        matched: dict[int, None] = {}
        for hyp in self._sets[state]:
            node, rest = hyp
            if rest:
                events, items = self._rests[rest]
                if self.matches(items[0], obs):
                    reached.setdefault((node, self._rest(events, items[1:])),
                                       (hyp, (), node, -1))
                    matched[items[0]] = None
                continue
            for near in self._closure(node):
                for step in self._steps(near):
                    if self.matches(step.items[0], obs):
                        nxt = (step.dst, self._rest(step.events, step.items[1:]))
                        reached.setdefault(nxt, (hyp, step.fired, near, step.letter))
                        matched[step.items[0]] = None
        if not reached:
            return DEAD
        edge = len(self.edge_dst)
        self.edge_dst.append(self._set(tuple(sorted(reached))))
        self._edge_back.append(reached)
        self.edge_items.append(tuple(self.items[i] for i in sorted(matched)))
        return edge

    def _set(self, hyps: tuple[Hyp, ...]) -> int:
        found = self._set_ids.get(hyps)
        if found is None:
            found = self._set_ids[hyps] = len(self._sets)
            self._sets.append(hyps)
            ended = [rest == 0 and self._is_done(node) for node, rest in hyps]
            self._finished.append(bool(ended) and all(ended))
            self._may_end.append(any(ended))
        return found

    def _is_done(self, node: int) -> bool:
        return node >= 0 and self.stepper.is_done(self.snapshots[node])

    def _node(self, snap: Snapshot) -> int:
        found = self._node_ids.get(snap)
        if found is None:
            if len(self.snapshots) >= self.max_snapshots:
                raise ReplayLimitError(
                    f"{self.chart.name}: replaying the traces took more than "
                    f"{self.max_snapshots:,} snapshots of the flow (its context grows without "
                    "bound in steps the traces cannot see); raise [tool.flowcheck] "
                    "max-configurations, or bound the context"
                )
            found = self._node_ids[snap] = len(self.snapshots)
            self.snapshots.append(snap)
            self._tracked.append(None)
            self._silent.append(None)
        return found

    def _item(self, action: Action) -> int:
        assert isinstance(action, Track)
        item = Item(action.event, action.properties, action.include)
        found = self._item_ids.get(item)
        if found is None:
            found = self._item_ids[item] = len(self.items)
            self.items.append(item)
            self._literal.append({k: _frozen(v) for k, v in action.properties})
        return found

    def _rest(self, events: tuple[str, ...], items: tuple[int, ...]) -> int:
        if not items:
            return 0
        key = (events, items)
        found = self._rest_ids.get(key)
        if found is None:
            found = self._rest_ids[key] = len(self._rests)
            self._rests.append(key)
        return found

    def _key(self, t: Transition) -> TransitionKey:
        return self._keys[id(t)]

    def _steps(self, node: int) -> list[_Step]:
        steps = self._tracked[node]
        if steps is None:
            self._expand(node)
            steps = self._tracked[node]
            assert steps is not None
        return steps

    def _closure(self, node: int) -> dict[int, tuple[int, int] | None]:
        """``node`` and every snapshot reached from it by steps that track nothing, each
        with the snapshot and letter of a shortest such path to it (None for ``node``)."""
        found = self._closures.get(node)
        if found is None:
            seen: dict[int, tuple[int, int] | None] = {node: None}
            queue = [node]
            for current in queue:  # breadth first: the paths are shortest
                silent = self._silent[current]
                if silent is None:
                    self._expand(current)
                    silent = self._silent[current]
                for nxt, letter in (silent or {}).items():
                    if nxt not in seen:
                        seen[nxt] = (current, letter)
                        queue.append(nxt)
            found = self._closures[node] = seen
        return found

    def _expand(self, node: int) -> None:
        snap = self.snapshots[node]
        tracked: dict[tuple[int, tuple[int, ...]], _Step] = {}
        silent: dict[int, int] = {}
        if not self.stepper.is_stopped(snap):
            for li in self._letters_for(snap.configuration):
                event, payload, _, _ = self._table[li]
                trace = MacrostepTrace()
                try:
                    nxt, log = self.stepper.step(snap, event, payload, record=True, trace=trace)
                except StepError:
                    continue  # exploration reports it; no run of the flow takes that step
                items = tuple(self._item(e.action) for e in log if isinstance(e.action, Track))
                if not items:
                    if nxt != snap:
                        silent.setdefault(self._node(nxt), li)
                    continue
                dst = self._node(nxt)
                known = tracked.get((dst, items))
                if known is None:
                    fired = tuple(self._key(t) for t in trace.fired)
                    tracked[(dst, items)] = _Step(dst, items, (event,), fired, li)
                elif event not in known.events:
                    tracked[(dst, items)] = known._replace(events=(*known.events, event))
        self._tracked[node] = list(tracked.values())
        self._silent[node] = silent

    def _letters_for(self, config: int) -> list[int]:
        found = self._applicable.get(config)
        if found is None:
            found = self._applicable[config] = [
                li for li, (_, _, requires, handled) in enumerate(self._table)
                if config & handled and config & requires == requires
            ]
        return found


def _add(found: dict[Item | None, list[str]], item: Item | None,
         events: Iterable[str]) -> None:
    known = found.setdefault(item, [])
    known.extend(e for e in events if e not in known)


def _tracks(chart: Chart) -> list[Track]:
    """Every ``track`` action the chart declares: root entry, state entries and exits, and
    the actions of transitions."""
    actions: list[Action] = list(chart.entry)
    nodes: list[State] = list(chart.nodes())
    for node in nodes:
        actions.extend(node.entry)
        actions.extend(node.exit)
        for t in node.transitions:
            actions.extend(t.actions)
    return [a for a in actions if isinstance(a, Track)]


def _shapes(tracks: list[Track]) -> dict[str, _Shape]:
    keys: dict[str, dict[str, set[Any]]] = {}
    include: dict[str, dict[str, None]] = {}
    for t in tracks:
        per = keys.setdefault(t.event, {})
        for k, v in t.properties:
            per.setdefault(k, set()).add(_frozen(v))
        inc = include.setdefault(t.event, {})
        for name in t.include:
            inc.setdefault(name, None)
    return {
        event: _Shape(tuple(sorted(per)), tuple(frozenset(per[k]) for k in sorted(per)),
                      tuple(include[event]))
        for event, per in keys.items()
    }


def _frozen(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    return value
