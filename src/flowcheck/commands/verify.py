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
from pathlib import Path
from typing import Any

from flowcheck import output, runner
from flowcheck.explore.limits import Limits
from flowcheck.formats import reports as fmt_reports
from flowcheck.formats.atomic import write_atomic
from flowcheck.project import Settings, find_settings
from flowcheck.properties import LIMIT_NAMES
from flowcheck.runner import Target, default_jobs, resolve
from flowcheck.verification import MachineReport, verify_chart

__all__ = ["FORMATS", "Target", "default_jobs", "emit", "render", "resolve", "run",
           "verify_targets", "warn_bounded"]

FORMATS = ("text", "json", "junit", "sarif")
PROGRESS_AFTER = 0.5  # seconds of exploration before a progress bar appears


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
    cache: bool = True,
    jobs: int | None = 1,
) -> int:
    settings = find_settings(machines=machines)
    limits = settings.limits(max_configurations, max_depth, max_memory, max_seconds)
    reports, interrupted = verify_targets(settings, resolve(settings, targets),
                                          max_configurations, examples, seed, limits,
                                          profile, jobs=jobs, cache=cache)
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
) -> tuple[list[MachineReport], bool]:
    """Verify each target through :func:`flowcheck.runner.verify_targets` (the cache, then
    here with a progress bar, or in ``jobs`` processes); stop at the first interrupt,
    returning what was done. Says on stderr how many verdicts came from the cache."""
    run = runner.verify_targets(settings, targets, max_configurations, examples, seed, limits,
                                profile, jobs=jobs, cache=cache, progress=_progress,
                                verify=_verify_chart)
    if run.cached and run.cache_dir is not None:
        output.info(f"{run.cached} of {len(targets)} machine(s) unchanged since they were "
                    f"verified: read from {_shown(run.cache_dir, settings.root)} "
                    "(--no-cache verifies them again)")
    return run.reports, run.interrupted


def _verify_chart(*args: Any, **kwargs: Any) -> MachineReport:
    return verify_chart(*args, **kwargs)


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


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
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

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
