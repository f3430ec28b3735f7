"""Wall time of the CI job, `flowcheck check`, cold, warm and after one edit, on the bundled
flows and on a synthetic product of 50 flows, with one process and with two.

For each project (a copy in a temporary directory, so the repository's cache is never
touched) and each ``--jobs``:

- ``cold_s``: an empty verification cache, everything verified (hypothesis included);
- ``warm_s``: nothing changed since, every verdict read from the cache;
- ``one_changed_s``: one flow module edited (a comment appended), so that flow and the
  flows composed with it are verified again and the others read.

The cold run's JSON report also says where the time went: the sum over the flows of
exploration, the campaign's transition cover and its random runs, the properties and
the composed flows' environments (the rest is starting Python, loading the flows, the
export check and the report). The product's flows are ``bench/synthetic.py`` wizards of
2 to 4 steps (one in five with a deep history state), each its own module, independent of
each other. (Not with the parallel help panel: python-statemachine enters parallel regions
in another order than XState and the Stepper, which the campaign reports as a conformance
failure, so that check would fail.)

    python bench/check.py [--json] [--runs N] [--only four|product]

It runs a copy of flowcheck's source taken when it starts (``python -c`` on it, which
starts as fast as the ``flowcheck`` script), so that edits to the working tree meanwhile
do not invalidate the cache between the cold and the warm run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
PRODUCT_FLOWS = 50
WARM_TARGET = 0.5
COLD_TARGET = 10.0
SETTINGS = '[tool.flowcheck]\nmachines = ["machines"]\nproto = "proto"\nexports = "exports"\n'
PARTS = {
    "explore": "explore_seconds",
    "campaign cover": "campaign_cover_seconds",
    "campaign random": "campaign_random_seconds",
    "properties": "properties_seconds",
    "composed environments": "environment_seconds",
}


def _hypothesis_data(into: Path) -> None:
    """Hypothesis keeps the Unicode tables it builds for text strategies (1 to 2 s of CPU)
    in ``.hypothesis/unicode_data`` of the working directory: a developer's checkout has
    them after its first run. The copy gets the repository's, so that cold means an empty
    verification cache, not a first Hypothesis run (a CI job without that directory pays
    it once more)."""
    data = ROOT / ".hypothesis" / "unicode_data"
    if data.is_dir():
        shutil.copytree(data, into / ".hypothesis" / "unicode_data")


def _four_flows(into: Path) -> tuple[Path, str]:
    for name in ("machines", "proto", "exports"):
        shutil.copytree(ROOT / name, into / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (into / "pyproject.toml").write_text(SETTINGS, encoding="utf-8")
    _hypothesis_data(into)
    return into, "checkout"


def _product(into: Path) -> tuple[Path, str]:
    machines = into / "machines"
    machines.mkdir()
    shutil.copytree(ROOT / "proto", into / "proto")
    shutil.copy(HERE / "synthetic.py", machines / "_synthetic.py")
    for i in range(PRODUCT_FLOWS):
        name = f"Flow{i:02d}"
        (machines / f"flow_{i:02d}.py").write_text(
            f'"""Synthetic flow {i} of the product (bench/check.py)."""\n\n'
            "from _synthetic import synthetic_flow\n\n"
            f'{name} = synthetic_flow(steps={2 + i % 3}, history={i % 5 == 0}, '
            f'name="{name}", module=__name__)\n', encoding="utf-8")
    (into / "pyproject.toml").write_text(SETTINGS, encoding="utf-8")
    _hypothesis_data(into)
    subprocess.run([sys.executable, "-c", "import sys; from flowcheck.cli import main; "
                    "sys.exit(main())", "export"], cwd=into, capture_output=True, check=True,
                   env={**os.environ, **_FROZEN})
    return into, f"flow_{PRODUCT_FLOWS // 2:02d}"


_FROZEN: dict[str, str] = {}


def _freeze(into: Path) -> None:
    """Run a copy of flowcheck's source taken now: a verdict's key holds flowcheck's source,
    so an edit to the working tree during the run would turn a warm run cold."""
    shutil.copytree(ROOT / "src" / "flowcheck", into / "flowcheck",
                    ignore=shutil.ignore_patterns("__pycache__"))
    _FROZEN["PYTHONPATH"] = str(into)


def _check(project: Path, jobs: int, report: Path | None = None) -> float:
    args = [sys.executable, "-c", "import sys; from flowcheck.cli import main; "
            "sys.exit(main())", "check", "--jobs", str(jobs)]
    if report is not None:
        args += ["--format", "json", "--output", str(report)]
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=project, capture_output=True, text=True, check=False,
                          env={**os.environ, **_FROZEN})
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:])
        raise SystemExit(f"flowcheck check failed in {project} (exit {proc.returncode})")
    return seconds


def _parts(report: Path) -> dict[str, float]:
    data = json.loads(report.read_text(encoding="utf-8"))
    return {part: round(sum(float(m["stats"].get(key, 0.0)) for m in data["machines"]), 3)
            for part, key in PARTS.items()}


def _measure(make: Any, jobs: int, runs: int) -> dict[str, Any]:
    """cold, warm and one-changed wall times (medians over ``runs`` fresh copies)."""
    cold, warm, changed = [], [], []
    parts: dict[str, float] = {}
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="flowcheck-bench-") as tmp:
            project, edited = make(Path(tmp))
            report = Path(tmp) / "cold.json"
            cold.append(_check(project, jobs, report))
            parts = _parts(report)
            warm.append(_check(project, jobs))
            module = project / "machines" / f"{edited}.py"
            module.write_text(module.read_text(encoding="utf-8") + "\n# edited\n",
                              encoding="utf-8")
            changed.append(_check(project, jobs))
    return {"cold_s": round(statistics.median(cold), 3),
            "warm_s": round(statistics.median(warm), 3),
            "one_changed_s": round(statistics.median(changed), 3),
            "cold_parts_s": parts}


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1,
                        help="fresh copies per measurement (medians reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", choices=["four", "product"], default=None)
    args = parser.parse_args(argv)
    say = (lambda *_: None) if args.json else print
    projects = {"four_flows": _four_flows, "product_50": _product}
    if args.only == "four":
        del projects["product_50"]
    elif args.only == "product":
        del projects["four_flows"]
    result: dict[str, Any] = {"load_average": {"before": _load()}, "cores": os.cpu_count()}
    frozen = tempfile.TemporaryDirectory(prefix="flowcheck-source-")
    _freeze(Path(frozen.name))
    for label, make in projects.items():
        result[label] = {}
        for jobs in (1, 2):
            row = _measure(make, jobs, args.runs)
            result[label][f"jobs_{jobs}"] = row
            say(f"{label:10s} --jobs {jobs}: cold {row['cold_s']:6.2f} s  warm "
                f"{row['warm_s']:5.2f} s  one changed {row['one_changed_s']:6.2f} s   "
                f"(cold: {', '.join(f'{k} {v:.2f}' for k, v in row['cold_parts_s'].items())}"
                " s, summed over flows)")
    result["load_average"]["after"] = _load()
    if "four_flows" in result:
        four = result["four_flows"]
        warm = min(four["jobs_1"]["warm_s"], four["jobs_2"]["warm_s"])
        cold = min(four["jobs_1"]["cold_s"], four["jobs_2"]["cold_s"])
        result["targets_met"] = {"warm_under_0.5_s": warm < WARM_TARGET,
                                 "cold_under_10_s": cold < COLD_TARGET}
        say(f"four flows: warm {warm:.2f} s (target under {WARM_TARGET} s: "
            f"{'met' if warm < WARM_TARGET else 'NOT MET'}), cold {cold:.2f} s (target under "
            f"{COLD_TARGET:.0f} s: {'met' if cold < COLD_TARGET else 'NOT MET'})")
    say(f"load average before {result['load_average']['before']}, after "
        f"{result['load_average']['after']} on {result['cores']} cores")
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
