"""XState export: the config, the manifest, the schema, atomic writes and `export --check`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flow_events import FLOWS

from flowcheck.commands import export as export_command
from flowcheck.errors import OutputError
from flowcheck.formats import atomic
from flowcheck.formats.xstate import build_manifest, export_config, export_files, shared_files
from flowcheck.formats.xstate.runtime import RUNTIME_FILE
from flowcheck.formats.xstate.schema import SCHEMA_FILE, SchemaError, validate_config
from flowcheck.project import Machine

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "exports"
HARNESS = ROOT / "conformance"


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("states", {}).values():
        found.extend(_walk(child))
    return found


def _transitions(node: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for group in (*node.get("on", {}).values(), *node.get("after", {}).values()):
        out.extend(group)
    out.extend(node.get("always", []))
    out.extend(node.get("onDone", []))
    for inv in node.get("invoke", []):
        out.extend(inv.get("onDone", []))
        out.extend(inv.get("onError", []))
    return out


@pytest.mark.parametrize("name", FLOWS)
def test_export_is_deterministic(machines: dict[str, Machine], name: str) -> None:
    from flowcheck.declare import read_chart

    chart = machines[name].chart
    again = read_chart(machines[name].cls, name)
    assert export_files(chart, name) == export_files(again, name)


@pytest.mark.parametrize("name", FLOWS)
def test_committed_exports_match_the_flows(machines: dict[str, Machine], name: str) -> None:
    for file_name, text in export_files(machines[name].chart, name).items():
        assert (EXPORTS / file_name).read_text(encoding="utf-8") == text, (
            f"exports/{file_name} is stale: run `flowcheck export`"
        )


def test_shared_files_are_committed() -> None:
    for file_name, text in shared_files().items():
        assert (EXPORTS / file_name).read_text(encoding="utf-8") == text


@pytest.mark.parametrize("name", FLOWS)
def test_every_state_and_invoke_has_an_explicit_id_and_targets_are_ids(
    machines: dict[str, Machine], name: str
) -> None:
    config = export_config(machines[name].chart)
    ids = set()
    for node in _walk(config)[1:]:
        assert "id" in node
        ids.add(node["id"])
        for inv in node.get("invoke", []):
            assert inv["id"] and inv["src"]
    for node in _walk(config):
        for t in _transitions(node):
            assert "cond" not in t
            targets = t.get("target", [])
            for target in [targets] if isinstance(targets, str) else targets:
                assert target.startswith("#") and target[1:] in ids


def test_invoke_outcomes_move_to_on_done_and_on_error(machines: dict[str, Machine]) -> None:
    config = export_config(machines["checkout"].chart)
    node = config["states"]["submittingPayment"]
    (invoke,) = node["invoke"]
    assert invoke["id"] == "confirmPayment"
    assert invoke["input"]["planId"] == {"ref": "context.planId"}
    assert [t["target"] for t in invoke["onDone"]] == ["#requiresAction", "#completed"]
    assert invoke["onDone"][0]["guard"] == {"type": "paymentRequiresAction"}
    assert not any(e.startswith("xstate.") for e in node.get("on", {}))


def test_named_delays_are_exported_under_after(machines: dict[str, Machine]) -> None:
    config = export_config(machines["generation"].chart)
    afters = [n["after"] for n in _walk(config) if "after" in n]
    assert afters and all("POLL_INTERVAL" in a for a in afters)
    assert build_manifest(machines["generation"].chart)["delays"] == {
        "POLL_INTERVAL": {"ms": 2000}
    }


def test_track_actions_carry_event_properties_and_include(machines: dict[str, Machine]) -> None:
    config = export_config(machines["checkout"].chart)
    entry = config["states"]["completed"]["entry"]
    assert {"type": "track", "params": {
        "event": "CHECKOUT_COMPLETED", "properties": {}, "include": ["planId", "paymentId"],
    }} in entry
    assert config["entry"] == [{"type": "track", "params": {
        "event": "FLOW_STARTED", "properties": {"flow": "checkout"}, "include": [],
    }}]


@pytest.mark.parametrize("name", FLOWS)
def test_manifest_implements_every_name_the_config_uses(
    machines: dict[str, Machine], name: str
) -> None:
    chart = machines[name].chart
    config, manifest = export_config(chart), build_manifest(chart)
    for node in _walk(config):
        for a in (*node.get("entry", []), *node.get("exit", [])):
            assert a["type"] in manifest["actions"]
        for t in _transitions(node):
            for a in t.get("actions", []):
                assert a["type"] in manifest["actions"]
            if "guard" in t:
                assert "expr" in manifest["guards"][t["guard"]["type"]]
        for inv in node.get("invoke", []):
            assert inv["id"] in [i["id"] for i in manifest["actors"][inv["src"]]["invokes"]]
        for delay in node.get("after", {}):
            assert delay in manifest["delays"]


def test_tracking_plan_lists_every_telemetry_event(machines: dict[str, Machine]) -> None:
    plan = {row["event"]: row for row in build_manifest(machines["checkout"].chart)["telemetry"]}
    assert {"FLOW_STARTED", "STATE_ENTERED", "STATE_EXITED", "FLOW_COMPLETED",
            "CHECKOUT_COMPLETED"} <= set(plan)
    assert plan["STATE_ENTERED"]["properties"] == ["flow", "state"]
    assert plan["CHECKOUT_COMPLETED"]["include"] == ["planId", "paymentId"]
    assert plan["CHECKOUT_COMPLETED"]["states"] == ["completed"]


def test_schema_accepts_every_export_and_refuses_v4_cond(machines: dict[str, Machine]) -> None:
    for name in FLOWS:
        validate_config(export_config(machines[name].chart), name)
    config = export_config(machines["checkout"].chart)
    config["states"]["paymentDetails"]["on"]["PAYMENT_SUBMITTED"][0]["cond"] = "x"
    with pytest.raises(SchemaError, match=r"PAYMENT_SUBMITTED\.0.*'cond'"):
        validate_config(config, "checkout.json")


def test_schema_refuses_a_target_that_is_not_an_id(machines: dict[str, Machine]) -> None:
    config = export_config(machines["checkout"].chart)
    config["states"]["paymentDetails"]["on"]["PAYMENT_SUBMITTED"][0]["target"] = "completed"
    with pytest.raises(SchemaError, match="target"):
        validate_config(config, "checkout.json")


def test_schema_file_is_generated_from_the_models() -> None:
    assert json.loads((EXPORTS / SCHEMA_FILE).read_text())["title"] == (
        "flowcheck XState v5 machine config"
    )


# -- writing ------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's machines with its own exports directory."""
    shutil.copytree(ROOT / "machines", tmp_path / "machines")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.flowcheck]\nmachines = ["machines"]\nexports = "exports"\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_export_then_check_is_clean(project: Path) -> None:
    assert export_command.run(machines=None, names=[], out=None, check_only=False) == 0
    assert export_command.run(machines=None, names=[], out=None, check_only=True) == 0
    assert (project / "exports" / "checkout.machine.ts").read_text().startswith(
        "// Generated by flowcheck"
    )


def test_check_fails_naming_the_stale_file_after_a_flow_is_edited(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export_command.run(machines=None, names=[], out=None, check_only=False)
    flow = project / "machines" / "checkout.py"
    flow.write_text(
        flow.read_text().replace("Enter or pick a payment method.", "Pick a card."),
        encoding="utf-8",
    )
    before = (project / "exports" / "checkout.json").read_bytes()
    capsys.readouterr()
    assert export_command.run(machines=None, names=[], out=None, check_only=True) == 1
    err = capsys.readouterr().err
    assert "stale: exports/checkout.json" in err
    assert "course_builder" not in err
    assert (project / "exports" / "checkout.json").read_bytes() == before


def test_check_names_missing_files(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export_command.run(machines=None, names=["checkout"], out=None, check_only=True) == 1
    assert "missing: exports/checkout.manifest.json" in capsys.readouterr().err
    assert not (project / "exports").exists()


def test_write_all_restores_every_file_when_one_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = tmp_path / "a.json"
    kept.write_text("old\n")
    new = tmp_path / "b.json"
    failing = tmp_path / "c.json"
    real = atomic._stage

    def flaky(path: Path, data: bytes, mode: int) -> None:
        if path.name == failing.name:
            raise OSError(28, "No space left on device")
        real(path, data, mode)

    monkeypatch.setattr(atomic, "_stage", flaky)
    with pytest.raises(OutputError):
        atomic.write_all({kept: b"new\n", new: b"new\n", failing: b"new\n"})
    assert kept.read_text() == "old\n"
    assert not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_write_atomic_leaves_no_temporary_file(tmp_path: Path) -> None:
    atomic.write_atomic(tmp_path / "x.json", b"{}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    assert (tmp_path / "x.json").stat().st_mode & 0o777 != 0o600


@pytest.mark.skipif(
    not (HARNESS / "node_modules" / "xstate").is_dir() or shutil.which("node") is None,
    reason="conformance/node_modules is missing: run `cd conformance && npm ci`",
)
def test_every_exported_config_loads_in_real_xstate(tmp_path: Path) -> None:
    request = {"machines": [
        {
            "name": name,
            "config": json.loads((EXPORTS / f"{name}.json").read_text()),
            "manifest": json.loads((EXPORTS / f"{name}.manifest.json").read_text()),
        }
        for name in FLOWS
    ]}
    (tmp_path / "load.json").write_text(json.dumps(request))
    node = shutil.which("node")
    assert node is not None
    proc = subprocess.run(
        [node, str(HARNESS / "run.mjs"), "--load", str(tmp_path / "load.json")],
        capture_output=True, text=True, check=False, timeout=120,
    )
    result = json.loads(proc.stdout)
    assert [m["ok"] for m in result["machines"]] == [True] * len(FLOWS), proc.stdout


def test_the_machine_output_is_in_the_config_the_manifest_and_the_module(
    machines: dict[str, Machine],
) -> None:
    files = export_files(machines["generation"].chart, "generation")
    config = json.loads(files["generation.json"])
    assert config["output"] == {
        "jobId": {"ref": "context.jobId"}, "outcome": {"ref": "context.outcome"},
    }
    manifest = json.loads(files["generation.manifest.json"])
    assert manifest["output"] == {
        "jobId": {
            "type": "string", "nullable": False, "enum": [], "expr": {"ref": "context.jobId"},
        },
        "outcome": {
            "type": "string", "nullable": False, "enum": ["", "succeeded", "cancelled"],
            "expr": {"ref": "context.outcome"},
        },
    }
    module = files["generation.machine.ts"]
    assert "export interface GenerationOutput {\n  jobId: string;\n" \
        "  outcome: '' | 'cancelled' | 'succeeded';\n}" in module
    assert "      output: GenerationOutput;\n" in module
    assert "    output: ({ context }: { context: GenerationContext }) => " \
        "({ jobId: context.jobId, outcome: context.outcome }),\n" in module


def test_a_send_to_the_parent_is_exported_as_a_named_action_with_its_event(
    machines: dict[str, Machine],
) -> None:
    files = export_files(machines["generation"].chart, "generation")
    config = json.loads(files["generation.json"])
    failed = config["states"]["failure"]["states"]["generation_failed"]
    assert failed["entry"][-1] == {"type": "notifyParentAiGenerationFailed"}
    manifest = json.loads(files["generation.manifest.json"])
    assert manifest["actions"]["notifyParentAiGenerationFailed"] == {
        "kind": "sendParent", "event": "AI_GENERATION_FAILED",
    }
    module = files["generation.machine.ts"]
    assert "import { assign, enqueueActions, fromPromise, setup } from 'xstate';" in module
    assert "if (self._parent) enqueue.sendParent({ type: 'AI_GENERATION_FAILED' });" in module


def test_a_flow_without_output_exports_none() -> None:
    from flowcheck.declare import Flow, State, read_chart

    class Quick(Flow):
        flow_id = "quick"
        start = State(initial=True)
        end = State(final=True)
        GO = start.to(end)

    files = export_files(read_chart(Quick), "quick")
    assert "output" not in json.loads(files["quick.json"])
    assert json.loads(files["quick.manifest.json"])["output"] == {}
    assert "QuickOutput" not in files["quick.machine.ts"]


# -- the typed modules -------------------------------------------------------------------------

_EXPORTED = re.compile(r"^export (?:interface|type|const|function) ([A-Za-z0-9_$]+)", re.M)


def test_no_two_modules_export_the_same_name(machines: dict[str, Machine]) -> None:
    modules = {name: export_files(machines[name].chart, name)[f"{name}.machine.ts"]
               for name in FLOWS}
    modules["flowcheck-runtime"] = shared_files()[RUNTIME_FILE]
    owners: dict[str, list[str]] = {}
    for module, text in modules.items():
        for exported in _EXPORTED.findall(text):
            owners.setdefault(exported, []).append(module)
    assert {n: m for n, m in owners.items() if len(m) > 1} == {}
    assert {"RpcError", "TrackParams", "TrackSink", "toRpcError"} <= set(owners)
    assert owners["RpcError"] == ["flowcheck-runtime"]


def test_modules_import_the_shared_runtime_instead_of_carrying_helpers(
    machines: dict[str, Machine],
) -> None:
    module = export_files(machines["generation"].chart, "generation")["generation.machine.ts"]
    assert "from './flowcheck-runtime';" in module
    assert "function equals(" not in module and "interface RpcError" not in module
    runtime = shared_files()[RUNTIME_FILE]
    assert runtime.startswith("// Generated by flowcheck")
    assert "`flowcheck export`" in runtime and "export function equals(" in runtime


def test_a_child_flow_is_typed_with_its_own_exported_machine(
    machines: dict[str, Machine],
) -> None:
    module = export_files(machines["course_builder"].chart, "course_builder")[
        "course_builder.machine.ts"]
    assert "import type { GenerationMachine } from './generation.machine';" in module
    assert "  flows: {\n    generation: GenerationMachine;\n  };" in module
    assert "        generateOutline: 'generation';\n        generateLessons: 'generation';\n" \
        in module
    assert "AnyActorLogic" not in module
    assert "export type CourseBuilderMachine = ReturnType<typeof createCourseBuilderMachine>;" \
        in module


def test_a_payload_field_with_a_default_may_be_left_out_and_reads_as_its_default(
    machines: dict[str, Machine],
) -> None:
    module = export_files(machines["course_builder"].chart, "course_builder")[
        "course_builder.machine.ts"]
    assert "  | { type: 'RETRY'; generationKey?: string }\n" in module
    assert "  | { type: 'TITLE_CHANGED'; title: string }\n" in module
    assert "generationKey: (event.generationKey ?? '')," in module
    manifest = build_manifest(machines["course_builder"].chart)
    retry = next(e for e in manifest["events"] if e["name"] == "RETRY")
    assert [(f["name"], f["required"]) for f in retry["payload"]] == [("generationKey", False)]


def test_internal_events_are_kept_out_of_the_events_users_send(
    machines: dict[str, Machine],
) -> None:
    module = export_files(machines["generation"].chart, "generation")["generation.machine.ts"]
    public = module.split("export type GenerationEvent =", 1)[1].split(";\n", 1)[0]
    internal = module.split("export type GenerationInternalEvent =", 1)[1].split(";\n\n", 1)[0]
    assert "xstate." not in public
    assert "'xstate.done.actor.startGeneration'" in internal
    assert "'xstate.error.actor.startGeneration'" in internal
    assert "'xstate.after.POLL_INTERVAL.waiting'" in internal
    assert "      events: GenerationEvent;\n" in module
    # The implementations still read them, through the widened event.
    assert "const event = received(sent);" in module


def test_tags_are_typed(machines: dict[str, Machine]) -> None:
    module = export_files(machines["checkout"].chart, "checkout")["checkout.machine.ts"]
    assert "export type CheckoutTag = 'abandoned' | 'failure' | 'step' | 'success';" in module
    assert "      tags: CheckoutTag;\n" in module


def test_a_declared_input_is_the_input_type_and_its_required_fields_have_no_default(
    machines: dict[str, Machine],
) -> None:
    chart = machines["generation"].chart
    module = export_files(chart, "generation")["generation.machine.ts"]
    assert ("export interface GenerationInput {\n  courseId: string;\n"
            "  kind: 'lessons' | 'outline';\n  idempotencyKey: string;\n}") in module
    defaults = module.split("export const generationDefaults", 1)[1].split("};", 1)[0]
    assert defaults.startswith(": Omit<GenerationContext, 'courseId' | 'kind' | 'idempotencyKey'>")
    assert "course_1" not in defaults and "gen-1" not in defaults and "outline" not in defaults
    assert "      input: GenerationInput;\n" in module
    assert "context: ({ input }) => ({ ...generationDefaults, ...input })," in module
    manifest = build_manifest(chart)
    assert [(f["name"], f["required"]) for f in manifest["input"]] == [
        ("courseId", True), ("kind", True), ("idempotencyKey", True),
    ]
    # The XState config keeps the flow's default context: what the Stepper starts from.
    assert export_config(chart)["context"]["courseId"] == "course_1"


def test_a_flow_without_input_starts_from_its_defaults(machines: dict[str, Machine]) -> None:
    chart = machines["course_builder"].chart
    module = export_files(chart, "course_builder")["course_builder.machine.ts"]
    assert "export type CourseBuilderInput = Record<string, never>;" in module
    assert "      input: CourseBuilderInput | void;\n" in module
    assert "context: () => ({ ...courseBuilderDefaults })," in module
    assert build_manifest(chart)["input"] == []


def test_a_flow_that_declares_no_input_takes_any_context_field() -> None:
    from flowcheck.declare import Flow, State, read_chart

    class Quick(Flow):
        flow_id = "quick"
        start = State(initial=True)
        end = State(final=True)
        GO = start.to(end)

    chart = read_chart(Quick)
    module = export_files(chart, "quick")["quick.machine.ts"]
    assert "export type QuickInput = Partial<QuickContext>;" in module
    assert "context: ({ input }) => ({ ...quickDefaults, ...(input ?? {}) })," in module
    assert build_manifest(chart)["input"] is None


def test_the_export_layers_import_downwards_only() -> None:
    """config is the lowest layer; manifest and typescript build on it; export on all."""
    import ast

    package = ROOT / "src" / "flowcheck" / "formats" / "xstate"
    allowed = {
        "config": set(), "runtime": set(), "schema": set(),
        "manifest": {"config"}, "typescript": {"config", "runtime"},
        "export": {"config", "manifest", "runtime", "schema", "typescript"},
    }
    for module, may in allowed.items():
        tree = ast.parse((package / f"{module}.py").read_text(encoding="utf-8"))
        siblings = {
            node.module.rsplit(".", 1)[-1] for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            and node.module.startswith("flowcheck.formats.xstate.")
        }
        assert siblings <= may, f"{module} imports {sorted(siblings - may)}"
