"""Replaying a million trace lines: `flowcheck traces check` and `report` on a generated file.

    python bench/traces.py [--lines N] [--walks N] [--open N] [--seed N] [--keep FILE]

The trace file is generated first (not timed): random walks of the four bundled flows on
the Stepper (each step's `track` actions written as lines, the way the exported sink writes
them; child flows walked as flows of their own), some cut off half-way, one walk in a
hundred with a state renamed (drift), each walk written again and again under fresh
session ids until the file holds N lines, with N sessions open at a time, their lines
interleaved at random, the way a day of production traffic arrives.

Then, measured: `check` and `report` in this process (lines/s: every line is parsed,
validated and replayed), and `flowcheck traces check FILE` as a command on the whole file
and on its first quarter, with the peak memory of each (replay keeps only the runs open at
a time, so the two peaks are close).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flowcheck.chart.model import ABANDONED, Track
from flowcheck.explore.graph import explore
from flowcheck.project import discover, find_settings
from flowcheck.semantics import start
from flowcheck.traces.automaton import Automaton
from flowcheck.traces.check import check
from flowcheck.traces.format import read_events
from flowcheck.traces.replay import automata_by_name
from flowcheck.traces.report import report

ROOT = Path(__file__).resolve().parent.parent
EPOCH = 1_746_090_000_000  # 2025-05-01, in ms


def walks(count: int, seed: int) -> list[list[tuple[str, dict[str, Any], int]]]:
    """``count`` random walks spread over the four flows: each a list of (event,
    properties, milliseconds since the walk began), with the flow's id first."""
    rng = random.Random(seed)
    explored = [explore(m.chart) for m in discover(find_settings(ROOT))]
    out: list[list[tuple[str, dict[str, Any], int]]] = []
    for n in range(count):
        exploration = explored[n % len(explored)]
        chart = exploration.chart
        stepper = exploration.stepper
        letters = [({**lt.payload, "type": lt.event}, lt) for lt in exploration.alphabet]
        abandoned = 0
        for sid in chart.tagged(ABANDONED):
            abandoned |= 1 << stepper.index[sid]
        snap, log = start(stepper, rng.choice(exploration.roots))
        clock = 0
        lines: list[tuple[str, dict[str, Any], int]] = [(chart.id, {}, 0)]
        lines += _tracked(log, clock)
        for _ in range(200):
            if stepper.is_stopped(snap) or rng.random() < 0.01:
                break
            config = snap.configuration
            weighted: list[tuple[float, Any]] = []
            for ev, lt in letters:
                if not (config & lt.handled and config & lt.requires == lt.requires):
                    continue
                nxt = stepper.advance(snap, ev)
                if nxt == snap:
                    continue
                moves = nxt.configuration != config
                weight = 0.05 if nxt.configuration & abandoned else 4.0 if moves else 1.0
                weighted.append((weight, lt))
            if not weighted:
                break
            lt = rng.choices([w[1] for w in weighted], [w[0] for w in weighted])[0]
            clock += rng.randint(300, 20_000)
            snap, log = stepper.step(snap, lt.event, lt.payload)
            lines += _tracked(log, clock)
        if rng.random() < 0.01 and len(lines) > 3:  # drift: a state renamed
            k = rng.randrange(2, len(lines))
            event, props, at = lines[k]
            if "state" in props:
                lines[k] = (event, {**props, "state": props["state"] + "Step"}, at)
        out.append(lines)
    return out


def _tracked(log: list[Any], clock: int) -> list[tuple[str, dict[str, Any], int]]:
    return [(e.action.event, dict(e.properties or {}), clock)
            for e in log if isinstance(e.action, Track)]


def write_file(path: Path, templates: list[list[tuple[str, dict[str, Any], int]]],
               lines: int, open_sessions: int, seed: int) -> int:
    """Interleave copies of the walks until ``lines`` lines; returns the sessions written."""
    rng = random.Random(seed)
    active: list[list[Any]] = []  # [session, flow, lines, next index, start ms]
    sessions = 0
    written = 0
    now = EPOCH
    with path.open("w", encoding="utf-8") as out:
        while written < lines:
            while len(active) < open_sessions:
                walk = templates[sessions % len(templates)]
                active.append([f"s{sessions:07d}", walk[0][0], walk, 1, now])
                sessions += 1
            k = rng.randrange(len(active))
            session, flow, walk, index, began = active[k]
            event, props, at = walk[index]
            now = max(now, began + at)
            out.write(json.dumps({"session": session, "flow": flow, "event": event,
                                  "properties": props, "timestamp": began + at},
                                 separators=(",", ":")) + "\n")
            written += 1
            if index + 1 < len(walk):
                active[k][3] = index + 1
            else:
                active[k] = active[-1]
                active.pop()
    return sessions


_COMMAND = """
import resource, sys
from flowcheck.cli import main
code = main(["traces", "check", sys.argv[1]])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def _command(path: Path) -> tuple[float, float, int]:
    """Wall seconds, peak memory (MB) and exit code of `flowcheck traces check FILE`, run
    as the command runs (a process of its own)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _COMMAND, str(path)], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode == 2:
        print(proc.stderr, file=sys.stderr)
    peak_kb = int(proc.stderr.strip().splitlines()[-1])
    return seconds, peak_kb / 1024, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--walks", type=int, default=4000, help="distinct walks")
    parser.add_argument("--open", type=int, default=500, help="sessions open at a time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="write the trace file here")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    templates = walks(args.walks, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "traces.ndjson"
        sessions = write_file(path, templates, args.lines, args.open, args.seed)
        quarter = Path(tmp) / "quarter.ndjson"
        with path.open("rb") as src, quarter.open("wb") as dst:
            for n, line in enumerate(src):
                if n >= args.lines // 4:
                    break
                dst.write(line)
        size = path.stat().st_size / 1e6
        print(f"generated {args.lines:,} lines ({size:.0f} MB), {sessions:,} sessions from "
              f"{args.walks:,} distinct walks of the four flows, {args.open} open at a time, "
              f"in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        named = {m.name: Automaton(m.chart) for m in discover(find_settings(ROOT))}
        automata = automata_by_name(named)
        build = time.perf_counter() - started
        result = check(read_events(path), automata)
        rate = result.lines / result.seconds
        runs = sum(c.runs for c in result.flows.values())
        deviating = result.deviating
        print(f"check:  {result.lines:,} lines in {result.seconds:.2f} s: {rate:,.0f} lines/s "
              f"({runs:,} runs, {deviating:,} deviate; the flows' models built in "
              f"{build:.2f} s; the automata grew to "
              f"{sum(a.states for a in named.values()):,} states)")
        started = time.perf_counter()
        data = report(read_events(path), automata)
        seconds = time.perf_counter() - started
        print(f"report: {data['lines']:,} lines in {seconds:.2f} s: "
              f"{data['lines'] / seconds:,.0f} lines/s")
        for label, file, count in (("first quarter", quarter, args.lines // 4),
                                   ("whole file", path, args.lines)):
            seconds, peak, code = _command(file)
            print(f"`flowcheck traces check` on the {label} ({count:,} lines): "
                  f"{seconds:.2f} s wall, peak memory {peak:.0f} MB, exit {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
