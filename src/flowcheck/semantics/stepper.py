"""The Stepper: runs a chart with XState v5 semantics, fast.

A *snapshot* is ``(configuration, history, context)``: the configuration is a
bit mask over state indices (the root is index 0 and always active), the
history is a tuple with one recorded mask per history state, the context a
tuple in field order. Snapshots are hashable, so exploration can deduplicate
them. A *step* consumes one event (a macrostep: the event's microstep, then
eventless transitions and raised events to a fixed point).

The algorithm follows XState v5's ``macrostep``/``microstep``: document-order
selection from atomic states outwards, conflict removal by exit sets,
transition domains with ``reenter``, history recorded before exit actions,
``xstate.done.state.<id>`` raised when a compound reaches a final child or
all regions of a parallel are final.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from flowcheck.chart.model import (
    Action,
    Assign,
    Chart,
    Custom,
    Raise,
    SendParent,
    Track,
    Transition,
    done_state,
    matches_event,
)
from flowcheck.errors import FlowcheckError
from flowcheck.semantics.compile import Compiled, Context, Payload, compile_expr, freeze

ROOT = 0
_ERROR_ACTOR = "xstate.error.actor."
OPAQUE_GUARDS = "$guards"
"""The key of an event under which the outcomes of guards without a body are given."""
MAX_MICROSTEPS = 1000
_ACTION = 0
_DONE = 1
_ASSIGN = 0
_QUEUE = 1
_Op = tuple[int, "Action | str"]
_Plan = tuple["tuple[_Trans, ...] | None", "tuple[tuple[tuple[_Trans, ...], ...], ...] | None"]
Outcome = tuple[int, tuple[int, ...], tuple[tuple[tuple[int, Compiled, bool], ...], ...]]
"""A step's result without its context: configuration, history, and the assign groups to
run, each update as (field index, value, whether the value reads nothing of the context)."""
Kernel = tuple[tuple[tuple[Compiled, Outcome], ...], "Outcome | None"]
"""See :meth:`Stepper.kernel`: the guarded candidates with their outcomes, and the outcome
when no guard holds (None: the snapshot stays)."""


class Snapshot(NamedTuple):
    configuration: int
    history: tuple[int, ...]
    context: Context


class Executed(NamedTuple):
    """An action as run: the declaration, and for ``track`` the properties it sent."""

    action: Action
    properties: dict[str, Any] | None = None


class Selection(NamedTuple):
    """A point inside a step where transitions were selected: the snapshot, and the event
    object in effect there (XState passes it to eventless guards too)."""

    snapshot: Snapshot
    event: Payload


@dataclass
class MacrostepTrace:
    """What happened inside one step, for properties that look past settled snapshots.

    ``fired``: the transitions each microstep took, in order (eventless ones, and those of
    raised and done events, included); ``entered``: every state entered, also one left
    again within the step (a transient state); ``settle_points``: each point where
    eventless transitions were selected; ``internal``: each point where a raised or done
    event was taken from the internal queue and its transitions selected.
    """

    fired: list[Transition] = field(default_factory=list)
    entered: set[str] = field(default_factory=set)
    settle_points: list[Selection] = field(default_factory=list)
    internal: list[Selection] = field(default_factory=list)


class StepError(FlowcheckError):
    """Running the chart failed: a guard or assign raised, or eventless transitions never settle."""

    def __init__(self, message: str, state: str | None = None, event: str | None = None) -> None:
        super().__init__(message)
        self.state = state
        self.event = event


@dataclass
class _Node:
    index: int
    id: str
    kind: str
    parent: int
    children: list[int] = field(default_factory=list)
    initial: int = -1
    ancestors: list[int] = field(default_factory=list)  # proper ancestors, nearest first
    descendants_mask: int = 0
    children_mask: int = 0
    entry: tuple[Action, ...] = ()
    exit: tuple[Action, ...] = ()
    on: dict[str, list[_Trans]] = field(default_factory=dict)
    always: list[_Trans] = field(default_factory=list)
    history_slots: list[int] = field(default_factory=list)  # history nodes among children
    deep: bool = False
    slot: int = -1


@dataclass(eq=False)
class _Trans:
    source: int
    targets: tuple[int, ...]
    guard: Compiled | None
    actions: tuple[Action, ...]
    reenter: bool
    decl: Transition
    guard_name: str = ""


def _bits(mask: int) -> list[int]:
    """The indices of the bits set in ``mask``, lowest first: in time proportional to the
    bits set, not to the states of the chart (a configuration of a 10,000-state chart
    has a few bits set among 10,000)."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


class Stepper:
    """Runs one chart. Build once per chart; ``step`` is pure and safe to call millions of times."""

    def __init__(self, chart: Chart) -> None:
        self.chart = chart
        self.fields = {f.name: i for i, f in enumerate(chart.context)}
        self.field_names = [f.name for f in chart.context]
        ids = [s.id for s in chart.states]
        self.index: dict[str, int] = {sid: i + 1 for i, sid in enumerate(ids)}
        self.index[chart.id] = ROOT
        # The root is a compound state, unless the machine is parallel at its root or has no
        # states at all (XState allows both).
        root_kind = chart.root.kind if chart.root is not None else "compound"
        root = _Node(ROOT, chart.id, root_kind, -1, entry=chart.entry)
        self.nodes: list[_Node] = [root]
        hist_slot = 0
        for s in chart.states:
            parent = self.index[s.parent] if s.parent else ROOT
            node = _Node(len(self.nodes), s.id, s.kind, parent, entry=s.entry, exit=s.exit)
            if s.kind == "history":
                node.deep = s.history == "deep"
                node.slot = hist_slot
                hist_slot += 1
            self.nodes.append(node)
        self.history_count = hist_slot
        for node in self.nodes[1:]:
            self.nodes[node.parent].children.append(node.index)
            if node.kind == "history":
                self.nodes[node.parent].history_slots.append(node.index)
        # State values are keyed by state keys (XState's), which are the ids unless told.
        self.keys = [chart.id, *(st.name for st in chart.states)]
        root.initial = self.index[chart.initial] if root_kind == "compound" else -1
        for s in chart.states:
            if s.initial:
                self.nodes[self.index[s.id]].initial = self.index[s.initial]
        for node in self.nodes:
            anc: list[int] = []
            p = node.parent
            while p != -1:
                anc.append(p)
                p = self.nodes[p].parent
            node.ancestors = anc
        for node in reversed(self.nodes):
            for c in node.children:
                node.children_mask |= 1 << c
            node.descendants_mask = node.children_mask
            for c in node.children:
                node.descendants_mask |= self.nodes[c].descendants_mask
        self._guards: dict[str, Compiled] = {}
        self._assigns: dict[str, list[tuple[int, Compiled]]] = {}
        self._assign_free: dict[str, tuple[bool, ...]] = {}
        self._kernel_outcomes: dict[
            tuple[int, tuple[int, ...], tuple[_Trans, ...]], Outcome | Literal[False]] = {}
        for s in chart.nodes():  # the root node's own transitions included
            node = self.nodes[self.index[s.id]]
            for t in s.transitions:
                tr = self._compile_transition(t)
                if t.event is None:
                    node.always.append(tr)
                else:
                    node.on.setdefault(t.event, []).append(tr)
        for s in chart.states:
            for a in (*s.entry, *s.exit):
                self._compile_action(a)
        for a in chart.entry:
            self._compile_action(a)
        self.states_mask = (1 << len(self.nodes)) - 1
        """Every state's bit (the root's included); the status bits lie above it."""
        self.atomic_mask = 0
        self.final_mask = 0
        self.parallel_mask = 0
        self.history_mask = 0
        for node in self.nodes:
            if node.kind in ("atomic", "final"):
                self.atomic_mask |= 1 << node.index
            if node.kind == "final":
                self.final_mask |= 1 << node.index
            if node.kind == "parallel":
                self.parallel_mask |= 1 << node.index
            if node.kind == "history":
                self.history_mask |= 1 << node.index
        self.top_final_mask = 0
        for c in root.children:
            if self.nodes[c].kind == "final":
                self.top_final_mask |= 1 << c
        # XState's status "error": an invoke's error that no transition takes stops the
        # machine. It is one bit past the states, so configurations stay comparable.
        self.error_bit = 1 << len(self.nodes)
        # A parallel root is done when every region is: one more bit past the states.
        self.done_bit = 1 << (len(self.nodes) + 1)
        self.top_final_mask |= self.done_bit
        self.stopped_mask = self.top_final_mask | self.error_bit
        self._has_always = any(n.always for n in self.nodes)
        self._output = [(k, compile_expr(e, self.fields)) for k, e in chart.output]
        self._plans: dict[tuple[int, str], _Plan] = {}
        self._candidate_cache: dict[tuple[int, str], list[_Trans]] = {}
        self._micro_cache: dict[
            tuple[int, tuple[int, ...], tuple[_Trans, ...]],
            tuple[int, tuple[int, ...], tuple[tuple[int, Any], ...]],
        ] = {}

    # -- compilation --------------------------------------------------------------------

    def _compile_transition(self, t: Transition) -> _Trans:
        guard: Compiled | None = None
        name = ""
        if t.guard is not None:
            name = t.guard.name
            if t.guard.expr is None:
                # Opaque guards (imported charts) read their outcome from the event.
                gname, negated = t.guard.key, t.guard.negated

                def opaque(c: Context, ev: Payload) -> bool:
                    held = bool((ev.get(OPAQUE_GUARDS) or {}).get(gname, False))
                    return not held if negated else held

                guard = opaque
            else:
                guard = compile_expr(t.guard.expr, self.fields)
        for a in t.actions:
            self._compile_action(a)
        return _Trans(
            source=self.index[t.source],
            targets=tuple(self.index[x] for x in t.targets),
            guard=guard,
            actions=t.actions,
            reenter=t.reenter,
            decl=t,
            guard_name=name,
        )

    def _compile_action(self, a: Action) -> None:
        if isinstance(a, Assign) and a.name not in self._assigns:
            self._assigns[a.name] = [
                (self.fields[f], compile_expr(v, self.fields)) for f, v in a.updates
            ]
            # Which values read nothing of the context (the event's fields, literals): a
            # step's kernel computes those once per event object.
            self._assign_free[a.name] = tuple(
                not any(r == "context" or r.startswith("context.") for r in v.refs())
                for _, v in a.updates)

    # -- public API --------------------------------------------------------------------

    def initial_context(self) -> Context:
        return tuple(_freeze(f.default) for f in self.chart.context)

    def context_dict(self, context: Context) -> dict[str, Any]:
        return {name: _thaw(v) for name, v in zip(self.field_names, context, strict=True)}

    def context_tuple(self, values: dict[str, Any]) -> Context:
        return tuple(_freeze(values.get(n)) for n in self.field_names)

    def initial(
        self, context: Context | None = None, record: bool = True,
        trace: MacrostepTrace | None = None, guards: dict[str, bool] | None = None,
    ) -> tuple[Snapshot, list[Executed]]:
        """The snapshot after entering the initial configuration (XState ``initialTransition``).
        With ``trace``, what happened inside the step is added to it; ``guards`` are the
        outcomes of guards without a body met in this step (false when not given)."""
        log: list[Executed] | None = [] if record else None
        ctx = self.initial_context() if context is None else context
        hist = (0,) * self.history_count
        event: Payload = {"type": "xstate.init"}
        if guards:
            event[OPAQUE_GUARDS] = dict(guards)
        queue: list[tuple[str, Payload]] = []
        ctx = self._run_actions(self.nodes[ROOT].entry, ctx, event, queue, log)
        to_enter, _default_entry = self._entry_set_for_default(ROOT, hist)
        program: list[_Op] = []
        config = self._enter(to_enter, 1 << ROOT, program)
        ctx = self._run_program(tuple(program), ctx, event, queue, log)
        if trace is not None:
            trace.entered.update(self.nodes[i].id for i in to_enter if i != ROOT)
        snap = self._settle(Snapshot(config, hist, ctx), event, queue, log, trace)
        return snap, log or []

    def is_done(self, snap: Snapshot) -> bool:
        return bool(snap.configuration & self.top_final_mask)

    def is_errored(self, snap: Snapshot) -> bool:
        """Whether the machine stopped with an error (XState ``status: "error"``): an
        ``xstate.error.actor.*`` event that no transition took."""
        return bool(snap.configuration & self.error_bit)

    def is_stopped(self, snap: Snapshot) -> bool:
        """Done or errored: no event changes anything any more."""
        return bool(snap.configuration & self.stopped_mask)

    def output(self, snap: Snapshot) -> dict[str, Any] | None:
        """The machine's output (XState ``snapshot.output``) once it is done, else None.

        As in XState, it is computed from the context the final state was entered with; a
        chart that declares no output is done with none."""
        if not self.is_done(snap) or not self.chart.output:
            return None
        event: Payload = {"type": done_state(self.chart.id)}
        return {key: _thaw(f(snap.context, event)) for key, f in self._output}

    def step(
        self, snap: Snapshot, event: str, payload: Payload | None = None, record: bool = True,
        trace: MacrostepTrace | None = None,
    ) -> tuple[Snapshot, list[Executed]]:
        """One macrostep: the snapshot after ``event`` and the actions executed, in order.
        With ``trace``, what happened inside the step is added to it (:meth:`advance`, the
        path exploration takes, never traces)."""
        log: list[Executed] | None = [] if record else None
        if self.is_stopped(snap):
            return snap, []
        ev: Payload = {"type": event, **(payload or {})}
        queue: list[tuple[str, Payload]] = []
        enabled = self._select(snap, event, ev)
        if not enabled and event.startswith(_ERROR_ACTOR):
            return self._errored(snap), log or []
        if enabled:
            before = snap
            snap = self._microstep(enabled, snap, ev, queue, log)
            if trace is not None:
                self._trace_microstep(trace, enabled, before, snap)
        snap = self._settle(snap, ev, queue, log, trace)
        return snap, log or []

    def selected(self, snap: Snapshot, event: str | None, ev: Payload) -> list[Transition]:
        """The transitions a microstep at ``snap`` takes for ``event`` (None: the eventless
        ones), ``ev`` being the event object in effect; raises StepError if a guard raises."""
        enabled = (self._select_eventless(snap, ev) if event is None
                   else self._select(snap, event, ev))
        return [t.decl for t in self._remove_conflicts(enabled, snap)]

    def guard(self, t: Transition) -> Compiled | None:
        """The compiled guard of one of the chart's transitions (None when unguarded)."""
        node = self.nodes[self.index[t.source]]
        candidates = node.always if t.event is None else node.on.get(t.event, [])
        for tr in candidates:
            if tr.decl is t:
                return tr.guard
        raise KeyError(f"transition {t.event or 'eventless'} from {t.source!r} is not in the chart")

    def advance(self, snap: Snapshot, ev: Payload) -> Snapshot:
        """``step`` without recording, for exploration: ``ev`` is the whole event object
        (``{"type": ..., **payload}``). Selection plans per (configuration, event) and the
        structure of microsteps per (configuration, history, transitions) are cached, so
        a step mostly evaluates guards and assigns. Any error falls back to ``step``, which
        raises it with its explanation."""
        config, hist, ctx = snap
        if config & self.stopped_mask:
            return snap
        event = ev["type"]
        plan = self._plans.get((config, event))
        if plan is None:
            plan = self._plans[(config, event)] = self._plan(config, event)
        static, chains = plan
        try:
            if static is not None:
                enabled = static
            elif chains is None:
                enabled = tuple(self._select(snap, event, ev))
            else:
                picked: list[_Trans] = []
                for chain in chains:
                    found = None
                    for cands in chain:
                        for t in cands:
                            g = t.guard
                            if g is None or g(ctx, ev):
                                found = t
                                break
                        if found is not None:
                            break
                    if found is not None and found not in picked:
                        picked.append(found)
                enabled = tuple(picked)
            if not enabled and event.startswith(_ERROR_ACTOR):
                return self._errored(snap)
            if not enabled and not self._has_always:
                return snap
            queue: list[tuple[str, Payload]] = []
            if enabled:
                key = (config, hist, enabled)
                micro = self._micro_cache.get(key)
                if micro is None:
                    transitions = self._remove_conflicts(list(enabled), snap)
                    new_config, new_hist, program = self._structure(transitions, config, hist)
                    micro = (new_config, new_hist, self._fast_program(program))
                    self._micro_cache[key] = micro
                new_config, new_hist, ops = micro
                for op, data in ops:
                    if op == _ASSIGN:
                        new = list(ctx)
                        values = [(i, f(ctx, ev)) for i, f in data]
                        for i, v in values:
                            new[i] = v
                        ctx = tuple(new)
                    else:
                        queue.append(data)
                snap = Snapshot(new_config, new_hist, ctx)
            if queue or self._has_always:
                snap = self._settle(snap, ev, queue, None)
            return snap
        except Exception:
            payload = {k: v for k, v in ev.items() if k != "type"}
            return self.step(snap, event, payload, record=False)[0]

    def kernel(self, config: int, hist: tuple[int, ...], event: str) -> Kernel | None:
        """What :meth:`advance` does with ``event`` from any snapshot whose configuration is
        ``config`` and history ``hist``, with the context left open: the guarded candidates
        in the order selection tries them, each with its outcome, and the outcome when no
        guard holds. An outcome is the configuration, the history and the assigns to run
        (groups run one after the other, each reading the context the one before left), or
        None when the snapshot stays as it is.

        None when no such summary exists: eventless transitions or raised and done events
        must settle (what happens then depends on the context), or parallel regions compete
        for the event, or several regions select with guards. Exploration then calls
        :meth:`advance`; otherwise it evaluates the kernel itself, which gives what
        ``advance`` gives (the same plans and microstep structures, cached once)."""
        if self._has_always or config & self.stopped_mask:
            return None
        plan = self._plans.get((config, event))
        if plan is None:
            plan = self._plans[(config, event)] = self._plan(config, event)
        static, chains = plan
        if static is None and (chains is None or len(chains) > 1):
            return None
        snap = Snapshot(config, hist, ())
        nothing: Outcome | None = None
        if event.startswith(_ERROR_ACTOR):
            nothing = (config | self.error_bit, hist, ())
        if static is not None:
            if not static:
                return (), nothing
            fixed = self._outcome(snap, static)
            return None if fixed is False else ((), fixed)
        assert chains is not None
        guarded: list[tuple[Compiled, Outcome]] = []
        for cands in chains[0]:
            for t in cands:
                outcome = self._outcome(snap, (t,))
                if outcome is False:
                    return None
                if t.guard is None:
                    return tuple(guarded), outcome
                guarded.append((t.guard, outcome))
        return tuple(guarded), nothing

    def _outcome(self, snap: Snapshot, enabled: tuple[_Trans, ...]) -> Outcome | Literal[False]:
        """The microstep ``enabled`` makes from ``snap``'s configuration and history: the
        same structure ``advance`` computes, with each assign's updates marked when they
        read nothing of the context; False when it queues an event (then the step must
        settle, which depends on the context)."""
        config, hist, _ = snap
        key = (config, hist, enabled)
        found = self._kernel_outcomes.get(key)
        if found is None:
            transitions = self._remove_conflicts(list(enabled), snap)
            new_config, new_hist, program = self._structure(transitions, config, hist)
            groups: list[tuple[tuple[int, Compiled, bool], ...]] = []
            found = (new_config, new_hist, ())
            for op, item in program:
                if op == _DONE or isinstance(item, Raise):
                    found = False
                    break
                if isinstance(item, Assign):
                    groups.append(tuple(
                        (i, f, free) for (i, f), free in zip(
                            self._assigns[item.name], self._assign_free[item.name],
                            strict=True)))
            if found is not False:
                found = (new_config, new_hist, tuple(groups))
            self._kernel_outcomes[key] = found
        return found

    def _candidates(self, idx: int, event: str) -> list[_Trans]:
        """A state's transitions for ``event``, as XState picks them: the ones on exactly
        that event, else those of the wildcard descriptors it matches (``*``, ``a.*``),
        the most specific descriptor first."""
        key = (idx, event)
        found = self._candidate_cache.get(key)
        if found is None:
            on = self.nodes[idx].on
            found = on.get(event)
            if found is None:
                found = []
                for descriptor in sorted((d for d in on if matches_event(event, d)),
                                         key=len, reverse=True):
                    found.extend(on[descriptor])
            self._candidate_cache[key] = found
        return found

    def _errored(self, snap: Snapshot) -> Snapshot:
        return Snapshot(snap.configuration | self.error_bit, snap.history, snap.context)

    def _plan(self, config: int, event: str) -> _Plan:
        """Per active atomic state, the candidate lists for ``event`` from it outwards; and
        the transitions taken when no guard is involved (then selection is fixed)."""
        chains = []
        for atom in self._atomic(config):
            chain = tuple(
                tuple(self._candidates(idx, event))
                for idx in (atom, *self.nodes[atom].ancestors)
                if self._candidates(idx, event)
            )
            if chain:
                chains.append(chain)
        if self._regions_compete(config, event):
            return None, None  # select with _select, as XState does
        static: list[_Trans] | None = []
        for chain in chains:
            first = chain[0][0]
            if first.guard is not None:
                static = None
                break
            assert static is not None
            if first not in static:
                static.append(first)
        return (tuple(static) if static is not None else None), tuple(chains)

    def _regions_compete(self, config: int, event: str) -> bool:
        """Whether per-atomic-state chains could select differently from :meth:`_select`:
        an active parallel state at or below a state handling ``event`` has a region that
        handles it too."""
        for index in _bits(config & self.parallel_mask):
            node = self.nodes[index]
            above = any(self._candidates(a, event) for a in (node.index, *node.ancestors))
            inside = any(self._candidates(i, event)
                         for i in _bits(config & node.descendants_mask))
            if above and inside:
                return True
        return False

    def _fast_program(self, program: tuple[_Op, ...]) -> tuple[tuple[int, Any], ...]:
        """The part of a microstep program that changes the context or the internal queue."""
        ops: list[tuple[int, Any]] = []
        for op, item in program:
            if op == _DONE:
                ops.append((_QUEUE, (item, {"type": item})))
            elif isinstance(item, Assign):
                ops.append((_ASSIGN, tuple(self._assigns[item.name])))
            elif isinstance(item, Raise):
                ops.append((_QUEUE, (item.event, {"type": item.event})))
        return tuple(ops)

    def enabled_events(self, snap: Snapshot) -> list[str]:
        """Events with at least one transition from an active state (guards not evaluated)."""
        names: list[str] = []
        for index in _bits(snap.configuration & self.states_mask):
            for name in self.nodes[index].on:
                if name not in names:
                    names.append(name)
        return names

    def active_ids(self, snap: Snapshot) -> list[str]:
        """Active states in document order, without the root."""
        nodes = self.nodes
        return [nodes[i].id for i in _bits(snap.configuration & self.states_mask & ~1)]

    def value(self, snap: Snapshot) -> Any:
        """The XState ``snapshot.value`` of a configuration."""
        return self._value_of(ROOT, snap.configuration)

    def _value_of(self, index: int, config: int) -> Any:
        node = self.nodes[index]
        active = _bits(config & node.children_mask & ~self.history_mask)
        if node.kind == "parallel":
            return {self.keys[c]: self._value_of(c, config) for c in active}
        if not active:
            return {}
        child = self.nodes[active[0]]
        if child.kind in ("compound", "parallel"):
            return {self.keys[child.index]: self._value_of(child.index, config)}
        return self.keys[child.index]

    # -- selection -------------------------------------------------------------------------

    def _atomic(self, config: int) -> list[int]:
        mask = config & self.atomic_mask
        out = []
        while mask:
            low = mask & -mask
            out.append(low.bit_length() - 1)
            mask ^= low
        return out

    def _guard_ok(self, t: _Trans, ctx: Context, ev: Payload) -> bool:
        if t.guard is None:
            return True
        try:
            return bool(t.guard(ctx, ev))
        except Exception as exc:  # a guard is user code: report where it failed
            raise StepError(
                f"guard {t.guard_name!r} on {t.decl.event or 'eventless'} from "
                f"{t.decl.source!r} raised {type(exc).__name__}: {exc}",
                state=t.decl.source,
                event=t.decl.event,
            ) from exc

    def _select(self, snap: Snapshot, event: str, ev: Payload) -> list[_Trans]:
        """XState's ``transitionNode``: a compound state's own transitions count only when
        its active child selects none; a parallel state's only when no region selects any
        (unlike SCXML, where every atomic state looks outwards on its own)."""
        config = snap.configuration
        history = self.history_mask

        def own(idx: int) -> list[_Trans]:
            for t in self._candidates(idx, event):
                if self._guard_ok(t, snap.context, ev):
                    return [t]
            return []

        def select(idx: int) -> list[_Trans]:
            node = self.nodes[idx]
            found: list[_Trans] = []
            for c in _bits(config & node.children_mask & ~history):
                found.extend(select(c))
                if node.kind != "parallel":
                    break
            return found or own(idx)

        return select(ROOT)

    def _select_eventless(self, snap: Snapshot, ev: Payload) -> list[_Trans]:
        enabled: list[_Trans] = []
        for atom in self._atomic(snap.configuration):
            for idx in (atom, *self.nodes[atom].ancestors):
                cands = self.nodes[idx].always
                found = None
                for t in cands:
                    if self._guard_ok(t, snap.context, ev):
                        found = t
                        break
                if found is not None:
                    if found not in enabled:
                        enabled.append(found)
                    break
        return enabled

    # -- the macrostep loop -----------------------------------------------------------------

    def _settle(
        self,
        snap: Snapshot,
        ev: Payload,
        queue: list[tuple[str, Payload]],
        log: list[Executed] | None,
        trace: MacrostepTrace | None = None,
    ) -> Snapshot:
        check_eventless = True
        steps = 0
        while not self.is_done(snap):
            steps += 1
            if steps > MAX_MICROSTEPS:
                active = ", ".join(self.active_ids(snap))
                raise StepError(
                    f"eventless transitions never settle (more than {MAX_MICROSTEPS} microsteps"
                    f" in one step, active: {active}): add a guard that becomes false",
                    event=str(ev.get("type")),
                )
            if trace is not None and check_eventless:
                trace.settle_points.append(Selection(snap, ev))
            enabled = self._select_eventless(snap, ev) if check_eventless else []
            previous = snap if enabled else None
            if not enabled:
                if not queue:
                    break
                held = ev.get(OPAQUE_GUARDS)
                name, ev = queue.pop(0)
                if held is not None:
                    # Guards without a body keep the outcomes the step was explored with.
                    ev = {**ev, OPAQUE_GUARDS: held}
                if trace is not None:
                    trace.internal.append(Selection(snap, ev))
                enabled = self._select(snap, name, ev)
            if enabled:
                before = snap
                snap = self._microstep(enabled, snap, ev, queue, log)
                if trace is not None:
                    self._trace_microstep(trace, enabled, before, snap)
            # XState re-selects eventless transitions only when the microstep changed the
            # snapshot: a targetless `always` with plain actions fires once per macrostep.
            check_eventless = snap != previous
        return snap

    def _trace_microstep(
        self, trace: MacrostepTrace, enabled: list[_Trans], before: Snapshot, after: Snapshot
    ) -> None:
        transitions = self._remove_conflicts(enabled, before)
        trace.fired.extend(t.decl for t in transitions)
        # The entry set is computed with the history as recorded by the microstep's exits.
        to_enter: set[int] = set()
        default_entry: set[int] = set()
        for t in transitions:
            self._entry_set(t, after.history, to_enter, default_entry)
        trace.entered.update(self.nodes[i].id for i in to_enter if i != ROOT)

    # -- microstep ------------------------------------------------------------------------

    def _effective_targets(self, t: _Trans, hist: tuple[int, ...]) -> list[int]:
        out: list[int] = []
        for target in t.targets:
            node = self.nodes[target]
            if node.kind == "history":
                recorded = hist[node.slot]
                if recorded:
                    out.extend(_bits(recorded))
                else:
                    out.extend(self._history_default(node))
            else:
                out.append(target)
        return out

    def _history_default(self, node: _Node) -> list[int]:
        parent = self.nodes[node.parent]
        if parent.kind == "parallel":
            # A parallel state has no initial child: XState's default is the parallel itself.
            return [parent.index]
        return [parent.initial]

    def _is_descendant(self, child: int, ancestor: int) -> bool:
        return bool(self.nodes[ancestor].descendants_mask >> child & 1)

    def _domain(self, t: _Trans, hist: tuple[int, ...]) -> int | None:
        targets = self._effective_targets(t, hist)
        if not targets:
            return None
        src = t.source
        if not t.reenter and all(x == src or self._is_descendant(x, src) for x in targets):
            return src
        head, *tail = [*targets, src]
        for anc in self.nodes[head].ancestors:
            if all(self._is_descendant(x, anc) for x in tail):
                return anc
        return None if t.reenter else ROOT

    def _exit_mask(self, t: _Trans, config: int, hist: tuple[int, ...]) -> int:
        if not t.targets:
            return 0
        domain = self._domain(t, hist)
        if domain is None:
            return 0
        mask = config & self.nodes[domain].descendants_mask
        if t.reenter and t.source == domain:
            mask |= 1 << domain
        return mask

    def _remove_conflicts(self, enabled: list[_Trans], snap: Snapshot) -> list[_Trans]:
        if len(enabled) < 2:
            return enabled
        kept: list[_Trans] = []
        for t1 in enabled:
            preempted = False
            drop: list[_Trans] = []
            e1 = self._exit_mask(t1, snap.configuration, snap.history)
            for t2 in kept:
                if e1 & self._exit_mask(t2, snap.configuration, snap.history):
                    if self._is_descendant(t1.source, t2.source):
                        drop.append(t2)
                    else:
                        preempted = True
                        break
            if not preempted:
                kept = [t for t in kept if t not in drop]
                kept.append(t1)
        return kept

    def _microstep(
        self,
        enabled: list[_Trans],
        snap: Snapshot,
        ev: Payload,
        queue: list[tuple[str, Payload]],
        log: list[Executed] | None,
    ) -> Snapshot:
        transitions = self._remove_conflicts(enabled, snap)
        config, hist, program = self._structure(transitions, snap.configuration, snap.history)
        ctx = self._run_program(program, snap.context, ev, queue, log)
        return Snapshot(config, hist, ctx)

    def _structure(
        self, transitions: list[_Trans], config: int, hist: tuple[int, ...]
    ) -> tuple[int, tuple[int, ...], tuple[_Op, ...]]:
        """What a microstep does apart from the context: the configuration and history after
        it, and the program of actions and done events to run, in order. It depends only on
        the configuration, the history and the transitions taken, so it can be cached."""
        program: list[_Op] = []
        exit_mask = 0
        for t in transitions:
            exit_mask |= self._exit_mask(t, config, hist)
        exiting = _bits(exit_mask)
        exiting.reverse()
        if exiting and self.history_count:
            new_hist = list(hist)
            for s in exiting:
                for h in self.nodes[s].history_slots:
                    hnode = self.nodes[h]
                    if hnode.deep:
                        rec = config & self.atomic_mask & self.nodes[s].descendants_mask
                    else:
                        rec = config & self.nodes[s].children_mask
                    new_hist[hnode.slot] = rec
            hist = tuple(new_hist)
        for s in exiting:
            program.extend((_ACTION, a) for a in self.nodes[s].exit)
            config &= ~(1 << s)
        for t in transitions:
            program.extend((_ACTION, a) for a in t.actions)
        to_enter: set[int] = set()
        default_entry: set[int] = set()
        for t in transitions:
            self._entry_set(t, hist, to_enter, default_entry)
        config = self._enter(to_enter, config, program)
        # Entering a parallel state's history from inside it can leave the parallel state
        # out of the entry set (XState's reentrancy domain): like XState's state value,
        # keep it active, without entering it again.
        for index in _bits(config & self.states_mask):
            for a in self.nodes[index].ancestors:
                config |= 1 << a
        return config, hist, tuple(program)

    def _entry_set(
        self, t: _Trans, hist: tuple[int, ...], to_enter: set[int], default_entry: set[int]
    ) -> None:
        if not t.targets:
            return
        domain = self._domain(t, hist)
        for s in t.targets:
            if self.nodes[s].kind != "history" and (
                t.source != s or t.source != domain or t.reenter
            ):
                to_enter.add(s)
                default_entry.add(s)
            self._add_descendants(s, hist, default_entry, to_enter)
        for s in self._effective_targets(t, hist):
            stop = domain
            ancestors = self._proper_ancestors(s, stop)
            if domain is not None and self.nodes[domain].kind == "parallel":
                ancestors.append(domain)
            self._add_ancestors(ancestors, hist, default_entry, to_enter, domain)

    def _proper_ancestors(self, s: int, stop: int | None) -> list[int]:
        if s == stop:
            # A target that is the transition domain itself (a self-transition without
            # reenter) enters no ancestor, as in XState's getProperAncestors.
            return []
        out: list[int] = []
        for a in self.nodes[s].ancestors:
            if a == stop:
                break
            out.append(a)
        return out

    def _add_descendants(
        self, s: int, hist: tuple[int, ...], default_entry: set[int], to_enter: set[int]
    ) -> None:
        node = self.nodes[s]
        if node.kind == "history":
            recorded = hist[node.slot]
            restored = (
                _bits(recorded)
                if recorded
                else self._history_default(node)
            )
            for r in restored:
                to_enter.add(r)
                if not recorded:
                    default_entry.add(node.parent)
                self._add_descendants(r, hist, default_entry, to_enter)
            for r in restored:
                self._add_ancestors(
                    self._proper_ancestors(r, node.parent), hist, default_entry, to_enter
                )
        elif node.kind == "compound":
            init = node.initial
            if self.nodes[init].kind != "history":
                to_enter.add(init)
                default_entry.add(init)
            self._add_descendants(init, hist, default_entry, to_enter)
            self._add_ancestors(self._proper_ancestors(init, s), hist, default_entry, to_enter)
        elif node.kind == "parallel":
            for c in node.children:
                if self.nodes[c].kind == "history":
                    continue
                if not any(self._is_descendant(x, c) for x in to_enter):
                    to_enter.add(c)
                    default_entry.add(c)
                    self._add_descendants(c, hist, default_entry, to_enter)

    def _add_ancestors(
        self, ancestors: list[int], hist: tuple[int, ...], default_entry: set[int],
        to_enter: set[int], domain: int | None = None,
    ) -> None:
        for anc in ancestors:
            # A parallel domain is not re-entered, only its missing regions (XState's
            # reentrancy domain in addAncestorStatesToEnter).
            if domain is None or self._is_descendant(anc, domain):
                to_enter.add(anc)
            if self.nodes[anc].kind == "parallel":
                for c in self.nodes[anc].children:
                    if self.nodes[c].kind == "history":
                        continue
                    if not any(self._is_descendant(x, c) for x in to_enter):
                        to_enter.add(c)
                        self._add_descendants(c, hist, default_entry, to_enter)

    def _entry_set_for_default(
        self, index: int, hist: tuple[int, ...]
    ) -> tuple[set[int], set[int]]:
        to_enter: set[int] = set()
        default_entry: set[int] = {index}
        self._add_descendants(index, hist, default_entry, to_enter)
        return to_enter, default_entry

    def _in_final(self, index: int, config: int) -> bool:
        node = self.nodes[index]
        if node.kind == "compound":
            return bool(config & node.children_mask & self.final_mask)
        if node.kind == "parallel":
            return all(
                self._in_final(c, config)
                for c in node.children
                if self.nodes[c].kind != "history"
            )
        return node.kind == "final"

    def _enter(self, to_enter: set[int], config: int, program: list[_Op]) -> int:
        completed: set[int] = set()
        for s in sorted(to_enter):
            config |= 1 << s
            node = self.nodes[s]
            program.extend((_ACTION, a) for a in node.entry)
            if node.kind != "final":
                continue
            parent = self.nodes[node.parent]
            marker = parent.index if parent.kind == "parallel" else parent.parent
            if parent.kind == "compound" and parent.index != ROOT:
                program.append((_DONE, done_state(parent.id)))
            while (
                marker != -1
                and self.nodes[marker].kind == "parallel"
                and marker not in completed
                and self._in_final(marker, config)
            ):
                completed.add(marker)
                program.append((_DONE, done_state(self.nodes[marker].id)))
                marker = self.nodes[marker].parent
        if ROOT in completed:
            config |= self.done_bit
        return config

    def _run_program(
        self,
        program: tuple[_Op, ...],
        ctx: Context,
        ev: Payload,
        queue: list[tuple[str, Payload]],
        log: list[Executed] | None,
    ) -> Context:
        for op, item in program:
            if op == _DONE:
                assert isinstance(item, str)
                queue.append((item, {"type": item}))
            else:
                assert not isinstance(item, str)
                ctx = self._run_actions((item,), ctx, ev, queue, log)
        return ctx

    # -- actions --------------------------------------------------------------------------

    def _run_actions(
        self,
        actions: tuple[Action, ...],
        ctx: Context,
        ev: Payload,
        queue: list[tuple[str, Payload]],
        log: list[Executed] | None,
    ) -> Context:
        for a in actions:
            if isinstance(a, Assign):
                updates = self._assigns[a.name]
                try:
                    values = [(i, f(ctx, ev)) for i, f in updates]
                except Exception as exc:
                    raise StepError(
                        f"assign {a.name!r} raised {type(exc).__name__}: {exc}",
                        event=str(ev.get("type")),
                    ) from exc
                new = list(ctx)
                for i, v in values:
                    new[i] = v
                ctx = tuple(new)
                if log is not None:
                    log.append(Executed(a))
            elif isinstance(a, Track):
                if log is not None:
                    props = dict(a.properties)
                    for name in a.include:
                        props[name] = _thaw(ctx[self.fields[name]])
                    log.append(Executed(a, props))
            elif isinstance(a, Raise):
                queue.append((a.event, {"type": a.event}))
                if log is not None:
                    log.append(Executed(a))
            elif isinstance(a, Custom | SendParent) and log is not None:
                # A send to the parent changes nothing here: it is only recorded.
                log.append(Executed(a))
        return ctx


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    return value


def _freeze(value: Any) -> Any:
    return freeze(value)


EventLike = tuple[str, Payload]
Runner = Callable[[Snapshot, str, Payload | None], tuple[Snapshot, list[Executed]]]
