"""Exploration speed: flowcheck against xstate/graph and a python-statemachine search.

Explores the synthetic wizard family (bench/synthetic.py) at several sizes and prints,
per size, configurations/s, transitions/s (letters tried: each is one full macrostep),
time per transition (the growth curve) and, at one size, peak memory per configuration.
In the same run, on the same exported chart, it times xstate/graph ``getShortestPaths``
in Node and a breadth-first search driving python-statemachine instances, and prints
flowcheck's rate as a ratio of each. The full run adds a size of over 10^7
configurations, explored with the default limits (it stops, bounded, at the default
1,000,000 configurations) and with only the configuration limit raised (memory and time
limits as shipped): each row says whether it completed and at what rate.

Every target is printed with the value measured and whether it is met, and the load
average of the machine before and after (the rates are wall-clock rates: on a busy
machine they are lower).

    python bench/explore.py            # full run (several minutes)
    python bench/explore.py --quick    # about a minute
    python bench/explore.py --json     # one JSON object
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from synthetic import synthetic_flow  # noqa: E402

from flowcheck.declare import read_chart  # noqa: E402
from flowcheck.explore.graph import Exploration, Limits, alphabet, explore  # noqa: E402
from flowcheck.formats.xstate.export import export_config  # noqa: E402
from flowcheck.formats.xstate.manifest import build_manifest  # noqa: E402

# (steps, parallel help panel, retry budget): from about 10^3 to over 10^6 configurations.
FULL_SIZES = [(4, False, 2), (6, False, 2), (8, True, 2), (9, True, 3)]
QUICK_SIZES = [(3, False, 2), (5, False, 2), (7, True, 2), (8, True, 2)]
HUGE_SIZE = (11, True, 3)  # over 10^7 configurations
HUGE_MAX_CONFIGURATIONS = 50_000_000

TARGETS = {
    "configurations_per_s": (250_000, "at least"),
    "transitions_per_s": (1_000_000, "at least"),
    "bytes_per_configuration": (250, "at most"),
    "time_per_transition_growth": (1.5, "at most"),
}


def _explore(steps: int, parallel: bool, retries: int = 2,
             limits: Limits | None = None) -> tuple[Exploration, Any]:
    flow = synthetic_flow(steps=steps, values=3, retries=retries, parallel=parallel)
    chart = read_chart(flow, "synthetic")
    gc.collect()
    gc.disable()
    cpu = time.process_time()
    try:
        result = explore(chart, limits=limits or Limits(configurations=5_000_000))
    finally:
        gc.enable()
    # CPU time beside wall time: on a busy machine the wall-clock rate says little.
    result.cache["cpu_seconds"] = time.process_time() - cpu
    return result, chart


def _memory_per_configuration(steps: int, parallel: bool) -> float:
    chart = read_chart(synthetic_flow(steps=steps, values=3, parallel=parallel), "synthetic")
    tracemalloc.start()
    result = explore(chart, max_configurations=5_000_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / max(result.configurations, 1)


def _xstate_graph(chart: Any) -> dict[str, Any]:
    """Run getShortestPaths on the exported chart in Node; vertices and seconds."""
    letters = []
    for lt in alphabet(chart):
        event = {"type": lt.event, **lt.payload}
        invoke = lt.event.rsplit(".", 1)[-1] if lt.kind in ("done", "error") else None
        letters.append({"event": event, "invoke": invoke})
    request = {"config": export_config(chart), "manifest": build_manifest(chart),
               "letters": letters}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(request, fh)
    proc = subprocess.run(
        ["node", str(ROOT / "conformance" / "graph_bench.mjs"), fh.name],
        capture_output=True, text=True, check=False,
    )
    Path(fh.name).unlink()
    if proc.returncode != 0:
        raise SystemExit(f"xstate/graph run failed: {proc.stderr.strip()[-400:]}")
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _statemachine_bfs(steps: int, parallel: bool, budget: float) -> dict[str, Any]:
    """Breadth-first search driving python-statemachine instances (restored per expansion
    from the configuration and the context), over the same alphabet; stops after
    ``budget`` seconds and reports its rate."""
    cls = synthetic_flow(steps=steps, values=3, parallel=parallel)
    chart = read_chart(cls, "synthetic")
    letters = [(lt.event, lt.payload) for lt in alphabet(chart)]
    machine = cls()
    start_value = _value(machine)
    start = (tuple(sorted(machine.configuration_values)), machine.context)
    seen = {(start[0], start[1].model_dump_json())}
    queue: deque[tuple[Any, Any]] = deque([(start_value, machine.context)])
    events = 0
    started = time.perf_counter()
    while queue and time.perf_counter() - started < budget:
        value, context = queue.popleft()
        for event, payload in letters:
            if machine.is_terminated:
                machine = cls()  # a machine that reached a final state ignores events
            machine.current_state_value = value
            machine.context = context
            machine.send(event, **payload)
            events += 1
            key = (tuple(sorted(machine.configuration_values)), machine.context.model_dump_json())
            if key not in seen:
                seen.add(key)
                queue.append((_value(machine), machine.context))
    seconds = time.perf_counter() - started
    return {"configurations": len(seen), "events": events, "seconds": seconds,
            "complete": not queue}


def _value(machine: Any) -> Any:
    """A copy of the active configuration (the library hands out its live set)."""
    value = machine.current_state_value
    return type(value)(value) if not isinstance(value, str) else value


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _huge(say: Any) -> list[dict[str, Any]]:
    """The 10^7 size, with the default limits, then with only the configuration limit
    raised: one row each, completed or bounded (and where), with its rate."""
    rows = []
    steps, parallel, retries = HUGE_SIZE
    raised = Limits(configurations=HUGE_MAX_CONFIGURATIONS)
    for label, limits in (("default limits", Limits()), ("configurations raised", raised)):
        result, _ = _explore(steps, parallel, retries, limits)
        row = {"limits": label, "configurations": result.configurations,
               "transitions": result.steps, "seconds": result.seconds,
               "cpu_seconds": result.cache["cpu_seconds"],
               "complete": result.complete, "limit": result.limit,
               "configurations_per_s": result.configurations / result.seconds,
               "transitions_per_s": result.steps / result.seconds}
        rows.append(row)
        state = "complete" if result.complete else f"BOUNDED at the {result.limit} limit"
        say(f"  {label:22s} {result.configurations:>10} configurations {result.steps:>11} "
            f"transitions {result.seconds:7.1f} s  {row['configurations_per_s']:>9.0f} "
            f"configs/s {row['transitions_per_s']:>9.0f} trans/s  {state}")
        del result
        gc.collect()
    return rows


def _verdict(name: str, value: float) -> tuple[bool, str]:
    target, sense = TARGETS[name]
    met = value >= target if sense == "at least" else value <= target
    return met, f"{name}: {value:,.2f} ({sense} {target:,}): {'met' if met else 'NOT MET'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    say = (lambda *_: None) if args.json else print
    load_before = _load()

    rows = []
    say(f"{'steps':>5} {'par':>3} {'configs':>9} {'transitions':>11} {'seconds':>8} "
        f"{'configs/s':>10} {'trans/s':>10} {'us/trans':>8} {'cpu s':>7} {'configs/cpu-s':>13}")
    for steps, parallel, retries in sizes:
        result, _ = _explore(steps, parallel, retries)
        row = {"configurations": result.configurations, "transitions": result.steps,
               "edges": result.edges, "seconds": result.seconds, "steps": steps,
               "parallel": parallel, "complete": result.complete,
               "cpu_seconds": result.cache["cpu_seconds"]}
        rows.append(row)
        say(f"{steps:>5} {'yes' if parallel else 'no':>3} {result.configurations:>9} "
            f"{result.steps:>11} {result.seconds:>8.2f} "
            f"{result.configurations / result.seconds:>10.0f} "
            f"{result.steps / result.seconds:>10.0f} "
            f"{1e6 * result.seconds / result.steps:>8.2f} {row['cpu_seconds']:>7.2f} "
            f"{result.configurations / max(row['cpu_seconds'], 1e-9):>13.0f}")
    largest, smallest = rows[-1], rows[0]
    growth = (largest["seconds"] / largest["transitions"]) / (
        smallest["seconds"] / smallest["transitions"])
    per = [r["seconds"] / r["transitions"] for r in rows]
    spread = max(per) / min(per)
    say(f"time per transition, largest / smallest size: {growth:.2f} "
        f"(slowest / fastest size: {spread:.2f})")

    mem_steps, mem_parallel, _ = sizes[-2]
    bytes_per = _memory_per_configuration(mem_steps, mem_parallel)
    say(f"peak memory per configuration (steps={mem_steps}): {bytes_per:.0f} bytes")

    # Side by side on one chart small enough for the slow searches.
    cmp_steps = 5 if args.quick else 6
    result, chart = _explore(cmp_steps, False)
    ours_vps = result.configurations / result.seconds
    graph = _xstate_graph(chart)
    graph_vps = graph["vertices"] / graph["seconds"]
    psm = _statemachine_bfs(cmp_steps, False, budget=10.0 if args.quick else 30.0)
    psm_eps = psm["events"] / psm["seconds"]
    psm_cps = psm["configurations"] / psm["seconds"]
    ours_tps = result.steps / result.seconds
    say(f"\nside by side, steps={cmp_steps} ({result.configurations} configurations):")
    say(f"  flowcheck         {ours_vps:>10.0f} configurations/s  {ours_tps:>10.0f} transitions/s")
    say(f"  xstate/graph      {graph_vps:>10.0f} vertices/s        "
        f"({graph['vertices']} vertices in {graph['seconds']:.2f} s)")
    say(f"  statemachine BFS  {psm_cps:>10.0f} configurations/s  {psm_eps:>10.0f} events/s "
        f"({psm['configurations']} configurations in {psm['seconds']:.1f} s, "
        f"{'complete' if psm['complete'] else 'stopped at its time budget'})")
    vs_graph = ours_vps / graph_vps
    vs_psm = ours_vps / psm_cps
    say(f"  flowcheck / xstate/graph (configuration rate): {vs_graph:.1f}x")
    say(f"  flowcheck / statemachine BFS (configuration rate): {vs_psm:.1f}x"
        f"  (per event sent: {ours_tps / psm_eps:.1f}x; flowcheck skips letters no active"
        " state handles, the library search sends every letter)")

    huge: list[dict[str, Any]] = []
    if not args.quick:
        say(f"\nover 10^7 configurations (steps={HUGE_SIZE[0]}, parallel, "
            f"retries={HUGE_SIZE[2]}):")
        huge = _huge(say)

    best = max(rows, key=lambda r: r["configurations"])
    summary: dict[str, Any] = {
        "transitions_per_s": best["transitions"] / best["seconds"],
        "configurations_per_s": best["configurations"] / best["seconds"],
        "vs_xstate_graph": vs_graph,
        "vs_statemachine_bfs": vs_psm,
        "bytes_per_configuration": bytes_per,
        "time_per_transition_growth": growth,
        "time_per_transition_spread": spread,
        "configurations_per_cpu_s": best["configurations"] / best["cpu_seconds"],
        "transitions_per_cpu_s": best["transitions"] / best["cpu_seconds"],
        "sizes": [{"configurations": r["configurations"], "transitions": r["transitions"],
                   "seconds": r["seconds"], "cpu_seconds": r["cpu_seconds"],
                   "configurations_per_s": r["configurations"] / r["seconds"],
                   "transitions_per_s": r["transitions"] / r["seconds"]} for r in rows],
        "huge": huge,
        "quick": args.quick,
        "load_average": {"before": load_before, "after": _load()},
    }
    say(f"\ntargets (largest size, {best['configurations']} configurations; load average "
        f"before {load_before}, after {summary['load_average']['after']}):")
    targets = {}
    for name in TARGETS:
        met, line = _verdict(name, summary[name])
        targets[name] = met
        say(f"  {line}")
    summary["targets_met"] = targets
    say(f"  (CPU time rates at that size: {summary['configurations_per_cpu_s']:,.0f} "
        f"configurations/s, {summary['transitions_per_cpu_s']:,.0f} transitions/s)")
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
