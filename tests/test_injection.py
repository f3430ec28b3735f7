"""Generated code cannot be injected: a machine's names are data, never code.

An XState config taken from outside (and its manifest) names states, events, guards,
actions, context fields, actors, tags and delays. Each generator writes such a name
either as a plain identifier (checked) or as a string literal, and never raw into a
comment. The machine below carries a payload in every kind of name, each breaking out
of one context (a line comment, a block comment, a single- or double-quoted string, a
template literal, an expression); the test exports it, loads every generated file in
Node (the typed module transpiled, imported and run; the JSON config started in XState)
and checks that no payload ran: ``globalThis.__pwned`` stays unset and no canary file
appears. A control test first proves the canaries fire when a payload does run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flowcheck.errors import FlowcheckError
from flowcheck.formats.xstate import export_files, import_config, shared_files

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "conformance" / "node_modules"
NODE = shutil.which("node")
LOADER = Path(__file__).resolve().parent / "load_generated.mjs"

needs_node = pytest.mark.skipif(
    NODE is None or not (PACKAGES / "typescript").is_dir() or not (PACKAGES / "xstate").is_dir(),
    reason="Node.js and conformance/node_modules (typescript, xstate) are needed",
)


def payload(tag: str) -> str:
    """JavaScript that sets ``globalThis.__pwned`` and writes the canary file (the loader
    puts its path in ``globalThis.__canary``) if it ever runs. No dots: it fits in a
    context field name, which a dotted path would split."""
    return (f"(globalThis['__pwned']='{tag}',process['getBuiltinModule']('fs')"
            f"['writeFileSync'](globalThis['__canary'],'{tag}'))")


def hostile_machine() -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """A config, its manifest and its events, each name breaking out of one context."""
    p = payload

    machine_id = f"m\n*/ {p('machine id')}; /*"
    state = f"s${{{p('state key')}}}`"
    guard = f"g'+{p('guard, single quotes')}+'"
    guard2 = f'h"+{p("guard, double quotes")}+"'
    narrowed = f"ok`${{{p('guard in a template')}}}`"
    field = f"a||{p('context field')}"
    event = f"GO\u2028{p('event')}"
    assign = f"set*/\n{p('assign')}//"
    custom = f"c\\'+{p('custom action')}+\\'"
    payload_field = f"x]||{p('payload field')}||["
    tag = f"t'+{p('tag')}+'"
    delay = f"d`+{p('delay')}+`"
    src = f"svc'+{p('actor')}+'"
    child = f"kid';{p('child flow')};'"
    raised = f"R\n{p('raised event')}"
    config = {
        "id": machine_id,
        "description": f"*/ {p('description')} /*",
        "initial": state,
        "context": {field: 0, "plain": ""},
        "states": {
            state: {
                "id": "start",
                "tags": [tag],
                "entry": [{"type": custom}, {"type": f"raise.{raised}"}],
                "invoke": [{"id": "call", "src": src,
                            "input": {field: {"ref": f"context.{field}"}},
                            "onDone": "done"},
                           {"id": "kid", "src": child}],
                "on": {
                    event: [{"target": "done", "guard": guard}, {"target": "done", "guard": guard2},
                            {"target": "done", "guard": narrowed, "actions": [assign]}],
                    "NEXT": {"target": "done", "actions": [assign]},
                },
                "after": {delay: "done"},
            },
            "done": {"id": "done", "type": "final"},
        },
    }
    manifest = {
        "guards": {
            guard: {"opaque": True},
            guard2: {"expr": {"op": "gt", "args": [{"ref": f"context.{field}"}, {"lit": 1}]}},
            narrowed: {"expr": {"op": "and", "args": [
                {"op": "nonempty", "args": [{"ref": f"event.{payload_field}"}]},
                {"op": "nonempty", "args": [{"ref": "event.note"}]}]}},
        },
        "actions": {
            assign: {"kind": "assign", "updates": {
                field: {"op": "add", "args": [{"ref": f"context.{field}"}, {"lit": 1}]},
                "plain": {"ref": f"context.{field}"}}},
            custom: {"kind": "custom", "params": {}, "declared": True},
            f"raise.{raised}": {"kind": "raise", "event": raised},
        },
        "actors": {
            src: {"kind": "rpc", "invokes": [{"id": "call", "outputs": [{p("output"): 1}],
                                              "errors": ["unavailable"]}]},
            child: {"kind": "flow", "invokes": [{"id": "kid", "outputs": [{}], "errors": []}]},
        },
        "events": [
            {"name": event, "description": p("event description"),
             "payload": [{"name": payload_field, "type": "string", "nullable": False,
                          "default": "", "examples": [], "enum": []},
                         {"name": "note", "type": "string", "nullable": False,
                          "default": None, "examples": ["x"], "enum": []}]},
            {"name": "NEXT", "description": "", "payload": []},
        ],
    }
    return config, manifest, [event, "NEXT", raised]


def _export(tmp_path: Path, config: dict[str, Any], manifest: dict[str, Any]) -> Path:
    chart, _ = import_config(config, manifest=manifest, name="hostile")
    out = tmp_path / "exports"
    out.mkdir()
    for name, text in {**export_files(chart, "hostile"), **shared_files()}.items():
        (out / name).write_text(text, encoding="utf-8")
    (out / "node_modules").symlink_to(PACKAGES)
    return out


def _load(out: Path, events: list[str], canary: Path) -> dict[str, Any]:
    assert NODE is not None
    done = subprocess.run([NODE, str(LOADER), str(out), "hostile", json.dumps(events),
                           str(canary)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "NODE_NO_WARNINGS": "1"})
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().split("\n")[-1])
    return report


@needs_node
def test_the_canaries_fire_when_a_payload_runs(tmp_path: Path) -> None:
    # The control: a payload pasted as code into the typed module sets both canaries.
    canary = tmp_path / "canary"
    config, manifest, events = hostile_machine()
    out = _export(tmp_path, config, manifest)
    module = out / "hostile.machine.ts"
    module.write_text(module.read_text() + f"\n{payload('control')};\n")
    report = _load(out, events, canary)
    assert report["pwned"] == "control"
    assert canary.read_text() == "control"


@needs_node
def test_no_name_of_a_hostile_machine_runs_when_its_exports_are_loaded(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    config, manifest, events = hostile_machine()
    out = _export(tmp_path, config, manifest)
    report = _load(out, events, canary)
    assert report["diagnostics"] == []  # every generated file still parses
    assert report["typed"] == len(events) + 1 and report["config"] == len(events) + 1
    assert report["pwned"] is None, report
    assert not canary.exists()


def test_comments_carry_no_line_end_and_cannot_be_closed() -> None:
    config, manifest, _ = hostile_machine()
    chart, _ = import_config(config, manifest=manifest, name="hostile")
    lines = export_files(chart, "hostile")["hostile.machine.ts"].split("\n")
    # The header is three comment lines whatever the machine id holds.
    assert [line[:3] for line in lines[:3]] == ["// ", "// ", "// "]
    assert "XState id `m\\n*\\/ (globalThis" in lines[0]
    # A doc comment naming the machine ends where it should, once.
    docs = [line for line in lines if line.startswith(("/** The data of the `m", "/** The `m"))]
    assert len(docs) == 2
    assert all(line.count("*/") == 1 and line.endswith("*/") for line in docs)
    assert not any("\u2028" in line or "\u2029" in line for line in lines)


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "x\ny", "nul\0"])
def test_a_flow_name_that_is_no_plain_file_name_is_refused(name: str) -> None:
    chart, _ = import_config({"id": "m", "initial": "a", "states": {"a": {}}})
    with pytest.raises(FlowcheckError, match="file name"):
        export_files(chart, name)


def test_a_name_that_would_set_a_prototype_is_refused() -> None:
    chart, _ = import_config({"id": "m", "initial": "a", "context": {"__proto__": 1},
                              "states": {"a": {}}})
    with pytest.raises(FlowcheckError, match="__proto__"):
        export_files(chart, "m")


# -- generated Python (``flowcheck import --to-python``) --------------------------------------


def py_payload(tag: str) -> str:
    """Python that writes ``tag`` into the file named by $CANARY if it ever runs (no dots,
    no quotes of one kind only: it breaks out of strings, docstrings and comments)."""
    return (f"getattr(getattr(__import__('pathlib'),'Path')(getattr(__import__('os'),"
            f"'environ')['CANARY']),'write_text')('{tag}')")


def python_hostile_machine() -> tuple[dict[str, Any], dict[str, Any]]:
    """A config and manifest whose names break out of every Python context."""
    p = py_payload
    guard, fguard = f"g'+{p('guard')}+'", f"h{{{p('f-string')}}}"
    assign, event = f"set'{p('assign')}'", f'E"+{p("event")}+"'
    key = f"s'''{p('state key')}'''"
    config = {
        "id": f'm\n"""\n{p("machine id")}\n"""',
        "description": f"'''\n{p('description')}\n\"\"\"\n{p('description, again')}\\",
        "initial": key,
        "context": {"a": 0, "plain": ""},
        "states": {
            key: {"id": "start", "description": f"#{p('comment')}\n{p('next line')}",
                  "tags": [f"t'+{p('tag')}+'"],
                  "invoke": {"id": "call", "src": f"svc'+{p('actor')}+'", "onDone": "done"},
                  "on": {event: [{"target": "done", "guard": guard, "actions": [assign]}],
                         "NEXT": {"target": "done", "guard": fguard}},
                  "after": {f"d'+{p('delay')}+'": "done"}},
            "done": {"id": "done", "type": "final"},
        },
    }
    manifest = {
        "guards": {guard: {"opaque": True},
                   fguard: {"expr": {"op": "gt", "args": [{"ref": "context.a"}, {"lit": 1}]}}},
        "actions": {assign: {"kind": "assign",
                             "updates": {"plain": {"lit": f"\\'{p('literal')}"}}}},
        "events": [{"name": event, "description": p("event description"), "payload": []},
                   {"name": "NEXT", "payload": []}],
    }
    return config, manifest


LOAD_FLOW = """
import sys
from pathlib import Path
from flowcheck.project import load_machine
machine = load_machine(Path(sys.argv[1]))
print(len(machine.chart.states), machine.chart.id == sys.argv[2])
"""


def _load_flow(module: Path, canary: Path, machine_id: str) -> str:
    done = subprocess.run([sys.executable, "-c", LOAD_FLOW, str(module), machine_id],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "CANARY": str(canary)})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def python_module(tmp_path: Path) -> tuple[Path, str]:
    to_python = pytest.importorskip("flowcheck.formats.python")
    config, manifest = python_hostile_machine()
    chart, _ = import_config(config, manifest=manifest, name="hostile")
    (tmp_path / "machines").mkdir()
    module = tmp_path / "machines" / "hostile.py"
    module.write_text(to_python.chart_to_python(chart), encoding="utf-8")
    return module, str(config["id"])


def test_the_python_canary_fires_when_a_payload_runs(
    python_module: tuple[Path, str], tmp_path: Path
) -> None:
    module, machine_id = python_module
    canary = tmp_path / "canary"
    module.write_text(module.read_text() + f"\n{py_payload('control')}\n")
    _load_flow(module, canary, machine_id)
    assert canary.read_text() == "control"


def test_no_name_of_a_hostile_machine_runs_when_its_python_module_is_loaded(
    python_module: tuple[Path, str], tmp_path: Path
) -> None:
    module, machine_id = python_module
    canary = tmp_path / "canary"
    assert _load_flow(module, canary, machine_id).split() == ["2", "True"]
    assert not canary.exists()
