"""``traces check`` on traces real XState writes: random walks of the four exported flows.

The traces are made the way a frontend makes them: each exported ``<flow>.machine.ts``
(transpiled, imported) is created with ``track: trace('<flow>')``, the sink of
docs/traces.md taken from the page itself, and run as an actor in real XState 5 on a
simulated clock; users send random events the running flows accept, RPCs answer with
random outputs and errors of the flow's environment, timers fire, child flows run as real
child actors writing their own lines into the same session, and some sessions stop
half-way (the tab closed). See tests/trace_walks.mjs.

Then drift is injected into copies of single runs, in four ways a frontend drifts (a state
skipped, a step the model forbids, an event renamed, an exit missing), each at a place
chosen so that the line it breaks is known from the chart alone, and the checker must
name exactly that line as the first deviation of exactly those runs.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowcheck.chart.model import ABANDONED, Chart, Track, done_actor, error_actor
from flowcheck.explore.graph import explore
from flowcheck.project import Machine
from flowcheck.semantics import start
from flowcheck.traces.automaton import Automaton
from flowcheck.traces.check import check
from flowcheck.traces.format import TraceEvent, parse
from flowcheck.traces.replay import Replay, automata_by_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "conformance" / "node_modules"
WALKER = Path(__file__).resolve().parent / "trace_walks.mjs"
DOCS = ROOT / "docs" / "traces.md"
NODE = shutil.which("node")

needs_node = pytest.mark.skipif(
    NODE is None or not (PACKAGES / "typescript").is_dir() or not (PACKAGES / "xstate").is_dir(),
    reason="Node.js and conformance/node_modules (typescript, xstate) are needed",
)


# -- making traces in real XState ------------------------------------------------------------


def sink_source() -> str:
    """The ``traceSink`` of docs/traces.md, as the page shows it."""
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(r"```ts\n(// trace-sink\.ts\n.*?)```", text, re.S)
    assert found, "docs/traces.md lost its trace-sink.ts snippet"
    return found.group(1)


@dataclass
class Walks:
    """What the walker wrote: the NDJSON lines, the action that wrote each, the sessions."""

    lines: list[str]
    actions: list[int]
    sessions: list[dict[str, Any]]

    def events(self) -> list[TraceEvent]:
        return list(parse(iter(line.encode() + b"\n" for line in self.lines)))  # type: ignore[arg-type]


def flow_spec(machine: Machine, charts: dict[str, Chart]) -> dict[str, Any]:
    chart = machine.chart
    letters = explore(chart).alphabet
    source = (ROOT / "exports" / f"{machine.name}.machine.ts").read_text(encoding="utf-8")
    factory = re.search(r"export function (create\w+Machine)", source)
    assert factory
    rpc: dict[str, dict[str, list[Any]]] = {}
    children: dict[str, str] = {}
    for _, inv in chart.invokes():
        if inv.kind == "flow":
            children[inv.src] = charts[inv.src].id
            continue
        outcomes = rpc.setdefault(inv.src, {"outputs": [], "errors": []})
        for lt in letters:
            if lt.event == done_actor(inv.id) and lt.payload["output"] not in outcomes["outputs"]:
                outcomes["outputs"].append(lt.payload["output"])
            code = lt.payload.get("error", {}).get("code")
            if lt.event == error_actor(inv.id) and code not in outcomes["errors"]:
                outcomes["errors"].append(code)
    return {
        "module": f"{machine.name}.machine.mjs",
        "factory": factory.group(1),
        "events": [{"type": lt.event, **lt.payload} for lt in letters if lt.kind == "user"],
        "rare": sorted(leaving(chart)),
        "rpc": rpc,
        "children": children,
    }


def leaving(chart: Chart) -> set[str]:
    """Events whose every transition goes to a state tagged abandoned (a cancel)."""
    abandoned = set(chart.tagged(ABANDONED))
    targets: dict[str, set[bool]] = defaultdict(set)
    for t in chart.transitions():
        if t.event is not None and t.targets:
            targets[t.event].add(all(x in abandoned for x in t.targets))
    return {event for event, kinds in targets.items() if kinds == {True}}


def walk(machines: dict[str, Machine], work: Path, *, sessions: int, seed: int,
         cut_off: float, max_actions: int = 60) -> Walks:
    """``sessions`` random walks of each of the four flows (children run inside theirs)."""
    work.mkdir(parents=True, exist_ok=True)
    for ts in (ROOT / "exports").glob("*.ts"):
        shutil.copy(ts, work / ts.name)
    (work / "trace-sink.ts").write_text(sink_source(), encoding="utf-8")
    link = work / "node_modules"
    if not link.exists():
        link.symlink_to(PACKAGES, target_is_directory=True)
    charts = {name: m.chart for name, m in machines.items()}
    flows = {m.chart.id: flow_spec(m, charts) for m in machines.values()}
    walks = [
        {"flow": m.chart.id, "sessions": sessions, "seed": seed + n,
         "inputs": explore(m.chart).roots, "maxActions": max_actions, "cutOff": cut_off}
        for n, m in enumerate(machines.values())
    ]
    request = work / "request.json"
    request.write_text(json.dumps({"dir": str(work), "flows": flows, "walks": walks}))
    assert NODE is not None
    done = subprocess.run([NODE, str(WALKER), str(request)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    return Walks(data["lines"], data["actions"], data["sessions"])


def automata(machines: dict[str, Machine]) -> dict[str, Automaton]:
    return automata_by_name({name: Automaton(m.chart) for name, m in machines.items()})


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def walks(machines: dict[str, Machine], tmp_path_factory: pytest.TempPathFactory) -> Walks:
    if NODE is None or not (PACKAGES / "xstate").is_dir():
        pytest.skip("Node.js and conformance/node_modules are needed")
    return walk(machines, tmp_path_factory.mktemp("walks"), sessions=40, seed=7, cut_off=0.01,
                max_actions=150)


@pytest.fixture(scope="module")
def models(machines: dict[str, Machine]) -> dict[str, Automaton]:
    return automata(machines)


# -- clean traces -------------------------------------------------------------------------------


@needs_node
def test_every_run_xstate_writes_fits_its_flow(walks: Walks,
                                                models: dict[str, Automaton]) -> None:
    result = check(walks.events(), models, keep=True)
    assert result.deviations == [], [d.deviation for d in result.deviations or []][:3]
    assert result.deviating == 0
    counts = {c.flow: c for c in result.flows.values()}
    # Every flow ran, child flows (checkout in registration, generation in the course
    # builder) in more runs than their own walks started.
    for flow in ("checkout", "courseBuilder", "generation", "registration"):
        assert counts[flow].runs >= 40, counts[flow]
        assert counts[flow].complete > 0, counts[flow]
    assert counts["checkout"].runs > 40 and counts["generation"].runs > 40
    assert sum(c.lines for c in counts.values()) == len(walks.lines)


@needs_node
def test_each_run_is_explained_by_events_the_stepper_replays_to_its_lines(
        walks: Walks, models: dict[str, Automaton]) -> None:
    """The explanation of a run (the untracked events inferred between its lines) is a
    real run of the flow: replayed on the Stepper, its steps send the run's lines, each
    step's from the line the explanation gives it."""
    events = walks.events()
    by_run: dict[tuple[str, str, int], list[TraceEvent]] = defaultdict(list)
    replay = Replay(models, witness=True)
    explained = 0
    silent = 0
    ends = list(replay.runs(events))
    starts = sorted((r.first_line, r) for r in ends)
    for ev in events:
        flow = models[ev.flow].chart.id
        owner = max((r for line, r in starts if line <= ev.line and r.session == ev.session
                     and r.flow == flow), key=lambda r: r.first_line)
        by_run[(owner.session, owner.flow, owner.first_line)].append(ev)
    for run in ends:
        auto = models[run.flow]
        assert run.edges is not None
        story = auto.explain(run.edges)
        lines = by_run[(run.session, run.flow, run.first_line)]
        snap, log = start(auto.stepper, story.input)
        sent: list[tuple[str, dict[str, Any]]] = [
            (e.action.event, dict(e.action.properties)) for e in log
            if isinstance(e.action, Track)]
        for step in story.steps:
            if step.line is not None:
                assert step.line == len(sent), (run.session, step)
            else:
                silent += 1
            snap, log = auto.stepper.step(snap, step.event, step.payload)
            tracked = [(e.action.event, dict(e.action.properties)) for e in log
                       if isinstance(e.action, Track)]
            assert bool(tracked) == (step.line is not None), (run.session, step)
            sent += tracked
        assert len(sent) == len(lines) == run.lines, run.session
        for (event, literal), line in zip(sent, lines, strict=True):
            assert line.event == event
            assert all(line.properties.get(k) == v for k, v in literal.items())
        explained += 1
    assert explained == len(ends) > 250
    assert silent > 50  # typed-in form fields and the like, inferred


# -- drift ------------------------------------------------------------------------------------


@dataclass
class Line:
    data: dict[str, Any]
    action: int

    @property
    def event(self) -> str:
        return str(self.data["event"])

    @property
    def state(self) -> str | None:
        value = self.data["properties"].get("state")
        return value if isinstance(value, str) else None

    def marks(self, event: str, state: str) -> bool:
        return self.event == event and self.state == state


Run = list[Line]


def runs_of(walks: Walks) -> list[tuple[str, Run]]:
    """Each run of the walks: its flow and its lines (a flow's lines in one session, from a
    FLOW_STARTED to the next)."""
    runs: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for text, action in zip(walks.lines, walks.actions, strict=True):
        data = json.loads(text)
        group = runs[(data["session"], data["flow"])]
        if data["event"] == "FLOW_STARTED" or not group:
            group.append([])
        group[-1].append(Line(data, action))
    return [(flow, run) for (_, flow), group in runs.items() for run in group]


def steps_of(run: Run) -> list[Run]:
    """The run cut where the action writing it changes: one step of the flow each."""
    steps: list[Run] = []
    for line in run:
        if not steps or steps[-1][-1].action != line.action:
            steps.append([])
        steps[-1].append(line)
    return steps


def top_atomic(chart: Chart) -> set[str]:
    return {s.id for s in chart.states if s.parent is None and s.kind == "atomic"}


def targets_from(chart: Chart, source: str) -> set[str]:
    """Every state a transition of ``source`` or of the machine root targets."""
    out: set[str] = set()
    for s in chart.nodes():
        if s.id in (source, chart.id):
            for t in s.transitions:
                out.update(t.targets)
    return out


@dataclass
class Drift:
    """A run with drift injected: its lines, the index of the first line that no longer
    fits, and the line the clean run had there (None when the drift added that line)."""

    kind: str
    flow: str
    lines: list[dict[str, Any]]
    at: int
    original: dict[str, Any] | None


def renamed(flow: str, run: Run, rng: random.Random, chart: Chart) -> Drift | None:
    """An event renamed in the frontend (or the state it names)."""
    i = rng.randrange(len(run))
    line = dict(run[i].data, properties=dict(run[i].data["properties"]))
    if line["properties"].get("state") and rng.random() < 0.5:
        line["properties"]["state"] += "Step"
    else:
        line["event"] = line["event"].replace("_", "_V2_", 1)
    lines = [x.data for x in run]
    return Drift("renamed", flow, [*lines[:i], line, *lines[i + 1:]], i, run[i].data)


def missing_exit(flow: str, run: Run, rng: random.Random, chart: Chart) -> Drift | None:
    """A state's exit not tracked: the next line comes while the model still has the state
    active."""
    places = [i for i in range(len(run) - 1) if run[i].event == "STATE_EXITED"
              and run[i + 1].event in ("STATE_ENTERED", "STATE_EXITED")]
    if not places:
        return None
    i = rng.choice(places)
    lines = [x.data for x in run]
    return Drift("missing exit", flow, lines[:i] + lines[i + 1:], i, run[i].data)


def skipped_state(flow: str, run: Run, rng: random.Random, chart: Chart) -> Drift | None:
    """A state skipped: top-level A, X, B in a row becomes A, B, where no transition of A
    targets B (so the line entering B right after A's exit is the first that cannot fit)."""
    tops = top_atomic(chart)
    steps = steps_of(run)
    places = []
    for k in range(1, len(steps) - 1):
        s, t = steps[k], steps[k + 1]
        if not (len(s) >= 2 and len(t) >= 2 and s[0].event == "STATE_EXITED"
                and s[1].event == "STATE_ENTERED" and t[0].event == "STATE_EXITED"
                and t[1].event == "STATE_ENTERED"):
            continue
        a, x, x_left, b = s[0].state, s[1].state, t[0].state, t[1].state
        if (a in tops and x in tops and b in tops and x == x_left
                and b not in targets_from(chart, str(a))):
            places.append(k)
    if not places:
        return None
    k = rng.choice(places)
    before = [x.data for step in steps[:k] for x in step]
    kept = [steps[k][0].data]  # A's exit; X's entry and what its entry tracked go
    after = [x.data for x in steps[k + 1][1:]] + [x.data for step in steps[k + 2:] for x in step]
    at = len(before) + 1
    return Drift("skipped state", flow, before + kept + after, at, steps[k][1].data)


def forbidden_step(flow: str, run: Run, rng: random.Random, chart: Chart) -> Drift | None:
    """A step the model has no transition for: between two steps, the top-level state A is
    left for a top-level state C that no transition of A targets."""
    tops = top_atomic(chart)
    steps = steps_of(run)
    places = []
    for k in range(len(steps) - 1):
        t = steps[k + 1]
        a = t[0].state
        if t[0].event != "STATE_EXITED" or a not in tops:
            continue
        wrong = sorted(tops - targets_from(chart, a) - {a})
        if wrong:
            places.append((k, a, wrong))
    if not places:
        return None
    k, a, wrong = rng.choice(places)
    c = rng.choice(wrong)
    exit_a = dict(steps[k + 1][0].data)
    enter_c = dict(exit_a, event="STATE_ENTERED",
                   properties={**exit_a["properties"], "state": c})
    before = [x.data for step in steps[:k + 1] for x in step]
    after = [x.data for step in steps[k + 1:] for x in step]
    return Drift("forbidden step", flow, [*before, exit_a, enter_c, *after], len(before) + 1,
                 None)


DRIFTS = (renamed, missing_exit, skipped_state, forbidden_step)


def drifted_file(walks: Walks, machines: dict[str, Machine], per_kind: int,
                 seed: int) -> tuple[list[str], dict[str, tuple[Drift, int]], set[str]]:
    """The clean lines, then ``per_kind`` drifted copies of random runs per kind of drift
    (each in a session of its own), then copies of random runs cut off at a random line.
    Returns the lines, each drifted session with its drift and the file line number of its
    first deviating line, and the sessions cut off."""
    rng = random.Random(seed)
    charts = {m.chart.id: m.chart for m in machines.values()}
    runs = runs_of(walks)
    lines = list(walks.lines)
    expected: dict[str, tuple[Drift, int]] = {}
    for kind in DRIFTS:
        made = 0
        for n in rng.sample(range(len(runs)), len(runs)):
            flow, run = runs[n]
            drift = kind(flow, run, rng, charts[flow])
            if drift is None:
                continue
            session = f"drift-{kind.__name__}-{made}"
            expected[session] = (drift, len(lines) + drift.at + 1)
            lines.extend(json.dumps({**d, "session": session}) for d in drift.lines)
            made += 1
            if made == per_kind:
                break
        assert made == per_kind, f"only {made} runs take a {kind.__name__} drift"
    cut: set[str] = set()
    for n, (_, run) in enumerate(rng.sample(runs, 30)):
        keep = rng.randrange(1, len(run) + 1)
        session = f"cut-{n}"
        cut.add(session)
        lines.extend(json.dumps({**x.data, "session": session}) for x in run[:keep])
    return lines, expected, cut


def describes(allowed: dict[str, Any], line: dict[str, Any]) -> bool:
    """Whether an allowed event (as check reports it) is the event of ``line``."""
    if allowed.get("event") != line["event"]:
        return False
    props = line["properties"]
    return all(props.get(k) == v for k, v in allowed["properties"].items()
               if not (isinstance(v, str) and v.startswith("<")))


@needs_node
def test_every_drifted_run_is_found_at_its_first_deviating_line(
        walks: Walks, machines: dict[str, Machine], models: dict[str, Automaton]) -> None:
    lines, expected, cut = drifted_file(walks, machines, per_kind=25, seed=3)
    events = list(parse(iter(line.encode() for line in lines)))  # type: ignore[arg-type]
    result = check(events, models, keep=True)
    assert result.deviations is not None
    found = {run.session: run for run in result.deviations}
    assert set(found) == set(expected), (
        f"missed: {sorted(set(expected) - set(found))[:5]}, "
        f"flagged clean or cut off: {sorted(set(found) - set(expected))[:5]}")
    for session, (drift, line) in expected.items():
        run = found[session]
        assert run.deviation is not None
        assert (run.flow, run.deviation.line) == (drift.flow, line), (drift.kind, session)
        allowed = [a for a in (deviation_allowed(run)) if "event" in a]
        if drift.original is not None:
            # The clean run had a line there: the model allowed it.
            assert any(describes(a, drift.original) for a in allowed), (drift.kind, allowed)
        else:
            assert allowed and all(a["event"] == "STATE_ENTERED" for a in allowed)
    counts = {c.flow: c for c in result.flows.values()}
    assert sum(c.deviating for c in counts.values()) == len(expected)
    # The copies cut off are runs that fit, cut off (or complete, when cut after their end).
    assert sum(c.cut_off for c in counts.values()) >= len(cut) // 2


def deviation_allowed(run: Any) -> list[dict[str, Any]]:
    from flowcheck.traces.check import allowed_json

    return [allowed_json(a) for a in run.deviation.allowed]
