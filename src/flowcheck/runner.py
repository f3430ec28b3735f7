"""Verifying many machines: the cache first, then the rest here or in worker processes.

``flowcheck verify``, ``flowcheck check`` and the pytest plugin hand their machines to
:func:`verify_targets`. A verdict in the verification cache (:mod:`flowcheck.cache`) is
read; the others are computed with :func:`flowcheck.verification.verify_chart`, in this
process or, with ``jobs`` > 1, in worker processes, one per group of flows composed with
each other (their environment is computed once). Every report goes through the cache's
form, so a report is the same whichever way it was made. Nothing here prints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowcheck.cache import (
    Cache,
    Fingerprints,
    Options,
    Subject,
    cacheable,
    digest_of,
    entry_text,
    report_entry,
    report_from_entry,
    report_from_text,
    report_key,
    roundtrip,
)
from flowcheck.chart.model import Chart
from flowcheck.errors import FlowcheckError, UnknownNameError
from flowcheck.explore.limits import DEFAULT_EXAMPLES, Limits, Progress
from flowcheck.project import Machine, Settings, machine_files, machine_paths
from flowcheck.verification import MachineReport, component_environment

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult

Verify = Callable[..., MachineReport]
"""What computes one report: :func:`flowcheck.verification.verify_chart`'s signature."""
ProgressFactory = Callable[[str], AbstractContextManager[Progress | None]]
"""Given a machine's name, a context giving exploration's progress callback (or None)."""


@dataclass
class Target:
    """A machine to verify: a flow module (its class loaded on first use) or an imported
    XState config. ``project`` says whether it is one of the project's flows (composed with
    the others)."""

    name: str
    source: Path
    kind: str = "flow"
    project: bool = False
    _machine: Machine | None = field(default=None, repr=False)
    _chart: Chart | None = field(default=None, repr=False)

    def machine(self) -> Machine | None:
        """The flow's module loaded (None for an XState config)."""
        if self.kind != "flow":
            return None
        if self._machine is None:
            from flowcheck.project import load_machine

            self._machine = load_machine(self.source)
        return self._machine

    @property
    def cls(self) -> type[Any] | None:
        machine = self.machine()
        return machine.cls if machine is not None else None

    def load(self) -> Chart:
        if self._chart is None:
            machine = self.machine()
            self._chart = machine.chart if machine is not None else _import_config(self.source)
        return self._chart


def resolve(settings: Settings, targets: list[str]) -> list[Target]:
    """Machine names and .py files through the project; .json files through the importer.
    Nothing is imported yet: a flow whose verdict is in the cache is never loaded."""
    jsons = [t for t in targets if t.endswith(".json")]
    names = [t for t in targets if not t.endswith(".json")]
    found: dict[str, Target] = {}
    if names or not jsons:
        ours = _project_files(settings)
        for path in machine_paths(settings, names):
            found[str(path)] = Target(path.stem, path, "flow",
                                      project=path.resolve() in ours.values())
    out = list(found.values())
    for j in jsons:
        path = Path(j)
        if path.is_dir():
            raise UnknownNameError(f"{j}: is a directory, not an XState JSON config file; give "
                                   "the path of the .json file")
        if not path.is_file():
            raise UnknownNameError(f"{j}: no such file; give a machine name or an XState JSON "
                                   "config file")
        out.append(Target(path.name[: -len(".json")], path.resolve(), "xstate"))
    if targets:
        order = {t: i for i, t in enumerate(targets)}
        out.sort(key=lambda t: order.get(t.name, order.get(str(t.source), len(order))))
    return out


def _project_files(settings: Settings) -> dict[str, Path]:
    """The project's flows by name ({} when the machines directory is missing)."""
    try:
        return {p.stem: p.resolve() for p in machine_files(settings)}
    except FlowcheckError:
        return {}


def _import_config(path: Path) -> Chart:
    try:
        from flowcheck.formats.xstate.importer import import_config
    except ImportError as exc:
        raise FlowcheckError(
            f"{path}: verifying an XState JSON config needs the XState importer, which "
            "this installation lacks; verify the flow module instead"
        ) from exc
    chart, _ = import_config(path)
    return chart


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass
class Run:
    """What :func:`verify_targets` did: the reports in target order (up to an interrupt),
    whether it was interrupted, and how many reports came from the cache."""

    reports: list[MachineReport]
    interrupted: bool
    cached: int = 0
    cache_dir: Path | None = None


def verify_targets(
    settings: Settings,
    targets: list[Target],
    max_configurations: int | None,
    examples: int | None,
    seed: int,
    limits: Limits | None = None,
    profile: str | None = None,
    jobs: int | None = 1,
    cache: bool = True,
    progress: ProgressFactory | None = None,
    verify: Verify | None = None,
) -> Run:
    """Verify each target, in order; stop at the first interrupt, returning what was done.

    A verdict in the cache (see :mod:`flowcheck.cache`) is read instead of computed, unless
    ``cache`` is False. The others are computed here, or with ``jobs`` > 1 in that many
    processes (None: one per core), one per group of flows composed with each other. Every
    report is the same whichever way it was made: fresh ones go through the cache's form
    too, so the report of ``--jobs 2`` is byte for byte that of ``--jobs 1`` (the measured
    times apart), and a warm run prints what the cold run printed."""
    limits = limits or settings.limits(max_configurations)
    n_examples = DEFAULT_EXAMPLES if examples is None else examples
    if examples is None and "examples" in settings.raw:
        n_examples = int(settings.raw["examples"])
    options = Options(limits, n_examples, seed, profile)
    jobs = default_jobs() if jobs is None else max(1, jobs)
    store = Cache.for_project(settings, cache)
    prints = Fingerprints(settings, store)
    project = _project_files(settings)
    composed: dict[str, tuple[str, ...]] = {}
    if any(t.project for t in targets) and (store is not None or jobs > 1):
        composed = project_components(settings, prints, store, project, targets)

    def component(target: Target) -> dict[str, Path]:
        """The flows composed with ``target`` ({}: not known, the whole project is read)."""
        if not target.project or target.name not in composed:
            return {}
        return {m: project[m] for m in composed[target.name]}

    reports: list[MachineReport | None] = [None] * len(targets)
    keys: list[str | None] = [None] * len(targets)
    if store is not None:
        for i, target in enumerate(targets):
            subject = Subject(target.name, target.source, target.kind, component(target))
            keys[i] = report_key(prints, subject, options)
            reports[i] = _read(store, prints, keys[i])
    hits = sum(r is not None for r in reports)
    missing = [i for i, r in enumerate(reports) if r is None]
    groups = _groups(missing, targets, composed)
    done: dict[int, MachineReport] = {}
    interrupted = False
    try:
        if jobs > 1 and len(groups) > 1:
            _in_processes(settings, targets, groups, options, component,
                          min(jobs, len(groups)), done, verify)
            for i, made in done.items():
                key = keys[i]
                if store is not None and key is not None and cacheable(made):
                    _write(store, prints, key, made, targets[i])
        else:
            _in_process(settings, targets, missing, options, component, store, prints, keys,
                        done, progress or _no_progress, verify)
    except KeyboardInterrupt:
        interrupted = True
    for i, fresh in done.items():
        reports[i] = fresh
    prints.save()
    out: list[MachineReport] = []
    directory = store.directory if store is not None else None
    for target, report in zip(targets, reports, strict=True):
        if report is None:
            return Run(out, True, hits, directory)
        report.replay_target = _replay_target(settings, target.name, target.source)
        out.append(report)
        if report.interrupted:
            return Run(out, True, hits, directory)
    return Run(out, interrupted, hits, directory)


@contextmanager
def _no_progress(name: str) -> Iterator[Progress | None]:
    yield None


def _read(store: Cache, prints: Fingerprints, key: str | None) -> MachineReport | None:
    if key is None:
        return None
    entry = store.read("reports", key)
    if entry is None or not prints.still(entry.get("depends")):
        return None
    try:
        report = report_from_entry(entry["report"])
    except Exception:  # an entry that does not validate is a miss
        return None
    report.cached = True
    return report


def _write(store: Cache, prints: Fingerprints, key: str, report: MachineReport,
           target: Target) -> None:
    store.write("reports", key, {"report": report_entry(report),
                                 "depends": prints.depends(report.chart),
                                 "machine": target.name})


def project_components(settings: Settings, prints: Fingerprints, store: Cache | None,
                       project: dict[str, Path], targets: list[Target]
                       ) -> dict[str, tuple[str, ...]]:
    """Per project flow, the flows it is composed with (itself included). What composition
    needs of each flow (its id and the children it invokes) is kept in the cache under the
    flow's module closure, so only the flows that changed are loaded to find it."""
    from flowcheck.composition import Linking, components_of, linking

    loaded = {t.source.resolve(): t for t in targets if t.kind == "flow"}
    flows: dict[str, Linking] = {}
    for name, path in project.items():
        key = digest_of({"tool": prints.tool(), "flow": name,
                         "sources": prints.closure(path)})
        entry = store.read("flows", key) if store is not None else None
        if entry is not None and isinstance(entry.get("id"), str) and isinstance(
                entry.get("children"), list):
            flows[name] = (entry["id"], tuple(str(c) for c in entry["children"]))
            continue
        target = loaded.get(path) or Target(name, path, "flow", project=True)
        try:
            flows[name] = linking(target.load())
        except FlowcheckError:
            continue  # a broken flow is reported when it is verified itself
        if store is not None:
            store.write("flows", key, {"id": flows[name][0], "children": list(flows[name][1])})
    result = components_of(flows)
    result.update({name: (name,) for name in project if name not in result})
    return result


def _groups(missing: list[int], targets: list[Target],
            composed: dict[str, tuple[str, ...]]) -> list[list[int]]:
    """The targets to verify, grouped so that flows composed with each other run in one
    process (their environment is computed once), in the order of their first target."""
    groups: dict[tuple[str, ...] | int, list[int]] = {}
    for i in missing:
        t = targets[i]
        group: tuple[str, ...] | int = composed.get(t.name, i) if t.project else i
        groups.setdefault(group, []).append(i)
    return list(groups.values())


def _verify(settings: Settings, target: Target, options: Options,
            composed: dict[str, Path], progress: Progress | None, verify: Verify | None
            ) -> MachineReport:
    if verify is None:
        from flowcheck import verification

        verify = verification.verify_chart
    chart = target.load()
    environment = None
    machine = target.machine()
    started = time.perf_counter()
    if machine is not None and target.project:
        environment = component_environment(composed or _project_files(settings), machine)
    composing = time.perf_counter() - started
    lim = options.limits
    report = verify(chart, target.cls, target.source, settings, lim.configurations,
                    options.examples, options.seed, progress, lim, environment,
                    options.profile)
    # Exploring the flows composed with it, once per group (the first flow pays).
    report.stats["environment_seconds"] = round(composing, 3)
    return report


def _in_process(settings: Settings, targets: list[Target], missing: list[int],
                options: Options, component: Callable[[Target], dict[str, Path]],
                store: Cache | None, prints: Fingerprints, keys: list[str | None],
                done: dict[int, MachineReport], progress: ProgressFactory,
                verify: Verify | None) -> None:
    """Verify the ``missing`` targets here, in order, with a progress bar each, into
    ``done``; stop after an interrupted one. A verdict another process wrote meanwhile
    (pytest-xdist, a second hook) is read instead."""
    for i in missing:
        target = targets[i]
        key = keys[i]
        with _locked(store, key):
            found = _read(store, prints, key) if store is not None else None
            if found is not None:
                done[i] = found
                continue
            with progress(target.name) as shown:
                report = _verify(settings, target, options, component(target), shown, verify)
            if report.interrupted:
                done[i] = report
                return
            try:
                done[i] = roundtrip(report)
            except (TypeError, ValueError):
                done[i] = report  # a value JSON cannot hold: reported as it is, not kept
                continue
            if store is not None and key is not None and cacheable(report):
                _write(store, prints, key, done[i], target)


def _locked(store: Cache | None, key: str | None) -> AbstractContextManager[None]:
    if store is None or key is None:
        return nullcontext()
    return store.lock("reports", key)


def _in_processes(settings: Settings, targets: list[Target], groups: list[list[int]],
                  options: Options, component: Callable[[Target], dict[str, Path]],
                  workers: int, done: dict[int, MachineReport], verify: Verify | None
                  ) -> None:
    """Verify each group in a worker process, into ``done``; reports come back in the
    cache's form. On an interrupt (or a limit of the command) the workers are stopped at
    once, not waited for."""
    import multiprocessing

    pool = multiprocessing.Pool(processes=workers, initializer=_worker_started)
    try:
        pending: list[AsyncResult[list[tuple[int, str | MachineReport]]]] = []
        for group in groups:
            specs = [(i, targets[i].name, str(targets[i].source), targets[i].kind,
                      targets[i].project,
                      {m: str(p) for m, p in component(targets[i]).items()})
                     for i in group]
            pending.append(pool.apply_async(_verify_group, (settings, specs, options, verify)))
        for result in pending:
            for i, made in result.get():
                done[i] = report_from_text(made) if isinstance(made, str) else made
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()


def _worker_started() -> None:
    """Ctrl-C is the parent's to handle: it stops the workers itself."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _verify_group(settings: Settings, specs: list[tuple[int, str, str, str, bool,
                                                         dict[str, str]]],
                  options: Options, verify: Verify | None
                  ) -> list[tuple[int, str | MachineReport]]:
    """In a worker process: verify one group of targets, return their cache entries (as
    JSON text; a report JSON cannot hold comes back pickled, without its graph)."""
    out: list[tuple[int, str | MachineReport]] = []
    for i, name, source, kind, project, composed in specs:
        target = Target(name, Path(source), kind, project)
        report = _verify(settings, target, options,
                         {m: Path(p) for m, p in composed.items()}, None, verify)
        try:
            out.append((i, entry_text(report)))
        except (TypeError, ValueError):
            report.graph = report.campaign = None
            out.append((i, report))
    return out


def _replay_target(settings: Settings, name: str, source: Path | None) -> str:
    if source is None or (source.suffix == ".py" and source.parent in settings.machines):
        return name
    try:
        return str(source.relative_to(Path.cwd()))
    except ValueError:
        return str(source)


