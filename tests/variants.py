"""Variants of the bundled flows: a copy of ``machines/`` with one small text patch.

A defect (or a harmless, idiomatic edit) is best read as the real flow plus the few lines
that change, so tests make their variants here instead of keeping near-copies of a flow:

    project = variant("checkout", ('cond=declined, on=set_error', 'cond=declined'))
    report = project.verify("checkout")

The whole ``machines/`` directory is copied, so flows that compose (course_builder runs
generation) are verified together, as ``flowcheck verify`` does in a real project.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flowcheck.project import Machine, Settings, find_settings, load_machine
from flowcheck.verification import MachineReport, verify_chart

REPO = Path(__file__).resolve().parent.parent
MACHINES = REPO / "machines"


@dataclass
class Variant:
    """A patched copy of the project's machines."""

    root: Path
    settings: Settings

    def machine(self, name: str) -> Machine:
        return load_machine(self.settings.machines[0] / f"{name}.py")

    def verify(self, name: str, examples: int = 0, seed: int = 0) -> MachineReport:
        """Verify one flow of the variant the way ``flowcheck verify NAME`` does."""
        from flowcheck.verification import project_environment

        m = self.machine(name)
        env = project_environment(self.settings, m)
        return verify_chart(m.chart, m.cls, m.path, self.settings, examples=examples,
                            seed=seed, environment=env)


def variant(flow: str, *patches: tuple[str, str], extra: str = "") -> Variant:
    """Copy ``machines/`` and replace, in ``machines/<flow>.py``, each ``old`` by ``new``
    (each ``old`` must occur exactly once, so a patch cannot silently miss); ``extra`` is
    appended to the module."""
    root = Path(tempfile.mkdtemp(prefix=f"variant-{flow}-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    target = root / "machines"
    shutil.copytree(MACHINES, target)
    (root / "pyproject.toml").write_text(
        '[tool.flowcheck]\nmachines = ["machines"]\nproto = "proto"\nexports = "exports"\n',
        encoding="utf-8",
    )
    shutil.copytree(REPO / "proto", root / "proto")
    path = target / f"{flow}.py"
    text = path.read_text(encoding="utf-8")
    for old, new in patches:
        count = text.count(old)
        assert count == 1, f"patch {old!r} occurs {count} times in {flow}.py, expected once"
        text = text.replace(old, new)
    path.write_text(text + extra, encoding="utf-8")
    return Variant(root=root, settings=find_settings(root))
