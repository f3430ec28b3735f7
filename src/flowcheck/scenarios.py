"""Scenario files: a flow's steps with expectations, replayed by ``flowcheck simulate
--script``, loaded and saved by the web simulator and the REPL.

A scenario file (YAML or JSON) names a machine and lists steps::

    machine: checkout
    name: pay by card            # optional
    input: {planId: plan_pro}    # optional: the flow's input (context fields)
    steps:
      - event: PAYMENT_METHOD_ENTERED
        payload: {paymentMethodId: pm_card_visa}
        expect:
          state: paymentDetails            # this state (or each of a list) is active
          configuration: [paymentDetails]  # exactly these states are active (any order)
          context: {paymentMethodId: pm_card_visa}   # these fields have these values
          telemetry: [STATE_EXITED]        # exactly these analytics events fired, in order
          done: false                      # whether the flow reached a top-level final state
      - event: xstate.done.actor.startGeneration   # sent to a running child flow:
        actor: generateOutline                     # the invoke that runs it
        payload: {output: {jobId: job_1}}
        expect:
          actors:                          # the running child flows, by actor
            generateOutline: {configuration: [waiting]}

Every ``expect`` key is optional; ``state``, ``configuration``, ``context``,
``telemetry`` and ``done`` are about the top-level flow, ``actors`` about its running
child flows (the same keys, per actor). A file may instead hold ``paths: [{name,
steps}, ...]`` (what ``flowcheck paths --format json`` prints); each path then replays
from the initial configuration.

Nothing here prints: ``flowcheck.commands.scenario`` does.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flowcheck import inputs
from flowcheck.chart.model import Chart
from flowcheck.errors import FlowcheckError, InputError
from flowcheck.explain import refusal
from flowcheck.simulation import Session, StepRecord, unchanged

EXPECT_KEYS = ("state", "configuration", "context", "telemetry", "done", "actors")
STEP_KEYS = ("event", "payload", "actor", "expect")


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
        # A regular UTF-8 file within the input limit: never a FIFO, /dev/zero or binary.
        text = inputs.read_text(path, "scenario file")
    except InputError as exc:
        raise ScenarioError(str(exc)) from exc
    return parse(text, str(path), json_only=path.suffix == ".json")


def parse(text: str, where: str, json_only: bool = False) -> Any:
    """The parsed content of a scenario's text; ``where`` names it in errors."""
    try:
        if json_only:
            return json.loads(text)
        # The safe loader, refusing aliases that expand to more than a million nodes.
        return inputs.parse_yaml(text, where)
    except InputError as exc:
        raise ScenarioError(str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{where}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{where}{at}: not valid YAML ({problem})") from exc


def machine_of(where: str, data: Any) -> str | None:
    """The machine a scenario names, if any."""
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{where}: a scenario file is a mapping with 'machine' and 'steps' (or 'paths')"
        )
    named = data.get("machine")
    return str(named) if named is not None else None


def scenarios(where: str, data: Any, machine: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """(name, steps) for each scenario in the file, with the structure checked."""
    named = machine_of(where, data)
    if named is not None and named != machine:
        raise ScenarioError(
            f"{where}: the scenario is for machine {named!r}, not {machine!r}; "
            f"run it with `flowcheck simulate {named} --script {where}`"
        )
    if "paths" in data:
        items = data["paths"]
        if not isinstance(items, list):
            raise ScenarioError(f"{where}: 'paths' must be a list of {{name, steps}}")
        out = []
        for n, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise ScenarioError(f"{where}: path {n} must be a mapping with 'steps'")
            out.append((str(item.get("name", f"path {n}")), _steps(where, item)))
        return out
    default = Path(where).stem
    return [(str(data.get("name", default)), _steps(where, data))]


def input_of(where: str, data: Any) -> dict[str, Any] | None:
    """The flow's input a scenario starts with (``input:``), or None."""
    given = data.get("input") if isinstance(data, dict) else None
    if given is not None and not isinstance(given, dict):
        raise ScenarioError(f"{where}: 'input' must be a mapping of context fields")
    return given


def _steps(where: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise ScenarioError(
            f"{where}: 'steps' is missing or not a list of {{event, payload, expect}}"
        )
    for n, step in enumerate(steps, start=1):
        at = f"{where}: step {n}"
        if not isinstance(step, dict) or not isinstance(step.get("event"), str):
            raise ScenarioError(f"{at}: each step is a mapping with an 'event' name")
        unknown = sorted(set(step) - set(STEP_KEYS))
        if unknown:
            raise ScenarioError(
                f"{at} ({step['event']}): unknown key(s) {', '.join(unknown)}; "
                "a step has event, payload, actor and expect"
            )
        if not isinstance(step.get("payload") or {}, dict):
            raise ScenarioError(f"{at} ({step['event']}): 'payload' must be a mapping")
        if step.get("actor") is not None and not isinstance(step["actor"], str):
            raise ScenarioError(
                f"{at} ({step['event']}): 'actor' must be the id of the invoke that runs the "
                "child flow (generateOutline)"
            )
        _check_expect_shape(f"{at} ({step['event']})", step.get("expect") or {})
    return steps


def _check_expect_shape(at: str, expect: Any) -> None:
    if not isinstance(expect, dict):
        raise ScenarioError(f"{at}: 'expect' must be a mapping")
    bad = sorted(set(expect) - set(EXPECT_KEYS))
    if bad:
        raise ScenarioError(
            f"{at}: unknown expectation(s) {', '.join(bad)}; use {', '.join(EXPECT_KEYS)}"
        )
    actors = expect.get("actors")
    if actors is not None:
        if not isinstance(actors, dict):
            raise ScenarioError(f"{at}: 'actors' must map actor names to expectations")
        for name, sub in actors.items():
            _check_expect_shape(f"{at}, actor {name}", sub or {})


def check_names(at: str, session: Session, expect: dict[str, Any],
                chart: Chart | None = None) -> None:
    """Expectations that name states or fields the chart lacks are typos: say so."""
    chart = chart or session.chart
    states = [s.id for s in chart.states]
    named: list[Any] = []
    if "state" in expect:
        named += expect["state"] if isinstance(expect["state"], list) else [expect["state"]]
    if "configuration" in expect:
        if not isinstance(expect["configuration"], list):
            raise ScenarioError(f"{at}: 'configuration' must be a list of state ids")
        named += expect["configuration"]
    for sid in named:
        if sid not in states:
            raise ScenarioError(
                f"{at}: unknown state {sid!r} in expect; the states of {chart.name} are "
                f"{', '.join(states)}"
            )
    if "context" in expect:
        ctx = expect["context"]
        fields = [f.name for f in chart.context]
        if not isinstance(ctx, dict):
            raise ScenarioError(f"{at}: 'context' must be a mapping of field: value")
        for key in ctx:
            if key not in fields:
                raise ScenarioError(
                    f"{at}: unknown context field {key!r}; the fields are {', '.join(fields)}"
                )
    if "telemetry" in expect:
        tel = expect["telemetry"]
        if not isinstance(tel, list) or not all(
            isinstance(t, str) or (isinstance(t, dict) and isinstance(t.get("event"), str))
            for t in tel
        ):
            raise ScenarioError(
                f"{at}: 'telemetry' must be a list of event names "
                "(or {event, properties} mappings)"
            )
    if "done" in expect and not isinstance(expect["done"], bool):
        raise ScenarioError(f"{at}: 'done' must be true or false")
    for actor, sub in (expect.get("actors") or {}).items():
        child = actor_chart(session, chart, str(actor))
        if child is None:
            raise ScenarioError(
                f"{at}: actor {actor!r} is not a child flow {chart.name} invokes; its flow "
                f"invokes are {', '.join(_flow_invokes(session, chart)) or 'none'}"
            )
        check_names(f"{at}, actor {actor}", session, sub or {}, child)


def actor_chart(session: Session, chart: Chart, actor: str) -> Chart | None:
    """The chart the actor path ``a.b`` below ``chart`` runs, from the invokes alone."""
    for part in actor.split("."):
        found = session.child_chart(chart, part)
        if found is None:
            return None
        chart = found
    return chart


def _flow_invokes(session: Session, chart: Chart) -> list[str]:
    return [inv.id for _, inv in chart.invokes() if session.child_chart(chart, inv.id)]


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
    running = actual.get("actors") or {}
    for actor, sub in (expect.get("actors") or {}).items():
        if actor not in running:
            lines += [f"actor {actor} is not running",
                      f"  running: {', '.join(running) or '(none)'}"]
            continue
        lines += [f"actor {actor}: {line}" if not line.startswith(" ") else line
                  for line in compare(sub or {}, running[actor])]
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


def explain_step(session: Session, before: StepRecord, record: StepRecord) -> list[str]:
    """When ``record`` changed nothing, why (the guards that held its event back)."""
    if not unchanged(before, record) or record.event is None:
        return []
    actor = record.actor
    run = session.actor_run(actor, before)
    stepper = session.stepper_of(actor)
    return [refusal(stepper, run.snapshot, record.event, record.payload).message()]


def replay(
    where: str, session: Session, name: str, steps: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], Mismatch | None]:
    """Run one scenario from the initial configuration; stop at the first mismatch."""
    session.reset()
    described = [session.describe()]
    for n, step in enumerate(steps, start=1):
        event = step["event"]
        at = f"{where}: step {n} ({event})"
        expect = step.get("expect") or {}
        before = session.records[-1]
        try:
            record = session.send(event, step.get("payload") or {}, step.get("actor"))
        except FlowcheckError as exc:
            raise ScenarioError(f"{at}: {exc}") from exc
        actual = session.describe()
        described.append(actual)
        lines = compare(expect, actual)
        if lines:
            return described, Mismatch(name, n, event,
                                       explain_step(session, before, record) + lines)
    return described, None


# -- saving a session -----------------------------------------------------------------------


def from_session(session: Session, name: str) -> dict[str, Any]:
    """The session's steps as a scenario that passes on the current flow: every step
    expects the configuration it reached, the context fields it changed, the telemetry it
    fired, whether the flow is done, and the same for the child flows it moved."""
    data: dict[str, Any] = {"machine": session.chart.name, "name": name}
    if session.input:
        data["input"] = dict(session.input)
    steps = []
    for before, record in zip(session.records, session.records[1:], strict=False):
        step: dict[str, Any] = {"event": record.event}
        if record.actor:
            step["actor"] = record.actor
        if record.payload:
            step["payload"] = record.payload
        step["expect"] = _expectations(session, before, record)
        steps.append(step)
    data["steps"] = steps
    return data


def _expectations(session: Session, before: StepRecord, record: StepRecord) -> dict[str, Any]:
    view = session.describe(record)
    previous = session.describe(before)
    expect = _flow_expect(view, previous)
    actors: dict[str, Any] = {}
    for actor, now in view["actors"].items():
        was = previous["actors"].get(actor)
        same = was is not None and (was["configuration"], was["context"]) == (
            now["configuration"], now["context"])
        if same and actor != record.actor and not now["telemetry"]:
            continue
        actors[actor] = _flow_expect(now, was)
    if actors:
        expect["actors"] = actors
    return expect


def _flow_expect(view: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    expect: dict[str, Any] = {"configuration": view["configuration"]}
    if previous is None:  # a child flow just started: the fields it was given
        changed = {k: v for k, v in view["context"].items()
                   if v not in ("", None, [], {}, 0, False)}
    else:
        changed = {k: v for k, v in view["context"].items() if previous["context"].get(k) != v}
    if changed:
        expect["context"] = changed
    if view["telemetry"]:
        expect["telemetry"] = [t["event"] for t in view["telemetry"]]
    if view["done"]:
        expect["done"] = True
    return expect


def dump(data: dict[str, Any], header: str = "") -> str:
    """A scenario as YAML in the style of the bundled ones (flow-style leaves)."""
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100,
                          allow_unicode=True)
    lines = [f"# {line}".rstrip() for line in header.splitlines()] if header else []
    return "\n".join([*lines, text]) if lines else text


def header(machine: str, name: str, file: str) -> str:
    """The comment a saved scenario starts with: where it came from and how to run it."""
    return (f"{machine}: {name}\n"
            "Saved from a simulator session (flowcheck serve or flowcheck simulate).\n"
            f"Run: flowcheck simulate {machine} --script {file}")
