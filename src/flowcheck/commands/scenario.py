"""``flowcheck simulate NAME --script FILE``: replay a scenario file and check its expectations.

A scenario file (YAML or JSON) names a machine and lists steps::

    machine: checkout
    name: pay by card            # optional
    steps:
      - event: PAYMENT_METHOD_ENTERED
        payload: {paymentMethodId: pm_card_visa}
        expect:
          state: paymentDetails            # this state (or each of a list) is active
          configuration: [paymentDetails]  # exactly these states are active (any order)
          context: {paymentMethodId: pm_card_visa}   # these fields have these values
          telemetry: [STATE_EXITED]        # exactly these analytics events fired, in order
          done: false                      # whether the flow reached a top-level final state

Every ``expect`` key is optional. A file may instead hold ``paths: [{name, steps}, ...]``
(what ``flowcheck paths --format json`` prints); each path then replays from the
initial configuration. Exit 0 when every expectation holds, 1 at the first mismatch
(with expected and actual side by side), 2 when the file itself is malformed.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.markup import escape

from flowcheck import output
from flowcheck.errors import FlowcheckError
from flowcheck.simulation import Session

EXPECT_KEYS = ("state", "configuration", "context", "telemetry", "done")


class ScenarioError(FlowcheckError):
    """A scenario file that cannot be read or does not fit its machine."""


@dataclass
class Mismatch:
    scenario: str
    step: int
    event: str
    lines: list[str]


def load(path: Path) -> Any:
    """The parsed content of a scenario file (YAML, of which JSON is a subset)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc.strerror})") from exc
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{path}{where}: not valid YAML ({problem})") from exc


def scenarios(path: Path, data: Any, machine: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """(name, steps) for each scenario in the file, with the structure checked."""
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{path}: a scenario file is a mapping with 'machine' and 'steps' (or 'paths')"
        )
    named = data.get("machine")
    if named is not None and named != machine:
        raise ScenarioError(
            f"{path}: the scenario is for machine {named!r}, not {machine!r}; "
            f"run it with `flowcheck simulate {named} --script {path}`"
        )
    if "paths" in data:
        items = data["paths"]
        if not isinstance(items, list):
            raise ScenarioError(f"{path}: 'paths' must be a list of {{name, steps}}")
        out = []
        for n, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise ScenarioError(f"{path}: path {n} must be a mapping with 'steps'")
            out.append((str(item.get("name", f"path {n}")), _steps(path, item)))
        return out
    return [(str(data.get("name", path.stem)), _steps(path, data))]


def _steps(path: Path, data: dict[str, Any]) -> list[dict[str, Any]]:
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise ScenarioError(
            f"{path}: 'steps' is missing or not a list of {{event, payload, expect}}"
        )
    for n, step in enumerate(steps, start=1):
        where = f"{path}: step {n}"
        if not isinstance(step, dict) or not isinstance(step.get("event"), str):
            raise ScenarioError(f"{where}: each step is a mapping with an 'event' name")
        unknown = sorted(set(step) - {"event", "payload", "expect"})
        if unknown:
            raise ScenarioError(
                f"{where} ({step['event']}): unknown key(s) {', '.join(unknown)}; "
                "a step has event, payload and expect"
            )
        if not isinstance(step.get("payload") or {}, dict):
            raise ScenarioError(f"{where} ({step['event']}): 'payload' must be a mapping")
        expect = step.get("expect") or {}
        if not isinstance(expect, dict):
            raise ScenarioError(f"{where} ({step['event']}): 'expect' must be a mapping")
        bad = sorted(set(expect) - set(EXPECT_KEYS))
        if bad:
            raise ScenarioError(
                f"{where} ({step['event']}): unknown expectation(s) {', '.join(bad)}; "
                f"use {', '.join(EXPECT_KEYS)}"
            )
    return steps


def _check_names(where: str, session: Session, expect: dict[str, Any]) -> None:
    """Expectations that name states or fields the chart lacks are typos: say so."""
    chart = session.chart
    states = [s.id for s in chart.states]
    named: list[Any] = []
    if "state" in expect:
        named += expect["state"] if isinstance(expect["state"], list) else [expect["state"]]
    if "configuration" in expect:
        if not isinstance(expect["configuration"], list):
            raise ScenarioError(f"{where}: 'configuration' must be a list of state ids")
        named += expect["configuration"]
    for sid in named:
        if sid not in states:
            raise ScenarioError(
                f"{where}: unknown state {sid!r} in expect; the states are {', '.join(states)}"
            )
    if "context" in expect:
        ctx = expect["context"]
        fields = [f.name for f in chart.context]
        if not isinstance(ctx, dict):
            raise ScenarioError(f"{where}: 'context' must be a mapping of field: value")
        for key in ctx:
            if key not in fields:
                raise ScenarioError(
                    f"{where}: unknown context field {key!r}; the fields are {', '.join(fields)}"
                )
    if "telemetry" in expect:
        tel = expect["telemetry"]
        if not isinstance(tel, list) or not all(
            isinstance(t, str) or (isinstance(t, dict) and isinstance(t.get("event"), str))
            for t in tel
        ):
            raise ScenarioError(
                f"{where}: 'telemetry' must be a list of event names "
                "(or {event, properties} mappings)"
            )
    if "done" in expect and not isinstance(expect["done"], bool):
        raise ScenarioError(f"{where}: 'done' must be true or false")


def compare(expect: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Readable lines for every expectation that does not hold; empty when all hold."""
    lines: list[str] = []
    config: list[str] = actual["configuration"]
    if "state" in expect:
        wanted = expect["state"] if isinstance(expect["state"], list) else [expect["state"]]
        for sid in wanted:
            if sid not in config:
                lines += [
                    f"state {sid} is not active",
                    f"  active: {', '.join(config) or '(none)'}",
                ]
    if "configuration" in expect and sorted(expect["configuration"]) != sorted(config):
        want = list(expect["configuration"])
        lines += [
            "configuration",
            f"  expected: {', '.join(want) or '(none)'}",
            f"  actual:   {', '.join(config) or '(none)'}",
        ]
        missing = [s for s in want if s not in config]
        extra = [s for s in config if s not in want]
        if missing:
            lines.append(f"  missing:  {', '.join(missing)}")
        if extra:
            lines.append(f"  extra:    {', '.join(extra)}")
    for key, value in (expect.get("context") or {}).items():
        got = actual["context"].get(key)
        if _norm(got) != _norm(value):
            lines += [
                f"context.{key}",
                f"  expected: {json.dumps(value)}",
                f"  actual:   {json.dumps(got)}",
            ]
    if "telemetry" in expect:
        lines += _telemetry_diff(expect["telemetry"], actual["telemetry"])
    if "done" in expect and bool(expect["done"]) != actual["done"]:
        lines += [
            "done",
            f"  expected: {json.dumps(expect['done'])}",
            f"  actual:   {json.dumps(actual['done'])}",
        ]
    return lines


def _norm(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_norm(v) for v in value]
    return value


def _telemetry_diff(expected: list[Any], fired: list[dict[str, Any]]) -> list[str]:
    names = [t["event"] for t in fired]
    want = [t if isinstance(t, str) else t["event"] for t in expected]
    props_ok = all(
        isinstance(t, str)
        or all(
            _norm(fired[i]["properties"].get(k)) == _norm(v)
            for k, v in (t.get("properties") or {}).items()
        )
        for i, t in enumerate(expected)
        if i < len(fired)
    )
    if names == want and props_ok:
        return []
    lines = ["telemetry (- expected, + actual)"]
    if names == want:
        for t, f in zip(expected, fired, strict=True):
            if isinstance(t, dict):
                lines.append(f"  - {t['event']} {json.dumps(t.get('properties') or {})}")
                lines.append(f"  + {f['event']} {json.dumps(f['properties'], sort_keys=True)}")
        return lines
    for line in difflib.ndiff(want, names):
        if not line.startswith("?"):
            lines.append(f"  {line}")
    return lines


def replay(
    path: Path, session: Session, name: str, steps: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], Mismatch | None]:
    """Run one scenario from the initial configuration; stop at the first mismatch."""
    session.reset()
    described = [session.describe()]
    for n, step in enumerate(steps, start=1):
        event = step["event"]
        where = f"{path}: step {n} ({event})"
        expect = step.get("expect") or {}
        try:
            session.send(event, step.get("payload") or {})
        except FlowcheckError as exc:
            raise ScenarioError(f"{where}: {exc}") from exc
        actual = session.describe()
        described.append(actual)
        lines = compare(expect, actual)
        if lines:
            return described, Mismatch(name, n, event, lines)
    return described, None


def run_script(session: Session, path: Path, as_json: bool) -> int:
    data = load(path)
    machine = session.chart.name
    results: list[dict[str, Any]] = []
    failed: Mismatch | None = None
    total = 0
    loaded = scenarios(path, data, machine)
    for _, steps in loaded:
        for n, step in enumerate(steps, start=1):
            where = f"{path}: step {n} ({step['event']})"
            _check_names(where, session, step.get("expect") or {})
    for name, steps in loaded:
        described, failed = replay(path, session, name, steps)
        total += len(described) - 1
        results.append({
            "name": name,
            "ok": failed is None,
            "steps": described,
            "mismatch": None if failed is None else {"step": failed.step, "event": failed.event,
                                                     "diff": failed.lines},
        })
        if failed is not None:
            break
    if as_json:
        output.print_json({"file": str(path), "machine": machine, "ok": failed is None,
                           "scenarios": results})
    elif failed is None:
        output.out.print(
            f"[green]ok[/] {escape(str(path))}: {len(results)} scenario(s), {total} step(s), "
            "every expectation holds"
        )
    else:
        _print_mismatch(path, failed)
    return 0 if failed is None else 1


def _print_mismatch(path: Path, m: Mismatch) -> None:
    output.out.print(
        f"[bold red]mismatch[/] {escape(str(path))}: scenario {escape(m.scenario)!r}, "
        f"step {m.step} ({escape(m.event)})"
    )
    for line in m.lines:
        style = "red" if line.startswith("  - ") else "green" if line.startswith("  + ") else ""
        text = escape(line)
        output.out.print(f"  [{style}]{text}[/]" if style else f"  {text}")
