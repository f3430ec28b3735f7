"""The coverage run: every custom action, run on the real machine under audit hooks.

A custom action (``custom(name, run)``) carries Python code flowcheck cannot read; the
``pure`` property wants to know that it never reaches outside the process. Random runs
miss what lies deep in a flow, so the coverage run is directed: for every *occurrence*
of a custom action (on one transition, on a state's entry or exit, on the chart's
entry) it takes the shortest explored event path that executes that occurrence, replays
it on a fresh instance of the python-statemachine class with every I/O refused
(:func:`flowcheck.explore.sandbox.blocked_io`), and checks in the machine's
``flowcheck_log`` that the action really ran. One path covers every occurrence it
executes, so a few runs usually cover the whole flow.

Which occurrences a step executes is read from the Stepper on a copy of the chart in
which each occurrence of a custom action carries its own number, so that two
occurrences of one action (the same ``custom`` on two transitions) are told apart.

An occurrence that no explored path executes is *uncovered*: it never ran, so nothing is
known of its code. An occurrence that ran once without I/O is evidence for that run only:
a custom action whose I/O depends on the context or the event is not proved pure, which
the ``pure`` property states as its assumption.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from flowcheck.chart.model import Action, Chart, Custom, Transition
from flowcheck.declare import dsl
from flowcheck.explore.graph import Exploration
from flowcheck.explore.sandbox import IOAttempt, blocked_io
from flowcheck.properties.base import Finding, replay_command
from flowcheck.semantics import start_context
from flowcheck.semantics.stepper import Executed, StepError, Stepper

OCCURRENCE = "__flowcheck_occurrence"
"""The parameter that numbers the occurrences of custom actions in the tagged chart."""

Where = Literal["transition", "entry", "exit", "chart entry"]


@dataclass(frozen=True)
class Occurrence:
    """One place a custom action runs."""

    action: Custom
    where: Where
    state: str | None = None
    transition: Transition | None = None

    def describe(self) -> str:
        what = "custom action" if self.action.declared else "undeclared action"
        head = f"{what} {self.action.name!r}"
        if self.where == "chart entry":
            return f"{head} on the chart's entry"
        if self.where in ("entry", "exit"):
            return f"{head} on {self.where} of {self.state!r}"
        t = self.transition
        assert t is not None
        if t.delay:
            on = f"after {t.delay}"
        elif t.event is None:
            on = "the eventless transition"
        else:
            on = t.event
        to = f" to {', '.join(repr(x) for x in t.targets)}" if t.targets else " (targetless)"
        when = f" when {t.guard.name}" if t.guard is not None else ""
        return f"{head} on {on} from {t.source!r}{to}{when}"


@dataclass
class Cover:
    """What the coverage run did and found.

    ``findings``: ``pure`` findings, one per occurrence that attempted I/O, with the path
    that runs it; ``occurrences``: custom action occurrences in the chart; ``covered``: how
    many ran on the real machine (with or without an I/O attempt); ``uncovered``: the
    others, described (and why, when an explored path does execute them); ``runs``:
    machines started; ``seconds``: time taken.
    """

    findings: list[Finding] = field(default_factory=list)
    occurrences: int = 0
    covered: int = 0
    uncovered: list[str] = field(default_factory=list)
    runs: int = 0
    seconds: float = 0.0


def occurrences(chart: Chart) -> list[Occurrence]:
    """Every occurrence of a custom action, in document order (the chart's entry first)."""
    return _tagged(chart)[1]


def run_cover(chart: Chart, machine_class: type[Any], graph: Exploration) -> Cover:
    """Run every custom action occurrence of ``chart`` at least once on ``machine_class``,
    along the shortest paths of ``graph`` that execute them, under audit hooks."""
    started = time.perf_counter()
    tagged, occs = _tagged(chart)
    cover = Cover(occurrences=len(occs))
    if occs:
        _Run(chart, machine_class, graph, Stepper(tagged), occs, cover).run()
    cover.seconds = time.perf_counter() - started
    return cover


# -- the tagged chart ------------------------------------------------------------------------


def _tagged(chart: Chart) -> tuple[Chart, list[Occurrence]]:
    """``chart`` with every custom action numbered by its occurrence, and the occurrences."""
    occs: list[Occurrence] = []

    def tag(actions: tuple[Action, ...], where: Where, state: str | None = None,
            transition: Transition | None = None) -> tuple[Action, ...]:
        out: list[Action] = []
        for a in actions:
            if isinstance(a, Custom):
                out.append(a.model_copy(update={"params": (*a.params, (OCCURRENCE, len(occs)))}))
                occs.append(Occurrence(a, where, state, transition))
            else:
                out.append(a)
        return tuple(out)

    entry = tag(chart.entry, "chart entry")
    states = []
    for s in chart.states:
        s_entry = tag(s.entry, "entry", s.id)
        s_exit = tag(s.exit, "exit", s.id)
        transitions = tuple(
            t.model_copy(update={"actions": tag(t.actions, "transition", s.id, t)})
            for t in s.transitions
        )
        states.append(s.model_copy(update={"entry": s_entry, "exit": s_exit,
                                           "transitions": transitions}))
    return chart.model_copy(update={"entry": entry, "states": tuple(states)}), occs


def _numbers(log: list[Executed]) -> list[int]:
    """The occurrences a tagged step executed, in order."""
    out: list[int] = []
    for x in log:
        if isinstance(x.action, Custom):
            number = dict(x.action.params).get(OCCURRENCE)
            if isinstance(number, int):
                out.append(number)
    return out


# -- paths ----------------------------------------------------------------------------------


@dataclass
class _Path:
    """A root snapshot and the letters from it; ``nodes[i]`` is the node before letter i
    (``nodes[0]`` the root), ``steps[i]`` the occurrences step i executes (step 0 starts
    the machine, step i > 0 sends letter i - 1)."""

    nodes: list[int]
    letters: list[int]
    steps: list[list[int]] = field(default_factory=list)

    @property
    def root(self) -> int:
        return self.nodes[0]


def _path(graph: Exploration, node: int, letter: int | None) -> _Path:
    """The shortest path to ``node`` (parent pointers up to a root), then ``letter``."""
    nodes: list[int] = [node]
    letters: list[int] = []
    while graph.parent[node] >= 0:
        letters.append(graph.parent_letter[node])
        node = graph.parent[node]
        nodes.append(node)
    nodes.reverse()
    letters.reverse()
    if letter is None:
        return _Path(nodes, letters)
    return _Path(nodes, [*letters, letter])


def _input_of(graph: Exploration, root: int) -> dict[str, Any] | None:
    """The input the flow was started with at ``root`` (None: its default context)."""
    input_of = getattr(graph, "input_of", None)
    if callable(input_of):
        given = input_of(root)
        return dict(given) if isinstance(given, dict) else None
    return None


def _roots(graph: Exploration) -> list[int]:
    """The initial snapshots: exploration may start from one per input."""
    nodes = getattr(graph, "root_nodes", None)
    if nodes:
        return list(nodes)
    return [0] if graph.configurations else []


class _Run:
    def __init__(self, chart: Chart, machine_class: type[Any], graph: Exploration,
                 stepper: Stepper, occs: list[Occurrence], cover: Cover) -> None:
        self.chart = chart
        self.cls = machine_class
        self.graph = graph
        self.stepper = stepper
        self.occs = occs
        self.cover = cover
        self.ran: set[int] = set()  # occurrences seen running on the real machine
        self.failed: set[int] = set()  # ... and among them those that attempted I/O
        self.why: dict[int, str] = {}  # why an occurrence an explored path executes did not run
        self.blocked: dict[int, str] = {}  # what stopped the last run before it reached one

    def run(self) -> None:
        first = self._first_steps()
        # Longest paths first: their prefixes often execute the occurrences of shorter ones.
        order = sorted(first, key=lambda k: (-len(first[k].letters), k))
        planned: set[int] = set()
        paths: list[_Path] = []
        for k in order:
            if k in planned:
                continue
            path = self._steps_of(first[k])
            planned.update(n for step in path.steps for n in step)
            paths.append(path)
        replayed: set[tuple[int, ...]] = set()
        for path in paths:
            replayed.add((path.root, *path.letters))
            self._replay(path)
        # An occurrence behind another one's refused I/O gets its own shortest path.
        for k in order:
            if k in self.ran or k in self.why:
                continue
            path = self._steps_of(first[k])
            key = (path.root, *path.letters)
            if key not in replayed:
                replayed.add(key)
                self._replay(path)
            if k not in self.ran and k not in self.why:
                self.why[k] = self.blocked.get(k, "its shortest path could not be replayed")
        self.cover.covered = len(self.ran)
        for k, occ in enumerate(self.occs):
            if k in self.ran:
                continue
            reason = self.why.get(k)
            if k not in first:
                reason = None
            self.cover.uncovered.append(occ.describe() + (f" ({reason})" if reason else ""))

    # -- choosing paths ----------------------------------------------------------------------

    def _first_steps(self) -> dict[int, _Path]:
        """For each occurrence an explored path executes, the shortest such path.

        Every letter is tried from every expanded node, breadth first, as exploration did:
        also the steps exploration kept no edge for because they change nothing (a
        targetless transition whose only action is a custom one)."""
        graph, stepper = self.graph, self.stepper
        found: dict[int, _Path] = {}
        for root in _roots(graph):
            try:
                _, log = stepper.initial(self._context(root))
            except StepError:
                continue
            for k in _numbers(log):
                found.setdefault(k, _path(graph, root, None))
        total = len(self.occs)
        table = [(lt.event, lt.payload, lt.requires, lt.handled) for lt in graph.alphabet]
        applicable: dict[int, list[int]] = {}
        expanded = getattr(graph, "expanded", graph.configurations)
        for node in range(min(expanded, graph.configurations)):
            if len(found) == total:
                break
            snap = graph.snapshots[node]
            config = snap.configuration
            letters = applicable.get(config)
            if letters is None:
                letters = applicable[config] = [
                    li for li, (_, _, requires, handled) in enumerate(table)
                    if config & handled and config & requires == requires
                ]
            for li in letters:
                event, payload = table[li][0], dict(table[li][1])
                try:
                    _, log = stepper.step(snap, event, payload)
                except StepError:
                    continue
                for k in _numbers(log):
                    if k not in found:
                        found[k] = _path(graph, node, li)
        return found

    def _context(self, root: int) -> tuple[Any, ...] | None:
        return start_context(self.stepper, _input_of(self.graph, root))

    def _steps_of(self, path: _Path) -> _Path:
        """``path`` with the occurrences each of its steps executes, per the Stepper."""
        stepper, graph = self.stepper, self.graph
        snap, log = stepper.initial(self._context(path.root))
        steps = [_numbers(log)]
        for letter in path.letters:
            event, payload = graph.letter_event(letter)
            try:
                snap, log = stepper.step(snap, event, payload)
            except StepError:  # exploration found no such step either: end the path here
                break
            steps.append(_numbers(log))
        return _Path(path.nodes, path.letters[:len(steps) - 1], steps)

    # -- replaying on the real machine ---------------------------------------------------------

    def _replay(self, path: _Path) -> None:
        self.cover.runs += 1
        given = _input_of(self.graph, path.root)
        machine: Any = None
        for i, expected in enumerate(path.steps):
            attempts = _Attempts()
            before = len(machine.flowcheck_log) if machine is not None else 0
            error: Exception | None = None
            try:
                with blocked_io(attempts):
                    if machine is None:
                        machine = _start(self.cls, given)
                    else:
                        event, payload = self.graph.letter_event(path.letters[i - 1])
                        machine.send(_machine_event(event), **payload)
            except Exception as exc:  # the flow's own code raised: stop this run
                error = exc
            if attempts:
                logged = machine.flowcheck_log[before:] if machine is not None else []
                who = self._refused(path, i, expected, attempts, logged)
                self._stopped(path, i, f"its shortest path first runs {who}, which tried I/O")
                return
            if error is not None or machine is None:
                raised = f"python-statemachine raised {type(error).__name__}: {error}"
                for k in expected:
                    self.why.setdefault(k, f"{raised} on the step that runs it")
                self._stopped(path, i + 1, f"{raised} earlier on its shortest path")
                return
            self._check_ran(expected, machine.flowcheck_log[before:])

    def _stopped(self, path: _Path, i: int, why: str) -> None:
        """A run ended at step ``i``: what it did not reach, and why."""
        for expected in path.steps[i:]:
            for k in expected:
                if k not in self.ran:
                    self.blocked[k] = why

    def _check_ran(self, expected: list[int], logged: list[Any]) -> None:
        """Mark the occurrences the machine's log shows running (an undeclared callable is
        not logged: that it ran is taken from the Stepper)."""
        remaining = list(logged)
        for k in expected:
            action = self.occs[k].action
            if not action.declared:
                self.ran.add(k)
            elif action in remaining:
                remaining.remove(action)
                self.ran.add(k)
            else:
                self.why.setdefault(k, "the Stepper runs it on its shortest path, "
                                    "python-statemachine did not (see conformance)")

    def _refused(self, path: _Path, i: int, expected: list[int], attempts: _Attempts,
                 logged: list[Any]) -> str:
        """Report the first attempt of step ``i`` (once per occurrence); who made it."""
        culprit = attempts.culprits[0]
        if culprit is None:  # not in a declared custom action: an undeclared callable's?
            candidates = [k for k in expected if not self.occs[k].action.declared]
        else:
            candidates = [k for k in expected if self.occs[k].action == culprit]
        self._ran_before(expected, candidates[0] if candidates else None, logged)
        if candidates and candidates[0] in self.failed:
            return self.occs[candidates[0]].describe()  # reported already, from another path
        attempt = attempts[0]
        graph = self.graph
        if i == 0:
            cx = graph.counterexample(path.root)
            events: list[tuple[str, dict[str, Any]]] = []
            while_ = "while starting the machine"
        else:
            cx = graph.counterexample(path.nodes[i - 1], [path.letters[i - 1]])
            events = [graph.letter_event(li) for li in path.letters[:i]]
            while_ = f"on {events[-1][0]}"
        occ: Occurrence | None = None
        if candidates:
            occ = self.occs[candidates[0]]
            who = occ.describe()
            if len(candidates) > 1:
                who += " (or " + ", ".join(self.occs[k].describe() for k in candidates[1:]) + ")"
            self.ran.add(candidates[0])
            self.failed.add(candidates[0])
        else:
            who = f"the machine's own code {while_}"
        replay = replay_command(self.chart.name, cx)
        self.cover.findings.append(Finding(
            "pure",
            f"{who} tried {attempt.detail} ({attempt.kind}; refused by the coverage run under "
            f"audit hooks; replay: {replay})",
            state=occ.state if occ is not None else None,
            event=_event_of(occ, events),
            counterexample=cx,
        ))
        return who

    def _ran_before(self, expected: list[int], culprit: int | None, logged: list[Any]) -> None:
        """In a step cut short by an I/O attempt, the declared custom actions the machine
        logged before the one that tried it ran to their end."""
        remaining = [a for a in logged if isinstance(a, Custom)]
        for k in expected:
            if k == culprit:
                return
            action = self.occs[k].action
            if action.declared and action in remaining:
                remaining.remove(action)
                self.ran.add(k)


def _event_of(occ: Occurrence | None, events: list[tuple[str, dict[str, Any]]]) -> str | None:
    if occ is not None and occ.transition is not None:
        return occ.transition.event
    return events[-1][0] if events else None


def _start(machine_class: type[Any], given: dict[str, Any] | None) -> Any:
    """A fresh machine, started with ``given`` as its input (the context fields it sets)."""
    if not given:
        return machine_class()
    model = machine_class.Context
    context = model.model_validate({**model().model_dump(), **given})
    return machine_class(context=context)


def _machine_event(name: str) -> str:
    """The name python-statemachine knows an event by: delays are ``after.<delay>`` there."""
    if name.startswith("xstate.after."):
        return "after." + name[len("xstate.after."):].rsplit(".", 1)[0]
    return name


class _Attempts(list[IOAttempt]):
    """The attempts of one step, each with the custom action whose code made it (found on
    the stack: the callback ``flowcheck.declare.custom`` makes runs it), or None."""

    def __init__(self) -> None:
        super().__init__()
        self.culprits: list[Custom | None] = []

    def append(self, attempt: IOAttempt, /) -> None:
        super().append(attempt)
        self.culprits.append(_running_custom())


_DSL_FILE = dsl.__file__


def _running_custom() -> Custom | None:
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "call" and code.co_filename == _DSL_FILE:
            decl = frame.f_locals.get("decl")
            if isinstance(decl, Custom):
                return decl
        frame = frame.f_back  # type: ignore[assignment]
    return None
