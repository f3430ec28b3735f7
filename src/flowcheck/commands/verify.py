"""``flowcheck verify``: explore machines, run the campaign, report every property.

Exit 0 when every property holds (proved or bounded: a bounded machine is also named on
stderr with the limit it hit), 1 when one failed, 2 on bad input, 130 when interrupted
(after printing what was explored so far).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from flowcheck import output
from flowcheck.chart.model import Chart
from flowcheck.errors import FlowcheckError, UnknownNameError
from flowcheck.explore.campaign import DEFAULT_EXAMPLES
from flowcheck.explore.graph import Limits
from flowcheck.formats import reports as fmt_reports
from flowcheck.formats.atomic import write_atomic
from flowcheck.project import Machine, Settings, find_settings, select
from flowcheck.properties import LIMIT_NAMES
from flowcheck.verification import MachineReport, project_environment, verify_chart

FORMATS = ("text", "json", "junit", "sarif")
PROGRESS_AFTER = 0.5  # seconds of exploration before a progress bar appears


@dataclass
class Target:
    """A machine to verify: a flow module (with its class) or an imported XState config."""

    name: str
    source: Path
    load: Callable[[], Chart]
    cls: type[Any] | None = None


def run(
    machines: Path | None,
    targets: list[str],
    fmt: str,
    output: Path | None,
    max_configurations: int | None,
    examples: int | None,
    seed: int,
    max_depth: int | None = None,
    max_memory: int | None = None,
    max_seconds: float | None = None,
    compact: bool = False,
    profile: str | None = None,
) -> int:
    settings = find_settings(machines=machines)
    limits = settings.limits(max_configurations, max_depth, max_memory, max_seconds)
    reports, interrupted = verify_targets(settings, resolve(settings, targets),
                                          max_configurations, examples, seed, limits,
                                          profile)
    if interrupted:
        _print_interrupted(reports)
        return 130
    emit(reports, fmt, output, settings.root, compact=compact)
    warn_bounded(reports)
    return 0 if fmt_reports.all_ok(reports) else 1


def warn_bounded(reports: list[MachineReport]) -> list[MachineReport]:
    """Say on stderr which machines were not explored completely, and why; return them."""
    bounded = [r for r in reports if not r.complete and not r.interrupted
               and r.stats.get("limit")]
    for r in bounded:
        limit = r.stats["limit"]
        output.warn(
            f"{r.name}: exploration stopped at the {LIMIT_NAMES.get(limit, limit)} after "
            f"{r.stats['configurations']} configurations: results are bounded, not proved; "
            f"raise the limit or bound the context (a counter needs a guard)"
        )
    return bounded


def resolve(settings: Settings, targets: list[str]) -> list[Target]:
    """Machine names and .py files through the project; .json files through the importer."""
    jsons = [t for t in targets if t.endswith(".json")]
    names = [t for t in targets if not t.endswith(".json")]
    found: dict[str, Target] = {}
    if names or not jsons:
        for m in select(settings, names):
            found[str(m.path)] = Target(m.name, m.path, _chart_of(m), m.cls)
    out = list(found.values())
    for j in jsons:
        path = Path(j)
        if path.is_dir():
            raise UnknownNameError(f"{j}: is a directory, not an XState JSON config file; give "
                                   "the path of the .json file")
        if not path.is_file():
            raise UnknownNameError(f"{j}: no such file; give a machine name or an XState JSON "
                                   "config file")
        out.append(Target(path.name[: -len(".json")], path.resolve(), _importer(path)))
    if targets:
        order = {t: i for i, t in enumerate(targets)}
        out.sort(key=lambda t: order.get(t.name, order.get(str(t.source), len(order))))
    return out


def _chart_of(machine: Machine) -> Callable[[], Chart]:
    return lambda: machine.chart


def _importer(path: Path) -> Callable[[], Chart]:
    def load() -> Chart:
        try:
            from flowcheck.formats.xstate.importer import import_config
        except ImportError as exc:
            raise FlowcheckError(
                f"{path}: verifying an XState JSON config needs the XState importer, which "
                "this installation lacks; verify the flow module instead"
            ) from exc
        chart, _ = import_config(path)
        return chart

    return load


def verify_targets(
    settings: Settings,
    targets: list[Target],
    max_configurations: int | None,
    examples: int | None,
    seed: int,
    limits: Limits | None = None,
    profile: str | None = None,
) -> tuple[list[MachineReport], bool]:
    """Verify each target; stop at the first interrupt, returning what was done."""
    limits = limits or settings.limits(max_configurations)
    limit = limits.configurations
    n_examples = DEFAULT_EXAMPLES if examples is None else examples
    if examples is None and "examples" in settings.raw:
        n_examples = int(settings.raw["examples"])
    reports: list[MachineReport] = []
    try:
        for target in targets:
            chart = target.load()
            environment = None
            if target.cls is not None and target.source is not None:
                machine = Machine(target.name, target.source, target.cls)
                environment = project_environment(settings, machine)
            with _progress(target.name) as progress:
                report = verify_chart(chart, target.cls, target.source, settings, limit,
                                      n_examples, seed, progress, limits, environment,
                                      profile)
            report.replay_target = _replay_target(settings, target.name, target.source)
            reports.append(report)
            if report.interrupted:
                return reports, True
    except KeyboardInterrupt:
        return reports, True
    return reports, False


def _replay_target(settings: Settings, name: str, source: Path | None) -> str:
    if source is None or (source.suffix == ".py" and source.parent in settings.machines):
        return name
    try:
        return str(source.relative_to(Path.cwd()))
    except ValueError:
        return str(source)


def render(reports: list[MachineReport], fmt: str, root: Path | None,
           checks: Sequence[fmt_reports.Check] = (), compact: bool = False) -> str:
    if fmt == "json":
        return fmt_reports.render_json(reports, checks, root)
    if fmt == "junit":
        return fmt_reports.render_junit(reports, checks, root)
    if fmt == "sarif":
        return fmt_reports.render_sarif(reports, root, checks)
    return fmt_reports.render_text(reports, color=output.out.is_terminal, checks=checks,
                                   root=root, compact=compact)


def emit(reports: list[MachineReport], fmt: str, path: Path | None, root: Path | None,
         checks: Sequence[fmt_reports.Check] = (), compact: bool = False) -> None:
    """Write the report to ``path`` atomically, or to stdout."""
    text = render(reports, fmt, root, checks, compact)
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_atomic(path, text.encode("utf-8"))
    verdict = "ok" if fmt_reports.all_ok(reports, checks) else "FAILED"
    output.info(f"{path}: {fmt} report for {len(reports)} machine(s), {verdict}")


def _print_interrupted(reports: list[MachineReport]) -> None:
    for r in reports:
        s = r.stats
        state = "interrupted" if r.interrupted else ("complete" if s["complete"] else "bounded")
        output.info(f"{r.name}: {s['configurations']} configurations, {s['edges']} edges "
                    f"explored ({state}, {s['seconds']:.2f}s)")
    output.error("interrupted: the results above are partial, nothing is proved")


@contextmanager
def _progress(name: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback that shows a bar on stderr once exploration runs for a while."""
    if not output.err.is_terminal:
        yield None
        return
    started = time.perf_counter()
    bar: Progress | None = None
    task: Any = None

    def update(expanded: int, discovered: int) -> None:
        nonlocal bar, task
        if bar is None:
            if time.perf_counter() - started < PROGRESS_AFTER:
                return
            bar = Progress(TextColumn(f"exploring {name}"), BarColumn(),
                           TextColumn("{task.completed} of {task.total} configurations"),
                           TimeElapsedColumn(), console=output.err, transient=True)
            bar.start()
            task = bar.add_task(name, total=discovered)
        bar.update(task, completed=expanded, total=discovered)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()
