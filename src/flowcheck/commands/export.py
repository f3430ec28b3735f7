"""``flowcheck export``: write each flow's XState config, typed module and manifest.

The files are written as one transaction in the exports directory (see
:mod:`flowcheck.formats.atomic`): the directory is locked, so two exports run one after
the other; the changed files are staged and switched in at once, so a crash at any
instant leaves the previous set or the new one, never a mix, once the next run has
recovered it. Files whose bytes would not change are left alone.

``--check`` writes no file of its own: it completes or undoes an interrupted export it
finds (and says so, exit 1), then exits 1 naming every stale, missing or orphaned file,
and says when one flow's files come from different exports (a mixed set).
"""

from __future__ import annotations

from pathlib import Path

from flowcheck import output
from flowcheck.formats.atomic import Transaction, transaction
from flowcheck.formats.xstate import export_files, shared_files
from flowcheck.project import find_settings, select

_SUFFIXES = (".manifest.json", ".machine.ts", ".json")


def run(machines: Path | None, names: list[str], out: Path | None, check_only: bool) -> int:
    settings = find_settings(machines=machines)
    directory = (out or settings.exports).resolve()
    selected = select(settings, names)
    wanted: dict[Path, bytes] = {}
    flows: dict[Path, str] = {}
    for machine in selected:
        for file_name, text in export_files(machine.chart, machine.name).items():
            wanted[directory / file_name] = text.encode("utf-8")
            flows[directory / file_name] = machine.name
    for file_name, text in shared_files().items():
        wanted[directory / file_name] = text.encode("utf-8")

    shown = _shown(directory, settings.root)
    with transaction(directory, create=not check_only) as txn:
        if txn.recovered is not None:
            output.warn(txn.recovered.describe())
        if check_only:
            return _check(txn, wanted, flows, names, settings.root, shown)
        changed = {path: data for path, data in wanted.items() if _read(path) != data}
        txn.write(changed)
    output.info(
        f"{shown}: wrote {len(changed)} file(s), {len(wanted) - len(changed)} unchanged "
        f"({len(selected)} flow(s))"
    )
    return 0


def _check(txn: Transaction, wanted: dict[Path, bytes], flows: dict[Path, str],
           names: list[str], root: Path, shown: str) -> int:
    directory = txn.root
    changed = {path: data for path, data in wanted.items() if _read(path) != data}
    orphans = _orphans(directory, wanted) if not names else []
    if not changed and not orphans and txn.recovered is None:
        output.info(f"{shown}: {len(wanted)} files up to date")
        return 0
    for path in changed:
        state = "missing" if not path.exists() else "stale"
        output.info(f"{state}: {_shown(path, root)}")
    for path in orphans:
        output.info(f"stale (no such flow): {_shown(path, root)}")
    for flow in dict.fromkeys(flows[p] for p in changed if p in flows):
        current = [p.name for p, f in flows.items() if f == flow and p not in changed]
        if current:
            stale = [p.name for p, f in flows.items() if f == flow and p in changed]
            output.info(f"mixed set: the files of {flow} come from different exports "
                        f"({', '.join(current)} current; {', '.join(stale)} not)")
    if not changed and not orphans:
        output.error(f"{shown} held an interrupted export, now recovered: its files are up "
                     "to date; commit the result")
        return 1
    output.error(
        f"{len(changed) + len(orphans)} export file(s) out of date in {shown}: "
        "run `flowcheck export` and commit the result"
    )
    return 1


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
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
