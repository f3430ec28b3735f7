"""Stepper vs real XState: the exported configs behave exactly like flowcheck's interpreter.

For every flow (and a hand-written machine that uses the semantics the flows do
not: parallel regions, history, eventless transitions, raise, reenter, onDone),
traces are generated with the Stepper: a shortest path to every transition,
each extended by a few random events, plus seeded random walks with invoke
outcomes and payloads. ``conformance/run.mjs`` replays them through xstate's
pure API in one Node process per test session; after every step the state
value, the context, the status, the machine's output once it is done and the
ordered track/custom/sendParent actions (with their params, the properties a
track sends, the event sent to the parent) must be identical.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flow_events import FLOWS, candidates

from flowcheck.chart.model import Chart, Custom, SendParent, Track, Transition, action_name
from flowcheck.formats.xstate import build_manifest, export_config, import_config
from flowcheck.semantics import Snapshot, Stepper
from flowcheck.semantics import stepper as stepper_module
from flowcheck.semantics.stepper import Executed

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "conformance"
DATA = Path(__file__).resolve().parent / "data"
NODE = shutil.which("node")
HAS_XSTATE = (HARNESS / "node_modules" / "xstate" / "package.json").is_file()

pytestmark = pytest.mark.skipif(
    not HAS_XSTATE or NODE is None,
    reason="conformance/node_modules is missing: run `cd conformance && npm ci` "
    "(scripts/bootstrap.sh does it)",
)

MIN_STEPS = 1_000
WALK_LENGTH = 40
EXTEND = 5

Sent = tuple[str, dict[str, Any]]


@dataclass
class Subject:
    """One machine under comparison: its chart, and the traces driven through both sides."""

    name: str
    chart: Chart
    traces: list[list[Sent]]

    @property
    def steps(self) -> int:
        return sum(len(t) + 1 for t in self.traces)


class _Recording(Stepper):
    """A Stepper that notes which transitions each microstep takes."""

    taken: list[Transition]

    def _microstep(self, enabled: Any, snap: Snapshot, ev: Any, queue: Any, log: Any) -> Snapshot:
        self.taken.extend(t.decl for t in self._remove_conflicts(enabled, snap))
        return super()._microstep(enabled, snap, ev, queue, log)


def _step(stepper: _Recording, snap: Snapshot, sent: Sent) -> tuple[Snapshot, list[Transition]]:
    stepper.taken = []
    nxt, _ = stepper.step(snap, sent[0], sent[1], record=False)
    return nxt, stepper.taken


def covering_paths(chart: Chart, limit: int = 20_000) -> list[list[Sent]]:
    """Breadth first over snapshots: the shortest event path that takes each transition."""
    stepper = _Recording(chart)
    stepper.taken = []
    start, _ = stepper.initial(record=False)
    covered: set[int] = {id(t) for t in stepper.taken}
    paths: list[list[Sent]] = []
    seen: dict[Snapshot, list[Sent]] = {start: []}
    queue = deque([start])
    while queue and len(seen) < limit:
        snap = queue.popleft()
        if stepper.is_done(snap):
            continue
        for sent in candidates(chart, stepper, snap):
            nxt, taken = _step(stepper, snap, sent)
            path = [*seen[snap], sent]
            if any(id(t) not in covered for t in taken):
                covered.update(id(t) for t in taken)
                paths.append(path)
            if nxt not in seen:
                seen[nxt] = path
                queue.append(nxt)
    missing = [t for t in chart.transitions() if id(t) not in covered]
    assert not missing, f"{chart.name}: no generated trace takes {missing[:3]}"
    return paths


def random_events(
    chart: Chart, stepper: Stepper, snap: Snapshot, rng: random.Random, count: int
) -> Iterator[Sent]:
    """Random events, mostly ones with a transition from the active states, as a user and
    the invoked actors would send them; stops at a final configuration."""
    for _ in range(count):
        if stepper.is_done(snap):
            return
        options = candidates(chart, stepper, snap)
        enabled = set(stepper.enabled_events(snap))
        handled = [o for o in options if o[0] in enabled]
        sent = rng.choice(handled if handled and rng.random() < 0.85 else options)
        yield sent
        snap, _ = stepper.step(snap, sent[0], sent[1], record=False)


def build_traces(chart: Chart, seed: int) -> list[list[Sent]]:
    stepper = Stepper(chart)
    rng = random.Random(seed)
    traces: list[list[Sent]] = []
    for path in covering_paths(chart):
        snap = _replay(stepper, path)
        traces.append(path + list(random_events(chart, stepper, snap, rng, EXTEND)))
    total = sum(len(t) + 1 for t in traces)
    while total < MIN_STEPS + 200:
        start, _ = stepper.initial(record=False)
        walk = list(random_events(chart, stepper, start, rng, WALK_LENGTH))
        traces.append(walk)
        total += len(walk) + 1
    return traces


def _replay(stepper: Stepper, events: list[Sent]) -> Snapshot:
    snap, _ = stepper.initial(record=False)
    for name, payload in events:
        snap, _ = stepper.step(snap, name, payload, record=False)
    return snap


# -- the Stepper's side, in the harness's shape ----------------------------------------------


def _action_record(e: Executed) -> dict[str, Any] | None:
    a = e.action
    if isinstance(a, Track):
        return {
            "type": "track",
            "params": json.loads(json.dumps(export_params(a))),
            "sent": e.properties or {},
        }
    if isinstance(a, Custom):
        return {"type": a.name, "params": dict(a.params)}
    if isinstance(a, SendParent):
        return {"type": action_name(a), "params": {"event": a.event}}
    return None


def export_params(a: Track) -> dict[str, Any]:
    return {
        "event": a.event,
        "properties": dict(a.properties),
        "include": list(a.include),
    }


def expected_steps(chart: Chart, events: list[Sent]) -> list[dict[str, Any]]:
    stepper = Stepper(chart)
    snap, executed = stepper.initial()
    steps = [_record(stepper, snap, executed)]
    for name, payload in events:
        snap, executed = stepper.step(snap, name, payload)
        steps.append(_record(stepper, snap, executed))
    return steps


def _record(stepper: Stepper, snap: Snapshot, executed: list[Executed]) -> dict[str, Any]:
    actions = [r for r in map(_action_record, executed) if r is not None]
    step: dict[str, Any] = {
        "value": stepper.value(snap),
        "context": stepper.context_dict(snap.context),
        "status": "done" if stepper.is_done(snap) else "active",
        "actions": actions,
    }
    if stepper.is_done(snap):
        step["output"] = stepper.output(snap)
    return json.loads(json.dumps(step))


# -- the session: one Node process for every machine -------------------------------------------


def _subjects() -> list[Subject]:
    from flowcheck.project import discover, find_settings

    found = {m.name: m for m in discover(find_settings(ROOT))}
    subjects = [
        Subject(name, found[name].chart, build_traces(found[name].chart, seed=i))
        for i, name in enumerate(FLOWS)
    ]
    semantics, _ = import_config(DATA / "semantics.json")
    subjects.append(Subject("semantics", semantics, build_traces(semantics, seed=99)))
    return subjects


@pytest.fixture(scope="session")
def replayed() -> dict[str, tuple[Subject, list[list[dict[str, Any]]]]]:
    """Every subject with XState's steps for each of its traces."""
    subjects = _subjects()
    request = {
        "machines": [
            {
                "name": s.name,
                "config": export_config(s.chart),
                "manifest": build_manifest(s.chart),
                "traces": [[{"type": n, **p} for n, p in t] for t in s.traces],
            }
            for s in subjects
        ]
    }
    assert NODE is not None
    proc = subprocess.run(
        [NODE, str(HARNESS / "run.mjs"), "-"],
        input=json.dumps(request), capture_output=True, text=True, check=False, timeout=300,
    )
    assert proc.returncode == 0, f"run.mjs failed: {proc.stdout[:2000]} {proc.stderr[:2000]}"
    result = json.loads(proc.stdout)
    by_name = {m["name"]: m["traces"] for m in result["machines"]}
    return {s.name: (s, by_name[s.name]) for s in subjects}


def mismatches(
    subject: Subject, actual: list[list[dict[str, Any]]],
    expect: Callable[[Chart, list[Sent]], list[dict[str, Any]]] = expected_steps,
) -> list[str]:
    """One line per trace that diverges, at its first differing step."""
    out: list[str] = []
    for events, got in zip(subject.traces, actual, strict=True):
        want = expect(subject.chart, events)
        for i, (w, g) in enumerate(zip(want, got, strict=False)):
            if w != g:
                sent = [n for n, _ in events[:i]]
                out.append(f"after {sent}: stepper {w} != xstate {g}")
                break
        else:
            if len(want) != len(got):
                out.append(f"{[n for n, _ in events]}: {len(want)} steps vs {len(got)}")
    return out


@pytest.mark.parametrize("name", [*FLOWS, "semantics"])
def test_stepper_and_xstate_agree_at_every_step(
    replayed: dict[str, tuple[Subject, list[list[dict[str, Any]]]]], name: str
) -> None:
    subject, actual = replayed[name]
    assert subject.steps >= MIN_STEPS
    found = mismatches(subject, actual)
    assert not found, f"{len(found)} diverging traces of {name}:\n" + "\n".join(found[:5])


def test_every_transition_of_every_flow_is_taken(
    replayed: dict[str, tuple[Subject, list[list[dict[str, Any]]]]],
) -> None:
    # covering_paths asserts coverage while building; here: the traces really exist.
    for subject, actual in replayed.values():
        assert len(actual) == len(subject.traces)
        assert all(len(a) == len(t) + 1 for a, t in zip(actual, subject.traces, strict=True))


def test_every_flow_ends_with_its_declared_output_in_xstate(
    replayed: dict[str, tuple[Subject, list[list[dict[str, Any]]]]],
) -> None:
    # A parent reads the child's output from xstate.done.actor.<id>: XState must produce it.
    for name in FLOWS:
        subject, actual = replayed[name]
        keys = [k for k, _ in subject.chart.output]
        assert keys, f"{name} declares no output"
        ends = [trace[-1] for trace in actual if trace and trace[-1].get("status") == "done"]
        assert ends, f"no trace of {name} reaches a final state"
        assert all(list(end["output"]) == keys for end in ends), name


def test_a_send_to_the_parent_is_compared_in_its_place_among_the_actions(
    replayed: dict[str, tuple[Subject, list[list[dict[str, Any]]]]],
) -> None:
    # generation tells its parent when its job failed: XState must report the send, after
    # the entry telemetry of failure.generation_failed, as the Stepper does.
    _, actual = replayed["generation"]
    sends = [
        step["actions"] for trace in actual for step in trace
        if any(a["type"] == "notifyParentAiGenerationFailed" for a in step.get("actions", []))
    ]
    assert sends, "no trace of generation reaches failure.generation_failed"
    for actions in sends:
        assert actions[-1] == {
            "type": "notifyParentAiGenerationFailed", "params": {"event": "AI_GENERATION_FAILED"}
        }
        assert actions[-2]["params"]["event"] == "AI_GENERATION_FAILED"  # the track before it


def _sends_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    run_actions = Stepper._run_actions

    def patched(self: Stepper, actions: Any, *args: Any) -> Any:
        kept = tuple(a for a in actions if not isinstance(a, SendParent))
        return run_actions(self, kept, *args)

    monkeypatch.setattr(Stepper, "_run_actions", patched)


def _reenter_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    compile_transition = Stepper._compile_transition

    def patched(self: Stepper, t: Transition) -> Any:
        compiled = compile_transition(self, t)
        compiled.reenter = False
        return compiled

    monkeypatch.setattr(Stepper, "_compile_transition", patched)


def _document_order_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    init = Stepper.__init__

    def patched(self: Stepper, chart: Chart) -> None:
        init(self, chart)
        for node in self.nodes:
            for cands in node.on.values():
                cands.reverse()

    monkeypatch.setattr(Stepper, "__init__", patched)


def _exit_order_reversed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Stepper lists exited states by their bits, lowest index first, then reverses the
    # list (deepest, last region first). Listing them highest first exits parents first.
    bits = stepper_module._bits
    monkeypatch.setattr(stepper_module, "_bits", lambda mask: bits(mask)[::-1])


@pytest.mark.parametrize(
    "mutation",
    [_reenter_ignored, _document_order_ignored, _exit_order_reversed, _sends_dropped],
    ids=["reenter-ignored", "document-order-ignored", "exit-order-reversed", "sends-dropped"],
)
def test_a_deliberate_semantic_change_to_the_stepper_is_caught(
    replayed: dict[str, tuple[Subject, list[list[dict[str, Any]]]]],
    monkeypatch: pytest.MonkeyPatch,
    mutation: Callable[[pytest.MonkeyPatch], None],
) -> None:
    mutation(monkeypatch)
    total = sum(len(mismatches(s, a)) for s, a in replayed.values())
    assert total > 0


def test_every_exported_module_passes_tsc_strict() -> None:
    tsc = HARNESS / "node_modules" / ".bin" / "tsc"
    modules = sorted((ROOT / "exports").glob("*.machine.ts"))
    assert len(modules) == len(FLOWS)
    proc = subprocess.run(
        [str(tsc), "-p", str(HARNESS / "tsconfig.json")],
        capture_output=True, text=True, check=False, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
