"""flowcheck's pytest plugin (registered as the ``flowcheck`` ``pytest11`` entry point).

With ``pytest --flowcheck`` (or ``[tool.flowcheck] pytest = true`` in pyproject.toml) every
flow of the project becomes one test item per property, ``flowcheck::<flow>::<property>``,
collected once per session from the rootdir's settings. A flow is verified (explored, with
its hypothesis campaign) once, when its first item runs; its items share the report. A
failing item shows the findings and the counterexample, one configuration per event. The
items carry the ``flowcheck`` marker: ``pytest --flowcheck -m flowcheck`` runs only them.

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

    from flowcheck.project import Machine, Settings
    from flowcheck.properties import PropertyResult
    from flowcheck.properties.base import Finding
    from flowcheck.semantics.stepper import Snapshot, Stepper
    from flowcheck.verification import MachineReport

ROOT_NODE = "flowcheck"


class BoundedWarning(UserWarning):
    """A property held on the explored part only: exploration stopped at its limit."""


class PropertyFailed(Exception):
    """A property of a flow does not hold: its findings, each with its counterexample."""

    def __init__(self, flow: str, result: PropertyResult) -> None:
        super().__init__(f"{flow}: {result.id} failed: {result.message}")
        self.flow = flow
        self.result = result


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "flowcheck: a property of a flow (`pytest --flowcheck -m flowcheck` runs "
        "only those)")


def _settings(config: pytest.Config) -> Settings:
    from flowcheck.project import find_settings

    return find_settings(config.rootpath)


def _enabled(config: pytest.Config, settings: Settings) -> bool:
    return bool(config.getoption("flowcheck")) or settings.raw.get("pytest") is True


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add the flows' items once per session; ``tryfirst`` so that ``-k`` and ``-m``
    select among them like among any other test."""
    from flowcheck.errors import FlowcheckError
    from flowcheck.project import machine_files

    try:
        settings = _settings(config)
    except FlowcheckError as exc:
        if config.getoption("flowcheck"):
            raise pytest.UsageError(f"--flowcheck: {exc}") from exc
        return
    if not _enabled(config, settings):
        return
    try:
        files = machine_files(settings)
    except FlowcheckError as exc:
        raise pytest.UsageError(f"--flowcheck: {exc}") from exc
    root = Flows.from_parent(session, name=ROOT_NODE, nodeid=ROOT_NODE)
    root.settings = settings
    for path in files:
        flow = FlowNode.from_parent(root, name=path.stem, path=path)
        report = flow.ihook.pytest_make_collect_report(collector=flow)
        flow.ihook.pytest_collectreport(report=report)
        if report.passed:
            items.extend(i for i in report.result if isinstance(i, pytest.Item))


class Flows(pytest.Collector):
    """The ``flowcheck`` node: the project's flows, found through its settings."""

    settings: Settings

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        return []


class FlowNode(pytest.Collector):
    """One flow (a module in a machines directory): one item per property, and the shared
    verification report, computed on first use."""

    _machine: Machine | None = None
    _report: MachineReport | None = None

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        from flowcheck.project import load_machine
        from flowcheck.properties import catalog

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
            self._report = _verify(self.machine, self._settings())
        return self._report

    def _settings(self) -> Settings:
        parent = self.parent
        assert isinstance(parent, Flows)
        return parent.settings


def _verify(machine: Machine, settings: Settings) -> MachineReport:
    from flowcheck.explore.campaign import DEFAULT_EXAMPLES
    from flowcheck.verification import project_environment, verify_chart

    examples = int(settings.raw.get("examples", DEFAULT_EXAMPLES))
    seed = int(settings.raw.get("seed", 0))
    return verify_chart(machine.chart, machine.cls, machine.path, settings,
                        settings.max_configurations, examples, seed,
                        environment=project_environment(settings, machine))


class PropertyItem(pytest.Item):
    """One property of one flow: passes when proved, fails with the counterexample,
    skips when the property could not be checked, warns when the proof is bounded."""

    def runtest(self) -> None:
        flow = self.parent
        assert isinstance(flow, FlowNode)
        report = flow.report()
        if report.interrupted:
            raise KeyboardInterrupt
        result = next((r for r in report.results if r.id == self.name), None)
        if result is None:
            pytest.skip(f"{flow.name}: property {self.name} was not checked")
        self.user_properties.append(("flowcheck.status", result.status))
        if result.status == "failed":
            raise PropertyFailed(flow.name, result)
        if result.status == "skipped":
            pytest.skip(f"{flow.name}: {result.message}")
        if result.status == "bounded":
            warnings.warn(BoundedWarning(f"{flow.name}: {self.name}: {result.message}"),
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
        assert self.parent is not None
        return self.path, None, f"{ROOT_NODE}::{self.parent.name}::{self.name}"


def failure_text(flow: str, result: PropertyResult, root: Path | None = None) -> str:
    """The findings of a failed property, each with where it is declared and its
    counterexample: the initial configuration, then each event and the configuration after."""
    lines = [f"{flow}: {result.id} failed: {result.message}"]
    for finding in result.findings:
        lines += ["", *_finding_lines(flow, finding, root)]
    return "\n".join(lines)


def _finding_lines(flow: str, finding: Finding, root: Path | None) -> list[str]:
    from flowcheck.formats.reports import counterexample_lines
    from flowcheck.properties.base import replay_command

    lines = [f"- {finding.message}"]
    where: list[str] = []
    if finding.state:
        where.append(f"state {finding.state}")
    if finding.event:
        where.append(f"event {finding.event}")
    if finding.file:
        location = _relative(finding.file, root) + (f":{finding.line}" if finding.line else "")
        where.insert(0, location)
    if where:
        lines.append(f"  at {', '.join(where)}")
    cx = finding.counterexample
    if cx is not None:
        lines.append("  counterexample (events -> configuration):")
        lines += [f"    {line}" for line in counterexample_lines(cx)]
        if cx.events:
            lines.append(f"  replay: {replay_command(flow, cx)}")
    return lines


def _relative(file: str, root: Path | None) -> str:
    if root is None:
        return file
    try:
        return str(Path(file).resolve().relative_to(root.resolve()))
    except ValueError:
        return file


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
