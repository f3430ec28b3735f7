"""A corpus of public XState v5 machines: real XState loads and walks them, flowcheck follows.

``tests/data/xstate/`` holds machines from public repositories (XState's own examples,
templates and tests, Clerk's auth machines, Stately's agent examples), converted to plain
JSON configs as ``createMachine`` takes them; ``SOURCES.md`` there says where each comes
from and what the conversion changed. ``conformance/xstate_corpus.mjs`` loads every file
into xstate (``setup()`` with a stub for each named guard, action, actor and delay) and
takes seeded random walks with the pure API: random guard outcomes, invoke outcomes fed as
``xstate.done.actor.<id>`` / ``xstate.error.actor.<id>``, timers as their
``xstate.after.<delay>.<state id>`` events.

What is checked, per file:

- XState accepts the config (``createMachine``, every transition resolved, the initial
  step) and no walk makes it throw;
- flowcheck imports it (``import_config``);
- every state node XState had active on some walk is active in some configuration
  flowcheck's exploration reaches (``explore``).

State ids differ between the two: XState's is the node's explicit ``id``, else the path of
keys from the machine id (``(machine)`` when the config has none); flowcheck's importer
has used the explicit id or the key, and now uses XState's scheme with the file stem as
the machine id of a config without one. An XState node therefore counts as reached in
flowcheck when any of these is among the ids of the reached configurations: its XState id,
its explicit id (else its key), or ``<chart id>.<path of keys>``. The machine root is not
compared (flowcheck's chart has no root state).

Where flowcheck does not meet this yet, the test is marked ``xfail`` (not strict) with
today's error as the reason; fixing the importer or the interpreter turns it into an
XPASS, and the entry below can go.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
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

from flowcheck.explore import explore
from flowcheck.formats.xstate import import_config

pytestmark = needs_xstate

# What flowcheck's importer says today about configs XState accepts.
IMPORT_FAILS_TODAY: dict[str, str] = {}

# States XState reaches on the walks that flowcheck's exploration does not, today.
PARITY_FAILS_TODAY: dict[str, str] = {}


def _marked(name: str, fails: dict[str, str], why: str) -> Any:
    if name in fails:
        return pytest.param(
            name, marks=pytest.mark.xfail(strict=False, reason=f"{why}: {fails[name]}")
        )
    return name


def run_corpus(names: list[str], seed: int, walks: int, steps: int) -> dict[str, Any]:
    """The runner's result for these corpus files, by file stem."""
    assert NODE is not None
    files = [str(CORPUS / f"{n}.json") for n in names]
    proc = subprocess.run(
        [NODE, str(RUNNER), "--seed", str(seed), "--walks", str(walks), "--steps", str(steps),
         *files],
        capture_output=True, text=True, check=False, timeout=300,
    )
    assert proc.returncode == 0, f"xstate_corpus.mjs failed: {proc.stdout[:2000]} {proc.stderr}"
    result = json.loads(proc.stdout)
    return {m["name"]: m for m in result["machines"]}


@pytest.fixture(scope="module")
def xstate_runs() -> dict[str, Any]:
    return run_corpus(NAMES, SEED, WALKS, STEPS)


@cache
def explored_ids(name: str) -> tuple[str, frozenset[str]]:
    """The chart id and the ids of every state active in a configuration flowcheck reaches."""
    chart, _ = import_config(CORPUS / f"{name}.json")
    graph = explore(chart)
    seen = 0
    for snap in graph.snapshots:
        seen |= snap.configuration
    ids = frozenset(sid for sid, bit in graph.stepper.index.items() if seen >> bit & 1)
    return chart.id, ids


def reached_by_xstate(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The state nodes (not the root) active in some step of some walk, by XState id."""
    nodes = {n["id"]: n for n in run["states"]}
    active = {sid for walk in run["walks"] for step in walk for sid in step.get("active", [])}
    return {sid: nodes[sid] for sid in sorted(active) if sid in nodes}


def flowcheck_names(node: dict[str, Any], chart_id: str) -> set[str]:
    return {node["id"], node["explicitId"] or node["key"], f"{chart_id}.{node['path']}"}


def missing_in_flowcheck(name: str, run: dict[str, Any]) -> list[str]:
    chart_id, ids = explored_ids(name)
    return [
        sid for sid, node in reached_by_xstate(run).items()
        if not flowcheck_names(node, chart_id) & ids
    ]


# -- the corpus itself -------------------------------------------------------------------------


def test_the_corpus_has_at_least_24_machines_each_with_its_source() -> None:
    assert len(NAMES) >= 24
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    undocumented = [n for n in NAMES if f"`{n}.json`" not in sources]
    assert not undocumented, f"not in SOURCES.md: {undocumented}"


def test_the_walks_are_deterministic_for_a_seed() -> None:
    some = NAMES[:3]
    assert run_corpus(some, SEED, 3, 10) == run_corpus(some, SEED, 3, 10)
    assert run_corpus(some, SEED, 3, 10) != run_corpus(some, SEED + 1, 3, 10)


@pytest.mark.parametrize("name", NAMES)
def test_xstate_accepts_the_machine_and_walks_it(xstate_runs: dict[str, Any], name: str) -> None:
    run = xstate_runs[name]
    assert run["ok"], f"XState rejects {name}: {run.get('error')}"
    assert len(run["walks"]) == WALKS
    threw = [step["error"] for walk in run["walks"] for step in walk if "error" in step]
    assert not threw, f"XState threw on a walk of {name}: {threw[0]}"
    assert any(len(walk) > 1 for walk in run["walks"]), f"no walk of {name} took a step"


def test_the_walks_cover_the_shapes_the_corpus_is_for(xstate_runs: dict[str, Any]) -> None:
    # Done and error statuses, guard outcomes both ways, delays and invoke outcomes all occur.
    steps = [s for run in xstate_runs.values() for w in run["walks"] for s in w]
    assert {s["status"] for s in steps} >= {"active", "done", "error"}
    assert {g["result"] for s in steps for g in s["guards"]} == {True, False}
    assert any(g.get("params") for s in steps for g in s["guards"])
    types = [s["event"]["type"] for s in steps if s["event"]]
    for prefix in ("xstate.after.", "xstate.done.actor.", "xstate.error.actor."):
        assert any(t.startswith(prefix) for t in types), prefix


# -- flowcheck on the same machines ------------------------------------------------------------


@pytest.mark.parametrize(
    "name", [_marked(n, IMPORT_FAILS_TODAY, "flowcheck rejects it today") for n in NAMES]
)
def test_flowcheck_imports_the_machine(name: str) -> None:
    import_config(CORPUS / f"{name}.json")


@pytest.mark.parametrize(
    "name",
    [
        _marked(n, IMPORT_FAILS_TODAY, "flowcheck rejects it today")
        if n in IMPORT_FAILS_TODAY
        else _marked(n, PARITY_FAILS_TODAY, "not reachable in flowcheck today")
        for n in NAMES
    ],
)
def test_every_state_xstate_reaches_is_reachable_in_flowcheck(
    xstate_runs: dict[str, Any], name: str
) -> None:
    missing = missing_in_flowcheck(name, xstate_runs[name])
    assert not missing, f"{name}: XState reaches {missing}, flowcheck's exploration does not"


@pytest.mark.slow
def test_long_walks_reach_nothing_flowcheck_misses() -> None:
    runs = run_corpus(NAMES, SEED + 1, LONG_WALKS, LONG_STEPS)
    assert all(run["ok"] for run in runs.values())
    threw = {
        name: step["error"] for name, run in runs.items()
        for walk in run["walks"] for step in walk if "error" in step
    }
    assert not threw, threw
    known = IMPORT_FAILS_TODAY.keys() | PARITY_FAILS_TODAY.keys()
    missing = {
        name: found for name, run in runs.items() if name not in known
        for found in [missing_in_flowcheck(name, run)] if found
    }
    assert not missing, missing
