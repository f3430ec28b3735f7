"""The adversary of exploration's environment abstraction.

Exploration tries a finite environment: per event a few payloads, per invoke a few
outputs and error codes, a few inputs, one per class of values the flow's expressions
tell apart. Its results are a proof only if those classes cover every value the world
can send: whatever a real value makes the guards decide, some explored value made them
decide too. The hypothesis campaign draws values from the pydantic types instead, and
this module checks each of its steps against what exploration saw.

For a configuration and an event, the *guard outcomes* are the results of every guard of
every transition on that event from the active states, in document order (a guard that
raises has the outcome "raised"). Exploration saw a set of them per (configuration,
event): one per explored snapshot with that configuration and per letter of the event
applicable there. A campaign step whose outcomes are not in that set is a :class:`Miss`:
the abstraction put a value in a class with others although the flow tells it apart, so
exploration may have missed runs. When the campaign's snapshot is itself an explored one
(same configuration and context), its outcomes are compared with that snapshot's alone:
the letters exploration tried there are all it knows of that snapshot.

Only transitions on the event itself are compared, not the eventless ones that follow
it, nor raised or done events: those read the context the step left, which the next step
compares.

Nothing is computed until the campaign asks: the explored set of a (configuration, event)
is computed the first time a campaign step needs it, from the distinct contexts
exploration reached in that configuration, and kept.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from flowcheck.explore.graph import Exploration, Letter
from flowcheck.semantics.compile import Compiled, Context
from flowcheck.semantics.stepper import Snapshot, Stepper

Outcome = bool | None
"""What one guard decided: True, False, or None when it raised."""


@dataclass(frozen=True)
class GuardRef:
    """A guarded transition on an event: its guard's name and its source state."""

    name: str
    source: str


@dataclass(frozen=True)
class Miss:
    """A step whose guard outcomes exploration never saw where it was: in the explored
    snapshot it was taken from, or in its configuration when that snapshot was never
    explored."""

    states: tuple[str, ...]
    """The active atomic states."""
    event: str
    payload: dict[str, Any]
    guards: tuple[GuardRef, ...]
    outcomes: tuple[Outcome, ...]
    explored: tuple[tuple[Outcome, ...], ...]
    """Every combination exploration saw there, sorted."""
    snapshot: bool = False
    """Compared with one explored snapshot (True) or with the whole configuration."""

    def unexplored(self) -> list[str]:
        """The guard outcomes of this step that no explored step had, one per guard (or
        the combination, when each outcome was seen on its own)."""
        alone = [
            f"{_guard_label(g)} {_outcome_label(o)}"
            for i, (g, o) in enumerate(zip(self.guards, self.outcomes, strict=True))
            if all(seen[i] != o for seen in self.explored)
        ]
        if alone:
            return alone
        return [_combination(self.guards, self.outcomes) + " together"]

    def describe(self) -> str:
        payload = json.dumps(self.payload, sort_keys=True, default=str)
        explored = "; ".join(_combination(self.guards, o) for o in self.explored) or "none"
        there = "from this snapshot" if self.snapshot else "in this configuration"
        return (
            "the exploration's environment abstraction missed a guard outcome: in "
            f"{{{', '.join(self.states)}}} on {self.event} with payload {payload}, "
            f"{', '.join(self.unexplored())}: no explored value did that {there} (explored: "
            f"{explored}); exploration's payload, output, code or input classes do not "
            "cover this value, so its results are not a proof"
        )


def _guard_label(g: GuardRef) -> str:
    return f"guard {g.name!r} (from {g.source})"


def _outcome_label(o: Outcome) -> str:
    return "raised" if o is None else ("true" if o else "false")


def _combination(guards: tuple[GuardRef, ...], outcomes: tuple[Outcome, ...]) -> str:
    return ", ".join(f"{g.name}={_outcome_label(o)}"
                     for g, o in zip(guards, outcomes, strict=True))


class GuardOutcomes:
    """What exploration saw, asked lazily: ``check`` a step, get a :class:`Miss` or None.

    ``stepper`` evaluates the guards; it must run the chart ``graph`` explored (or one with
    the same states and transitions, such as a copy with other payload examples).
    """

    def __init__(self, graph: Exploration, stepper: Stepper | None = None) -> None:
        self.graph = graph
        self.stepper = stepper or graph.stepper
        if [n.id for n in self.stepper.nodes] != [n.id for n in graph.stepper.nodes]:
            raise ValueError(f"the exploration is of another chart ({graph.chart.name}) than "
                             f"the one checked ({self.stepper.chart.name})")
        self.seconds = 0.0
        """Time spent answering ``check``: the adversary's whole cost."""
        self._contexts: dict[int, list[Context]] | None = None
        self._letters: dict[str, list[Letter]] | None = None
        self._guards: dict[tuple[int, str], tuple[tuple[GuardRef, Compiled], ...]] = {}
        self._explored: dict[tuple[int, str], _Seen | None] = {}

    def check(self, snap: Snapshot, event: str, payload: dict[str, Any]) -> Miss | None:
        """The step ``event`` with ``payload`` from ``snap``: a Miss when exploration never
        saw its guard outcomes from ``snap`` (when ``snap`` was explored) or from any
        snapshot of its configuration (when it was not). None also when exploration never
        tried ``event`` in that configuration: there is nothing to compare with."""
        started = time.perf_counter()
        try:
            config = snap.configuration
            guards = self._guards_of(config, event)
            if not guards:
                return None
            found = self._explored_at(config, event)
            if found is None:
                return None
            own = found.by_context.get(snap.context)
            seen = own if own is not None else found.anywhere
            ev = {"type": event, **payload}
            outcomes = _outcomes(guards, snap.context, ev)
            if outcomes in seen:
                return None
            atomic = self.stepper.atomic_mask
            states = tuple(n.id for n in self.stepper.nodes[1:]
                           if config >> n.index & 1 and atomic >> n.index & 1)
            return Miss(states, event, dict(payload), tuple(g for g, _ in guards), outcomes,
                        tuple(sorted(seen, key=_order)), snapshot=own is not None)
        finally:
            self.seconds += time.perf_counter() - started

    def explored(self, config: int, event: str) -> frozenset[tuple[Outcome, ...]] | None:
        """The guard outcomes exploration saw for ``event`` in ``config`` (None: it never
        tried ``event`` there)."""
        found = self._explored_at(config, event)
        return None if found is None else found.anywhere

    # -- lazily built, cached -------------------------------------------------------------

    def _guards_of(self, config: int, event: str) -> tuple[tuple[GuardRef, Compiled], ...]:
        key = (config, event)
        found = self._guards.get(key)
        if found is None:
            out: list[tuple[GuardRef, Compiled]] = []
            # Configurations hold every active state, ancestors included; node order is
            # document order.
            for node in self.stepper.nodes:
                if not config >> node.index & 1:
                    continue
                for t in node.on.get(event, ()):
                    if t.guard is not None:
                        out.append((GuardRef(t.guard_name or "guard", node.id), t.guard))
            found = self._guards[key] = tuple(out)
        return found

    def _explored_at(self, config: int, event: str) -> _Seen | None:
        key = (config, event)
        if key in self._explored:
            return self._explored[key]
        contexts = self._contexts_by_configuration().get(config)
        letters = [lt for lt in self._letters_by_event().get(event, ())
                   if config & lt.handled and config & lt.requires == lt.requires]
        seen: _Seen | None = None
        if contexts and letters:
            guards = self._guards_of(config, event)
            events = [{"type": event, **lt.payload} for lt in letters]
            by_context = {ctx: frozenset(_outcomes(guards, ctx, ev) for ev in events)
                          for ctx in contexts}
            seen = _Seen(by_context, frozenset().union(*by_context.values()))
        self._explored[key] = seen
        return seen

    def _contexts_by_configuration(self) -> dict[int, list[Context]]:
        if self._contexts is None:
            graph = self.graph
            done = graph.stepper.top_final_mask
            by_config: dict[int, dict[Context, None]] = {}
            # Only expanded snapshots had their letters tried; a done one has none.
            for snap in graph.snapshots[:graph.expanded]:
                if not snap.configuration & done:
                    by_config.setdefault(snap.configuration, {})[snap.context] = None
            self._contexts = {c: list(ctxs) for c, ctxs in by_config.items()}
        return self._contexts

    def _letters_by_event(self) -> dict[str, list[Letter]]:
        if self._letters is None:
            self._letters = {}
            for lt in self.graph.alphabet:
                self._letters.setdefault(lt.event, []).append(lt)
        return self._letters


@dataclass(frozen=True)
class _Seen:
    """The guard outcomes exploration saw for one (configuration, event): per explored
    context, and over all of them."""

    by_context: dict[Context, frozenset[tuple[Outcome, ...]]]
    anywhere: frozenset[tuple[Outcome, ...]]


def _outcomes(
    guards: tuple[tuple[GuardRef, Compiled], ...], ctx: Context, ev: dict[str, Any]
) -> tuple[Outcome, ...]:
    out: list[Outcome] = []
    for _, g in guards:
        try:
            out.append(bool(g(ctx, ev)))
        except Exception:  # a guard that raises on this value: its own outcome
            out.append(None)
    return tuple(out)


def _order(outcomes: tuple[Outcome, ...]) -> tuple[int, ...]:
    return tuple(2 if o is None else int(o) for o in outcomes)
