"""The distribution: an sdist and a wheel built from scratch, named ``flowcheck-statecharts``
(the import package and the command stay ``flowcheck``), carrying the web simulator's
assets and the typed marker, and a wheel that, installed into a fresh virtualenv, runs
``flowcheck check`` on a copy of the project's flows.

The build is what ``python -m build --no-isolation`` does (the sdist from a copy of the
source, then the wheel from the unpacked sdist, so a file the sdist forgets is missing from
the wheel too), through setuptools' PEP 517 hooks, offline. The fresh virtualenv gets the
wheel alone (``--no-deps``); the wheel's dependencies are lent by the test environment
through a ``.pth`` file added after the install, and ``pip check`` proves they satisfy the
wheel's requirements.
"""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIST = "flowcheck-statecharts"
ASSETS = ("index.html", "simulator.css", "simulator.js")


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _hook(name: str, source: Path, out: Path) -> Path:
    """Call setuptools' PEP 517 hook ``name`` in ``source``; the path of what it built."""
    out.mkdir(parents=True, exist_ok=True)
    done = _run(sys.executable, "-c",
                f"import setuptools.build_meta as b; print(b.{name}({str(out)!r}))", cwd=source)
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel), the wheel built from the unpacked sdist."""
    work = tmp_path_factory.mktemp("dist")
    source = work / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(ROOT / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    sdist = _hook("build_sdist", source, work / "sdist")
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
            archive.extractall(work / "unpacked", filter="data")
        else:
            archive.extractall(work / "unpacked")  # our own sdist
    (unpacked,) = (work / "unpacked").iterdir()
    wheel = _hook("build_wheel", unpacked, work / "wheel")
    return sdist, wheel


def test_the_sdist_carries_the_web_assets_and_the_typed_marker(built: tuple[Path, Path]) -> None:
    sdist, _ = built
    assert sdist.name == "flowcheck_statecharts-0.1.0.tar.gz"
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert "src/flowcheck/py.typed" in names
    assert {f"src/flowcheck/web/static/{a}" for a in ASSETS} <= names


def test_the_wheel_is_named_flowcheck_statecharts_and_installs_the_flowcheck_package(
    built: tuple[Path, Path],
) -> None:
    _, wheel = built
    assert wheel.name == "flowcheck_statecharts-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(info).decode())
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert metadata["Name"] == DIST
    assert "flowcheck/py.typed" in names
    assert {f"flowcheck/web/static/{a}" for a in ASSETS} <= names
    assert "flowcheck = flowcheck.cli:main" in entry_points
    assert "flowcheck = flowcheck.pytest_plugin" in entry_points


def test_the_wheel_installed_in_a_fresh_virtualenv_checks_a_copy_of_the_flows(
    built: tuple[Path, Path], tmp_path: Path,
) -> None:
    _, wheel = built
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
         "--no-index", "--quiet", wheel)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
                .stdout.strip())
    # The dependencies, lent by this environment (a path .pth: its own .pth files, the
    # editable flowcheck among them, are not processed).
    (site / "zz_lent_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "check")

    project = tmp_path / "project"
    for name in ("machines", "proto", "exports"):
        shutil.copytree(ROOT / name, project / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (project / "pyproject.toml").write_text(
        '[tool.flowcheck]\nmachines = ["machines"]\nproto = "proto"\nexports = "exports"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    found = _run(python, "-c", "import flowcheck.web, pathlib; "
                 "print(pathlib.Path(flowcheck.web.__file__).parent)", cwd=project, env=env)
    package = Path(found.stdout.strip())
    assert package.is_relative_to(site), package
    assert all((package / "static" / a).is_file() for a in ASSETS)

    done = _run(venv / "bin" / "flowcheck", "check", "--compact", "--examples", "10",
                cwd=project, env=env)
    assert "4 machine(s): all properties hold" in done.stdout, done.stdout
