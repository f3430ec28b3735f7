"""Finding the project's settings and its machines.

Settings come from ``[tool.flowcheck]`` in the nearest pyproject.toml; a
machine is a module in one of the ``machines`` directories holding exactly one
Flow subclass, named after the module (``course_builder``).

Every setting flowcheck reads is checked for its type and range when the settings are
found (:data:`SETTINGS`): a wrong one is a :class:`~flowcheck.errors.SettingsError`
naming the file, the key, the value and what it must be, never a traceback later.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import tomllib
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from flowcheck import inputs
from flowcheck.chart.model import Chart
from flowcheck.errors import FlowcheckError, MachineError, SettingsError, UnknownNameError
from flowcheck.explore.limits import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_MEMORY_MB,
    DEFAULT_MAX_SECONDS,
    Limits,
)


@dataclass
class Settings:
    root: Path
    machines: list[Path]
    proto: Path
    exports: Path
    max_configurations: int = 1_000_000
    max_depth: int = DEFAULT_MAX_DEPTH
    max_memory: int = DEFAULT_MAX_MEMORY_MB
    max_seconds: float = DEFAULT_MAX_SECONDS
    taxonomy: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def limits(
        self,
        configurations: int | None = None,
        depth: int | None = None,
        memory: int | None = None,
        seconds: float | None = None,
    ) -> Limits:
        """The exploration limits: the ones given (command-line options), else the settings."""
        return Limits(
            configurations=configurations or self.max_configurations,
            depth=depth or self.max_depth,
            memory_mb=memory or self.max_memory,
            seconds=seconds or self.max_seconds,
        )


def find_settings(start: Path | None = None, machines: Path | None = None) -> Settings:
    """Settings from the nearest pyproject.toml at or above ``start`` (default: cwd)."""
    here = (start or Path.cwd()).resolve()
    root = here
    data: dict[str, Any] = {}
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            text = inputs.read_text(pyproject, "pyproject.toml")
            try:
                loaded = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise FlowcheckError(f"{pyproject}: not valid TOML ({exc})") from exc
            tool = loaded.get("tool", {})
            tool = tool.get("flowcheck") if isinstance(tool, dict) else None
            if tool is not None:
                if not isinstance(tool, dict):
                    raise SettingsError(f"{pyproject}: [tool.flowcheck] must be a table of "
                                        f"settings, not a {type(tool).__name__}")
                root, data = candidate, tool
                _validate(data, pyproject)
                break
    inputs.configure(data.get("max-input-mb"), data.get("max-input-nesting"))
    dirs = [machines] if machines else [root / d for d in data.get("machines", ["machines"])]
    return Settings(
        root=root,
        machines=[d.resolve() for d in dirs],
        proto=(root / data.get("proto", "proto")).resolve(),
        exports=(root / data.get("exports", "exports")).resolve(),
        max_configurations=_limit(data, "max-configurations", 1_000_000, pyproject_of(root)),
        max_depth=_limit(data, "max-depth", DEFAULT_MAX_DEPTH, pyproject_of(root)),
        max_memory=_limit(data, "max-memory", DEFAULT_MAX_MEMORY_MB, pyproject_of(root)),
        max_seconds=_limit(data, "max-seconds", DEFAULT_MAX_SECONDS, pyproject_of(root)),
        taxonomy=dict(data.get("taxonomy", {})),
        raw=data,
    )


def pyproject_of(root: Path) -> Path:
    return root / "pyproject.toml"


def _limit(data: dict[str, Any], key: str, default: float, where: Path) -> Any:
    """A positive number from [tool.flowcheck], of the default's type."""
    value = data.get(key, default)
    kind = type(default)
    ok = (isinstance(value, int | float) and not isinstance(value, bool) and value > 0
          and math.isfinite(value))
    if not ok or (kind is int and not isinstance(value, int)):
        what = "a positive integer" if kind is int else "a finite positive number"
        raise SettingsError(f"{where}: [tool.flowcheck] {key} = {value!r} must be {what}")
    return kind(value)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _texts(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_text(v) for v in value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool) and value > 0
            and math.isfinite(value))


def _whole(value: Any) -> bool:
    return _integer(value) and value > 0


SETTINGS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "machines": (_texts, 'a list of directories, e.g. ["machines"]'),
    "proto": (_text, "a directory (a string)"),
    "exports": (_text, "a directory (a string)"),
    "scenarios": (_text, "a directory (a string)"),
    "cache-dir": (_text, "a directory (a string)"),
    "taxonomy": (lambda v: isinstance(v, dict), "a table ([tool.flowcheck.taxonomy])"),
    "profile": (lambda v: v in ("generic", "mirai"), '"generic" or "mirai"'),
    "import-profile": (lambda v: v in ("generic", "mirai"), '"generic" or "mirai"'),
    "examples": (_count, "an integer, 0 or more"),
    "seed": (_integer, "an integer"),
    "pytest": (lambda v: isinstance(v, bool), "true or false"),
    "max-configurations": (_whole, "a positive integer"),
    "max-depth": (_whole, "a positive integer"),
    "max-memory": (_whole, "a positive integer (MB)"),
    "max-seconds": (_positive, "a finite positive number of seconds"),
    "max-input-mb": (_positive, "a finite positive number of MB"),
    "max-input-nesting": (_whole, "a positive integer"),
}
"""The settings flowcheck reads, each with its check and what it must be. Other keys are
left alone (a newer flowcheck, or another tool, may read them)."""


def _validate(data: dict[str, Any], where: Path) -> None:
    for key, (check, what) in SETTINGS.items():
        if key in data and not check(data[key]):
            raise SettingsError(
                f"{where}: [tool.flowcheck] {key} = {data[key]!r} must be {what}")


@dataclass
class Machine:
    """One flow of the project: its module name, file and Flow class."""

    name: str
    path: Path
    cls: type[Any]

    @cached_property
    def chart(self) -> Chart:
        from flowcheck.declare.reader import read_chart

        try:
            return read_chart(self.cls, self.name)
        except MachineError as exc:
            # The reader names the class; the user also needs the file.
            raise MachineError(f"{self.path}: {exc}") from exc


def load_module(path: Path) -> ModuleType:
    """Import a machine module from its file; an import failure is a FlowcheckError."""
    name = f"flowcheck_machines.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise MachineError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    parent = str(path.parent)
    added = parent not in sys.path
    if added:
        sys.path.insert(0, parent)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        del sys.modules[name]
        line = _failing_line(exc, path)
        raise MachineError(
            f"{path}{line}: importing the machine failed with {type(exc).__name__}: {exc}; "
            f"{_import_fix(exc)}"
        ) from exc
    finally:
        if added:
            sys.path.remove(parent)
    return module


def _import_fix(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError) and "decode" in str(exc):
        return "save the file as UTF-8"
    if isinstance(exc, SyntaxError):
        return "fix the syntax"
    if isinstance(exc, SystemExit):
        return "a machine module must not exit when imported"
    return "a machine module must import cleanly, without I/O or side effects"


def _failing_line(exc: BaseException, path: Path) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f":{exc.lineno}"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve() == path.resolve():
            return f":{frame.lineno}"
    return ""


def flow_class(module: ModuleType, path: Path) -> type[Any]:
    from flowcheck.declare.flow import Flow

    found = [
        v for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Flow) and v is not Flow
        and v.__module__ == module.__name__
    ]
    if not found:
        plain = _plain_statecharts(module)
        if plain:
            raise MachineError(
                f"{path}: class {plain[0]} is a python-statemachine StateChart, not a flowcheck "
                "Flow: derive it from flowcheck.declare.Flow (from flowcheck.declare import Flow)"
            )
        raise MachineError(
            f"{path}: no Flow subclass found; declare `class MyFlow(Flow): ...` "
            "(from flowcheck.declare import Flow)"
        )
    if len(found) > 1:
        names = ", ".join(c.__name__ for c in found)
        raise MachineError(f"{path}: several Flow subclasses ({names}); keep one flow per module")
    return found[0]


def _plain_statecharts(module: ModuleType) -> list[str]:
    from statemachine import StateChart

    return [
        v.__name__ for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, StateChart) and v.__module__ == module.__name__
    ]


def machine_files(settings: Settings) -> list[Path]:
    files: list[Path] = []
    for d in settings.machines:
        if not d.is_dir():
            raise FlowcheckError(
                f"machines directory {d} does not exist: create it or set "
                "[tool.flowcheck] machines in pyproject.toml (or pass --machines DIR)"
            )
        files.extend(p for p in sorted(d.glob("*.py")) if not p.name.startswith("_"))
    return files


def load_machine(path: Path) -> Machine:
    module = load_module(path)
    return Machine(name=path.stem, path=path, cls=flow_class(module, path))


def discover(settings: Settings) -> list[Machine]:
    return [load_machine(p) for p in machine_files(settings)]


def select(settings: Settings, names: list[str]) -> list[Machine]:
    """The machines named (all of them when ``names`` is empty), in the order given."""
    return [load_machine(p) for p in machine_paths(settings, names)]


def machine_paths(settings: Settings, names: list[str]) -> list[Path]:
    """The module files of the machines named (all of them when ``names`` is empty), in the
    order given, without importing them."""
    files = {p.stem: p for p in machine_files(settings)}
    if not names:
        return list(files.values())
    out = []
    for n in names:
        if n.endswith(".py") and Path(n).is_file():
            out.append(Path(n).resolve())
            continue
        if n not in files:
            known = ", ".join(sorted(files)) or "none"
            raise UnknownNameError(f"unknown machine {n!r}: the machines are {known}")
        out.append(files[n])
    return out
