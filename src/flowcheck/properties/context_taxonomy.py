"""context-taxonomy: the context holds flow data only.

The platform keeps flow data (ids, form input, job ids, error) in the flow, server data in
Connect-Query and UI flags in Zustand. Every context field is classified by the rules of
:mod:`flowcheck.taxonomy` (the defaults plus ``[tool.flowcheck.taxonomy]``): by its name,
then by its type and its data flow (:mod:`flowcheck.dataflow`: which assigns write it, on
which events, from what). A boolean is a UI flag unless declared a domain fact; a field only
ever written from an RPC's response, or a list the flow never writes, is server data unless
it is an id. Each finding names the field and its type, says how its data flows, quotes the
rule it breaks and the fix, at the field's line in the machine file. This is a check of the
declaration, so it needs no exploration.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

from flowcheck.properties.base import Finding, Subject
from flowcheck.taxonomy import Taxonomy, Violation, load_taxonomy

ID = "context-taxonomy"
PROFILES = ("mirai",)  # a rule of the platform, not of statecharts in general
TITLE = "context fields are flow data only: no UI flags, no server-cached data"
# A check of the declaration: passing is a proof whatever exploration reached.
STATIC = True


def check(subject: Subject) -> list[Finding]:
    """One finding per context field that a taxonomy rule classifies as not flow data."""
    config = subject.settings.taxonomy if subject.settings is not None else {}
    taxonomy: Taxonomy = load_taxonomy(config)
    violations = taxonomy.check(subject.chart)
    if not violations:
        return []
    source = subject.source or (Path(subject.chart.source) if subject.chart.source else None)
    root = subject.settings.root if subject.settings is not None else None
    shown = _display(source, root)
    findings = []
    for violation in violations:
        line = _field_line(violation.field.name, subject.machine_class, source)
        findings.append(
            Finding(
                property=ID,
                message=_message(subject.chart.name, violation, shown, line),
                file=shown,
                line=line,
            )
        )
    return findings


def _message(flow: str, violation: Violation, shown: str | None, line: int | None) -> str:
    data = violation.field
    where = f" ({shown}:{line})" if shown and line else (f" ({shown})" if shown else "")
    kind = f"{data.type}{' | null' if data.nullable else ''}"
    how = f"{violation.flow}; " if violation.flow else ""
    return (
        f"{flow}: context field {data.name!r} ({kind}){where} is {_label(violation)} "
        f"(rule {violation.rule.id}, {violation.basis}): {how}{violation.reason}. "
        f"Fix: {violation.fix}"
    )


def _label(violation: Violation) -> str:
    return {
        "ui-flags": "a UI flag",
        "server-collections": "a server-cached collection",
        "server-objects": "a mirror of server data",
        "server-state": "server state",
    }.get(violation.rule.id, f"not flow data ({violation.rule.id})")


def _display(source: Path | None, root: Path | None) -> str | None:
    if source is None:
        return None
    if root is not None:
        try:
            return source.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return source.as_posix()


def _field_line(name: str, machine_class: type[Any] | None, source: Path | None) -> int | None:
    """The line declaring ``name`` in the Context model (or, failing that, in the file)."""
    annotated = re.compile(rf"^\s+{re.escape(name)}\s*:")
    context = getattr(machine_class, "Context", None)
    if isinstance(context, type):
        for klass in context.__mro__:
            if name not in vars(klass).get("__annotations__", {}):
                continue
            try:
                lines, start = inspect.getsourcelines(klass)
            except (OSError, TypeError):
                break
            for offset, text in enumerate(lines):
                if annotated.match(text):
                    return start + offset
            break
    if source is None:
        return None
    try:
        text = source.read_text(encoding="utf-8")
    except OSError:
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if annotated.match(line):
            return number
    return None
