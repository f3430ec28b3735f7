"""Export drift: which files under ``exports/`` differ from what ``flowcheck export`` writes.

``flowcheck check`` and the pytest plugin report drift as results (a failing JUnit test
case, a SARIF result, a failing pytest item), each stale file at the first line that
differs, so this comparison is plain data here and the commands only present it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from flowcheck.locations import first_difference
from flowcheck.project import Machine, Settings

_SUFFIXES = (".manifest.json", ".machine.ts", ".json")
_NOT_GENERATED = ("xstate-config.schema.json",)

State = Literal["current", "stale", "missing", "orphan"]


@dataclass(frozen=True)
class ExportFile:
    """One file of the exports directory and how it compares with what export would write."""

    path: Path
    state: State
    flow: str | None
    """The machine the file is exported from; None for files every flow shares, and for
    orphans (generated-looking files no flow produces any more)."""
    line: int | None = None
    """The first line that differs (stale files only)."""

    @property
    def ok(self) -> bool:
        return self.state == "current"


def compare(settings: Settings, machines: list[Machine], directory: Path | None = None,
            orphans: bool = True) -> list[ExportFile]:
    """Every export file of ``machines`` (and the shared ones), in export order, then the
    orphans when ``orphans`` (set it when ``machines`` are all the project's flows)."""
    from flowcheck.formats.xstate import export_files, shared_files

    directory = (directory or settings.exports).resolve()
    wanted: dict[Path, tuple[bytes, str | None]] = {}
    for machine in machines:
        for name, text in export_files(machine.chart, machine.name).items():
            wanted[directory / name] = (text.encode("utf-8"), machine.name)
    for name, text in shared_files().items():
        wanted[directory / name] = (text.encode("utf-8"), None)
    out: list[ExportFile] = []
    for path, (data, flow) in wanted.items():
        old = _read(path)
        if old is None:
            out.append(ExportFile(path, "missing", flow))
        elif old != data:
            out.append(ExportFile(path, "stale", flow, first_difference(old, data)))
        else:
            out.append(ExportFile(path, "current", flow))
    if orphans:
        out.extend(orphan_files(directory, set(wanted)))
    return out


def orphan_files(directory: Path, wanted: set[Path]) -> list[ExportFile]:
    """Generated-looking files in ``directory`` that are not ``wanted`` (no flow exports
    them any more), sorted."""
    out: list[ExportFile] = []
    if not directory.is_dir():
        return out
    for path in sorted(directory.iterdir()):
        if path in wanted or not path.is_file() or path.name in _NOT_GENERATED:
            continue
        if path.name.endswith(_SUFFIXES):
            out.append(ExportFile(path, "orphan", None))
    return out


def describe(f: ExportFile) -> str:
    """What is wrong with a file and what to do, in one sentence."""
    fix = "run `flowcheck export` and commit the result"
    if f.state == "missing":
        return f"missing: `flowcheck export` writes it; {fix}"
    if f.state == "orphan":
        return "stale (no such flow): no flow exports it any more; delete it"
    if f.state == "stale":
        at = f"from line {f.line} on, " if f.line else ""
        return f"stale: {at}it differs from what `flowcheck export` writes; {fix}"
    return "up to date"


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
