"""Wall time of the CI job: `flowcheck check` on the bundled flows, hypothesis included.

    python bench/check.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    flowcheck = ROOT / ".venv" / "bin" / "flowcheck"
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        proc = subprocess.run([str(flowcheck), "check"], cwd=ROOT, capture_output=True,
                              text=True, check=False)
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
            return proc.returncode
    print(f"flowcheck check on the bundled flows: median {statistics.median(times):.2f} s, "
          f"min {min(times):.2f} s, max {max(times):.2f} s over {args.runs} runs "
          "(target: under 10 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
