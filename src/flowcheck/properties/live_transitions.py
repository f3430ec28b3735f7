"""live-transitions: every declared transition fires in some reachable configuration.

A transition fires when a microstep takes it. For an event the outside world sends, the
first microstep of a step takes exactly what the Stepper selects in the snapshot the
event arrives in, so every reachable snapshot is asked, with every payload of each event
still unseen, in breadth-first order until all of them have fired. Eventless transitions,
and those of raised and done events, fire inside steps: the initial step and every step
exploration tried are replayed with the Stepper's trace, stopping as soon as all of them
have fired too. A correct chart stops early; a dead transition costs the whole replay.

A transition that never fires is a finding with its reason:

- its source state is unreachable: no finding here, ``reachable`` reports the state (and
  ``well-formed`` a transition out of a final state);
- its source is only active inside steps (a transient state), so no event finds it;
- its event never happens while the source is active;
- its guard is never true when the event is handled there (for a guard ``and(...)``,
  the conjunct that is never true, if one is);
- otherwise it is shadowed: an earlier transition of the state (document order), a child
  state's transition, or one of another region is taken instead, and is named.

The counterexample is the shortest path to a configuration where the source is active and
the event can be sent. Only a complete exploration can prove a transition dead, so a
bounded run reports no finding (and the property is bounded, not proved). Opaque guards
(imported charts) read their outcome from the explored event like the Stepper does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flowcheck.chart.model import Transition
from flowcheck.explore.graph import Exploration
from flowcheck.properties._witness import (
    TracedStep,
    applicable_letters,
    descendants,
    holds,
    internal_events,
    path_to_event,
    step_counterexample,
    traced_steps,
)
from flowcheck.properties.base import Counterexample, CounterexampleQuota, Finding, Subject
from flowcheck.semantics.compile import Compiled, compile_expr
from flowcheck.semantics.stepper import Selection, StepError

ID = "live-transitions"
TITLE = "every declared transition fires in some reachable configuration"


@dataclass
class _Evidence:
    """What the points where a dead transition's event was handled, with its source active,
    showed: the first such point, the first where its guard held, which conjuncts held."""

    guard: Compiled | None
    conjuncts: list[Compiled]
    handled: Selection | None = None
    held: Selection | None = None
    conjuncts_held: set[int] = field(default_factory=set)
    witness: TracedStep | None = None

    def see(self, point: Selection, step: TracedStep | None = None) -> None:
        ctx, ev = point.snapshot.context, point.event
        if self.handled is None:
            self.handled, self.witness = point, step
        if self.held is None and (self.guard is None or holds(self.guard, ctx, ev)):
            self.held = point
        for k, c in enumerate(self.conjuncts):
            if k not in self.conjuncts_held and holds(c, ctx, ev):
                self.conjuncts_held.add(k)


def check(subject: Subject) -> list[Finding]:
    graph = subject.graph
    if graph is None or not graph.complete:
        return []
    stepper = graph.stepper
    chart = stepper.chart  # the transitions the trace reports are this chart's own objects
    unseen: dict[int, Transition] = {id(t): t for t in chart.transitions()}
    letters: dict[str, list[int]] = {}
    for i, lt in enumerate(graph.alphabet):
        letters.setdefault(lt.event, []).append(i)
    _fire_from_outside(graph, unseen, letters)
    if not unseen:
        return []

    settled = 0
    for snap in graph.snapshots:
        settled |= snap.configuration
    internal = internal_events(chart)
    inside = {k for k, t in unseen.items() if t.event is None or t.event in internal}
    sources = {t.source for t in unseen.values()
               if not settled >> stepper.index[t.source] & 1}
    evidence = {k: _evidence(graph, t) for k, t in unseen.items()}
    entered: dict[str, TracedStep] = {}  # the first step entering each state of ``sources``
    if inside or sources:
        for step in traced_steps(graph, idle=True):
            trace = step.trace
            for t in trace.fired:
                unseen.pop(id(t), None)
            for s in sources & trace.entered:
                entered.setdefault(s, step)
            for k in [k for k in inside if k in unseen]:
                t = unseen[k]
                bit = stepper.index[t.source]
                points = (trace.settle_points if t.event is None
                          else [p for p in trace.internal if p.event["type"] == t.event])
                for point in points:
                    if point.snapshot.configuration >> bit & 1:
                        evidence[k].see(point, step)
            if not (inside & unseen.keys()) and len(entered) == len(sources):
                break

    findings: list[Finding] = []
    kinds = CounterexampleQuota()
    for k, t in unseen.items():
        if not settled >> stepper.index[t.source] & 1 and t.source not in entered:
            continue  # an unreachable source: reachable reports it
        if stepper.final_mask >> stepper.index[t.source] & 1:
            continue  # a transition out of a final state: well-formed reports it
        ev = evidence[k]
        if t.event is not None and t.event in letters:
            _see_from_outside(graph, t, letters[t.event], ev)
        first = kinds.wanted("never fires")
        cx = _counterexample(graph, t, ev, settled, entered.get(t.source)) if first else None
        findings.append(Finding(
            ID, f"transition {_label(t)} never fires: {_reason(graph, t, ev, settled)}",
            state=t.source, event=t.event, counterexample=cx, kind="never fires",
        ))
    return findings


def _fire_from_outside(
    graph: Exploration, unseen: dict[int, Transition], letters: dict[str, list[int]]
) -> None:
    """Remove from ``unseen`` the transitions that the first microstep of some explored step
    takes, asking the reachable snapshots in breadth-first order until none is left."""
    stepper = graph.stepper
    waiting: dict[str, int] = {}  # event -> how many of its transitions are unseen
    for t in unseen.values():
        if t.event is not None and t.event in letters:
            waiting[t.event] = waiting.get(t.event, 0) + 1
    applicable: dict[int, list[int]] = {}
    for snap in graph.snapshots:
        if not waiting:
            return
        config = snap.configuration
        if config & stepper.stopped_mask:
            continue
        tried = applicable.get(config)
        if tried is None:
            tried = applicable[config] = applicable_letters(graph, config)
        for li in tried:
            lt = graph.alphabet[li]
            if lt.event not in waiting:
                continue
            try:
                taken = stepper.selected(snap, lt.event, {**lt.payload, "type": lt.event})
            except StepError:
                continue
            for t in taken:
                if unseen.pop(id(t), None) is not None and t.event is not None:
                    waiting[t.event] -= 1
                    if not waiting[t.event]:
                        del waiting[t.event]


def _evidence(graph: Exploration, t: Transition) -> _Evidence:
    guard = graph.stepper.guard(t)
    conjuncts: list[Compiled] = []
    if t.guard is not None and t.guard.expr is not None and t.guard.expr.op == "and":
        conjuncts = [compile_expr(a, graph.stepper.fields) for a in t.guard.expr.args]
    return _Evidence(guard, conjuncts)


def _see_from_outside(graph: Exploration, t: Transition, letters: list[int], ev: _Evidence) -> None:
    """Add to ``ev`` every reachable snapshot where ``t``'s source is active and its event
    can be sent, with each payload."""
    done = graph.stepper.stopped_mask
    for node in graph.nodes_where(graph.state_mask(t.source)):
        snap = graph.snapshots[node]
        if snap.configuration & done:
            continue
        for li in letters:
            lt = graph.alphabet[li]
            if snap.configuration & lt.requires == lt.requires:
                ev.see(Selection(snap, {**lt.payload, "type": lt.event}))


def _counterexample(
    graph: Exploration, t: Transition, ev: _Evidence, settled: int,
    entering: TracedStep | None,
) -> Counterexample | None:
    """The shortest path to a configuration with the source active in which the event can be
    sent; for a transition that can only fire inside a step, the first step that reaches
    its source (handling its event there, if some step does)."""
    sent = t.event is not None and any(lt.event == t.event for lt in graph.alphabet)
    if sent and settled >> graph.stepper.index[t.source] & 1:
        return path_to_event(graph, t.source, t.event)
    witness = ev.witness or entering
    if witness is not None:
        return step_counterexample(graph, witness)
    return path_to_event(graph, t.source, t.event)


def _reason(graph: Exploration, t: Transition, ev: _Evidence, settled: int) -> str:
    event = t.event or "its eventless transitions"
    handled = (f"{t.event} is handled in {t.source!r}" if t.event
               else f"{t.source!r} selects its eventless transitions")
    if (t.event is not None and ev.handled is None
            and not settled >> graph.stepper.index[t.source] & 1):
        return (f"{t.source!r} is only ever active inside a step (a transient state, left "
                f"in the step that enters it), so {t.event} never finds it active; move the "
                "transition or make the state wait")
    if ev.handled is None:
        return (f"{event} never happens while {t.source!r} is active (all "
                f"{graph.configurations} reachable configurations explored); remove the "
                "transition or send the event there")
    if ev.held is None:
        assert t.guard is not None
        why = (f"guard {t.guard.name!r} is never true when {handled} (all "
               f"{graph.configurations} reachable configurations explored)")
        if t.guard.expr is not None and len(ev.conjuncts_held) < len(ev.conjuncts):
            k = min(set(range(len(ev.conjuncts))) - ev.conjuncts_held)
            why += f": its conjunct {t.guard.expr.args[k]} never is"
        return why + "; fix the guard or remove the transition"
    try:
        taken = graph.stepper.selected(ev.held.snapshot, t.event, ev.held.event)
    except StepError:
        taken = []
    below = descendants(graph.chart, t.source) - {t.source}
    others = [o for o in taken if o is not t]
    for other in others:
        if other.source == t.source:
            return (f"it is shadowed by the earlier transition {_label(other)}, which "
                    "document order takes first whenever both could; make the guards "
                    "exclusive or remove one")
    for other in others:
        if other.source in below:
            return (f"it is shadowed by the transition {_label(other)} of {other.source!r}, a "
                    f"state inside {t.source!r}, which XState lets handle {event} first; "
                    "remove one or guard it")
    if others:
        return (f"{_label(others[0])} is taken instead (it conflicts with this one); remove "
                "one or guard it")
    return f"no explored step takes it (all {graph.configurations} configurations explored)"


def _label(t: Transition) -> str:
    """``source --EVENT [guard]--> target`` for one transition."""
    event = t.event or "(always)"
    if t.guard is not None:
        event += f" [{'!' if t.guard.negated else ''}{t.guard.name}]"
    target = ", ".join(t.targets) if t.targets else "(stays)"
    return f"{t.source} --{event}--> {target}"
