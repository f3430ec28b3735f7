"""Exhaustive exploration: breadth-first search over the snapshots of a chart.

The *alphabet* of a chart is every event the outside world can send, each with
each payload of its example domain: user events (the cartesian product of their
payload fields' examples), invoke outcomes (``done`` with each example output,
``error`` with each Connect code) and named delays. Invoke outcomes and delays
are only sent while the state that owns them is active, and no letter is tried
when no active state handles its event.

Snapshots are numbered in discovery order, so node 0 is the initial snapshot and
the parent pointers form a shortest-path tree: the path to any node is a
shortest event sequence reaching it. Edges are kept in three flat integer arrays.

A snapshot is stored as two numbers: its control state (its configuration and history)
and its context, each kept once, in discovery order (see :class:`SnapshotStore`). The
search steps from a control state with a *kernel* per letter
(:meth:`flowcheck.semantics.stepper.Stepper.kernel`): the guards to try and, for each
outcome, the target control state and the assigns to run, computed once; a step then
costs its guards and assigns and one lookup of a small integer. Steps no kernel
summarises (eventless transitions, raised and done events) go through
:meth:`~flowcheck.semantics.stepper.Stepper.advance`.
"""

from __future__ import annotations

import gc
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from flowcheck import watchdog
from flowcheck.chart.model import (
    Chart,
    after_event,
    done_actor,
    error_actor,
    is_internal_event,
    matches_event,
)
from flowcheck.explore.domains import Domains, derive
from flowcheck.explore.limits import (
    DEFAULT_EXAMPLES,
    DEFAULT_MAX_CONFIGURATIONS,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_MEMORY_MB,
    DEFAULT_MAX_SECONDS,
    Limits,
    Progress,
)
from flowcheck.properties.base import Counterexample
from flowcheck.semantics import start
from flowcheck.semantics.compile import Context
from flowcheck.semantics.stepper import (
    OPAQUE_GUARDS,
    Kernel,
    Outcome,
    Snapshot,
    StepError,
    Stepper,
)

__all__ = [
    "DEFAULT_EXAMPLES",
    "DEFAULT_MAX_CONFIGURATIONS",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_MEMORY_MB",
    "DEFAULT_MAX_SECONDS",
    "Exploration",
    "ExplorationError",
    "Letter",
    "Limits",
    "Progress",
    "SnapshotStore",
    "Snapshots",
    "alphabet",
    "explore",
    "replay",
]

PROGRESS_EVERY = 2048
OPAQUE_KEY = OPAQUE_GUARDS
"""Where a letter carries the outcome of each guard flowcheck cannot see into."""
EDGE_BYTES = 12  # three int32 arrays
NODE_OVERHEAD = 80  # numbers, index entry, node number object, parent arrays


class SnapshotStore:
    """The explored snapshots, by node. A snapshot is a *control state* (its configuration
    and history) and a *context* (the tuple of the flow's data); both are numbered in the
    order they are met and kept once, so a node costs two numbers: ``node_control`` and
    ``node_context``.

    ``index[control]`` maps a context's number to the node of (control, context): one small
    dictionary per control state, keyed by small integers that hash to themselves (no
    collisions), and always the same integer object per context (``context_ids`` keeps
    it), so that a lookup that finds its node never reads the key it compares with."""

    def __init__(self) -> None:
        self.controls: list[tuple[int, tuple[int, ...]]] = []
        self.control_ids: dict[tuple[int, tuple[int, ...]], int] = {}
        self.configurations: list[int] = []
        """The configuration of each control state."""
        self.index: list[dict[int, int]] = []
        self.contexts: list[Context] = []
        self.context_ids: dict[Context, int] = {}
        self.node_control: array[int] = array("I")
        self.node_context: list[int] = []

    def __len__(self) -> int:
        return len(self.node_context)

    def control_id(self, config: int, hist: tuple[int, ...]) -> int:
        pair = (config, hist)
        found = self.control_ids.get(pair)
        if found is None:
            found = self.control_ids[pair] = len(self.controls)
            self.controls.append(pair)
            self.configurations.append(config)
            self.index.append({})
        return found

    def context_id(self, ctx: Context) -> int:
        found = self.context_ids.get(ctx)
        if found is None:
            found = self.context_ids[ctx] = len(self.contexts)
            self.contexts.append(ctx)
        return found

    def numbers(self, snap: Snapshot) -> tuple[int, int]:
        """The (control state, context) of ``snap``, numbering them when they are new."""
        return (self.control_id(snap.configuration, snap.history),
                self.context_id(snap.context))

    def add(self, control: int, context: int) -> int:
        """A new node for (control state, context); its number."""
        node = len(self.node_context)
        self.index[control][context] = node
        self.node_control.append(control)
        self.node_context.append(context)
        return node

    def find(self, snap: Snapshot) -> int | None:
        """The node of ``snap`` (None: not explored)."""
        control = self.control_ids.get((snap.configuration, snap.history))
        context = self.context_ids.get(snap.context)
        if control is None or context is None:
            return None
        return self.index[control].get(context)

    def configuration(self, node: int) -> int:
        return self.configurations[self.node_control[node]]

    def decode(self, node: int) -> Snapshot:
        config, hist = self.controls[self.node_control[node]]
        return Snapshot(config, hist, self.contexts[self.node_context[node]])


class Snapshots(Sequence[Snapshot]):
    """The explored snapshots by node, decoded from a :class:`SnapshotStore` on access."""

    def __init__(self, store: SnapshotStore) -> None:
        self._store = store

    def __len__(self) -> int:
        return len(self._store)

    @overload
    def __getitem__(self, i: int) -> Snapshot: ...

    @overload
    def __getitem__(self, i: slice) -> list[Snapshot]: ...

    def __getitem__(self, i: int | slice) -> Snapshot | list[Snapshot]:
        if isinstance(i, slice):
            return [self._store.decode(n) for n in range(len(self._store))[i]]
        if i < 0:
            i += len(self._store)
        if not 0 <= i < len(self._store):
            raise IndexError(i)
        return self._store.decode(i)

    def __iter__(self) -> Iterator[Snapshot]:
        decode = self._store.decode
        for node in range(len(self._store)):
            yield decode(node)


@dataclass(frozen=True)
class Letter:
    """One event of the alphabet with one payload, and when it may be sent.

    ``requires`` is a mask of states that must all be active (the invoking state of an
    invoke outcome, the waiting state of a delay); ``handled`` the mask of states with a
    transition on ``event``: at least one must be active.
    """

    event: str
    payload: dict[str, Any]
    requires: int
    handled: int
    kind: str  # "user", "done", "error" or "delay"


@dataclass(frozen=True)
class ExplorationError:
    """A step that failed while exploring (a guard raised, eventless transitions never settle)."""

    node: int
    letter: int
    message: str
    state: str | None
    event: str | None


@dataclass
class Exploration:
    """What exploration learnt: every reachable snapshot, the edges between them, and the
    shortest-path tree. ``complete`` is False when it stopped early (the configuration
    bound, or an interrupt); then only nodes below ``expanded`` had all their letters tried.
    """

    chart: Chart
    stepper: Stepper
    alphabet: list[Letter]
    store: SnapshotStore = field(default_factory=SnapshotStore)
    parent: array[int] = field(default_factory=lambda: array("i"))
    parent_letter: array[int] = field(default_factory=lambda: array("i"))
    edge_src: array[int] = field(default_factory=lambda: array("i"))
    edge_letter: array[int] = field(default_factory=lambda: array("i"))
    edge_dst: array[int] = field(default_factory=lambda: array("i"))
    errors: list[ExplorationError] = field(default_factory=list)
    complete: bool = False
    interrupted: bool = False
    expanded: int = 0
    steps: int = 0
    seconds: float = 0.0
    max_configurations: int = DEFAULT_MAX_CONFIGURATIONS
    limits: Limits = field(default_factory=Limits)
    limit: str | None = None
    """The limit that stopped exploration: configurations, depth, memory or time."""
    depth: int = 0
    """The length of the longest shortest event path explored."""
    domains: Domains | None = None
    """The environment explored: payload, output, code and input classes."""
    roots: list[dict[str, Any] | None] = field(default_factory=lambda: [None])
    """The input each initial snapshot was started with (None: the default context);
    root ``i`` is node ``i`` unless two inputs give the same snapshot."""
    root_nodes: list[int] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    """Results properties share (the set of nodes that can still succeed)."""
    _successors: list[list[int]] | None = field(default=None, repr=False)
    _predecessors: list[list[int]] | None = field(default=None, repr=False)

    # -- sizes -------------------------------------------------------------------------

    @property
    def snapshots(self) -> Snapshots:
        """Every snapshot explored, by node (a sequence view decoding the store)."""
        return Snapshots(self.store)

    @property
    def configurations(self) -> int:
        return len(self.store)

    @property
    def edges(self) -> int:
        return len(self.edge_src)

    def applicable_letters(self, config: int) -> list[int]:
        """The letters exploration tries in a configuration, in alphabet order: some active
        state handles the event and every state the letter requires is active. Found
        through the letters of each active state, so that a configuration costs what
        applies there, not the whole alphabet (a hub with an event per state would make
        exploration quadratic)."""
        by_state = self.cache.get("letters_by_state")
        if by_state is None:
            by_state = self.cache["letters_by_state"] = {}
            for li, lt in enumerate(self.alphabet):
                mask = lt.handled
                while mask:
                    low = mask & -mask
                    by_state.setdefault(low.bit_length() - 1, []).append(li)
                    mask ^= low
        found: set[int] = set()
        mask = config
        while mask:
            low = mask & -mask
            found.update(by_state.get(low.bit_length() - 1, ()))
            mask ^= low
        alphabet = self.alphabet
        return sorted(li for li in found
                      if config & alphabet[li].requires == alphabet[li].requires)

    def index_of(self, snap: Snapshot) -> int | None:
        return self.store.find(snap)

    def is_expanded(self, node: int) -> bool:
        return node < self.expanded

    # -- adjacency (built on demand) -----------------------------------------------------

    def successors(self, node: int) -> list[int]:
        """Edge indices leaving ``node``."""
        if self._successors is None:
            self._build_adjacency()
        assert self._successors is not None
        return self._successors[node]

    def predecessors(self, node: int) -> list[int]:
        """Edge indices entering ``node``."""
        if self._predecessors is None:
            self._build_adjacency()
        assert self._predecessors is not None
        return self._predecessors[node]

    def _build_adjacency(self) -> None:
        n = len(self.store)
        succ: list[list[int]] = [[] for _ in range(n)]
        pred: list[list[int]] = [[] for _ in range(n)]
        for e, (s, d) in enumerate(zip(self.edge_src, self.edge_dst, strict=True)):
            succ[s].append(e)
            pred[d].append(e)
        self._successors, self._predecessors = succ, pred

    def backward_closure(self, targets: Iterator[int] | list[int] | set[int]) -> set[int]:
        """Every node from which some node of ``targets`` is reachable (targets included)."""
        seen = set(targets)
        stack = list(seen)
        dst_src = self.edge_src
        while stack:
            node = stack.pop()
            for e in self.predecessors(node):
                src = dst_src[e]
                if src not in seen:
                    seen.add(src)
                    stack.append(src)
        return seen

    # -- states of a node ----------------------------------------------------------------

    def active(self, node: int) -> list[str]:
        return self.stepper.active_ids(self.snapshots[node])

    def nodes_where(self, mask: int) -> Iterator[int]:
        """Nodes whose configuration has every state of ``mask`` active, in BFS order."""
        configurations = self.store.configurations
        for i, control in enumerate(self.store.node_control):
            if configurations[control] & mask == mask:
                yield i

    def state_mask(self, *state_ids: str) -> int:
        mask = 0
        for sid in state_ids:
            mask |= 1 << self.stepper.index[sid]
        return mask

    # -- counterexamples -------------------------------------------------------------------

    def path_to(self, node: int) -> list[int]:
        """Letter indices of the shortest event path from an initial snapshot to ``node``."""
        letters: list[int] = []
        while self.parent[node] != -1:
            letters.append(self.parent_letter[node])
            node = self.parent[node]
        letters.reverse()
        return letters

    def root_of(self, node: int) -> int:
        """The initial snapshot ``node`` is reached from."""
        while self.parent[node] != -1:
            node = self.parent[node]
        return node

    def input_of(self, node: int) -> dict[str, Any] | None:
        """The input the shortest path to ``node`` starts the flow with (None: defaults)."""
        root = self.root_of(node)
        if root in self.root_nodes:
            return self.roots[self.root_nodes.index(root)]
        return None

    def counterexample(self, node: int, then: list[int] | None = None) -> Counterexample:
        """The shortest path to ``node``, followed by the letters ``then``, replayed on the
        Stepper so that the configurations shown are the ones the Stepper computes."""
        letters = self.path_to(node) + list(then or [])
        return replay(self.stepper, [self.letter_event(i) for i in letters],
                      self.input_of(node))

    def letter_event(self, letter: int) -> tuple[str, dict[str, Any]]:
        lt = self.alphabet[letter]
        return lt.event, dict(lt.payload)

    # -- views ------------------------------------------------------------------------------

    def to_networkx(self) -> Any:
        """A ``networkx.MultiDiGraph``: nodes carry ``states`` and ``context``, edges ``event``
        and ``payload``."""
        import networkx as nx

        g = nx.MultiDiGraph(name=self.chart.name, complete=self.complete)
        for i, snap in enumerate(self.snapshots):
            g.add_node(
                i,
                states=tuple(self.stepper.active_ids(snap)),
                context=self.stepper.context_dict(snap.context),
                done=self.stepper.is_done(snap),
            )
        for s, lt, d in zip(self.edge_src, self.edge_letter, self.edge_dst, strict=True):
            letter = self.alphabet[lt]
            g.add_edge(s, d, event=letter.event, payload=letter.payload, letter=lt)
        return g


def replay(
    stepper: Stepper,
    events: list[tuple[str, dict[str, Any]]],
    input: dict[str, Any] | None = None,
) -> Counterexample:
    """Run ``events`` from the initial snapshot (started with ``input``, when given); the
    configurations after each one."""
    snap, _ = start(stepper, input, record=False)
    states = [tuple(stepper.active_ids(snap))]
    done: list[tuple[str, dict[str, Any]]] = []
    for name, payload in events:
        done.append((name, payload))
        try:
            snap, _ = stepper.step(snap, name, payload, record=False)
        except StepError:
            break
        states.append(tuple(stepper.active_ids(snap)))
    return Counterexample(events=tuple(done), states=tuple(states), input=input)


# -- the alphabet ------------------------------------------------------------------------------


def alphabet(
    chart: Chart, stepper: Stepper | None = None, domains: Domains | None = None
) -> list[Letter]:
    """Every letter exploration tries, in a stable order: user events in declaration order,
    then invoke outcomes in document order, then delays. Payloads, outputs and error codes
    come from the domains derived from the flow's expressions (see
    :mod:`flowcheck.explore.domains`), ``derive(chart)`` when none are given."""
    stepper = stepper or Stepper(chart)
    domains = domains or derive(chart)
    handled: dict[str, int] = {}
    for s in chart.nodes():
        for t in s.transitions:
            if t.event is not None:
                handled[t.event] = handled.get(t.event, 0) | 1 << stepper.index[s.id]
    wildcards = [d for d in handled if d == "*" or d.endswith(".*")]
    for event in list(handled):
        for descriptor in wildcards:
            if descriptor != event and matches_event(event, descriptor):
                handled[event] |= handled[descriptor]
    letters: list[Letter] = []
    for spec in chart.events:
        if is_internal_event(spec.name) or spec.name not in handled:
            continue
        for payload in domains.payloads.get(spec.name, [{}]):
            for held in domains.valuations(spec.name):
                letters.append(Letter(spec.name, _with(payload, held), 0, handled[spec.name],
                                      "user"))
    for state, inv in chart.invokes():
        own = 1 << stepper.index[state.id]
        done, error = done_actor(inv.id), error_actor(inv.id)
        for out in domains.outputs.get(inv.id, [dict(o) for o in inv.outputs]):
            for held in domains.valuations(done):
                letters.append(Letter(done, _with({"output": dict(out)}, held), own,
                                      handled.get(done, 0), "done"))
        for code in domains.codes.get(inv.id, list(inv.error_codes)):
            for held in domains.valuations(error):
                # Sent even when no transition takes it: XState then stops with an error.
                letters.append(Letter(error, _with({"error": {"code": code}}, held), own,
                                      handled.get(error, 0) | own, "error"))
    for s in chart.nodes():
        seen: set[str] = set()
        for t in s.transitions:
            if t.delay and t.delay not in seen:
                seen.add(t.delay)
                name = after_event(t.delay, s.id)
                own = 1 << stepper.index[s.id]
                for held in domains.valuations(name):
                    letters.append(Letter(name, _with({}, held), own, handled.get(name, own),
                                          "delay"))
    return letters


def _with(payload: dict[str, Any], held: dict[str, bool]) -> dict[str, Any]:
    """A payload carrying a valuation of the opaque guards (read by the Stepper)."""
    return {**payload, OPAQUE_KEY: held} if held else dict(payload)


# -- the search ---------------------------------------------------------------------------------


def explore(
    chart: Chart,
    max_configurations: int = DEFAULT_MAX_CONFIGURATIONS,
    progress: Progress | None = None,
    stepper: Stepper | None = None,
    limits: Limits | None = None,
    domains: Domains | None = None,
) -> Exploration:
    """Breadth-first search from the initial snapshot over the whole alphabet.

    Stops when every reachable snapshot was expanded (``complete``), when a limit is
    reached (bounded; ``limit`` names it: ``max_configurations`` snapshots discovered, or
    one of ``limits``) or on KeyboardInterrupt (``interrupted``; what was explored so far
    is kept). A step that raises is recorded in ``errors`` and exploration goes on.
    """
    stepper = stepper or Stepper(chart)
    domains = domains or derive(chart)
    letters = alphabet(chart, stepper, domains)
    limits = limits or Limits(configurations=max_configurations)
    # An empty input is the default context: the counterexample then needs no --input.
    roots: list[dict[str, Any] | None] = [None] if chart.input is None else []
    roots += [dict(i) or None for i in domains.inputs]
    if domains.opaque.get(""):
        # Guards without a body met in the initial step (eventless ones) go both ways too.
        roots = [_with(r or {}, held) or None
                 for r in roots or [None] for held in domains.valuations("")]
    result = Exploration(chart=chart, stepper=stepper, alphabet=letters,
                         store=SnapshotStore(),
                         max_configurations=limits.configurations, limits=limits,
                         domains=domains, roots=roots or [None])
    started = time.perf_counter()
    # The search allocates millions of small objects and makes no reference cycles: the
    # cyclic collector would only walk the growing store again and again (twice the time
    # at 10^6 configurations). Cycles user code makes are collected once it is back on.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _search(result, progress)
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        if collecting:
            gc.enable()
    result.seconds = time.perf_counter() - started
    return result


def _node_bytes() -> int:
    """An estimate of the memory one snapshot takes (its numbers, its index entry and node
    number, its parent arrays); control states and contexts are shared."""
    return NODE_OVERHEAD


def _search(result: Exploration, progress: Progress | None) -> None:
    stepper = result.stepper
    store = result.store
    advance = stepper.advance
    kernel = stepper.kernel
    top_final = stepper.stopped_mask
    table = [
        ({**lt.payload, "type": lt.event}, lt.requires, lt.handled) for lt in result.alphabet
    ]
    index, contexts, context_ids = store.index, store.contexts, store.context_ids
    node_control, node_context = store.node_control, store.node_context
    parent, parent_letter = result.parent, result.parent_letter
    e_src, e_letter, e_dst = result.edge_src, result.edge_letter, result.edge_dst
    limit = result.max_configurations
    started: list[dict[str, Any] | None] = []
    for given in result.roots:
        try:
            first, _ = start(stepper, given, record=False)
        except StepError as exc:
            result.errors.append(ExplorationError(-1, -1, str(exc), exc.state, exc.event))
            continue
        control, context = store.numbers(first)
        if context in index[control]:
            continue
        result.root_nodes.append(store.add(control, context))
        started.append(given)
        parent.append(-1)
        parent_letter.append(-1)
    result.roots = started
    if not node_context:
        return
    node = 0
    steps = 0
    count = len(node_context)
    bounded = False
    deadline = time.perf_counter() + result.limits.seconds
    budget = result.limits.memory_mb * 1_000_000
    max_depth = result.limits.depth
    layer_end = count  # nodes below this index are at most ``depth`` events away
    applicable: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    plans: dict[int, _Plan] = {}
    same, set_one, run, advance_mode = _SAME, _SET, _RUN, _ADVANCE
    context_ids_get, contexts_append = context_ids.get, contexts.append
    control_append, context_append = node_control.append, node_context.append
    parent_append, parent_letter_append = parent.append, parent_letter.append
    e_src_append, e_letter_append, e_dst_append = e_src.append, e_letter.append, e_dst.append

    def plan_of(control: int) -> _Plan:
        """Per letter applicable in a control state, how to step: see :func:`_step_of`;
        letters that never change anything are left out, and none is tried once the
        machine stopped."""
        config, hist = store.controls[control]
        if config & top_final:
            return 0, []
        letters = applicable.get(config)
        if letters is None:
            # Which letters apply depends on the configuration only: compute it once.
            letters = applicable[config] = [
                (li, table[li][0]) for li in result.applicable_letters(config)
            ]
        out = [step for li, ev in letters
               if (step := _step_of(store, kernel(config, hist, ev["type"]), control, li, ev))
               is not None]
        return len(letters), out

    try:
        while node < count:
            if node == layer_end:
                if result.depth + 1 > max_depth:
                    result.limit = "depth"
                    break
                result.depth += 1
                layer_end = count
            control = node_control[node]
            plan = plans.get(control)
            if plan is None:
                plan = plans[control] = plan_of(control)
            tried, steps_of = plan
            if tried:
                steps += tried
                context = node_context[node]
                ctx = contexts[context]
                for mode, li, ev, a, b in steps_of:
                    if mode == run:  # guards choose the effect
                        try:
                            effect = b
                            for guard, when in a:
                                if guard(ctx, ev):
                                    effect = when
                                    break
                        except Exception:
                            # A guard raised: advance says why, as a StepError.
                            effect = advance_mode, None, None
                        if effect is None:
                            continue
                        mode, a, b = effect
                    # ``a``: the target's control state; ``to``: its context.
                    if mode == same:  # the context as it is (never a loop: see _step_of)
                        to = context
                    elif mode == set_one:  # one field set to a constant
                        i, value = b
                        if ctx[i] == value:
                            if a == control:
                                continue
                            to = context
                        else:
                            changed = list(ctx)
                            changed[i] = value
                            new_ctx = tuple(changed)
                            known = context_ids_get(new_ctx)
                            if known is None:
                                known = context_ids[new_ctx] = len(contexts)
                                contexts_append(new_ctx)
                            to = known
                    else:
                        try:
                            if mode == advance_mode:
                                a, to = store.numbers(advance(store.decode(node), ev))
                            else:
                                to = store.context_id(_assigned(mode, b, ctx, ev))
                        except StepError as exc:
                            result.errors.append(ExplorationError(
                                node, li, str(exc), exc.state, exc.event))
                            continue
                        except Exception:
                            # An assign raised: advance says why, as a StepError.
                            try:
                                a, to = store.numbers(advance(store.decode(node), ev))
                            except StepError as exc:
                                result.errors.append(ExplorationError(
                                    node, li, str(exc), exc.state, exc.event))
                                continue
                        if to == context and a == control:
                            continue  # the snapshot stays as it was
                    found = index[a]
                    dst = found.get(to)
                    if dst is None:
                        if count >= limit:
                            bounded = True
                            result.limit = "configurations"
                            break
                        dst = found[to] = count
                        count += 1
                        control_append(a)
                        context_append(to)
                        parent_append(node)
                        parent_letter_append(li)
                    e_src_append(node)
                    e_letter_append(li)
                    e_dst_append(dst)
                if bounded:
                    break
            node += 1
            if node % PROGRESS_EVERY == 0:
                if progress is not None:
                    progress(node, count)
                # The command's own limits too (flowcheck.watchdog: its deadline, and its
                # resident memory measured, when a command runs under --max-*).
                hit = watchdog.tripped()
                if time.perf_counter() > deadline or hit == "time":
                    result.limit = "time"
                    break
                if count * _node_bytes() + len(e_src) * EDGE_BYTES > budget or hit == "memory":
                    result.limit = "memory"
                    break
    finally:
        # Also on an interrupt: what was expanded, and the letters tried.
        result.expanded = node
        result.steps = steps
    if result.limit is None and result.domains is not None and result.domains.truncated:
        result.limit = "environment"
    result.complete = result.limit is None
    if progress is not None:
        progress(result.expanded, len(node_context))


_SAME, _SET, _SETS, _ASSIGN, _RUN, _ADVANCE = range(6)
_Effect = tuple[int, Any, Any]
"""What a step does, as (mode, a, b): ``_SAME``: ``a`` is the target's control state, the
context stays; ``_SET``: ``a`` the control state, ``b`` one (field, constant); ``_SETS``:
``a`` the control state, ``b`` several (field, constant); ``_ASSIGN``: ``a`` the control
state, ``b`` the assign groups to run; ``_ADVANCE``: call ``Stepper.advance``. Constants are the
values that read nothing of the context, computed once per event object."""
_Step = tuple[int, int, dict[str, Any], Any, Any]
"""A letter as the search tries it: (mode, letter, event object, a, b), the mode and
``a``, ``b`` of its effect, or ``_RUN`` with ``a`` the guarded candidates (guard, effect or
None) and ``b`` the effect when no guard holds (None: nothing changes)."""
_Plan = tuple[int, list[_Step]]
"""Letters tried in a (configuration, history), and those that may change something."""


def _step_of(store: SnapshotStore, kernel: Kernel | None, control: int, li: int,
             ev: dict[str, Any]) -> _Step | None:
    """How the search tries a letter from a (configuration, history), given its kernel;
    None when it never changes anything there."""
    if kernel is None:
        return _ADVANCE, li, ev, None, None
    guarded, otherwise = kernel
    stays = (_SAME, control, None)  # the snapshot as it is: nothing to try
    try:
        default = _effect_of(store, otherwise, ev)
        candidates = tuple((g, None if e == stays else e)
                           for g, o in guarded for e in [_effect_of(store, o, ev)])
    except Exception:
        # A constant raised: advance says why when the letter is tried.
        return _ADVANCE, li, ev, None, None
    if default == stays:
        default = None
    if candidates:
        return _RUN, li, ev, candidates, default
    if default is None:
        return None
    mode, a, b = default
    return mode, li, ev, a, b


def _effect_of(store: SnapshotStore, outcome: Outcome | None, ev: dict[str, Any]
               ) -> _Effect | None:
    if outcome is None:
        return None
    config, hist, groups = outcome
    target = store.control_id(config, hist)
    if not groups:
        return _SAME, target, None
    if all(free for group in groups for _, _, free in group):
        sets: dict[int, Any] = {}
        for group in groups:
            for i, f, _ in group:
                sets[i] = f((), ev)
        if len(sets) == 1:
            return _SET, target, next(iter(sets.items()))
        return _SETS, target, tuple(sets.items())
    return _ASSIGN, target, tuple(tuple((i, f) for i, f, _ in group) for group in groups)


def _assigned(mode: int, data: Any, ctx: Context, ev: dict[str, Any]) -> Context:
    """The context after a ``_SETS`` or ``_ASSIGN`` effect."""
    if mode == _SETS:
        changed = list(ctx)
        for i, v in data:
            changed[i] = v
        return tuple(changed)
    for group in data:
        values = [(i, f(ctx, ev)) for i, f in group]
        changed = list(ctx)
        for i, v in values:
            changed[i] = v
        ctx = tuple(changed)
    return ctx
