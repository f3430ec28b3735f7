"""``flowcheck check``: what CI runs. Verify every machine, then check exports for drift.

The exit code is the worst of the parts: 0 all good, 1 a property failed, a machine was
explored only up to a limit (bounded, not proved) or an export is stale, 130 interrupted.
Contracts are checked by the ``contract`` property of verify.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck import output
from flowcheck import output as output_module
from flowcheck.commands import verify
from flowcheck.formats import reports as fmt_reports
from flowcheck.project import find_settings


def run(machines: Path | None, fmt: str, output: Path | None, examples: int | None,
        seed: int) -> int:
    settings = find_settings(machines=machines)
    reports, interrupted = verify.verify_targets(
        settings, verify.resolve(settings, []), None, examples, seed)
    if interrupted:
        verify._print_interrupted(reports)
        return 130
    verify.emit(reports, fmt, output, settings.root)
    code = 0 if fmt_reports.all_ok(reports) else 1
    if verify.warn_bounded(reports):
        # CI passing means proved: a bounded machine fails the check.
        output_module.error("check: not every machine was explored completely, so nothing "
                            "is proved for it (see the warnings above)")
        code = 1
    return max(code, _exports(machines))


def _exports(machines: Path | None) -> int:
    try:
        from flowcheck.commands import export
    except ImportError:
        output.warn("export --check skipped: the export command is not available")
        return 0
    return export.run(machines=machines, names=[], out=None, check_only=True)
