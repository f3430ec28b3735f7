"""``flowcheck export``: write each flow's XState config, typed module and manifest.

Writes are all-or-nothing (temporary files, then ``os.replace``; restored on
failure) and skip files whose bytes would not change. ``--check`` writes
nothing: it exits 1 naming every stale or missing file.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck import output
from flowcheck.formats.atomic import write_all
from flowcheck.formats.xstate import export_files, shared_files
from flowcheck.project import find_settings, select

_SUFFIXES = (".manifest.json", ".machine.ts", ".json")


def run(machines: Path | None, names: list[str], out: Path | None, check_only: bool) -> int:
    settings = find_settings(machines=machines)
    directory = (out or settings.exports).resolve()
    selected = select(settings, names)
    wanted: dict[Path, bytes] = {}
    for machine in selected:
        for file_name, text in export_files(machine.chart, machine.name).items():
            wanted[directory / file_name] = text.encode("utf-8")
    for file_name, text in shared_files().items():
        wanted[directory / file_name] = text.encode("utf-8")

    changed = {path: data for path, data in wanted.items() if _read(path) != data}
    shown = _shown(directory, settings.root)
    if check_only:
        orphans = _orphans(directory, wanted) if not names else []
        if not changed and not orphans:
            output.info(f"{shown}: {len(wanted)} files up to date")
            return 0
        for path in changed:
            state = "missing" if not path.exists() else "stale"
            output.info(f"{state}: {_shown(path, settings.root)}")
        for path in orphans:
            output.info(f"stale (no such flow): {_shown(path, settings.root)}")
        output.error(
            f"{len(changed) + len(orphans)} export file(s) out of date in {shown}: "
            "run `flowcheck export` and commit the result"
        )
        return 1
    write_all(changed)
    output.info(
        f"{shown}: wrote {len(changed)} file(s), {len(wanted) - len(changed)} unchanged "
        f"({len(selected)} flow(s))"
    )
    return 0


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None


def _orphans(directory: Path, wanted: dict[Path, bytes]) -> list[Path]:
    """Generated-looking files no flow produces any more (a flow was renamed or removed)."""
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.iterdir()):
        if path in wanted or not path.is_file():
            continue
        if path.name.endswith(_SUFFIXES) and path.name != "xstate-config.schema.json":
            found.append(path)
    return found


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
