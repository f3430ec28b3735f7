"""Time in states: `flowcheck import` and `flowcheck verify` of generated XState machines of
1,000, 10,000 and 100,000 states, each phase's wall time and peak resident memory.

    python bench/scale.py [--sizes 1000,10000,100000] [--shapes chain,star] [--json]

Shapes (all generic statechart properties hold but one dead end, so every property runs
and one finding is reported):

- ``chain``: s0 -NEXT-> s1 -NEXT-> ... -> s(n-1), which is a dead end;
- ``star``: a hub with one event per leaf (GO_i -> leaf i), each leaf BACK to the hub:
  n events, so the alphabet grows with the states.

Each run is a separate process (``--no-cache``, ``--max-depth`` above the size, the other
limits at their defaults: a run that hits one says so). Linear cost shows as a constant
time per state across sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FLOWCHECK = ROOT / ".venv" / "bin" / "flowcheck"


def chain(n: int) -> dict[str, Any]:
    states: dict[str, Any] = {f"s{i}": {"on": {"NEXT": f"s{i + 1}"}} for i in range(n - 1)}
    states[f"s{n - 1}"] = {}
    return {"id": "chain", "initial": "s0", "states": states}


def star(n: int) -> dict[str, Any]:
    states: dict[str, Any] = {"hub": {"on": {f"GO_{i}": f"leaf{i}" for i in range(n - 2)}}}
    for i in range(n - 2):
        states[f"leaf{i}"] = {"on": {"BACK": "hub"}}
    states["stuck"] = {}
    states["hub"]["on"]["STUCK"] = "stuck"
    return {"id": "star", "initial": "hub", "states": states}


SHAPES = {"chain": chain, "star": star}


def _timed(args: list[str], cwd: Path) -> dict[str, Any]:
    """Run ``flowcheck <args>``: its wall time, peak resident memory, exit code and output."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([str(FLOWCHECK), *args], cwd=cwd, stdout=out, stderr=err,
                                text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return {"seconds": round(seconds, 2), "peak_mb": round(usage.ru_maxrss / 1024, 1),
                "exit": os.waitstatus_to_exitcode(status), "stdout": out.read(),
                "stderr": err.read()}


def run(shape: str, n: int, work: Path) -> dict[str, Any]:
    path = work / f"{shape}{n}.json"
    path.write_text(json.dumps(SHAPES[shape](n)))
    size_mb = path.stat().st_size / 1e6
    imported = _timed(["--max-input-mb", "512", "import", str(path)], work)
    # A chain of n states is n events deep: past the default depth limit (10,000).
    verified = _timed(["--max-input-mb", "512", "verify", str(path), "--format", "json",
                       "--no-cache", "--max-depth", str(n + 10)], work)
    row: dict[str, Any] = {"shape": shape, "states": n, "file_mb": round(size_mb, 2),
                           "import_s": imported["seconds"], "verify_s": verified["seconds"],
                           "verify_exit": verified["exit"],
                           "import_peak_mb": imported["peak_mb"],
                           "verify_peak_mb": verified["peak_mb"]}
    try:
        report = json.loads(verified["stdout"])
        machine = report["machines"][0]
        row["complete"] = machine["stats"]["complete"]
        row["limit"] = machine["stats"]["limit"]
        row["explore_s"] = machine["stats"].get("explore_seconds")
        row["findings"] = sum(len(p["findings"]) for p in machine["properties"])
    except (ValueError, KeyError, IndexError):
        row["error"] = (verified["stderr"].strip().splitlines() or ["no report"])[-1][:200]
    row["us_per_state"] = round(verified["seconds"] / n * 1e6, 1)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--shapes", default="chain,star")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "pyproject.toml").write_text("[tool.flowcheck]\n")
        for shape in args.shapes.split(","):
            for n in (int(x) for x in args.sizes.split(",")):
                row = run(shape, n, work)
                rows.append(row)
                if not args.json:
                    print(f"{shape:5} {n:>7} states ({row['file_mb']:6.2f} MB): import "
                          f"{row['import_s']:7.2f} s, verify {row['verify_s']:7.2f} s "
                          f"({row['us_per_state']:7.1f} us/state; explore "
                          f"{row.get('explore_s')} s), exit {row['verify_exit']}, "
                          f"{'complete' if row.get('complete') else row.get('limit')}, "
                          f"peak {row['import_peak_mb']:.0f} / {row['verify_peak_mb']:.0f} MB"
                          + (f"; {row['error']}" if "error" in row else ""), flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
