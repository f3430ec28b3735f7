"""flowcheck's pytest plugin (registered as the ``flowcheck`` ``pytest11`` entry point).

With ``pytest --flowcheck`` (or ``[tool.flowcheck] pytest = true`` in pyproject.toml) every
flow of the project becomes one test item per property, collected from the flow's module:
``machines/checkout.py::completable``. That node id is what pytest prints and what it takes
back (``pytest --flowcheck machines/checkout.py::completable`` re-runs that one item;
``pytest --flowcheck machines/checkout.py`` one flow). One more item,
``pyproject.toml::exports``, fails when the committed exports differ from what
``flowcheck export`` writes. Without paths on the command line, the items are added to
whatever pytest collects (``testpaths`` usually leaves ``machines/`` out); with paths, only
the flows under them are collected, as for any test.

A flow is verified (explored, with its hypothesis campaign) once, when its first item
runs; its items share the report. Verdicts go through flowcheck's verification cache
(:mod:`flowcheck.cache`; ``--flowcheck-no-cache`` turns it off), so an unchanged flow
costs a file read. Under pytest-xdist (``pytest --flowcheck -n auto``) the items of one
flow may run in several workers: the first to need the report verifies the flow while
holding the cache entry's lock, the others wait and read it, and every item gets the
outcome one process would give it. A failing item shows each finding at the file and line
of the construct at fault and its counterexample, one configuration per event. The items
carry the ``flowcheck`` marker: ``pytest --flowcheck -m flowcheck`` runs only them.

Two fixtures are always available, for scenario tests written in pytest:

- ``flowcheck_stepper(name)``: a fresh :class:`~flowcheck.semantics.stepper.Stepper` of the
  flow and its initial snapshot;
- ``flowcheck_machine(name)``: a fresh python-statemachine instance of the flow's class.

The module imports nothing heavy at load time: pytest loads it in every session of a
project where flowcheck is installed, and without ``--flowcheck`` it must cost nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from flowcheck.formats.drift import ExportFile
    from flowcheck.project import Machine, Settings
    from flowcheck.properties import PropertyResult
    from flowcheck.properties.base import Finding
    from flowcheck.semantics.stepper import Snapshot, Stepper
    from flowcheck.verification import MachineReport

EXPORTS_ITEM = "exports"


class BoundedWarning(UserWarning):
    """A property held on the explored part only: exploration stopped at its limit."""


class PropertyFailed(Exception):
    """A property of a flow does not hold: its findings, each with its counterexample."""

    def __init__(self, flow: str, result: PropertyResult) -> None:
        super().__init__(f"{flow}: {result.id} failed: {result.message}")
        self.flow = flow
        self.result = result


class ExportsStale(Exception):
    """Export files differ from what ``flowcheck export`` writes."""

    def __init__(self, files: list[ExportFile]) -> None:
        super().__init__(f"{len(files)} export file(s) out of date")
        self.files = files


class _Session:
    """What the plugin learnt once per session: the settings, whether it is on, the
    machine files and which of them pytest collected itself."""

    def __init__(self, settings: Settings | None, enabled: bool,
                 files: frozenset[Path]) -> None:
        self.settings = settings
        self.enabled = enabled
        self.files = files
        self.collected: set[Path] = set()
        """The files whose items pytest collected itself (their ``collect()`` ran)."""


_STATE = pytest.StashKey[_Session]()


# -- options and collection --------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowcheck", "flowcheck: statechart verification")
    group.addoption(
        "--flowcheck",
        action="store_true",
        default=False,
        help="verify every flow of the project: one test item per flow and property "
        "(also on with `pytest = true` under [tool.flowcheck] in pyproject.toml)",
    )
    group.addoption(
        "--flowcheck-no-cache",
        action="store_true",
        default=False,
        help="verify every flow again, neither reading nor writing flowcheck's verification "
        "cache (.flowcheck_cache/)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "flowcheck: a property of a flow (`pytest --flowcheck -m flowcheck` runs "
        "only those)")


def _state(config: pytest.Config) -> _Session:
    """The session's settings, found once; a usage error when --flowcheck cannot work."""
    if _STATE in config.stash:
        return config.stash[_STATE]
    from flowcheck.errors import FlowcheckError
    from flowcheck.project import find_settings, machine_files

    try:
        settings = find_settings(config.rootpath)
    except FlowcheckError as exc:
        if config.getoption("flowcheck"):
            raise pytest.UsageError(f"--flowcheck: {exc}") from exc
        state = config.stash[_STATE] = _Session(None, False, frozenset())
        return state
    enabled = bool(config.getoption("flowcheck")) or settings.raw.get("pytest") is True
    files: frozenset[Path] = frozenset()
    if enabled:
        try:
            files = frozenset(p.resolve() for p in machine_files(settings))
        except FlowcheckError as exc:
            raise pytest.UsageError(f"--flowcheck: {exc}") from exc
    state = config.stash[_STATE] = _Session(settings, enabled, files)
    return state


def _settings(config: pytest.Config) -> Settings:
    from flowcheck.project import find_settings

    state = _state(config)
    return state.settings if state.settings is not None else find_settings(config.rootpath)


def _project_file(state: _Session) -> Path | None:
    from flowcheck.project import pyproject_of

    if state.settings is None:
        return None
    return pyproject_of(state.settings.root).resolve()


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    """A flow module pytest would import as a test module (it was named on the command
    line) is collected as a flow instead."""
    state = _state(parent.config)
    if state.enabled and module_path.resolve() in state.files:
        return FlowFile.from_parent(parent, path=module_path)
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    state = _state(parent.config)
    if not state.enabled:
        return None
    path = file_path.resolve()
    if path in state.files and not _python_collects(file_path, parent):
        return FlowFile.from_parent(parent, path=file_path)
    if path == _project_file(state):
        return ProjectFile.from_parent(parent, path=file_path)
    return None


def _python_collects(file_path: Path, parent: pytest.Collector) -> bool:
    """Whether pytest's python plugin takes the file (then pytest_pycollect_makemodule
    makes it a flow)."""
    from _pytest.python import path_matches_patterns

    return parent.session.isinitpath(file_path) or path_matches_patterns(
        file_path, parent.config.getini("python_files"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Without paths on the command line, add the flows pytest did not reach (``testpaths``
    usually leaves ``machines/`` out); ``tryfirst`` so that ``-k`` and ``-m`` select among
    them like among any other test."""
    state = _state(config)
    if not state.enabled or config.args_source == pytest.Config.ArgsSource.ARGS:
        return
    project = _project_file(state)
    missing = sorted(state.files - state.collected)
    extra: list[Path] = [*missing, *([project] if project and project.is_file()
                                      and project not in state.collected else [])]
    for path in extra:
        kind = ProjectFile if path == project else FlowFile
        node = kind.from_parent(session, path=path)
        report = node.ihook.pytest_make_collect_report(collector=node)
        node.ihook.pytest_collectreport(report=report)
        if report.passed:
            items.extend(i for i in report.result if isinstance(i, pytest.Item))


class FlowFile(pytest.File):
    """One flow (a module in a machines directory): one item per property, and the shared
    verification report, computed on first use."""

    _machine: Machine | None = None
    _report: MachineReport | None = None

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        from flowcheck.project import load_machine
        from flowcheck.properties import catalog

        _state(self.config).collected.add(self.path.resolve())
        self._machine = load_machine(self.path)
        for module in catalog():
            item = PropertyItem.from_parent(self, name=str(module.ID))
            item.add_marker(pytest.mark.flowcheck)
            yield item

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | TerminalRepr:
        from flowcheck.errors import FlowcheckError

        if isinstance(excinfo.value, FlowcheckError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    @property
    def machine(self) -> Machine:
        assert self._machine is not None, "collect() loads the machine"
        return self._machine

    def report(self) -> MachineReport:
        """Verify the flow once: exploration and the campaign are shared by its items."""
        if self._report is None:
            self._report = _verify(self.machine, _settings(self.config),
                                   cache=not self.config.getoption("flowcheck_no_cache"))
        return self._report


def _verify(machine: Machine, settings: Settings, cache: bool = True) -> MachineReport:
    """The flow's report: from the verification cache when the flow is unchanged (see
    :mod:`flowcheck.cache`), else verified and kept there. Under pytest-xdist the workers
    that run items of one flow verify it once: the first holds the entry's lock, the others
    wait for it and read."""
    from flowcheck.explore.limits import DEFAULT_EXAMPLES
    from flowcheck.runner import Target, verify_targets

    examples = int(settings.raw.get("examples", DEFAULT_EXAMPLES))
    seed = int(settings.raw.get("seed", 0))
    target = Target(machine.name, machine.path, "flow", project=True, _machine=machine)
    run = verify_targets(settings, [target], settings.max_configurations, examples, seed,
                         jobs=1, cache=cache)
    if run.interrupted and not run.reports:
        raise KeyboardInterrupt
    return run.reports[0]


class PropertyItem(pytest.Item):
    """One property of one flow: passes when proved, fails with the counterexample,
    skips when the property could not be checked, warns when the proof is bounded."""

    def runtest(self) -> None:
        from flowcheck.locations import file_line

        flow = self.parent
        assert isinstance(flow, FlowFile)
        report = flow.report()
        if report.interrupted:
            raise KeyboardInterrupt
        result = next((r for r in report.results if r.id == self.name), None)
        if result is None:
            pytest.skip(f"{flow.machine.name}: property {self.name} was not checked")
        self.user_properties.append(("flowcheck.status", result.status))
        if result.status == "failed":
            for f in result.findings:
                where = file_line(f.file, f.line, self.config.rootpath)
                if where:
                    self.user_properties.append(("flowcheck.location", where))
            raise PropertyFailed(flow.machine.name, result)
        if result.status == "skipped":
            pytest.skip(f"{flow.machine.name}: {result.message}")
        if result.status == "bounded":
            warnings.warn(BoundedWarning(f"{flow.machine.name}: {self.name}: {result.message}"),
                          stacklevel=1)

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | TerminalRepr:
        from flowcheck.errors import FlowcheckError

        if isinstance(excinfo.value, PropertyFailed):
            return failure_text(excinfo.value.flow, excinfo.value.result, self.config.rootpath)
        if isinstance(excinfo.value, FlowcheckError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        from flowcheck.locations import source_map

        line = source_map(self.path).flow_line
        return self.path, (line - 1 if line else None), self.nodeid


class ProjectFile(pytest.File):
    """The project's settings file: the items that are about the project as a whole."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        _state(self.config).collected.add(self.path.resolve())
        item = ExportsItem.from_parent(self, name=EXPORTS_ITEM)
        item.add_marker(pytest.mark.flowcheck)
        yield item


class ExportsItem(pytest.Item):
    """The committed exports match the flows: fails naming each stale, missing or orphaned
    file at the first line that differs (what ``flowcheck export --check`` checks)."""

    def runtest(self) -> None:
        from flowcheck.formats.drift import compare
        from flowcheck.project import select

        settings = _settings(self.config)
        if not settings.exports.is_dir():
            pytest.skip(f"no exports directory ({settings.exports.name}/): nothing to compare; "
                        "`flowcheck export` writes it")
        try:
            files = compare(settings, select(settings, []))
        except ImportError:
            pytest.skip("the export command is not available in this installation")
        stale = [f for f in files if not f.ok]
        self.user_properties.append(("flowcheck.status", "failed" if stale else "proved"))
        if stale:
            raise ExportsStale(stale)

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, ExportsStale):
            return exports_text(excinfo.value.files, self.config.rootpath)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.nodeid


def exports_text(files: list[ExportFile], root: Path | None = None) -> str:
    """Each out-of-date export as ``file:line: what is wrong and the fix``."""
    from flowcheck.formats.drift import describe
    from flowcheck.locations import file_line

    lines = [f"{len(files)} export file(s) out of date: run `flowcheck export` and commit "
             "the result"]
    for f in files:
        lines.append(f"{file_line(str(f.path), f.line, root)}: {describe(f)}")
    return "\n".join(lines)


def failure_text(flow: str, result: PropertyResult, root: Path | None = None) -> str:
    """The findings of a failed property, each at the file and line of the construct at
    fault, with its counterexample: the initial configuration, then each event and the
    configuration after it."""
    lines = [f"{flow}: {result.id} failed: {result.message}"]
    for finding in result.findings:
        lines += ["", *_finding_lines(flow, finding, root)]
    return "\n".join(lines)


def _finding_lines(flow: str, finding: Finding, root: Path | None) -> list[str]:
    from flowcheck.formats.reports import counterexample_lines
    from flowcheck.locations import file_line
    from flowcheck.properties.base import replay_command

    lines = [f"- {finding.message}"]
    where = file_line(finding.file, finding.line, root)
    if where:
        lines.append(f"  at {where}" + (f" ({finding.construct})" if finding.construct else ""))
    elif finding.construct:
        lines.append(f"  at {finding.construct}")
    cx = finding.counterexample
    if cx is not None:
        lines.append("  counterexample (events -> configuration):")
        lines += [f"    {line}" for line in counterexample_lines(cx)]
        if cx.events:
            lines.append(f"  replay: {replay_command(flow, cx)}")
    return lines


# -- fixtures ------------------------------------------------------------------------------


class FreshStepper(NamedTuple):
    """A flow's Stepper and the snapshot after entering its initial configuration."""

    stepper: Stepper
    snapshot: Snapshot


class _MachineCache:
    """The project's flows, each module loaded once per session."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._machines: dict[str, Machine] = {}

    def get(self, name: str) -> Machine:
        if name not in self._machines:
            from flowcheck.project import select

            (self._machines[name],) = select(self.settings, [name])
        return self._machines[name]


@pytest.fixture(scope="session")
def _flowcheck_machines(pytestconfig: pytest.Config) -> _MachineCache:
    return _MachineCache(_settings(pytestconfig))


@pytest.fixture
def flowcheck_stepper(_flowcheck_machines: _MachineCache) -> Callable[[str], FreshStepper]:
    """``flowcheck_stepper("checkout")``: a fresh Stepper of the flow and its initial
    snapshot; step it with ``stepper.step(snapshot, "EVENT", {payload})``."""

    def make(name: str) -> FreshStepper:
        from flowcheck.semantics.stepper import Stepper

        stepper = Stepper(_flowcheck_machines.get(name).chart)
        snapshot, _ = stepper.initial()
        return FreshStepper(stepper, snapshot)

    return make


@pytest.fixture
def flowcheck_machine(_flowcheck_machines: _MachineCache) -> Callable[[str], Any]:
    """``flowcheck_machine("checkout")``: a fresh python-statemachine instance of the flow's
    class, started in its initial configuration."""

    def make(name: str) -> Any:
        return _flowcheck_machines.get(name).cls()

    return make
