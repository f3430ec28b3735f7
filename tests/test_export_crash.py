"""An export killed at any instant leaves the old set or the new one, never a mix.

``flowcheck export`` is killed with SIGKILL (which no handler can hold back, like an OOM
kill or a power cut): once at every filesystem operation of the write phase (the child
kills itself just before the operation), once at every operation of a recovery that is
itself killed, and at random instants of whole runs. After each kill, one ``flowcheck
export --check`` recovers the directory, which must then hold exactly the files of the
old export or of the new one, byte for byte, and nothing else (no staging directory, no
temporary file).

Most runs are forked from this process, which has imported flowcheck already, so that
a run costs tens of milliseconds and every run is the command's own code path
(``flowcheck.cli.main``); a few are separate ``python -m flowcheck.cli`` processes.
The kills at every call (about 80 runs) are part of the default suite; the random ones
(160 forked runs and 12 processes) are marked ``slow``: ``pytest -m slow
tests/test_export_crash.py``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flowcheck.cli import main
from flowcheck.formats import atomic

REPO = Path(__file__).resolve().parent.parent
FLOW = "checkout"
Files = dict[str, bytes]

# The filesystem calls a write (or a recovery) makes: the child dies just before one.
_CALLS = ("open", "write", "fsync", "close", "replace", "unlink", "rmdir", "mkdir", "chmod",
          "rename")


def _snapshot(directory: Path) -> Files:
    """Every file under ``directory`` (hidden ones included), by relative path."""
    return {p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()} | {
        p.relative_to(directory).as_posix() + "/": b""
        for p in sorted(directory.rglob("*")) if p.is_dir()}


def _restore(directory: Path, files: Files) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    for name, data in files.items():
        if name.endswith("/"):
            (directory / name).mkdir(parents=True, exist_ok=True)
        else:
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(data)


def _fork(project: Path, args: list[str], die_at: int | None = None,
          counter: Path | None = None) -> int:
    """Run ``flowcheck <args>`` in a forked child; with ``die_at``, the child SIGKILLs
    itself just before its ``die_at``-th filesystem call; with ``counter``, it writes how
    many calls it made there. The child's pid."""
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: never returns
        os.chdir(project)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        calls = [0]
        real = {name: getattr(os, name) for name in _CALLS}

        def hooked(name: str) -> Callable[..., object]:
            def call(*args: object, **kwargs: object) -> object:
                calls[0] += 1
                if calls[0] == die_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real[name](*args, **kwargs)
            return call

        for name in _CALLS:
            setattr(os, name, hooked(name))
        code = main(args)
        for name in _CALLS:
            setattr(os, name, real[name])
        if counter is not None:
            counter.write_text(str(calls[0]))
        os._exit(code)
    except BaseException:
        os._exit(99)


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Files, Files]:
    """A project of one flow, its exports before (an older version of the flow, and older
    shared files) and after a change to the flow; the project holds the changed flow."""
    project = tmp_path_factory.mktemp("crash")
    (project / "machines").mkdir()
    source = (REPO / "machines" / f"{FLOW}.py").read_text()
    (project / "pyproject.toml").write_text(
        '[tool.flowcheck]\nmachines = ["machines"]\nexports = "exports"\n')
    (project / "machines" / f"{FLOW}.py").write_text(source)
    # Import and warm up everything an export uses here, once: forked runs inherit it.
    cwd = Path.cwd()
    os.chdir(project)
    try:
        assert main(["export"]) == 0
    finally:
        os.chdir(cwd)
    old = _snapshot(project / "exports")
    old = {name: data + b"\n" if not name.endswith("/") else data for name, data in old.items()}
    changed = source.replace('"plan_pro"', '"plan_max"').replace(
        "Waiting for the billing service to confirm the payment.",
        "Waiting for the billing service (changed).")
    assert changed != source
    (project / "machines" / f"{FLOW}.py").write_text(changed)
    _restore(project / "exports", old)
    assert _wait(_fork(project, ["export"])) == 0
    new = _snapshot(project / "exports")
    assert set(new) == set(old) and all(new[n] != old[n] for n in new if not n.endswith("/"))
    return project, old, new


def _recovered(project: Path, old: Files, new: Files) -> str:
    """Run one ``export --check``; the directory must then be the old set or the new one."""
    cwd = Path.cwd()
    os.chdir(project)
    try:
        assert main(["export", "--check"]) in (0, 1)
    finally:
        os.chdir(cwd)
    found = _snapshot(project / "exports")
    if found == old:
        return "old"
    if found == new:
        return "new"
    extra = sorted(set(found) - set(new))
    differ = sorted(n for n in set(found) & set(new) if found[n] not in (old[n], new[n]))
    mixed = sorted(n for n in set(found) & set(new) if found[n] == new[n] != old[n])
    raise AssertionError(f"neither set: extra {extra}, corrupt {differ}, new only {mixed}")


def test_a_kill_before_any_filesystem_call_of_the_write_leaves_one_set(
    sets: tuple[Path, Files, Files], tmp_path: Path,
) -> None:
    project, old, new = sets
    exports = project / "exports"
    _restore(exports, old)
    counter = tmp_path / "calls"
    assert _wait(_fork(project, ["export"], counter=counter)) == 0
    calls = int(counter.read_text())
    assert calls >= 20  # staging, journal, install and clean-up of six files
    seen = {"old": 0, "new": 0}
    for at in range(1, calls + 1):
        _restore(exports, old)
        assert _wait(_fork(project, ["export"], die_at=at)) == -signal.SIGKILL
        seen[_recovered(project, old, new)] += 1
    # Both outcomes happen: the commit point lies inside the write phase.
    assert seen["old"] > 0 and seen["new"] > 0, seen


def test_a_kill_during_the_recovery_itself_is_recovered_by_the_next_run(
    sets: tuple[Path, Files, Files],
) -> None:
    project, old, new = sets
    exports = project / "exports"
    rng = random.Random(17)
    runs = 0
    for at in rng.sample(range(8, 40), 12):
        _restore(exports, old)
        assert _wait(_fork(project, ["export"], die_at=at)) == -signal.SIGKILL
        _wait(_fork(project, ["export", "--check"], die_at=rng.randint(1, 12)))
        _recovered(project, old, new)
        runs += 1
    assert runs == 12


@pytest.mark.slow
def test_kills_at_random_instants_leave_one_set(sets: tuple[Path, Files, Files]) -> None:
    project, old, new = sets
    exports = project / "exports"
    _restore(exports, old)
    started = time.perf_counter()
    assert _wait(_fork(project, ["export"])) == 0
    whole = time.perf_counter() - started
    rng = random.Random(5)
    seen = {"old": 0, "new": 0}
    for _ in range(160):
        _restore(exports, old)
        pid = _fork(project, ["export"])
        time.sleep(rng.uniform(0, whole * 1.1))
        os.kill(pid, signal.SIGKILL)
        _wait(pid)
        seen[_recovered(project, old, new)] += 1
    assert seen["old"] > 0 and seen["new"] > 0, seen


@pytest.mark.slow
def test_the_installed_command_killed_at_random_instants_leaves_one_set(
    sets: tuple[Path, Files, Files],
) -> None:
    project, old, new = sets
    exports = project / "exports"
    command = [sys.executable, "-m", "flowcheck.cli", "export"]
    _restore(exports, old)
    started = time.perf_counter()
    subprocess.run(command, cwd=project, check=True, capture_output=True, timeout=120)
    whole = time.perf_counter() - started
    rng = random.Random(11)
    for _ in range(12):
        _restore(exports, old)
        proc = subprocess.Popen(command, cwd=project, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(whole * 0.5, whole * 1.1))
        proc.kill()
        proc.wait(timeout=60)
        _recovered(project, old, new)


def test_check_says_an_interrupted_export_was_completed(
    sets: tuple[Path, Files, Files], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project, old, new = sets
    exports = project / "exports"
    _restore(exports, old)
    # Committed, then killed before anything was installed: the set on disk is the old one.
    at = _first_install(project, old)
    _restore(exports, old)
    pid = _fork(project, ["export"], die_at=at)
    assert _wait(pid) == -signal.SIGKILL
    assert (exports / atomic.STAGING / atomic.JOURNAL).is_file()
    monkeypatch.chdir(project)
    capsys.readouterr()
    assert main(["export", "--check"]) == 1
    err = capsys.readouterr().err
    assert "an interrupted write was found and completed" in err
    assert "held an interrupted export, now recovered" in err
    assert _snapshot(exports) == new


def _first_install(project: Path, old: Files) -> int:
    """The filesystem call that moves the first staged file into place."""
    exports = project / "exports"
    for at in range(1, 200):
        _restore(exports, old)
        _wait(_fork(project, ["export"], die_at=at))
        if (exports / atomic.STAGING / atomic.JOURNAL).is_file():
            return at + 1  # the journal is in place; the next call installs
    raise AssertionError("no commit point found")


# -- two exports at once -------------------------------------------------------------------


def test_two_exports_at_once_run_one_after_the_other(
    sets: tuple[Path, Files, Files], tmp_path: Path,
) -> None:
    project, old, new = sets
    # A second project holding the older flow, exporting into the same directory.
    other = tmp_path / "other"
    (other / "machines").mkdir(parents=True)
    (other / "pyproject.toml").write_text((project / "pyproject.toml").read_text())
    (other / "machines" / f"{FLOW}.py").write_text(
        (REPO / "machines" / f"{FLOW}.py").read_text())
    shared = tmp_path / "shared"
    # What the older flow exports: the old set without the byte the fixture added.
    older = {n: d if n.endswith("/") else d[:-1] for n, d in old.items()}
    outcomes = []
    for _ in range(20):
        _restore(shared, old)
        first = _fork(project, ["export", "--out", str(shared)])
        second = _fork(other, ["export", "--out", str(shared)])
        assert (_wait(first), _wait(second)) == (0, 0)
        found = _snapshot(shared)
        assert found in (new, older), sorted(
            n for n in found if found[n] not in (new.get(n), older.get(n)))
        outcomes.append("new" if found == new else "older")
    # Each run ends in one whole set, whichever process went last.
    assert len(outcomes) == 20


def test_a_writer_that_cannot_get_the_lock_fails_clearly(tmp_path: Path) -> None:
    import fcntl

    from flowcheck.errors import OutputError

    held = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        with pytest.raises(OutputError, match="another flowcheck process is writing here"):
            atomic.write_all({tmp_path / "a.json": b"{}\n"}, wait=0.2)
    finally:
        os.close(held)
    assert list(tmp_path.iterdir()) == []
    atomic.write_all({tmp_path / "a.json": b"{}\n"}, wait=0.2)
    assert (tmp_path / "a.json").read_bytes() == b"{}\n"
