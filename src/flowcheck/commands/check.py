"""``flowcheck check``: what CI runs. Verify every machine, then check exports for drift.

The exit code is the worst of the parts: 0 all good, 1 a property failed, a machine was
explored only up to a limit (bounded, not proved) or an export is stale, 130 interrupted.
Contracts are checked by the ``contract`` property of verify.

The report says what the exit code says: besides the properties, it carries a check per
export file (stale, missing or orphaned files fail) and a check per machine that its
exploration finished (a bounded machine fails), in every format.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flowcheck import output
from flowcheck.cache import Cache, Fingerprints, digest_of
from flowcheck.commands import verify
from flowcheck.errors import FlowcheckError
from flowcheck.formats import reports as fmt_reports
from flowcheck.formats.drift import ExportFile
from flowcheck.project import Settings, find_settings, load_machine, machine_files, select


def run(machines: Path | None, fmt: str, output_path: Path | None, examples: int | None,
        seed: int, compact: bool = False, cache: bool = True, jobs: int | None = None) -> int:
    settings = find_settings(machines=machines)
    reports, interrupted = verify.verify_targets(
        settings, verify.resolve(settings, []), None, examples, seed, jobs=jobs, cache=cache)
    if interrupted:
        verify._print_interrupted(reports)
        return 130
    files = _exports(settings, Cache.for_project(settings, cache))
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


def _exports(settings: Settings, store: Cache | None = None) -> list[ExportFile] | None:
    """The export files compared with what export writes (None: export is unavailable).

    What export writes for a flow depends on flowcheck and on that flow's module only, so
    once a flow's files were found up to date, their digests are kept in the cache under
    those: the next run compares digests and loads only the flows that changed (a stale
    file is always looked at the slow way, for the line it starts at)."""
    from flowcheck.formats.drift import compare, orphan_files

    if store is None:
        return _compare_all(settings)
    prints = Fingerprints(settings, store)
    try:
        paths = machine_files(settings)
    except FlowcheckError:
        return _compare_all(settings)
    directory = settings.exports.resolve()
    known: dict[str, list[ExportFile]] = {}
    keys: dict[str | None, str] = {}
    for path in paths:
        keys[path.stem] = digest_of({"tool": prints.tool(), "flow": path.stem,
                                     "sources": prints.closure(path),
                                     "exports": str(directory)})
        found = _unchanged(directory, store.read("exports", keys[path.stem]), path.stem)
        if found is not None:
            known[path.stem] = found
    keys[None] = digest_of({"tool": prints.tool(), "shared": True, "exports": str(directory)})
    shared = _unchanged(directory, store.read("exports", keys[None]), None)
    missed = [p for p in paths if p.stem not in known]
    if missed or shared is None:
        try:
            fresh = compare(settings, [load_machine(p) for p in missed], orphans=False)
        except ImportError:
            output.warn("export --check skipped: the export command is not available")
            return None
        groups: dict[str | None, list[ExportFile]] = {}
        for f in fresh:
            groups.setdefault(f.flow, []).append(f)
        for flow, group in groups.items():
            if all(f.ok for f in group):
                store.write("exports", keys[flow], {"files": [
                    [f.path.name, _digest(f.path)] for f in group]})
        known.update({k: v for k, v in groups.items() if k is not None})
        shared = groups.get(None, [])
    files = [f for path in paths for f in known.get(path.stem, [])] + (shared or [])
    return files + orphan_files(directory, {f.path for f in files})


def _compare_all(settings: Settings) -> list[ExportFile] | None:
    from flowcheck.formats.drift import compare

    try:
        return compare(settings, select(settings, []))
    except ImportError:
        output.warn("export --check skipped: the export command is not available")
        return None


def _unchanged(directory: Path, entry: dict[str, Any] | None, flow: str | None
               ) -> list[ExportFile] | None:
    """The files ``entry`` keeps, all up to date, when each still has its digest; else
    None."""
    if entry is None or not isinstance(entry.get("files"), list):
        return None
    out: list[ExportFile] = []
    for item in entry["files"]:
        if not (isinstance(item, list) and len(item) == 2):
            return None
        name, digest = item
        path = directory / str(name)
        if _digest(path) != digest:
            return None
        out.append(ExportFile(path, "current", flow))
    return out


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
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
