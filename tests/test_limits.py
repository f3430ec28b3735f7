"""Limits that hold over a whole command, measured, and a cost linear in states.

``--max-seconds`` and ``--max-memory`` bound ``flowcheck verify`` from start to report
(flowcheck.watchdog): exploration and the property checks stop at the soft limit and the
result is *bounded*; at the hard limit the command stops with one line and exit 3, even
when the main thread is stuck inside a C call. Memory is the process's resident memory,
measured. A long chain of states costs time linear in its length, under the generic and
the mirai rules alike (findings of one kind share one counterexample).

Two tests take a while (a machine growing to the memory limit, a C call stuck for
seconds) and are marked ``slow``: ``pytest -m slow tests/test_limits.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from flowcheck import watchdog
from flowcheck.formats.xstate import import_config

REPO = Path(__file__).resolve().parent.parent


def chain(n: int) -> dict[str, Any]:
    states: dict[str, Any] = {f"s{i}": {"on": {"NEXT": f"s{i + 1}"}} for i in range(n - 1)}
    states[f"s{n - 1}"] = {}
    return {"id": "chain", "initial": "s0", "states": states}


def parallel(regions: int) -> dict[str, Any]:
    """Regions of three states each: 3**regions configurations."""
    states = {f"r{r}": {"initial": "a", "states": {
        "a": {"on": {f"E{r}": "b"}}, "b": {"on": {f"E{r}": "c"}}, "c": {"on": {f"E{r}": "a"}}}}
        for r in range(regions)}
    return {"id": "par", "type": "parallel", "states": states}


def flowcheck(cwd: Path, *args: str, timeout: float = 120) -> tuple[int, str, str, float, float]:
    """Run the installed command: exit code, stdout, stderr, seconds, and the peak resident
    memory of that process, in MB."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "flowcheck.cli", *args], cwd=cwd,
                                stdout=out, stderr=err, text=True)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), seconds, usage.ru_maxrss / 1024


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.flowcheck]\ncache-dir = ".cache"\n')
    return tmp_path


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- the watchdog ------------------------------------------------------------------------------


def test_the_watchdog_interrupts_a_command_past_its_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(watchdog.LimitExceeded, match="time limit"), \
            watchdog.watch(seconds=0.2, memory_mb=None, what="the test"):
        time.sleep(30)
    assert time.monotonic() - started < 0.2 + watchdog.grace(0.2) + 1


def test_the_soft_limit_is_seen_at_checkpoints_before_the_hard_one() -> None:
    with watchdog.watch(seconds=0.2, memory_mb=None, what="the test"):
        assert watchdog.tripped() is None
        time.sleep(0.3)
        assert watchdog.tripped() == "time"
    assert watchdog.tripped() is None  # outside a watch nothing is limited


STUCK = """
import re, sys
from flowcheck import watchdog
with watchdog.watch(seconds=0.5, memory_mb=None, what="the stuck command"):
    re.match(r"(a+)+$", "a" * 40 + "b")  # minutes inside one C call: no handler runs
sys.exit(0)
"""


@pytest.mark.slow
def test_a_main_thread_stuck_in_a_c_call_is_ended_all_the_same() -> None:
    # No Python thread runs while the regex engine holds the interpreter lock: the last
    # resort is the interpreter's own timer, which says where it was stuck.
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", STUCK], capture_output=True, text=True,
                          timeout=60, check=False)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 1
    assert "Timeout" in proc.stderr and "in match" in proc.stderr
    assert elapsed < 0.5 + watchdog.grace(0.5) + watchdog.ANSWER_SECONDS + 6


# -- verify under its limits ----------------------------------------------------------------------


@pytest.mark.slow
def test_verify_with_a_small_memory_limit_stops_at_it(project: Path) -> None:
    (project / "par.json").write_text(json.dumps(parallel(20)))
    code, out, err, seconds, peak = flowcheck(project, "verify", "par.json",
                                              "--max-memory", "250")
    assert seconds < 90
    assert peak < 250 * 1.15, peak  # measured: resident memory stays at the limit
    if code == watchdog.EXIT_LIMIT:
        assert "memory limit" in _one_line(err)
    else:
        assert code in (0, 1) and "BOUNDED" in out and "memory limit" in out


def test_verify_with_a_tiny_memory_limit_ends_with_exit_3_and_one_line(project: Path) -> None:
    (project / "chain.json").write_text(json.dumps(chain(50)))
    code, _, err, seconds, _ = flowcheck(project, "verify", "chain.json", "--max-memory", "1")
    assert code == watchdog.EXIT_LIMIT
    assert "stopped at the memory limit (max-memory 1 MB)" in _one_line(err)
    assert seconds < 30


def test_verify_with_a_time_limit_ends_bounded_within_it(project: Path) -> None:
    (project / "par.json").write_text(json.dumps(parallel(14)))  # about 4.8 million
    code, out, err, seconds, _ = flowcheck(project, "verify", "par.json", "--max-seconds", "2")
    # Start-up, the limit and the grace period (2 s), and the report.
    assert seconds < 2 + watchdog.grace(2) + 15
    if code == watchdog.EXIT_LIMIT:
        assert "time limit" in _one_line(err)
    else:
        assert code in (0, 1), err
        assert "BOUNDED" in out and "time limit" in out
        assert "all properties hold" not in out


@pytest.mark.parametrize("fmt", ["json", "junit", "sarif"])
def test_a_bounded_result_says_bounded_in_every_format(project: Path, fmt: str) -> None:
    (project / "par.json").write_text(json.dumps(parallel(8)))
    code, out, _, _, _ = flowcheck(project, "verify", "par.json", "--max-configurations",
                                   "50", "--format", fmt)
    assert code in (0, 1)
    if fmt == "json":
        assert json.loads(out)["bounded"] == ["par"]
        assert "BOUNDED" in json.loads(out)["summary"]
    elif fmt == "junit":
        assert 'name="flowcheck.status" value="bounded"' in out
    else:
        run = json.loads(out)["runs"][0]
        assert run["properties"]["bounded"] == ["par"]
        assert any(r["level"] == "note" and "bounded" in r["message"]["text"]
                   for r in run["results"])


# -- linear in states ------------------------------------------------------------------------------


def test_a_long_chain_verifies_in_time_linear_in_its_length(project: Path) -> None:
    # Before: 10,000 states ran past 300 s (a replay per step, a counterexample per
    # finding); 5,000 states under the mirai rules (10,000 telemetry findings) took minutes.
    (project / "chain.json").write_text(json.dumps(chain(5000)))
    code, out, err, seconds, _ = flowcheck(project, "verify", "chain.json", "--profile",
                                           "mirai", "--no-cache")
    assert code == 1, err
    assert seconds < 45
    assert "more like it" in out  # one counterexample per kind, the others counted
    assert len(out.splitlines()) < 400


def _import_seconds(n: int, tmp: Path) -> float:
    path = tmp / f"chain{n}.json"
    path.write_text(json.dumps(chain(n)))
    started = time.perf_counter()
    import_config(path)
    return time.perf_counter() - started


def test_importing_is_linear_in_states(tmp_path: Path) -> None:
    small = min(_import_seconds(5_000, tmp_path) for _ in range(2))
    large = min(_import_seconds(40_000, tmp_path) for _ in range(2))
    # Linear: 8 times the states, about 8 times the time; quadratic would be 64.
    assert large < small * 20, (small, large)
