"""``flowcheck import FILE``: read an XState v5 config into the chart model.

Prints a summary (states, transitions, opaque guards and actions), or with
``--out`` writes the chart model as JSON.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck import output
from flowcheck.formats.atomic import write_atomic
from flowcheck.formats.xstate import import_config


def run(file: Path, out: Path | None) -> int:
    chart, report = import_config(file)
    if out is not None:
        write_atomic(out, chart.to_json().encode("utf-8"))
        output.info(f"wrote the chart model of {file} to {out}")
    else:
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
