"""``flowcheck check``: what CI runs. Verify every machine, then check exports for drift.

The exit code is the worst of the parts: 0 all good, 1 a property failed, a machine was
explored only up to a limit (bounded, not proved) or an export is stale, 130 interrupted.
Contracts are checked by the ``contract`` property of verify.

The report says what the exit code says: besides the properties, it carries a check per
export file (stale, missing or orphaned files fail) and a check per machine that its
exploration finished (a bounded machine fails), in every format.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck import output
from flowcheck.commands import verify
from flowcheck.formats import reports as fmt_reports
from flowcheck.formats.drift import ExportFile, compare
from flowcheck.project import Settings, find_settings, select


def run(machines: Path | None, fmt: str, output_path: Path | None, examples: int | None,
        seed: int, compact: bool = False) -> int:
    settings = find_settings(machines=machines)
    reports, interrupted = verify.verify_targets(
        settings, verify.resolve(settings, []), None, examples, seed)
    if interrupted:
        verify._print_interrupted(reports)
        return 130
    files = _exports(settings)
    checks = fmt_reports.exploration_checks(reports)
    checks += fmt_reports.export_checks(files or [], settings.root)
    verify.emit(reports, fmt, output_path, settings.root, checks, compact)
    code = 0 if fmt_reports.all_ok(reports) else 1
    if verify.warn_bounded(reports):
        # CI passing means proved: a bounded machine fails the check.
        output.error("check: not every machine was explored completely, so nothing "
                     "is proved for it (see the warnings above)")
        code = 1
    return max(code, _say_drift(files, settings))


def _exports(settings: Settings) -> list[ExportFile] | None:
    """The export files compared with what export writes (None: export is unavailable)."""
    try:
        return compare(settings, select(settings, []))
    except ImportError:
        output.warn("export --check skipped: the export command is not available")
        return None


def _say_drift(files: list[ExportFile] | None, settings: Settings) -> int:
    """What ``export --check`` says, on stderr; 1 when a file is out of date."""
    if files is None:
        return 0
    shown = _shown(settings.exports, settings.root)
    bad = [f for f in files if not f.ok]
    if not bad:
        output.info(f"{shown}: {len(files)} files up to date")
        return 0
    for f in bad:
        state = "stale (no such flow)" if f.state == "orphan" else f.state
        output.info(f"{state}: {_shown(f.path, settings.root)}")
    output.error(f"{len(bad)} export file(s) out of date in {shown}: run `flowcheck export` "
                 "and commit the result")
    return 1


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
