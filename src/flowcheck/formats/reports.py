"""Verification reports as text, JSON, JUnit XML and SARIF 2.1.0: pure functions to strings.

The JSON report follows the schema in the design document (``ok``, ``machines`` with
``name``, ``ok``, ``stats`` and ``properties``); it adds ``status``, ``title`` and
``findings`` to each property, and more counters to ``stats``. A bounded result is
never called proved: its status is ``bounded`` in every format.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from flowcheck import __version__
from flowcheck.properties import LIMIT_NAMES, PropertyResult
from flowcheck.properties.base import Counterexample, Finding, replay_command
from flowcheck.verification import MachineReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
STATUS_STYLE = {
    "proved": "green", "tested": "cyan", "bounded": "yellow", "failed": "bold red", "skipped": "dim"
}


def all_ok(reports: list[MachineReport]) -> bool:
    return all(r.ok for r in reports)


# -- JSON ----------------------------------------------------------------------------------------


def counterexample_json(cx: Counterexample | None) -> dict[str, Any] | None:
    return None if cx is None else cx.to_json()


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "message": f.message,
        "state": f.state,
        "event": f.event,
        "file": f.file,
        "line": f.line,
        "counterexample": counterexample_json(f.counterexample),
    }


def property_json(r: PropertyResult) -> dict[str, Any]:
    first = r.findings[0].counterexample if r.findings else None
    return {
        "id": r.id,
        "ok": r.ok,
        "message": r.message,
        "counterexample": counterexample_json(first),
        "status": r.status,
        "verdict": r.verdict,
        "assumptions": list(r.assumptions),
        "title": r.title,
        "findings": [finding_json(f) for f in r.findings],
    }


def machine_json(m: MachineReport) -> dict[str, Any]:
    return {
        "name": m.name,
        "ok": m.ok,
        "stats": dict(m.stats),
        "properties": [property_json(r) for r in m.results],
        "interrupted": m.interrupted,
        "notes": list(m.notes),
    }


def report_json(reports: list[MachineReport]) -> dict[str, Any]:
    return {"ok": all_ok(reports), "machines": [machine_json(m) for m in reports]}


def render_json(reports: list[MachineReport]) -> str:
    return json.dumps(report_json(reports), indent=2) + "\n"


# -- text ----------------------------------------------------------------------------------------


def render_text(reports: list[MachineReport], width: int = 110, color: bool = False) -> str:
    """A table per machine (property, status, message), then each counterexample as the
    events and the configuration after each one, with the command that replays it."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color,
                      highlight=False, soft_wrap=False)
    for m in reports:
        _text_machine(console, m)
    verdict = "all properties hold" if all_ok(reports) else "some properties FAILED"
    console.print(Text(f"{len(reports)} machine(s): {verdict}",
                       style="bold green" if all_ok(reports) else "bold red"))
    return buffer.getvalue()


def _text_machine(console: Console, m: MachineReport) -> None:
    s = m.stats
    scope = "complete" if s.get("complete") else ("interrupted" if m.interrupted else "BOUNDED")
    if scope == "BOUNDED" and s.get("limit"):
        scope = f"BOUNDED at the {LIMIT_NAMES.get(s['limit'], s['limit'])}"
    console.print(Text(f"{m.name}", style="bold"), end=" ")
    console.print(
        f"({s['states']} states, {s['transitions']} transitions; explored "
        f"{s['configurations']} configurations, {s['edges']} edges, {scope}; "
        f"{s['campaign_examples']} hypothesis runs; {s['seconds']:.2f}s)",
        markup=False,
    )
    table = Table(show_edge=False, pad_edge=False, box=None, expand=False)
    table.add_column("property", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("message", overflow="fold")
    # Assumptions are numbered per machine: the table says which ones a proof rests on,
    # the lines below it say what they are.
    numbered: list[str] = []
    for r in m.results:
        status: str = r.status
        if r.status == "proved" and r.assumptions:
            refs = []
            for a in r.assumptions:
                if a not in numbered:
                    numbered.append(a)
                refs.append(f"A{numbered.index(a) + 1}")
            status = f"proved (assuming {', '.join(refs)})"
        table.add_row(r.id, Text(status, style=STATUS_STYLE.get(r.status, "")),
                      Text(r.message))
    console.print(table)
    for i, a in enumerate(numbered, start=1):
        console.print(f"  A{i}: assuming {a}", markup=False, soft_wrap=True)
    for note in m.notes:
        console.print(f"  note: {note}", markup=False)
    for r in m.results:
        for f in r.findings:
            if f.counterexample is None:
                continue
            console.print(Text(f"  counterexample for {r.id}: {f.message}", style="red"),
                          soft_wrap=True)
            for line in counterexample_lines(f.counterexample):
                console.print(f"    {line}", markup=False, soft_wrap=True)
            if f.counterexample.events:
                target = m.replay_target or m.name
                console.print(f"    replay: {replay_command(target, f.counterexample)}",
                              markup=False, soft_wrap=True)
    console.print()


def counterexample_lines(cx: Counterexample) -> list[str]:
    """``(initial) -> {a}`` then ``EVENT {payload} -> {b, c}`` per step."""
    lines = [f"(initial) -> {{{', '.join(cx.states[0])}}}" if cx.states else "(initial)"]
    for i, (name, payload) in enumerate(cx.events):
        after = cx.states[i + 1] if i + 1 < len(cx.states) else ("(step raised)",)
        shown = f" {json.dumps(payload, separators=(',', ':'))}" if payload else ""
        lines.append(f"{name}{shown} -> {{{', '.join(after)}}}")
    return lines


# -- JUnit ---------------------------------------------------------------------------------------


def render_junit(reports: list[MachineReport]) -> str:
    """One testsuite per machine, one testcase per property; bounded results pass with a
    ``flowcheck.status`` property saying bounded; skipped ones are skipped."""
    root = ET.Element("testsuites", name="flowcheck")
    total = failures = skipped = 0
    for m in reports:
        suite = ET.SubElement(root, "testsuite", name=m.name)
        props = ET.SubElement(suite, "properties")
        for key, value in m.stats.items():
            ET.SubElement(props, "property", name=str(key), value=str(value))
        n_fail = n_skip = 0
        for r in m.results:
            case = ET.SubElement(suite, "testcase", name=r.id, classname=f"flowcheck.{m.name}",
                                 time="0")
            cprops = ET.SubElement(case, "properties")
            ET.SubElement(cprops, "property", name="flowcheck.status", value=r.status)
            for a in r.assumptions:
                ET.SubElement(cprops, "property", name="flowcheck.assumption", value=a)
            if r.status == "failed":
                n_fail += 1
                failure = ET.SubElement(case, "failure", message=r.message, type=r.id)
                failure.text = "\n\n".join(_finding_text(f) for f in r.findings)
            elif r.status == "skipped":
                n_skip += 1
                ET.SubElement(case, "skipped", message=r.message)
            else:
                out = ET.SubElement(case, "system-out")
                out.text = f"{r.verdict}: {r.message}"
        suite.set("tests", str(len(m.results)))
        suite.set("failures", str(n_fail))
        suite.set("errors", "0")
        suite.set("skipped", str(n_skip))
        suite.set("time", f"{m.stats.get('seconds', 0.0):.3f}")
        total += len(m.results)
        failures += n_fail
        skipped += n_skip
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    root.set("skipped", str(skipped))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _finding_text(f: Finding) -> str:
    lines = [f.message]
    if f.counterexample is not None:
        lines += [f"  {line}" for line in counterexample_lines(f.counterexample)]
    return "\n".join(lines)


# -- SARIF ---------------------------------------------------------------------------------------


def render_sarif(reports: list[MachineReport], root: Path | None = None) -> str:
    """SARIF 2.1.0: one run, one rule per property, one result per finding, located at the
    machine's file and the line declaring the state concerned (when known)."""
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    for m in reports:
        for r in m.results:
            if r.id not in rule_index:
                rule_index[r.id] = len(rules)
                rules.append({
                    "id": r.id,
                    "name": "".join(p.capitalize() for p in r.id.split("-")),
                    "shortDescription": {"text": r.title},
                    "defaultConfiguration": {"level": "error"},
                })
    results: list[dict[str, Any]] = []
    for m in reports:
        for r in m.results:
            for f in r.findings:
                results.append(_sarif_result(m, r, f, rule_index[r.id], root))
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "flowcheck",
                "version": __version__,
                "informationUri": "https://pypi.org/project/flowcheck/",
                "rules": rules,
            }},
            "results": results,
            "properties": {"machines": [
                {"name": m.name, "ok": m.ok, "stats": dict(m.stats)} for m in reports
            ]},
        }],
    }
    return json.dumps(log, indent=2) + "\n"


def _uri(path: str, root: Path | None) -> str:
    p = Path(path)
    if root is not None:
        try:
            return p.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return p.resolve().as_uri() if p.is_absolute() else p.as_posix()


def _sarif_result(m: MachineReport, r: PropertyResult, f: Finding, index: int,
                  root: Path | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": r.id,
        "ruleIndex": index,
        "level": "error",
        "message": {"text": f"{m.name}: {f.message}"},
    }
    path = f.file or (str(m.source) if m.source else None)
    if path:
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(path, root)}}
        if f.line:
            physical["region"] = {"startLine": f.line}
        location: dict[str, Any] = {"physicalLocation": physical}
        if f.state:
            location["logicalLocations"] = [
                {"name": f.state, "fullyQualifiedName": f"{m.chart.id}.{f.state}",
                 "kind": "member"}]
        result["locations"] = [location]
    props: dict[str, Any] = {"machine": m.name}
    if f.event:
        props["event"] = f.event
    if f.counterexample is not None:
        props["counterexample"] = f.counterexample.to_json()
    result["properties"] = props
    return result
