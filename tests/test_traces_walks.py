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
import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowcheck.chart.model import ABANDONED, Chart, done_actor, error_actor
from flowcheck.explore.graph import explore
from flowcheck.project import Machine
from flowcheck.traces.automaton import Automaton
from flowcheck.traces.check import check
from flowcheck.traces.format import TraceEvent, parse
from flowcheck.traces.replay import automata_by_name

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
    return walk(machines, tmp_path_factory.mktemp("walks"), sessions=40, seed=7, cut_off=0.02)


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
