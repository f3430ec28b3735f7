"""The verification cache: an unchanged flow costs a file read, not a proof.

A verdict depends on more than the flow's own file, and the cache key says so. It is a
SHA-256 of:

- the flow's module and every project module it imports, transitively (found with
  :mod:`ast`, never by importing: a module under the flow's directory, the project root
  or its ``src/``);
- the same for each flow it is **composed** with (its parents and children, through
  composition: their explorations decide its inputs and its child outputs);
- flowcheck's version **and its source** (every module of the package), so that a
  change to flowcheck during development invalidates every verdict; the versions of
  Python and of the libraries a run goes through (python-statemachine, pydantic,
  hypothesis);
- the options of the run (limits, hypothesis examples, seed, profile) and the
  ``[tool.flowcheck]`` table (taxonomy, profiles...), and where the project is (reports
  carry its paths);
- the protos (every file under ``proto``), for a flow that invokes anything: the
  ``contract`` property compiles them. The entry records that it depends on them, and a
  read compares their digest, so editing a proto re-verifies the flows that invoke and
  no other.

The value is what reports are made of (see :func:`report_entry`): the chart, the
results with their findings and counterexamples, the stats and notes. A report read back
renders byte for byte like the one written, in every format, so a warm run prints what
the cold run printed, the time it took included.

Like pytest's ``.pytest_cache``, the directory (``.flowcheck_cache/`` at the project
root; ``[tool.flowcheck] cache-dir`` moves it) keeps itself out of git and carries a
``CACHEDIR.TAG``. Entries are written atomically; an entry that cannot be read or does not
validate is a miss (the flow is verified again), never an error. ``--no-cache``, or
``FLOWCHECK_NO_CACHE=1`` in the environment, neither reads nor writes it.

What the key cannot see: files a flow reads at import time (data files), modules it
imports dynamically (``importlib``), and installed packages other than the ones named
above. Delete the directory (or pass ``--no-cache``) after changing those.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowcheck import __version__

if TYPE_CHECKING:
    from flowcheck.chart.model import Chart
    from flowcheck.explore.limits import Limits
    from flowcheck.project import Settings
    from flowcheck.verification import MachineReport

DEFAULT_DIR = ".flowcheck_cache"
FORMAT = 1
"""The layout and entry format: a change makes a new ``v<FORMAT>`` directory."""
MAX_ENTRIES = 2000
"""Per kind of entry; beyond it the least recently written half is removed."""
NO_CACHE_ENV = "FLOWCHECK_NO_CACHE"
LIBRARIES = ("python-statemachine", "pydantic", "pydantic-core", "hypothesis")
"""The installed libraries whose version a verdict depends on."""

_TAG = "__tuple__"
_PACKAGE = Path(__file__).resolve().parent
"""flowcheck's own source: in every key through :meth:`Fingerprints.tool`."""
_README = """# flowcheck cache

This directory holds flowcheck's verification cache: each flow's verdict, keyed by a hash
of everything it depends on (the flow and the project modules it imports, the flows it is
composed with, flowcheck itself, the protos, the options).
It is safe to delete at any time; `flowcheck verify --no-cache` and
`flowcheck check --no-cache` ignore it.
"""
_GITIGNORE = "# Created by flowcheck automatically.\n*\n"
_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by flowcheck.\n"
    "# For information about cache directory tags, see:\n"
    "#\thttps://bford.info/cachedir/spec.html\n"
)


def disabled_by_environment() -> bool:
    return os.environ.get(NO_CACHE_ENV, "") not in ("", "0")


def cache_dir(settings: Settings) -> Path:
    """Where the project's cache lives: ``[tool.flowcheck] cache-dir``, relative to the
    project root, else ``.flowcheck_cache``."""
    return (settings.root / str(settings.raw.get("cache-dir", DEFAULT_DIR))).resolve()


# -- storage ---------------------------------------------------------------------------------


class Cache:
    """Entries of a few kinds (``reports``, ``projects``, ``exports``), each a JSON object
    under its key. Reading never fails (a bad entry is a miss); writing is atomic and a
    failure to write only costs the next run a verification."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.root = directory / f"v{FORMAT}"
        self.hits = 0
        self.misses = 0
        self._prepared = False

    @classmethod
    def for_project(cls, settings: Settings, enabled: bool = True) -> Cache | None:
        """The project's cache, or None when it is off (``--no-cache``, the environment)."""
        if not enabled or disabled_by_environment():
            return None
        return cls(cache_dir(settings))

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.json"

    def read(self, kind: str, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path(kind, key).read_bytes(), object_hook=_untag)
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        return data

    def write(self, kind: str, key: str, value: dict[str, Any]) -> None:
        from flowcheck.errors import OutputError
        from flowcheck.formats.atomic import write_atomic

        try:
            data = json.dumps({**value, "key": key}, default=_no_json, separators=(",", ":"),
                              ensure_ascii=False)
        except (TypeError, ValueError):
            return  # a value JSON cannot hold (an exotic payload): not kept, verified again
        try:
            self._prepare()
            write_atomic(self.path(kind, key), data.encode("utf-8"))
            self._prune(kind)
        except (OSError, OutputError):
            return  # a cache that cannot be written is a cache that misses

    @contextlib.contextmanager
    def lock(self, kind: str, key: str) -> Iterator[None]:
        """Hold the entry's lock while computing it, so that processes verifying the same
        flow at once (pytest-xdist workers, two hooks) compute it once: the second waits and
        then reads. Without ``fcntl`` (Windows) there is no lock, only duplicated work."""
        try:
            import fcntl
        except ImportError:
            yield
            return
        handle = None
        try:
            self._prepare()
            lock_path = self.root / kind / f"{key}.lock"
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+b")  # noqa: SIM115 (released below)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError:
            if handle is not None:
                handle.close()
            handle = None
        try:
            yield
        finally:
            if handle is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                # The lock file stays: removing it could let a third process lock a new
                # file while a second still waits on this one. Pruning removes old ones.
                handle.close()

    def _prepare(self) -> None:
        """The directory with its README, .gitignore and CACHEDIR.TAG (pytest's layout)."""
        if self._prepared:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        for name, text in (("README.md", _README), (".gitignore", _GITIGNORE),
                           ("CACHEDIR.TAG", _CACHEDIR_TAG)):
            target = self.directory / name
            if not target.exists():
                with contextlib.suppress(OSError):
                    target.write_text(text, encoding="utf-8")
        self._prepared = True

    def _prune(self, kind: str) -> None:
        directory = self.root / kind
        try:
            entries = [p for p in directory.iterdir() if p.suffix in (".json", ".lock")]
        except OSError:
            return
        if len(entries) <= MAX_ENTRIES:
            return
        by_age = sorted(entries, key=_mtime)
        for p in by_age[: len(by_age) // 2]:
            with contextlib.suppress(OSError):
                p.unlink()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# Tuples survive the round trip (charts and payloads hold them): ``{"__tuple__": [...]}``.


def _tagged(value: Any) -> Any:
    if isinstance(value, tuple):
        return {_TAG: [_tagged(v) for v in value]}
    if isinstance(value, list):
        return [_tagged(v) for v in value]
    if isinstance(value, dict):
        return {k: _tagged(v) for k, v in value.items()}
    return value


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _TAG in obj and isinstance(obj[_TAG], list):
        return tuple(obj[_TAG])
    return obj


def _no_json(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# -- what a verdict depends on -----------------------------------------------------------------


class Fingerprints:
    """Digests of files, module closures, flowcheck itself and the protos, each computed
    once per run."""

    def __init__(self, settings: Settings, cache: Cache | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self._files: dict[Path, str | None] = {}
        self._closures: dict[Path, dict[str, str]] = {}
        self._protos: str | None = None
        self._imports: dict[str, list[str]] | None = None
        self._imports_changed = False
        self._listings: dict[Path, set[str]] = {}

    # -- files -------------------------------------------------------------------------------

    def file(self, path: Path) -> str | None:
        """The SHA-256 of a file's bytes (None: it cannot be read)."""
        if path not in self._files:
            try:
                self._files[path] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                self._files[path] = None
        return self._files[path]

    def shown(self, path: Path) -> str:
        root = self.settings.root
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)

    def closure(self, path: Path) -> dict[str, str]:
        """``path`` and every project module it imports, transitively: shown path ->
        digest. A module is of the project when it is a file under the importing module's
        directory, the project root or its ``src/``, and not inside a virtual environment."""
        path = path.resolve()
        found = self._closures.get(path)
        if found is not None:
            return found
        out: dict[str, str] = {}
        stack = [path]
        seen = {path}
        while stack:
            current = stack.pop()
            digest = self.file(current)
            out[self.shown(current)] = digest or "unreadable"
            if digest is None or current.suffix != ".py":
                continue
            for module in self._imports_of(current, digest):
                for candidate in self._resolve(module, current):
                    if candidate not in seen:
                        seen.add(candidate)
                        stack.append(candidate)
        self._closures[path] = dict(sorted(out.items()))
        return self._closures[path]

    def _imports_of(self, path: Path, digest: str) -> list[str]:
        """The modules a file imports (absolute names; a relative import as ``.name``
        levels), remembered in the cache by the file's digest."""
        memo = self._import_memo()
        known = memo.get(digest)
        if known is not None:
            return known
        names: list[str] = []
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            tree = None
        if tree is not None:
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.extend(a.name for a in node.names)
                elif isinstance(node, ast.ImportFrom):
                    base = "." * node.level + (node.module or "")
                    names.append(base)
                    names.extend(f"{base}.{a.name}" if node.module or node.level == 0
                                 else "." * node.level + a.name
                                 for a in node.names if a.name != "*")
        names = list(dict.fromkeys(names))
        memo[digest] = names
        self._imports_changed = True
        return names

    def _import_memo(self) -> dict[str, list[str]]:
        if self._imports is None:
            data = self.cache.read("imports", "index") if self.cache is not None else None
            table = data.get("modules") if data is not None else None
            self._imports = dict(table) if isinstance(table, dict) else {}
        return self._imports

    def save(self) -> None:
        """Keep what was learnt about imports for the next run."""
        if self.cache is not None and self._imports_changed and self._imports is not None:
            self.cache.write("imports", "index", {"modules": self._imports})
            self._imports_changed = False

    def _resolve(self, module: str, importer: Path) -> list[Path]:
        """The project files importing ``module`` from ``importer`` runs: the module and
        its packages' ``__init__.py`` (none for a module of an installed package, or of
        flowcheck itself, which :meth:`tool` covers)."""
        level = len(module) - len(module.lstrip("."))
        parts = [p for p in module.lstrip(".").split(".") if p]
        if not parts:
            return []
        if level:
            base = importer.parent
            for _ in range(level - 1):
                base = base.parent
            roots = [base]
        else:
            roots = [importer.parent, self.settings.root, self.settings.root / "src"]
        for root in roots:
            if not self._has(root, parts[0]):
                continue
            if root / parts[0] == _PACKAGE:
                return []  # flowcheck itself: in every key already
            out: list[Path] = []
            current = root
            for i, part in enumerate(parts):
                package = current / part
                if (package / "__init__.py").is_file():
                    out.append(package / "__init__.py")
                    current = package
                    continue
                if i == len(parts) - 1 and (current / f"{part}.py").is_file():
                    out.append(current / f"{part}.py")
                break
            return [p for p in out if self._of_project(p)]
        return []

    def _has(self, root: Path, name: str) -> bool:
        """Whether ``root`` holds a module or package ``name`` (one listing per root)."""
        names = self._listings.get(root)
        if names is None:
            try:
                names = {p.name for p in root.iterdir()}
            except OSError:
                names = set()
            self._listings[root] = names
        return name in names or f"{name}.py" in names

    def _of_project(self, path: Path) -> bool:
        if not path.is_relative_to(self.settings.root) or path.is_relative_to(_PACKAGE):
            return False
        parts = path.relative_to(self.settings.root).parts
        return not any(p in ("site-packages", "node_modules") or p.startswith(".")
                       for p in parts[:-1])

    # -- the tool and the protos --------------------------------------------------------------

    def tool(self) -> str:
        """flowcheck's version and source, Python's version and the libraries' versions."""
        return _tool_digest()

    def protos(self) -> str:
        """Every file under the proto directory, by path and content."""
        if self._protos is None:
            digest = hashlib.sha256()
            root = self.settings.proto
            files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
            for p in files:
                digest.update(p.relative_to(root).as_posix().encode() + b"\0")
                digest.update((self.file(p) or "unreadable").encode())
            self._protos = digest.hexdigest()
        return self._protos

    def depends(self, chart: Chart) -> dict[str, str]:
        """What else a verdict on ``chart`` depends on, found once it is loaded: the protos
        when it invokes anything."""
        return {"proto": self.protos()} if chart.invokes() else {}

    def still(self, depends: Any) -> bool:
        """Whether what an entry depended on is unchanged."""
        if not isinstance(depends, dict):
            return False
        for name, digest in depends.items():
            if name != "proto" or digest != self.protos():
                return False
        return True


@functools.cache
def _tool_digest() -> str:
    """Computed once per process: flowcheck's source does not change under a run."""
    digest = hashlib.sha256(f"{__version__}\n{sys.version}\n".encode())
    for p in sorted(_PACKAGE.rglob("*.py")):
        digest.update(p.relative_to(_PACKAGE).as_posix().encode() + b"\0")
        try:
            digest.update(p.read_bytes())
        except OSError:
            digest.update(b"unreadable")
    digest.update(json.dumps(_library_versions()).encode())
    return digest.hexdigest()


def _library_versions() -> dict[str, str]:
    from importlib import metadata

    out: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def digest_of(document: Any) -> str:
    """The key of a JSON-able document."""
    # Settings may hold TOML dates and times: their text stands for them.
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- the options of a run --------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What a run asks for, besides the flows: part of every key."""

    limits: Limits
    examples: int
    seed: int
    profile: str | None = None

    def document(self) -> dict[str, Any]:
        lim = self.limits
        return {"configurations": lim.configurations, "depth": lim.depth,
                "memory_mb": lim.memory_mb, "seconds": lim.seconds,
                "examples": self.examples, "seed": self.seed, "profile": self.profile}


@dataclass
class Subject:
    """One machine to verify, as the cache sees it: where it comes from, and the project
    flows composed with it (their files), when it is one of the project's flows."""

    name: str
    source: Path
    kind: str  # "flow" (a Python module) or "xstate" (a JSON config)
    composed: dict[str, Path] = field(default_factory=dict)


def report_key(fingerprints: Fingerprints, subject: Subject, options: Options) -> str:
    """The key of a verdict on ``subject`` under ``options``."""
    settings = fingerprints.settings
    sources: dict[str, dict[str, str]] = {}
    if subject.kind == "xstate":
        sidecar = subject.source.with_name(
            subject.source.name[: -len(".json")] + ".flowcheck.json")
        files = {fingerprints.shown(subject.source): fingerprints.file(subject.source)
                 or "unreadable"}
        if sidecar.is_file():
            files[fingerprints.shown(sidecar)] = fingerprints.file(sidecar) or "unreadable"
        sources[subject.name] = files
    else:
        sources[subject.name] = fingerprints.closure(subject.source)
    for name, path in sorted(subject.composed.items()):
        if name != subject.name:
            sources[name] = fingerprints.closure(path)
    return digest_of({
        "format": FORMAT,
        "tool": fingerprints.tool(),
        "machine": {"name": subject.name, "kind": subject.kind,
                    "source": str(subject.source)},
        "sources": sources,
        "options": options.document(),
        "project": {"root": str(settings.root), "settings": settings.raw,
                    "proto": str(settings.proto)},
    })


# -- reports as entries ------------------------------------------------------------------------


def cacheable(report: MachineReport) -> bool:
    """A report worth keeping: a finished run, stopped by nothing that depends on the
    machine it ran on (an interrupt, the time limit, the memory limit, which the command
    may measure, or the command's own limits stopping the property checks)."""
    from flowcheck import watchdog

    return (not report.interrupted and report.stats.get("limit") not in ("time", "memory")
            and watchdog.tripped() is None)


def report_entry(report: MachineReport) -> dict[str, Any]:
    """What reports are made of, as JSON-able data (tuples tagged so they come back)."""
    entry: dict[str, Any] = _tagged({
        "name": report.name,
        "chart": report.chart.model_dump(mode="python"),
        "source": str(report.source) if report.source is not None else None,
        "results": [_result_entry(r) for r in report.results],
        "stats": report.stats,
        "notes": list(report.notes),
        "interrupted": report.interrupted,
    })
    return entry


def report_from_entry(entry: dict[str, Any]) -> MachineReport:
    """The report an entry holds; raises (KeyError, TypeError, ValueError) when it does not
    hold one."""
    from flowcheck.chart.model import Chart
    from flowcheck.verification import MachineReport

    source = entry["source"]
    return MachineReport(
        name=str(entry["name"]),
        chart=Chart.model_validate(entry["chart"]),
        source=Path(source) if source is not None else None,
        results=[_result_from(r) for r in entry["results"]],
        stats=dict(entry["stats"]),
        notes=[str(n) for n in entry["notes"]],
        interrupted=bool(entry["interrupted"]),
    )


def entry_text(report: MachineReport) -> str:
    """A report's entry as JSON text (how worker processes hand reports back)."""
    return json.dumps(report_entry(report), default=_no_json, separators=(",", ":"))


def report_from_text(text: str) -> MachineReport:
    return report_from_entry(json.loads(text, object_hook=_untag))


def roundtrip(report: MachineReport) -> MachineReport:
    """``report`` as a cache read would give it back: what every run reports, so that a
    report from the cache, from a worker process or from this one read the same."""
    back = report_from_text(entry_text(report))
    back.graph, back.campaign = report.graph, report.campaign
    return back


def _result_entry(r: Any) -> dict[str, Any]:
    return {"id": r.id, "title": r.title, "status": r.status, "message": r.message,
            "assumptions": list(r.assumptions),
            "findings": [_finding_entry(f) for f in r.findings]}


def _finding_entry(f: Any) -> dict[str, Any]:
    cx = f.counterexample
    return {
        "property": f.property, "message": f.message, "state": f.state, "event": f.event,
        "counterexample": None if cx is None else {
            "events": cx.events, "states": cx.states, "input": cx.input},
        "file": f.file, "line": f.line, "construct": f.construct, "guard": f.guard,
        "action": f.action, "kind": f.kind,
    }


def _result_from(data: dict[str, Any]) -> Any:
    from flowcheck.properties import PropertyResult

    return PropertyResult(
        id=str(data["id"]), title=str(data["title"]), status=data["status"],
        message=str(data["message"]), findings=[_finding_from(f) for f in data["findings"]],
        assumptions=[str(a) for a in data["assumptions"]])


def _finding_from(data: dict[str, Any]) -> Any:
    from flowcheck.properties.base import Counterexample, Finding

    cx = data["counterexample"]
    counterexample = None if cx is None else Counterexample(
        events=tuple((str(name), dict(payload)) for name, payload in cx["events"]),
        states=tuple(tuple(s) for s in cx["states"]), input=cx["input"])
    return Finding(
        property=str(data["property"]), message=str(data["message"]), state=data["state"],
        event=data["event"], counterexample=counterexample, file=data["file"],
        line=data["line"], construct=data["construct"], guard=data["guard"],
        action=data["action"], kind=data.get("kind"))
