"""flowcheck and real XState agree on the public corpus: counterexamples replay, steps match.

Two checks of issue 13 over the machines of ``tests/data/xstate/`` (see
``test_xstate_corpus.py`` for the corpus and how ``conformance/xstate_corpus.mjs`` loads each
into XState with a stub for every named guard, action, actor and delay):

- **Counterexamples replay in XState unchanged.** flowcheck explores each machine; every
  step it explores, as a counterexample (the shortest path to the snapshot the step starts
  from, then the step's letter: so among them the shortest path to every snapshot, hence to
  every state, it reaches), and the counterexample of every finding ``verify`` reports, are
  sent to XState exactly as flowcheck gives them (``--replay``): the same event names
  (invoke outcomes ``xstate.done.actor.<id>`` / ``xstate.error.actor.<id>``, timers
  ``xstate.after.<delay>.<state id>``), payloads and input. The guard stubs read each step's
  outcomes from the ``$guards`` valuation the letter carries (for the initial step, from the
  input's), false for a guard it does not name. XState must never throw, and after every
  event must be where the Stepper says: the same state value, status (active, done, error)
  and active state ids.
- **The Stepper and XState agree step by step on random walks.** XState walks each machine
  with random guard outcomes (``--guards step``: one outcome per guard name per step, what a
  ``$guards`` valuation can say) and invoke outcomes and timers fed as events; each walk is
  replayed on the Stepper with a ``$guards`` payload built from the outcomes XState's stubs
  recorded in that step, and the state value and status must be equal after every step.

Both checks can fail: a deliberate change to one of the Stepper's rules (document order,
onError, eventless transitions, deep history, done events) is caught by each, and one that
ignores the error status by the walks (such a Stepper claims no step XState does not take).
``DISAGREE_TODAY`` lists machines where the two sides part today (none).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from xstate_corpus_support import (
    CORPUS,
    LONG_STEPS,
    LONG_WALKS,
    NAMES,
    NODE,
    RUNNER,
    SEED,
    STEPS,
    WALKS,
    needs_xstate,
)

from flowcheck.chart.model import Chart
from flowcheck.explore import explore
from flowcheck.formats.xstate import import_config
from flowcheck.properties.base import Counterexample
from flowcheck.semantics import Snapshot, StepError, Stepper, start
from flowcheck.semantics.stepper import OPAQUE_GUARDS
from flowcheck.verification import verify_chart

pytestmark = needs_xstate

# Machines where the Stepper and XState disagree today, with the reason.
DISAGREE_TODAY: dict[str, str] = {}

Step = dict[str, Any]
"""What one side says after a step: ``value``, ``status`` (and ``active``), or ``error``."""


def _marked(name: str) -> Any:
    if name in DISAGREE_TODAY:
        return pytest.param(name, marks=pytest.mark.xfail(strict=False,
                                                          reason=DISAGREE_TODAY[name]))
    return name


def guard_key(name: str, params: Any) -> str:
    """The key of a guard's outcome in a ``$guards`` valuation: its name, and its params as
    canonical JSON when it has some (as the importer writes them)."""
    if params is None:
        return name
    return f"{name}({json.dumps(params, sort_keys=True, separators=(',', ':'))})"


# -- the XState side ------------------------------------------------------------------------------


def _node(*args: str, request: dict[str, Any] | None = None) -> dict[str, Any]:
    assert NODE is not None
    proc = subprocess.run(
        [NODE, str(RUNNER), *args], input=json.dumps(request) if request else None,
        capture_output=True, text=True, check=False, timeout=300,
    )
    assert proc.returncode == 0, f"xstate_corpus.mjs failed: {proc.stdout[:2000]} {proc.stderr}"
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def xstate_walks(seed: int, walks: int, steps: int) -> dict[str, Any]:
    """XState's random walks of every corpus machine, one outcome per guard name per step."""
    files = [str(CORPUS / f"{n}.json") for n in NAMES]
    result = _node("--guards", "step", "--seed", str(seed), "--walks", str(walks),
                   "--steps", str(steps), *files)
    return {m["name"]: m for m in result["machines"]}


def xstate_replay(files: dict[str, Path], traces: dict[str, list[Counterexample]]
                  ) -> dict[str, list[list[Step]]]:
    """XState's steps for each counterexample, sent as flowcheck gives it."""
    request = {"machines": [
        {"file": str(files[name]), "traces": [
            {"input": cx.input, "events": [{"type": n, **p} for n, p in cx.events]}
            for cx in cxs
        ]}
        for name, cxs in traces.items()
    ]}
    result = _node("--replay", "-", request=request)
    out: dict[str, list[list[Step]]] = {}
    for name, machine in zip(traces, result["machines"], strict=True):
        assert machine["ok"], f"XState rejects {name}: {machine.get('error')}"
        out[name] = machine["traces"]
    return out


def said_by_xstate(step: Step, root_id: str, active: bool = True) -> Step:
    if "error" in step:
        return {"error": step["error"]}
    said = {"value": step["value"], "status": step["status"]}
    if active:
        said["active"] = sorted(set(step["active"]) - {root_id})
    return said


# -- the Stepper side -----------------------------------------------------------------------------


def status(stepper: Stepper, snap: Snapshot) -> str:
    if stepper.is_errored(snap):
        return "error"
    return "done" if stepper.is_done(snap) else "active"


def said_by_stepper(stepper: Stepper, snap: Snapshot, active: bool = True) -> Step:
    said = {"value": stepper.value(snap), "status": status(stepper, snap)}
    if active:
        said["active"] = sorted(stepper.active_ids(snap))
    out: Step = json.loads(json.dumps(said))
    return out


def stepper_steps(stepper: Stepper, events: list[tuple[str, dict[str, Any]]],
                  input: dict[str, Any] | None) -> list[Step]:
    """The Stepper's snapshot after the initial step and after each event."""
    try:
        snap, _ = start(stepper, input, record=False)
    except StepError as exc:
        return [{"error": str(exc)}]
    steps = [said_by_stepper(stepper, snap)]
    for name, payload in events:
        try:
            snap, _ = stepper.step(snap, name, payload, record=False)
        except StepError as exc:
            steps.append({"error": str(exc)})
            break
        steps.append(said_by_stepper(stepper, snap))
    return steps


def first_difference(want: list[Step], got: list[Step], root_id: str) -> str | None:
    """Where the Stepper's steps and XState's first differ (both throwing counts as equal)."""
    active = all("active" in w for w in want if "error" not in w)
    for i, (w, g) in enumerate(zip(want, got, strict=False)):
        x = said_by_xstate(g, root_id, active)
        if "error" in w and "error" in x:
            return None
        if w != x:
            return f"step {i}: flowcheck {w} != XState {x}"
    if len(want) != len(got):
        return f"{len(want)} steps in flowcheck, {len(got)} in XState"
    return None


# -- counterexamples ------------------------------------------------------------------------------


@cache
def chart_of(name: str) -> Chart:
    chart, _ = import_config(CORPUS / f"{name}.json")
    return chart


def step_counterexamples(chart: Chart) -> list[Counterexample]:
    """Every step exploration takes, as a counterexample: the shortest path to the snapshot
    it starts from, then its letter; and each initial step. Among them the shortest path to
    every snapshot flowcheck reaches (so to every reachable state, done and error included)."""
    graph = explore(chart)
    starts = [graph.counterexample(root) for root in graph.root_nodes]
    return starts + [graph.counterexample(src, then=[letter])
                     for src, letter in zip(graph.edge_src, graph.edge_letter, strict=True)]


def finding_counterexamples(chart: Chart) -> list[Counterexample]:
    report = verify_chart(chart, examples=0)
    return [f.counterexample for r in report.results for f in r.findings
            if f.counterexample is not None]


def _unique(cxs: list[Counterexample]) -> list[Counterexample]:
    seen: set[str] = set()
    out = []
    for cx in cxs:
        key = json.dumps([cx.events, cx.input], sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(cx)
    return out


@dataclass
class Replayed:
    """One counterexample, what the Stepper says after each of its steps, and XState's."""

    counterexample: Counterexample
    flowcheck: list[Step]
    xstate: list[Step]

    def threw(self) -> str | None:
        """XState's message when it threw where the Stepper did not."""
        if any("error" in s for s in self.flowcheck):
            return None
        return next((s["error"] for s in self.xstate if "error" in s), None)

    def difference(self, root_id: str) -> str | None:
        found = first_difference(self.flowcheck, self.xstate, root_id)
        if found is None:
            return None
        cx = self.counterexample
        return f"{[n for n, _ in cx.events]} (input {cx.input}): {found}"


def replay(gather: Callable[[Chart], list[Counterexample]],
           names: list[str] = NAMES) -> dict[str, list[Replayed]]:
    """The counterexamples ``gather`` finds for each machine, replayed on both sides."""
    traces = {n: _unique(gather(chart_of(n))) for n in names}
    replayed = xstate_replay({n: CORPUS / f"{n}.json" for n in names}, traces)
    out: dict[str, list[Replayed]] = {}
    for name in names:
        stepper = Stepper(chart_of(name))
        out[name] = [
            Replayed(cx, stepper_steps(stepper, list(cx.events), cx.input), got)
            for cx, got in zip(traces[name], replayed[name], strict=True)
        ]
    return out


def differences(replays: dict[str, list[Replayed]]) -> dict[str, list[str]]:
    """Per machine, one line per counterexample that ends elsewhere in XState (at the first
    step where the two part)."""
    out: dict[str, list[str]] = {}
    for name, done in replays.items():
        lines = [d for r in done for d in [r.difference(chart_of(name).id)] if d]
        if lines:
            out[name] = lines
    return out


@cache
def explored_steps(name: str) -> list[Counterexample]:
    return step_counterexamples(chart_of(name))


@pytest.fixture(scope="module")
def step_replays() -> dict[str, list[Replayed]]:
    return replay(lambda chart: explored_steps(chart.name))


@pytest.fixture(scope="module")
def finding_replays() -> dict[str, list[Replayed]]:
    return replay(finding_counterexamples)


# -- random walks ---------------------------------------------------------------------------------


def held_in(step: Step) -> dict[str, bool]:
    """The valuation of a walk's step: each guard's outcome as XState's stubs recorded it."""
    held: dict[str, bool] = {}
    for g in step["guards"]:
        held.setdefault(guard_key(g["guard"], g.get("params")), g["result"])
    return held


def walk_on_stepper(stepper: Stepper, walk: list[Step]) -> Iterator[tuple[Step, Step]]:
    """The Stepper's and XState's account of each step of an XState walk, replayed on the
    Stepper with the guard and invoke outcomes XState's stubs were given."""
    snap: Snapshot | None = None
    for step in walk:
        held = held_in(step)
        event = step["event"]
        try:
            if event is None:
                snap, _ = start(stepper, {OPAQUE_GUARDS: held} if held else None, record=False)
            else:
                assert snap is not None
                payload = {k: v for k, v in event.items() if k != "type"}
                if held:
                    payload[OPAQUE_GUARDS] = held
                snap, _ = stepper.step(snap, event["type"], payload, record=False)
        except StepError as exc:
            yield {"error": str(exc)}, step
            return
        yield said_by_stepper(stepper, snap, active=False), step


def walk_mismatches(run: dict[str, Any], chart: Chart) -> tuple[int, list[str]]:
    """Steps compared, and one line per walk where the Stepper parts from XState."""
    stepper = Stepper(chart)
    compared = 0
    out: list[str] = []
    for walk in run["walks"]:
        for i, (ours, step) in enumerate(walk_on_stepper(stepper, walk)):
            theirs = said_by_xstate(step, chart.id, active=False)
            compared += 1
            if "error" in ours and "error" in theirs:
                break
            if ours != theirs:
                events = [s["event"]["type"] for s in walk[1:i + 1]]
                out.append(f"after {events} with guards {[held_in(s) for s in walk[:i + 1]]}: "
                           f"Stepper {ours} != XState {theirs}")
                break
    return compared, out


@pytest.fixture(scope="module")
def walks() -> dict[str, Any]:
    return xstate_walks(SEED, WALKS, STEPS)


# -- the replay mode itself -----------------------------------------------------------------------

TINY = {
    "id": "tiny", "initial": "start", "states": {
        "start": {"always": {"guard": "ready", "target": "ready"},
                  "on": {"GO": "moving"}},
        "moving": {"always": [{"guard": "ready", "target": "ready"}, {"target": "stuck"}]},
        "stuck": {"invoke": {"src": "fix"}},
        "ready": {"type": "final"},
    },
}


def _replay_tiny(tmp_path: Path, traces: list[dict[str, Any]]) -> list[list[Step]]:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY), encoding="utf-8")
    result = _node("--replay", "-", request={"machines": [{"file": str(path),
                                                           "traces": traces}]})
    machine = result["machines"][0]
    assert machine["ok"], machine
    traces_out: list[list[Step]] = machine["traces"]
    return traces_out


def test_replay_reads_the_initial_guard_outcomes_from_the_input(tmp_path: Path) -> None:
    held, unheld = _replay_tiny(tmp_path, [
        {"input": {"$guards": {"ready": True}}, "events": []},
        {"events": []},
    ])
    assert [s["value"] for s in held] == ["ready"] and held[0]["status"] == "done"
    assert [s["value"] for s in unheld] == ["start"]


def test_replay_holds_an_events_guard_outcomes_for_the_whole_step(tmp_path: Path) -> None:
    # The eventless transition out of "moving" is taken in the step of GO: it reads GO's
    # valuation; a guard the valuation does not name is false.
    (ready,), (stuck,) = (
        [t[1:] for t in _replay_tiny(tmp_path, [
            {"events": [{"type": "GO", "$guards": {"ready": True}}]},
            {"events": [{"type": "GO", "$guards": {"other": True}}]},
        ])]
    )
    assert ready["value"] == "ready"
    assert {(g["guard"], g["result"]) for g in ready["guards"]} == {("ready", True)}
    assert stuck["value"] == "stuck"
    assert {(g["guard"], g["result"]) for g in stuck["guards"]} == {("ready", False)}


def test_replay_goes_on_after_the_machine_stopped_and_reports_xstates_status(
    tmp_path: Path,
) -> None:
    (trace,) = _replay_tiny(tmp_path, [{"events": [
        {"type": "GO"},
        {"type": "xstate.error.actor.0.tiny.stuck", "error": {"code": "unavailable"}},
        {"type": "GO"},
    ]}])
    assert [(s["value"], s["status"]) for s in trace] == [
        ("start", "active"), ("stuck", "active"), ("stuck", "error"), ("stuck", "error")]


# -- counterexamples replay in XState -------------------------------------------------------------


def test_flowcheck_names_events_as_xstate_does_for_a_machine_without_an_id() -> None:
    # XState calls such a machine "(machine)": default invoke ids and delay events say so.
    events = {t.event for t in chart_of("fetch").transitions()}
    assert {"xstate.done.actor.0.(machine).loading", "xstate.error.actor.0.(machine).loading",
            "xstate.after.1000.(machine).failure"} <= events


@pytest.mark.parametrize("name", NAMES)
def test_every_step_flowcheck_explores_replays_in_xstate_to_the_same_state(
    step_replays: dict[str, list[Replayed]], name: str,
) -> None:
    done = step_replays[name]
    assert done, f"nothing to replay for {name}"
    found = differences({name: done}).get(name, [])
    assert not found, f"{len(found)} of {len(done)} steps of {name} end elsewhere in XState:\n" \
        + "\n".join(found[:5])


def test_every_findings_counterexample_replays_in_xstate_to_the_state_it_shows(
    finding_replays: dict[str, list[Replayed]],
) -> None:
    assert sum(len(done) for done in finding_replays.values()) >= 20
    found = differences(finding_replays)
    assert not found, json.dumps(found, indent=1)[:3000]


def test_no_counterexample_event_makes_xstate_throw(
    step_replays: dict[str, list[Replayed]], finding_replays: dict[str, list[Replayed]],
) -> None:
    threw = {
        name: [t for r in done for t in [r.threw()] if t]
        for replays in (step_replays, finding_replays) for name, done in replays.items()
    }
    assert not {n: t for n, t in threw.items() if t}, threw


def test_the_replayed_steps_cover_invoke_outcomes_timers_guards_and_every_status(
    step_replays: dict[str, list[Replayed]],
) -> None:
    cxs = [r.counterexample for done in step_replays.values() for r in done]
    sent = [name for cx in cxs for name, _ in cx.events]
    for prefix in ("xstate.done.actor.", "xstate.error.actor.", "xstate.after."):
        assert any(e.startswith(prefix) for e in sent), prefix
    held = [p[OPAQUE_GUARDS] for cx in cxs for _, p in cx.events if OPAQUE_GUARDS in p]
    assert {v for h in held for v in h.values()} == {True, False}
    assert any(cx.input and OPAQUE_GUARDS in cx.input for cx in cxs)
    ends = {r.xstate[-1].get("status") for done in step_replays.values() for r in done}
    assert ends == {"active", "done", "error"}


# -- the Stepper and XState agree on random walks -------------------------------------------------


def test_the_walks_keep_one_outcome_per_guard_per_step(walks: dict[str, Any]) -> None:
    # What a $guards valuation can say: one outcome per guard (name and params) per step.
    # hasClerkStatus with two params in clerk_sign_up_router is two guards, each free.
    def key(g: dict[str, Any]) -> str:
        return guard_key(g["guard"], g.get("params"))

    twice = [
        (name, step["guards"]) for name, run in walks.items() for walk in run["walks"]
        for step in walk
        if len({(key(g), g["result"]) for g in step["guards"]})
        != len({key(g) for g in step["guards"]})
    ]
    assert not twice, twice[:3]
    evaluated = [g for run in walks.values() for w in run["walks"] for s in w for g in s["guards"]]
    assert {g["result"] for g in evaluated} == {True, False}


def test_the_walks_feed_invoke_outcomes_and_timers_and_end_done_or_errored(
    walks: dict[str, Any],
) -> None:
    steps = [s for run in walks.values() for w in run["walks"] for s in w]
    types = [s["event"]["type"] for s in steps if s["event"]]
    for prefix in ("xstate.after.", "xstate.done.actor.", "xstate.error.actor."):
        assert any(t.startswith(prefix) for t in types), prefix
    assert {s["status"] for s in steps} == {"active", "done", "error"}
    assert not [s["error"] for s in steps if "error" in s]


@pytest.mark.parametrize("name", [_marked(n) for n in NAMES])
def test_stepper_and_xstate_agree_at_every_step_of_random_walks(
    walks: dict[str, Any], name: str,
) -> None:
    run = walks[name]
    assert run["ok"], run.get("error")
    compared, found = walk_mismatches(run, chart_of(name))
    assert compared >= WALKS
    assert not found, f"{len(found)} walks of {name} part:\n" + "\n".join(found[:5])


@pytest.mark.slow
def test_long_random_walks_agree_step_by_step() -> None:
    runs = xstate_walks(SEED + 1, LONG_WALKS, LONG_STEPS)
    parted = {}
    for name in NAMES:
        if name in DISAGREE_TODAY:
            continue
        _, found = walk_mismatches(runs[name], chart_of(name))
        if found:
            parted[name] = found[:3]
    assert not parted, parted


# -- the checks catch a Stepper that breaks a rule ------------------------------------------------


def _document_order_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    init = Stepper.__init__

    def patched(self: Stepper, chart: Chart) -> None:
        init(self, chart)
        for node in self.nodes:
            node.always.reverse()
            for cands in node.on.values():
                cands.reverse()

    monkeypatch.setattr(Stepper, "__init__", patched)


def _error_status_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Stepper, "_errored", lambda self, snap: snap)


def _on_error_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    candidates = Stepper._candidates

    def patched(self: Stepper, idx: int, event: str) -> Any:
        return [] if event.startswith("xstate.error.actor.") else candidates(self, idx, event)

    monkeypatch.setattr(Stepper, "_candidates", patched)


def _eventless_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Stepper, "_select_eventless", lambda self, snap, ev: [])


def _deep_history_taken_as_shallow(monkeypatch: pytest.MonkeyPatch) -> None:
    init = Stepper.__init__

    def patched(self: Stepper, chart: Chart) -> None:
        init(self, chart)
        for node in self.nodes:
            node.deep = False

    monkeypatch.setattr(Stepper, "__init__", patched)


def _done_events_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    enter = Stepper._enter

    def patched(self: Stepper, to_enter: set[int], config: int, program: list[Any]) -> int:
        mine: list[Any] = []
        config = enter(self, to_enter, config, mine)
        program.extend(op for op in mine if not isinstance(op[1], str))
        return config

    monkeypatch.setattr(Stepper, "_enter", patched)


Mutation = Callable[[pytest.MonkeyPatch], None]

# Each broken rule, and a corpus machine whose explored steps then end elsewhere in XState.
# (A Stepper that ignores the error status claims no step, it only misses one: the walks
# catch it, counterexamples cannot.)
MUTATIONS: dict[str, tuple[Mutation, str | None]] = {
    "document-order-ignored": (_document_order_ignored, "agent_joke"),
    "error-status-ignored": (_error_status_ignored, None),
    "on-error-ignored": (_on_error_ignored, "fetch"),
    "eventless-ignored": (_eventless_ignored, "tiles"),
    "deep-history-taken-as-shallow": (_deep_history_taken_as_shallow, "parallel_history"),
    "done-events-dropped": (_done_events_dropped, "donut"),
}


@pytest.mark.parametrize("rule", list(MUTATIONS))
def test_a_stepper_that_breaks_a_rule_parts_from_xstate_on_the_walks(
    walks: dict[str, Any], monkeypatch: pytest.MonkeyPatch, rule: str,
) -> None:
    MUTATIONS[rule][0](monkeypatch)
    assert any(walk_mismatches(walks[n], chart_of(n))[1] for n in NAMES)


@pytest.mark.parametrize("rule", [r for r, (_, name) in MUTATIONS.items() if name])
def test_a_stepper_that_breaks_a_rule_explores_steps_that_end_elsewhere_in_xstate(
    monkeypatch: pytest.MonkeyPatch, rule: str,
) -> None:
    mutation, name = MUTATIONS[rule]
    assert name is not None
    assert not differences(replay(step_counterexamples, [name]))
    mutation(monkeypatch)
    assert differences(replay(step_counterexamples, [name]))
