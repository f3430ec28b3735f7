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
"""

from __future__ import annotations

import sys
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flowcheck.chart.model import (
    Chart,
    after_event,
    done_actor,
    error_actor,
    is_internal_event,
    matches_event,
)
from flowcheck.explore.domains import Domains, derive
from flowcheck.properties.base import Counterexample
from flowcheck.semantics import start
from flowcheck.semantics.stepper import OPAQUE_GUARDS, Snapshot, StepError, Stepper

DEFAULT_MAX_CONFIGURATIONS = 1_000_000
DEFAULT_MAX_DEPTH = 10_000
DEFAULT_MAX_MEMORY_MB = 2048
DEFAULT_MAX_SECONDS = 300.0
DEFAULT_EXAMPLES = 100
"""Hypothesis examples per flow in the campaign (see :mod:`flowcheck.explore.campaign`)."""
PROGRESS_EVERY = 2048
OPAQUE_KEY = OPAQUE_GUARDS
"""Where a letter carries the outcome of each guard flowcheck cannot see into."""
EDGE_BYTES = 12  # three int32 arrays
NODE_OVERHEAD = 64  # the index entry, the list slot and the parent arrays, per snapshot


@dataclass(frozen=True)
class Limits:
    """When exploration stops early: the first limit reached makes the result bounded.

    ``depth`` bounds the length of the event sequences explored, ``memory_mb`` an estimate
    of the memory the snapshots and edges take (from their counts, not measured),
    ``seconds`` the time spent. The defaults keep a CI job safe from a flow whose context
    grows without bound.
    """

    configurations: int = DEFAULT_MAX_CONFIGURATIONS
    depth: int = DEFAULT_MAX_DEPTH
    memory_mb: int = DEFAULT_MAX_MEMORY_MB
    seconds: float = DEFAULT_MAX_SECONDS

Progress = Callable[[int, int], None]
"""Called with (snapshots expanded, snapshots discovered) every few thousand expansions."""


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
    snapshots: list[Snapshot] = field(default_factory=list)
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
    _index: dict[Snapshot, int] = field(default_factory=dict, repr=False)
    _successors: list[list[int]] | None = field(default=None, repr=False)
    _predecessors: list[list[int]] | None = field(default=None, repr=False)

    # -- sizes -------------------------------------------------------------------------

    @property
    def configurations(self) -> int:
        return len(self.snapshots)

    @property
    def edges(self) -> int:
        return len(self.edge_src)

    def index_of(self, snap: Snapshot) -> int | None:
        return self._index.get(snap)

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
        n = len(self.snapshots)
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
        for i, snap in enumerate(self.snapshots):
            if snap.configuration & mask == mask:
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
                         max_configurations=limits.configurations, limits=limits,
                         domains=domains, roots=roots or [None])
    started = time.perf_counter()
    try:
        _search(result, progress)
    except KeyboardInterrupt:
        result.interrupted = True
    result.seconds = time.perf_counter() - started
    return result


def _node_bytes(snap: Snapshot) -> int:
    """An estimate of the memory one snapshot takes (its tuples, the configuration integer
    and the bookkeeping around it); context values are shared between snapshots."""
    return (sys.getsizeof(snap) + sys.getsizeof(snap.context) + sys.getsizeof(snap.history)
            + sys.getsizeof(snap.configuration) + NODE_OVERHEAD)


def _search(result: Exploration, progress: Progress | None) -> None:
    stepper = result.stepper
    advance = stepper.advance
    top_final = stepper.stopped_mask
    table = [
        ({**lt.payload, "type": lt.event}, lt.requires, lt.handled) for lt in result.alphabet
    ]
    index = result._index
    snaps = result.snapshots
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
        if first in index:
            continue
        index[first] = len(snaps)
        result.root_nodes.append(len(snaps))
        started.append(given)
        snaps.append(first)
        parent.append(-1)
        parent_letter.append(-1)
    result.roots = started
    if not snaps:
        return
    first = snaps[0]
    node = 0
    steps = 0
    bounded = False
    deadline = time.perf_counter() + result.limits.seconds
    budget = result.limits.memory_mb * 1_000_000
    node_bytes = _node_bytes(first)
    max_depth = result.limits.depth
    layer_end = len(snaps)  # nodes below this index are at most ``depth`` events away
    applicable: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    while node < len(snaps):
        if node == layer_end:
            if result.depth + 1 > max_depth:
                result.limit = "depth"
                break
            result.depth += 1
            layer_end = len(snaps)
        snap = snaps[node]
        config = snap.configuration
        if not config & top_final:
            letters = applicable.get(config)
            if letters is None:
                # Which letters apply depends on the configuration only: compute it once.
                letters = applicable[config] = [
                    (li, ev) for li, (ev, requires, handled) in enumerate(table)
                    if config & handled and config & requires == requires
                ]
            for li, ev in letters:
                steps += 1
                try:
                    nxt = advance(snap, ev)
                except StepError as exc:
                    result.errors.append(ExplorationError(node, li, str(exc), exc.state,
                                                          exc.event))
                    continue
                if nxt == snap:
                    continue
                dst = index.get(nxt)
                if dst is None:
                    if len(snaps) >= limit:
                        bounded = True
                        result.limit = "configurations"
                        break
                    dst = len(snaps)
                    index[nxt] = dst
                    snaps.append(nxt)
                    parent.append(node)
                    parent_letter.append(li)
                e_src.append(node)
                e_letter.append(li)
                e_dst.append(dst)
            if bounded:
                break
        node += 1
        result.expanded = node
        result.steps = steps
        if node % PROGRESS_EVERY == 0:
            if progress is not None:
                progress(node, len(snaps))
            if time.perf_counter() > deadline:
                result.limit = "time"
                break
            if len(snaps) * node_bytes + len(e_src) * EDGE_BYTES > budget:
                result.limit = "memory"
                break
    result.steps = steps
    if result.limit is None and result.domains is not None and result.domains.truncated:
        result.limit = "environment"
    result.complete = result.limit is None
    if progress is not None:
        progress(result.expanded, len(snaps))
