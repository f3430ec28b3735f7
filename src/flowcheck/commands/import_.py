"""``flowcheck import FILE``: read an XState v5 config into the chart model.

Prints a summary (states, transitions, opaque guards and actions), or with
``--out`` writes the chart model as JSON. With ``--to-python PATH`` it writes the
machine as a flow module in the project's DSL (:mod:`flowcheck.formats.python`),
atomically, after checking that the module reads back; an existing file is
replaced only with ``--force``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from flowcheck import output
from flowcheck.chart.model import Chart
from flowcheck.errors import FlowcheckError, OutputError
from flowcheck.formats.atomic import write_atomic
from flowcheck.formats.python import Origin, ToPythonError, chart_to_python
from flowcheck.formats.xstate import import_config


def run(file: Path, out: Path | None, to_python: Path | None = None,
        force: bool = False) -> int:
    if to_python is not None:
        _check_target(to_python, force)
    chart, report = import_config(file)
    if to_python is not None:
        text = chart_to_python(chart, Origin(file=file.name, manifest=Path(report.manifest).name
                                             if report.manifest else ""))
        states = _read_back(text, to_python.stem, chart)
        write_atomic(to_python, text.encode("utf-8"))
        output.info(f"wrote {to_python}: flow {chart.id!r}, {states} states; check it with "
                    f"`flowcheck verify {to_python}`")
    if out is not None:
        write_atomic(out, chart.to_json().encode("utf-8"))
        output.info(f"wrote the chart model of {file} to {out}")
    elif to_python is None:
        output.out.print(
            f"{file}: machine {chart.id!r}, {len(chart.states)} states, "
            f"{len(chart.transitions())} transitions, {len(chart.events)} events",
            markup=False,
        )
        if report.manifest:
            output.out.print(f"declarative guards and actions from {report.manifest}",
                             markup=False)
    if report.opaque:
        output.warn(
            f"{len(report.opaque)} opaque reference(s), implemented outside the file: "
            + ", ".join(report.opaque)
            + " (add them to a manifest beside the file to make them declarative)"
        )
    return 0


def _check_target(path: Path, force: bool) -> None:
    if path.suffix != ".py":
        raise OutputError(f"{path}: a flow module is a .py file; name it <flow>.py")
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; give the flow module's file path")
    if path.exists() and not force:
        raise OutputError(f"{path}: already exists; pass --force to replace it")


def _read_back(text: str, stem: str, chart: Chart) -> int:
    """Load the generated module as `flowcheck verify` will, before it is written: a module
    that does not read back is flowcheck's bug, never written."""
    from flowcheck.project import load_machine

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{stem}.py"
        path.write_text(text, encoding="utf-8")
        try:
            return len(load_machine(path).chart.states)
        except FlowcheckError as exc:
            raise ToPythonError(
                f"machine {chart.id!r}: the generated flow module does not read back "
                f"({str(exc).splitlines()[0]}); this is a flowcheck bug: please report it "
                "with the machine") from exc
