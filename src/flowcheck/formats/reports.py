"""Verification reports as text, JSON, JUnit XML and SARIF 2.1.0: pure functions to strings.

The JSON report follows the schema in the design document (``ok``, ``machines`` with
``name``, ``ok``, ``stats`` and ``properties``); it adds ``status``, ``title`` and
``findings`` to each property, more counters to ``stats``, and ``checks``. A bounded
result is never called proved: its status is ``bounded`` in every format.

Besides the properties of each machine, a report carries **checks**: results that are not
a property of one flow, such as the exports directory matching the flows (one check per
file) and, for ``flowcheck check``, each machine explored completely. They are results in
every format (a JUnit test case, a SARIF result, a JSON entry, a text line), so that a
report never says all is well when the exit code says otherwise.

Every finding is shown at the file and line of the construct at fault, as
:mod:`flowcheck.locations` found it (``machines/checkout.py:155``, relative to the
project's root).
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from flowcheck import __version__
from flowcheck.formats.drift import ExportFile
from flowcheck.formats.drift import describe as describe_drift
from flowcheck.locations import Location, file_line, related, shown, step_locations, where_is
from flowcheck.properties import LIMIT_NAMES, PropertyResult
from flowcheck.properties.base import Counterexample, Finding, grouped, replay_command
from flowcheck.terminal import SafeConsole, printable
from flowcheck.verification import MachineReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DOCS = "docs/"
"""Where rule help points, relative to the repository root: the project has no public
home, so SARIF's ``informationUri`` and ``helpUri`` are paths in the repository."""
STATUS_STYLE = {
    "proved": "green", "tested": "cyan", "bounded": "yellow", "failed": "bold red", "skipped": "dim"
}


@dataclass(frozen=True)
class Check:
    """A result that is not a property of one flow: ``suite`` groups it (``exports``, or a
    machine's name), ``name`` names it within the suite (a file, ``exploration``), and
    ``result.id`` is its rule (``exports``, ``exploration``)."""

    suite: str
    name: str
    result: PropertyResult
    help: str = ""
    """Where the rule is documented, relative to the docs directory."""
    description: str = ""
    """What the rule checks, in a paragraph (SARIF ``fullDescription``)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result.ok


EXPORTS_TITLE = "the committed exports match what `flowcheck export` writes from the flows"
EXPORTS_DESCRIPTION = (
    "Every file under the exports directory (each flow's XState config, TypeScript module "
    "and manifest, and the shared files) has the bytes `flowcheck export` would write, and "
    "no generated-looking file is left over from a flow that no longer exists. A stale file "
    "points at the first line that differs; the fix is to run `flowcheck export` and commit "
    "the result.")
EXPLORATION_TITLE = "exploration finished over the whole environment, so the results are proofs"
EXPLORATION_DESCRIPTION = (
    "`flowcheck check` demands proofs: a machine whose exploration stopped at a limit "
    "(max-configurations, max-depth, max-memory, max-seconds, or the environment limit) "
    "is bounded, not proved, and fails the check. Raise the limit in [tool.flowcheck] or "
    "bound the context (a counter needs a guard).")


def export_checks(files: Iterable[ExportFile], root: Path | None) -> list[Check]:
    """One check per export file, failed when the file is stale, missing or an orphan."""
    out: list[Check] = []
    for f in files:
        name = shown(f.path, root)
        if f.ok:
            result = PropertyResult("exports", EXPORTS_TITLE, "proved", f"{name} is up to date")
        else:
            message = f"{name} is {describe_drift(f)}"
            construct = f"export of {f.flow}" if f.flow else "export file"
            finding = Finding("exports", message, file=str(f.path), line=f.line,
                              construct=construct)
            result = PropertyResult("exports", EXPORTS_TITLE, "failed", message, [finding])
        out.append(Check("exports", name, result, "cli.md#flowcheck-export",
                         EXPORTS_DESCRIPTION, {"state": f.state, "flow": f.flow}))
    return out


def exploration_checks(reports: Iterable[MachineReport]) -> list[Check]:
    """Per machine, whether exploration finished: what ``flowcheck check`` demands."""
    out: list[Check] = []
    for m in reports:
        s = m.stats
        if m.complete:
            result = PropertyResult(
                "exploration", EXPLORATION_TITLE, "proved",
                f"{m.name}: explored completely ({s.get('configurations', 0)} configurations)")
        else:
            limit = s.get("limit")
            why = (f"stopped at the {LIMIT_NAMES.get(limit, limit)}" if limit
                   else "did not finish")
            message = (f"{m.name}: exploration {why} after {s.get('configurations', 0)} "
                       "configurations: its results are bounded, not proved; raise the limit "
                       "in [tool.flowcheck] or bound the context")
            finding = Finding("exploration", message)
            if m.source is not None:
                where = where_is(finding, m.chart, m.source)
                finding = Finding("exploration", message, file=where.file, line=where.line,
                                  construct=where.construct)
            result = PropertyResult("exploration", EXPLORATION_TITLE, "failed", message,
                                    [finding])
        out.append(Check(m.name, "exploration", result, "cli.md#flowcheck-check",
                         EXPLORATION_DESCRIPTION))
    return out


def all_ok(reports: list[MachineReport], checks: Sequence[Check] = ()) -> bool:
    return all(r.ok for r in reports) and all(c.ok for c in checks)


# -- JSON ----------------------------------------------------------------------------------------


def counterexample_json(cx: Counterexample | None) -> dict[str, Any] | None:
    return None if cx is None else cx.to_json()


def finding_json(f: Finding, root: Path | None = None) -> dict[str, Any]:
    return {
        "message": f.message,
        "state": f.state,
        "event": f.event,
        "file": shown(f.file, root) if f.file else None,
        "line": f.line,
        "construct": f.construct,
        "counterexample": counterexample_json(f.counterexample),
    }


def property_json(r: PropertyResult, root: Path | None = None) -> dict[str, Any]:
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
        "findings": [finding_json(f, root) for f in r.findings],
    }


def machine_json(m: MachineReport, root: Path | None = None) -> dict[str, Any]:
    return {
        "name": m.name,
        "ok": m.ok,
        "bounded": bool(bounded([m])),
        "stats": dict(m.stats),
        "properties": [property_json(r, root) for r in m.results],
        "interrupted": m.interrupted,
        "notes": list(m.notes),
    }


def check_json(c: Check, root: Path | None = None) -> dict[str, Any]:
    return {"suite": c.suite, "name": c.name, **c.extra, **property_json(c.result, root)}


def report_json(reports: list[MachineReport], checks: Sequence[Check] = (),
                root: Path | None = None) -> dict[str, Any]:
    return {"ok": all_ok(reports, checks),
            "bounded": [m.name for m in bounded(reports)],
            "summary": summary_line(reports, checks),
            "machines": [machine_json(m, root) for m in reports],
            "checks": [check_json(c, root) for c in checks]}


def render_json(reports: list[MachineReport], checks: Sequence[Check] = (),
                root: Path | None = None) -> str:
    return json.dumps(report_json(reports, checks, root), indent=2) + "\n"


# -- text ----------------------------------------------------------------------------------------


def render_text(reports: list[MachineReport], width: int = 110, color: bool = False,
                checks: Sequence[Check] = (), root: Path | None = None,
                compact: bool = False) -> str:
    """The full report: a table per machine (property, status, message), then each finding
    at its file:line with its counterexample (the events and the configuration after each
    one) and the command that replays it; then the checks. ``compact`` (for hooks) keeps a
    one-line summary per machine and the failures only."""
    buffer = io.StringIO()
    # Names come from machines: each line goes through printable(), and the console escapes
    # any control character left.
    console = SafeConsole(file=buffer, width=width, force_terminal=color, no_color=not color,
                          highlight=False, soft_wrap=False)
    for m in reports:
        if compact:
            _compact_machine(console, m, root)
        else:
            _text_machine(console, m, root)
    _text_checks(console, checks, root, compact)
    ok = all_ok(reports, checks)
    console.print(Text(printable(summary_line(reports, checks, compact)),
                       style="bold green" if ok and not bounded(reports) else
                       "bold yellow" if ok else "bold red"))
    return buffer.getvalue()


def bounded(reports: Iterable[MachineReport]) -> list[MachineReport]:
    """The machines whose exploration stopped at a limit (or some property was left
    bounded): their passing properties are not proofs."""
    return [m for m in reports if not m.interrupted and (
        not m.complete or any(r.status == "bounded" for r in m.results))]


def summary_line(reports: list[MachineReport], checks: Sequence[Check] = (),
                 compact: bool = False) -> str:
    """The report's last line: what the exit code says, and "bounded" whenever a result is
    only bounded (never "all properties hold" then)."""
    limited = bounded(reports)
    if not all(r.ok for r in reports):
        verdict = "some properties FAILED"
    elif limited:
        verdict = "no property failed"
    else:
        verdict = "all properties hold"
    if limited:
        names = ", ".join(f"{m.name} ({_limit_of(m)})" for m in limited)
        verdict += f"; BOUNDED, not proved: {names}"
    for rule in dict.fromkeys(c.result.id for c in checks if not c.ok):
        verdict += f"; {rule} FAILED"
    if compact and not all_ok(reports, checks):
        verdict += " (the full tables: `flowcheck verify`)"
    return f"{len(reports)} machine(s): {verdict}"


def _limit_of(m: MachineReport) -> str:
    limit = m.stats.get("limit")
    return f"at the {LIMIT_NAMES.get(limit, limit)}" if limit else "a property is bounded"


def _scope(m: MachineReport) -> str:
    s = m.stats
    scope = "complete" if s.get("complete") else ("interrupted" if m.interrupted else "BOUNDED")
    if scope == "BOUNDED" and s.get("limit"):
        scope = f"BOUNDED at the {LIMIT_NAMES.get(s['limit'], s['limit'])}"
    return scope


def _text_machine(console: Console, m: MachineReport, root: Path | None) -> None:
    s = m.stats
    console.print(Text(printable(m.name), style="bold"), end=" ")
    console.print(
        f"({s['states']} states, {s['transitions']} transitions; explored "
        f"{s['configurations']} configurations, {s['edges']} edges, {_scope(m)}; "
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
        table.add_row(r.id, Text(printable(status), style=STATUS_STYLE.get(r.status, "")),
                      Text(printable(r.message)))
    console.print(table)
    for i, a in enumerate(numbered, start=1):
        console.print(f"  A{i}: assuming {printable(a)}", markup=False, soft_wrap=True)
    for note in m.notes:
        console.print(f"  note: {printable(note)}", markup=False)
    for r in m.results:
        for f, rest in grouped(r.findings):
            head = (f"  counterexample for {r.id}: " if f.counterexample is not None
                    else f"  {r.id}: ")
            console.print(Text(printable(head + f.message), style="red"), soft_wrap=True)
            where = _where(f, root)
            if where:
                console.print(f"    at {printable(where)}", markup=False, soft_wrap=True)
            for line in _counterexample_block(m, f):
                console.print(f"    {printable(line)}", markup=False, soft_wrap=True)
            if rest:
                console.print(f"    {printable(more_like_it(rest))}", markup=False,
                              soft_wrap=True)
    console.print()


def _compact_machine(console: Console, m: MachineReport, root: Path | None) -> None:
    """``name: ok (...)`` or ``name: FAILED a, b (...)``, then each finding as
    ``file:line: property: message`` (the form editors and CI logs link) with its
    counterexample."""
    s = m.stats
    failed = [r for r in m.results if r.status == "failed"]
    counts: dict[str, int] = {}
    for r in m.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    tally = ", ".join(f"{n} {status}" for status, n in counts.items())
    facts = f"{tally}; {s.get('configurations', 0)} configurations, {_scope(m)}; " \
            f"{s.get('seconds', 0.0):.2f}s"
    if m.interrupted:
        head, style = f"{m.name}: INTERRUPTED ({facts})", "bold red"
    elif failed:
        head = f"{m.name}: FAILED {', '.join(r.id for r in failed)} ({facts})"
        style = "bold red"
    else:
        head, style = f"{m.name}: ok ({facts})", "green"
    console.print(Text(printable(head), style=style), soft_wrap=True)
    for r in failed:
        for f, rest in grouped(r.findings):
            console.print(printable(_finding_headline(r.id, f, root)), markup=False,
                          soft_wrap=True)
            for line in _counterexample_block(m, f):
                console.print(f"    {printable(line)}", markup=False, soft_wrap=True)
            if rest:
                console.print(f"    {printable(more_like_it(rest))}", markup=False,
                              soft_wrap=True)


def _text_checks(console: Console, checks: Sequence[Check], root: Path | None,
                 compact: bool) -> None:
    suites: dict[str, list[Check]] = {}
    for c in checks:
        suites.setdefault(c.suite if c.result.id == "exports" else c.result.id, []).append(c)
    for suite, group in suites.items():
        bad = [c for c in group if not c.ok]
        if bad:
            summary = f"{suite}: FAILED {len(bad)} of {len(group)}"
            console.print(Text(printable(summary), style="bold red"), soft_wrap=True)
        elif not compact:
            console.print(Text(printable(f"{suite}: all {len(group)} ok"), style="green"),
                          soft_wrap=True)
        for c in bad:
            for f in c.result.findings:
                console.print(printable(_finding_headline(c.result.id, f, root)), markup=False,
                              soft_wrap=True)
    if suites and not compact:
        console.print()


def _finding_headline(rule: str, f: Finding, root: Path | None) -> str:
    """``machines/checkout.py:155: live-transitions: <message> [transition ...]``."""
    where = file_line(f.file, f.line, root)
    construct = f" ({f.construct})" if f.construct else ""
    return f"{where + ': ' if where else ''}{rule}: {f.message}{construct}"


def _where(f: Finding, root: Path | None) -> str | None:
    where = file_line(f.file, f.line, root)
    if where and f.construct:
        where += f" ({f.construct})"
    return where


MORE_NAMED = 10
"""How many of the findings counted with the first of their kind a text report names."""


def more_like_it(rest: list[Finding]) -> str:
    """One line for the findings counted with the first of their kind: how many, and where
    the first few are."""
    where = [f.state or f.event or "" for f in rest]
    named = [w for w in dict.fromkeys(where) if w][:MORE_NAMED]
    tail = ", ..." if len(set(where)) > len(named) else ""
    at = f" (in {', '.join(named)}{tail})" if named else ""
    return f"and {len(rest)} more like it{at}: the same defect, counted with the first"


STEPS_SHOWN = 40
"""A text report shows the first and last half of this many steps of a longer
counterexample (the replay command, JSON and SARIF keep every step)."""


def _counterexample_block(m: MachineReport, f: Finding) -> list[str]:
    if f.counterexample is None:
        return []
    lines = counterexample_lines(f.counterexample)
    if len(lines) > STEPS_SHOWN + 1:
        half = STEPS_SHOWN // 2
        lines = [*lines[:half], f"... {len(lines) - 2 * half} more steps ...", *lines[-half:]]
    if f.counterexample.events:
        lines.append(f"replay: {replay_command(m.replay_target or m.name, f.counterexample)}")
    return lines


def counterexample_lines(cx: Counterexample) -> list[str]:
    """``(initial) -> {a}`` then ``EVENT {payload} -> {b, c}`` per step."""
    lines = [f"(initial) -> {{{', '.join(cx.states[0])}}}" if cx.states else "(initial)"]
    for i, (name, payload) in enumerate(cx.events):
        after = cx.states[i + 1] if i + 1 < len(cx.states) else ("(step raised)",)
        shown = f" {json.dumps(payload, separators=(',', ':'))}" if payload else ""
        lines.append(f"{name}{shown} -> {{{', '.join(after)}}}")
    return lines


# -- JUnit ---------------------------------------------------------------------------------------


def render_junit(reports: list[MachineReport], checks: Sequence[Check] = (),
                 root: Path | None = None) -> str:
    """One testsuite per machine, one testcase per property (with ``file`` and ``line`` of
    the first finding, or of the flow); the checks are test cases too, in their machine's
    suite or in a suite of their own (``exports``). A bounded result passes with a
    ``flowcheck.status`` property and a ``system-out`` saying bounded; skipped ones are
    skipped. Property values are strings as they are, anything else JSON (``true``,
    ``null``), never a Python repr."""
    root_el = ET.Element("testsuites", name="flowcheck")
    suites: dict[str, ET.Element] = {}
    sources: dict[str, Path | None] = {}
    for m in reports:
        suite = ET.SubElement(root_el, "testsuite", name=m.name)
        suites[m.name] = suite
        sources[m.name] = m.source
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="flowcheck.status",
                      value="bounded" if bounded([m]) else
                      "interrupted" if m.interrupted else "complete")
        for key, value in m.stats.items():
            ET.SubElement(props, "property", name=str(key), value=_junit_value(value))
        for r in m.results:
            _testcase(suite, m.name, r.id, r, _flow_location(m), root,
                      m.replay_target or m.name)
        suite.set("time", f"{m.stats.get('seconds', 0.0):.3f}")
    for c in checks:
        if c.suite not in suites:
            suites[c.suite] = ET.SubElement(root_el, "testsuite", name=c.suite, time="0.000")
        _testcase(suites[c.suite], c.suite, c.name, c.result, None, root)
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for suite in suites.values():
        cases = suite.findall("testcase")
        counts = {"tests": len(cases),
                  "failures": sum(1 for x in cases if x.find("failure") is not None),
                  "skipped": sum(1 for x in cases if x.find("skipped") is not None)}
        for key in ("tests", "failures"):
            suite.set(key, str(counts[key]))
        suite.set("errors", "0")
        suite.set("skipped", str(counts["skipped"]))
        for key, n in counts.items():
            totals[key] += n
    for key in ("tests", "failures"):
        root_el.set(key, str(totals[key]))
    root_el.set("errors", "0")
    root_el.set("skipped", str(totals["skipped"]))
    _xml_safe(root_el)
    ET.indent(root_el)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root_el, encoding="unicode") + "\n")


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 cannot hold, even escaped (a machine's names may have them)."""


def _xml_safe(root: ET.Element) -> None:
    """Every attribute and text of the tree as XML can hold it: a character it cannot is
    written as a visible escape (``\\x1b``), so the report stays a parsable document."""
    def clean(text: str) -> str:
        return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                            else f"\\u{ord(m.group()):04x}", text)

    for element in root.iter():
        for key, value in element.attrib.items():
            if _NOT_XML.search(value):
                element.set(key, clean(value))
        if element.text and _NOT_XML.search(element.text):
            element.text = clean(element.text)


def _junit_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _flow_location(m: MachineReport) -> Location | None:
    if m.source is None:
        return None
    return where_is(Finding("", ""), m.chart, m.source)


def _testcase(suite: ET.Element, group: str, name: str, r: PropertyResult,
              fallback: Location | None, root: Path | None, target: str | None = None) -> None:
    case = ET.SubElement(suite, "testcase", name=name, classname=f"flowcheck.{group}",
                         time="0")
    first = r.findings[0] if r.findings else None
    if first is not None and first.file:
        case.set("file", shown(first.file, root))
        if first.line:
            case.set("line", str(first.line))
    elif fallback is not None:
        case.set("file", shown(fallback.file, root))
        if fallback.line:
            case.set("line", str(fallback.line))
    cprops = ET.SubElement(case, "properties")
    ET.SubElement(cprops, "property", name="flowcheck.status", value=r.status)
    for a in r.assumptions:
        ET.SubElement(cprops, "property", name="flowcheck.assumption", value=a)
    if r.status == "failed":
        failure = ET.SubElement(case, "failure", message=r.message, type=r.id)
        failure.text = "\n\n".join(
            _finding_text(f, root, target) + (f"\n  {more_like_it(rest)}" if rest else "")
            for f, rest in grouped(r.findings))
    elif r.status == "skipped":
        ET.SubElement(case, "skipped", message=r.message)
    else:
        out = ET.SubElement(case, "system-out")
        out.text = f"{r.verdict}: {r.message}"


def _finding_text(f: Finding, root: Path | None = None, target: str | None = None) -> str:
    """``file:line: message [construct]``, then the counterexample, one step a line, and
    the command that replays it."""
    lines = [_finding_headline_plain(f, root)]
    cx = f.counterexample
    if cx is not None:
        lines += [f"  {line}" for line in counterexample_lines(cx)]
        if cx.events and target:
            lines.append(f"  replay: {replay_command(target, cx)}")
    return "\n".join(lines)


def _finding_headline_plain(f: Finding, root: Path | None) -> str:
    where = file_line(f.file, f.line, root)
    construct = f" ({f.construct})" if f.construct else ""
    return f"{where + ': ' if where else ''}{f.message}{construct}"


# -- SARIF ---------------------------------------------------------------------------------------


def render_sarif(reports: list[MachineReport], root: Path | None = None,
                 checks: Sequence[Check] = ()) -> str:
    """SARIF 2.1.0: one run, one rule per property (and per kind of check), one result per
    finding at the file and line of the construct at fault, with the counterexample as a
    code flow (a thread flow location per step: the transition the event takes, the event
    and the configuration after it) and the replay command in the message. A bounded
    property is a ``note`` result: no counterexample was found, but nothing is proved."""
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}

    def rule(rid: str, title: str, description: str, help_path: str) -> int:
        if rid not in rule_index:
            rule_index[rid] = len(rules)
            rules.append({
                "id": rid,
                "name": "".join(p.capitalize() for p in rid.split("-")),
                "shortDescription": {"text": _sentence(title)},
                "fullDescription": {"text": _sentence(description or title)},
                "helpUri": DOCS + help_path,
                "help": {"text": f"{_sentence(title)} Documentation: {DOCS}{help_path}"},
                "defaultConfiguration": {"level": "error"},
            })
        return rule_index[rid]

    descriptions = _property_descriptions()
    results: list[dict[str, Any]] = []
    for m in reports:
        for r in m.results:
            index = rule(r.id, r.title, descriptions.get(r.id, ""), f"properties.md#{r.id}")
            for f in r.findings:
                results.append(_sarif_result(m, r, f, index, root))
            if r.status == "bounded":
                results.append(_sarif_bounded(m, r, index, root))
    for m in bounded(reports):
        if not any(r.status == "bounded" for r in m.results):
            # No property says so (each failed, or is static): the run still must.
            index = rule("exploration", EXPLORATION_TITLE, EXPLORATION_DESCRIPTION,
                         "cli.md#flowcheck-check")
            results.append(_sarif_exploration(m, index, root))
    for c in checks:
        index = rule(c.result.id, c.result.title, c.description, c.help)
        for f in c.result.findings:
            results.append(_sarif_check(c, f, index, root))
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "flowcheck",
                "fullName": "flowcheck (distribution flowcheck-statecharts)",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": DOCS + "index.md",
                "rules": rules,
            }},
            "results": results,
            "properties": {
                "summary": summary_line(reports, checks),
                "bounded": [m.name for m in bounded(reports)],
                "machines": [
                    {"name": m.name, "ok": m.ok, "stats": dict(m.stats)} for m in reports
                ],
            },
        }],
    }
    return json.dumps(log, indent=2) + "\n"


def _property_descriptions() -> dict[str, str]:
    """What each property proves: the opening of its module's docstring, without the
    leading ``<id>:`` and with Markdown code quotes."""
    from flowcheck.properties import catalog

    out: dict[str, str] = {}
    for module in catalog():
        pid = str(module.ID)
        doc = (module.__doc__ or "").strip().replace("``", "`")
        paragraphs = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
        text = " ".join(paragraphs[:2])
        out[pid] = text.removeprefix(f"{pid}:").strip()
    return out


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _uri(path: str, root: Path | None) -> str:
    p = Path(path)
    if root is not None:
        try:
            return p.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return p.resolve().as_uri() if p.is_absolute() else p.as_posix()


def _physical(file: str, line: int | None, root: Path | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(file, root)}}
    if line:
        physical["region"] = {"startLine": line}
    return physical


def _sarif_result(m: MachineReport, r: PropertyResult, f: Finding, index: int,
                  root: Path | None) -> dict[str, Any]:
    cx = f.counterexample
    text = f"{m.name}: {_sentence(f.message)}"
    target = m.replay_target or m.name
    if cx is not None and cx.events:
        steps = ", ".join(name for name, _ in cx.events)
        text += (f" Counterexample ({len(cx.events)} events): {steps}."
                 f" Replay: {replay_command(target, cx)}")
    result: dict[str, Any] = {
        "ruleId": r.id,
        "ruleIndex": index,
        "level": "error",
        "message": {"text": text},
    }
    path = f.file or (str(m.source) if m.source else None)
    if path:
        location: dict[str, Any] = {"physicalLocation": _physical(path, f.line, root)}
        if f.construct:
            location["message"] = {"text": f.construct}
        if f.state:
            location["logicalLocations"] = [
                {"name": f.state, "fullyQualifiedName": f"{m.chart.id}.{f.state}",
                 "kind": "member"}]
        result["locations"] = [location]
        others = related(f, m.chart, m.source) if m.source else []
        if others:
            result["relatedLocations"] = [
                {"id": i, "physicalLocation": _physical(o.file, o.line, root),
                 "message": {"text": o.construct}}
                for i, o in enumerate(others, start=1)]
    if cx is not None and m.source is not None:
        result["codeFlows"] = [_code_flow(m, cx, root)]
    props: dict[str, Any] = {"machine": m.name}
    if f.event:
        props["event"] = f.event
    if cx is not None:
        props["counterexample"] = cx.to_json()
        if cx.events:
            props["replay"] = replay_command(target, cx)
    result["properties"] = props
    return result


def _code_flow(m: MachineReport, cx: Counterexample, root: Path | None) -> dict[str, Any]:
    """The counterexample step by step: where each event is handled, the event and the
    configuration after it."""
    assert m.source is not None
    steps = step_locations(m.chart, cx, m.source)
    texts = counterexample_lines(cx)
    locations = []
    for i, (where, text) in enumerate(zip(steps, texts, strict=False)):
        configuration = cx.states[i] if i < len(cx.states) else ()
        loc: dict[str, Any] = {
            "location": {
                "physicalLocation": _physical(where.file, where.line, root),
                "message": {"text": f"{text} ({where.construct})"},
            },
            "executionOrder": i,
            "state": {"configuration": {"text": ", ".join(configuration)}},
        }
        if i > 0:
            loc["state"]["event"] = {"text": cx.events[i - 1][0]}
        locations.append(loc)
    n = len(cx.events)
    return {"message": {"text": f"Shortest counterexample: {n} event{'s' * (n != 1)}."},
            "threadFlows": [{"locations": locations}]}


def _sarif_bounded(m: MachineReport, r: PropertyResult, index: int,
                   root: Path | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": r.id,
        "ruleIndex": index,
        "level": "note",
        "message": {"text": f"{m.name}: {r.id} is bounded, not proved: {_sentence(r.message)}"},
        "properties": {"machine": m.name, "status": "bounded"},
    }
    where = _flow_location(m)
    if where is not None:
        result["locations"] = [{"physicalLocation": _physical(where.file, where.line, root),
                                "message": {"text": where.construct}}]
    return result


def _sarif_exploration(m: MachineReport, index: int, root: Path | None) -> dict[str, Any]:
    s = m.stats
    result: dict[str, Any] = {
        "ruleId": "exploration",
        "ruleIndex": index,
        "level": "note",
        "message": {"text": f"{m.name}: {_scope(m).lower()} after "
                            f"{s.get('configurations', 0)} configurations: the results are "
                            "bounded, not proved."},
        "properties": {"machine": m.name, "status": "bounded"},
    }
    where = _flow_location(m)
    if where is not None:
        result["locations"] = [{"physicalLocation": _physical(where.file, where.line, root),
                                "message": {"text": where.construct}}]
    return result


def _sarif_check(c: Check, f: Finding, index: int, root: Path | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": c.result.id,
        "ruleIndex": index,
        "level": "error",
        "message": {"text": _sentence(f.message)},
        "properties": {"suite": c.suite, "name": c.name, **c.extra},
    }
    if f.file:
        location: dict[str, Any] = {"physicalLocation": _physical(f.file, f.line, root)}
        if f.construct:
            location["message"] = {"text": f.construct}
        result["locations"] = [location]
    return result
