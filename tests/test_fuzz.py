"""Random charts and broken configs cannot break flowcheck.

Charts come from ``strategies.charts()`` (nesting, parallel regions, history,
guards, assigns, raise, invokes, eventless transitions, final states). On each:
verify's machinery finishes with a report, never an exception; the export
validates against the schema and an import of it exports the same bytes; and
real XState, given the export, agrees with the Stepper step by step on random
walks (all charts of a run go to the conformance harness in one request).

Configs from ``strategies.mutated_configs()`` are valid exports broken at random:
the importer either reads them or raises ImportFormatError, and what it reads
verifies and exports without crashing. A config carrying code in its guard,
action and param strings imports, verifies, exports and runs in XState without
running any of it.

The default example counts keep CI cheap; ``FLOWCHECK_FUZZ_EXAMPLES=5000`` runs
that many charts per test (and proportionally more mutated configs).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from flow_events import candidates
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import CODE_STRINGS, charts, mutated_configs
from test_conformance import _record

from flowcheck.chart.model import Chart
from flowcheck.errors import FlowcheckError, ImportFormatError
from flowcheck.formats.xstate import build_manifest, export_config, export_files, import_config
from flowcheck.semantics import Stepper
from flowcheck.semantics.stepper import StepError
from flowcheck.verification import verify_chart

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "conformance"
NODE = shutil.which("node")
HAS_XSTATE = NODE is not None and (HARNESS / "node_modules" / "xstate" / "package.json").is_file()
needs_xstate = pytest.mark.skipif(
    not HAS_XSTATE, reason="conformance/node_modules is missing: run `cd conformance && npm ci`")

LONG_RUN = int(os.environ.get("FLOWCHECK_FUZZ_EXAMPLES", "0"))


def examples(default: int) -> int:
    """``default`` in CI; the long run's count when FLOWCHECK_FUZZ_EXAMPLES is set."""
    return LONG_RUN * max(1, default // 60) if LONG_RUN else default


def fuzz(default: int) -> Any:
    return settings(max_examples=examples(default), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


Sent = tuple[str, dict[str, Any]]
WALKS = 6
WALK_LENGTH = 15


# -- verify ------------------------------------------------------------------------------------


@fuzz(60)
@given(charts())
def test_verify_finishes_on_any_chart_with_a_report(chart: Chart) -> None:
    report = verify_chart(chart, max_configurations=20_000, examples=0)
    graph = report.graph
    assert graph is not None
    starts = all(e.node >= 0 for e in graph.errors)
    assert graph.complete == starts
    if graph.errors:
        # A step that fails is a well-formed finding, with the path to it when there is one.
        [well_formed] = [r for r in report.results if r.id == "well-formed"]
        assert not well_formed.ok
        assert all(f.counterexample is not None for f in well_formed.findings) == starts


# -- export and import -------------------------------------------------------------------------


@fuzz(60)
@given(charts())
def test_an_exported_chart_imports_back_to_the_same_bytes(chart: Chart) -> None:
    files = export_files(chart, "fuzz")  # validates the config against the schema
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
        imported, report = import_config(Path(tmp) / "fuzz.json")
    assert report.opaque == []
    assert export_files(imported, "fuzz") == files


# -- real XState against the Stepper ------------------------------------------------------------


def random_walk(chart: Chart, stepper: Stepper, rng: random.Random) -> list[Sent]:
    """Events a user and the invoked actors could send, mostly ones some active state
    handles; ends at a final configuration or at a step that fails."""
    try:
        snap, _ = stepper.initial(record=False)
    except StepError:
        return []
    walk: list[Sent] = []
    for _ in range(WALK_LENGTH):
        if stepper.is_done(snap):
            break
        options = candidates(chart, stepper, snap)
        if not options:
            break
        handled = [o for o in options if o[0] in set(stepper.enabled_events(snap))]
        sent = rng.choice(handled if handled and rng.random() < 0.85 else options)
        walk.append(sent)
        try:
            snap, _ = stepper.step(snap, sent[0], sent[1], record=False)
        except StepError:
            break
    return walk


def stepper_steps(chart: Chart, events: list[Sent]) -> list[dict[str, Any]]:
    """The harness's step records, computed by the Stepper; a failing step is ``error``."""
    stepper = Stepper(chart)
    try:
        snap, executed = stepper.initial()
    except StepError:
        return [{"error": True}]
    steps = [_record(stepper, snap, executed)]
    for name, payload in events:
        try:
            snap, executed = stepper.step(snap, name, payload)
        except StepError:
            steps.append({"error": True})
            break
        steps.append(_record(stepper, snap, executed))
    return steps


HARNESS_BATCH = 100
"""Machines per harness run: one run in CI; a long run stays below V8's string limit."""


def _xstate(machines: list[dict[str, Any]]) -> list[list[list[dict[str, Any]]]]:
    assert NODE is not None
    out: list[list[list[dict[str, Any]]]] = []
    for start in range(0, len(machines), HARNESS_BATCH):
        batch = machines[start:start + HARNESS_BATCH]
        proc = subprocess.run(
            [NODE, str(HARNESS / "run.mjs"), "-"], input=json.dumps({"machines": batch}),
            capture_output=True, text=True, check=False, timeout=600,
        )
        assert proc.returncode == 0, f"run.mjs failed: {proc.stdout[:3000]} {proc.stderr[:2000]}"
        result = json.loads(proc.stdout)
        out += [[_until_error(trace) for trace in m["traces"]] for m in result["machines"]]
    return out


def _until_error(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """XState throws on an endless step, or (in initialTransition) returns status "error";
    either way the run is over, as when the Stepper raises StepError."""
    for i, step in enumerate(trace):
        if "error" in step or step.get("status") == "error":
            return [*trace[:i], {"error": True}]
    return trace


@needs_xstate
def test_xstate_runs_every_exported_random_chart_like_the_stepper() -> None:
    collected: list[tuple[Chart, list[list[Sent]]]] = []

    @fuzz(60)
    @given(charts(), st.randoms(use_true_random=False))
    def collect(chart: Chart, rng: random.Random) -> None:
        stepper = Stepper(chart)
        try:
            stepper.initial(record=False)
        except StepError:
            # Endless from the start: one run shows it (XState returns every action of
            # its 10,000 iterations, megabytes per run).
            collected.append((chart, [[]]))
            return
        collected.append((chart, [random_walk(chart, stepper, rng) for _ in range(WALKS)]))

    collect()
    machines = [
        {
            "name": f"fuzz{i}",
            "config": export_config(chart),
            "manifest": build_manifest(chart),
            "traces": [[{"type": n, **p} for n, p in walk] for walk in walks],
        }
        for i, (chart, walks) in enumerate(collected)
    ]
    failures: list[str] = []
    for (chart, walks), machine, actual in zip(collected, machines, _xstate(machines),
                                                strict=True):
        for walk, got in zip(walks, actual, strict=True):
            want = stepper_steps(chart, walk)
            if want != got:
                at = next((i for i, (w, g) in enumerate(zip(want, got, strict=False))
                           if w != g), min(len(want), len(got)))
                failures.append(
                    f"{machine['name']}: after {[n for n, _ in walk[:at]]}: stepper "
                    f"{want[at] if at < len(want) else None} != xstate "
                    f"{got[at] if at < len(got) else None}\n"
                    f"config: {json.dumps(machine['config'])}"
                )
                break
    assert not failures, f"{len(failures)} of {len(collected)} charts diverge; the smallest:\n" \
        + min(failures, key=len)


# -- broken configs ----------------------------------------------------------------------------


def _bases() -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    out: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for path in sorted((ROOT / "exports").glob("*.json")):
        if path.name.endswith(".manifest.json") or path.name.endswith(".schema.json"):
            continue
        manifest = path.with_name(path.name[:-len(".json")] + ".manifest.json")
        out.append((json.loads(path.read_text()), json.loads(manifest.read_text())))
    semantics = ROOT / "tests" / "data" / "semantics.json"
    out.append((json.loads(semantics.read_text()), None))
    return out


BASES = _bases()


@fuzz(150)
@given(st.data())
def test_the_importer_reads_a_broken_config_or_says_why(data: st.DataObject) -> None:
    base, manifest = data.draw(st.sampled_from(BASES))
    config = data.draw(mutated_configs([base]))
    if manifest is not None and data.draw(st.booleans()):
        manifest = data.draw(mutated_configs([manifest]))
    if not isinstance(config, dict | list):
        config = [config]  # a string would be read as a path
    try:
        chart, _ = import_config(config, manifest=manifest, name="mutant")
    except ImportFormatError as exc:
        assert str(exc).startswith("mutant") or "manifest" in str(exc), str(exc)
        assert "\n" not in str(exc)
        return
    # What the importer accepts, the rest of flowcheck handles or refuses with a reason.
    try:
        verify_chart(chart, max_configurations=300, examples=0)
        export_files(chart, "mutant")
    except FlowcheckError:
        pass


@fuzz(60)
@given(st.data())
def test_the_importer_reads_a_damaged_file_or_says_why(data: st.DataObject) -> None:
    base, _ = data.draw(st.sampled_from(BASES))
    raw = bytearray(json.dumps(base).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        how = data.draw(st.sampled_from(["cut", "insert", "flip"]))
        if how == "cut":
            del raw[at:at + data.draw(st.integers(1, 40))]
        elif how == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=4) | st.sampled_from(
                [b"{", b"}", b"[", b",", b'"', b"\xff", b"\\u0000", b"//", b"NaN"]))
        else:
            raw[at] = data.draw(st.integers(0, 255))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.json"
        path.write_bytes(bytes(raw))
        try:
            import_config(path)
        except ImportFormatError as exc:
            assert str(exc).startswith(str(path)), str(exc)


# -- untrusted files ---------------------------------------------------------------------------

MARKER = Path(tempfile.gettempdir()) / "flowcheck-pwned"


def _code_config() -> dict[str, Any]:
    """Code wherever a config holds names or strings: guards, actions, params, context."""
    py, js = CODE_STRINGS[0], CODE_STRINGS[2]
    return {
        "id": "untrusted",
        "initial": "start",
        "context": {"note": js},
        "states": {
            "start": {
                "entry": [{"type": py, "params": {"cmd": js, "py": py}}],
                "on": {
                    "GO": [{"target": "done", "guard": py, "actions": [js, "process.exit(1)"]}],
                    "NEXT": [{"target": "done", "guard": {"type": js}}],
                },
                "invoke": {"id": "call", "src": js, "input": {"x": py},
                           "onDone": "done", "onError": "done"},
            },
            "done": {"type": "final"},
        },
    }


def _code_manifest() -> dict[str, Any]:
    """Declares the code-named guards and actions, so that XState runs the config."""
    py, js = CODE_STRINGS[0], CODE_STRINGS[2]
    return {
        "guards": {py: {"expr": {"lit": True}}, js: {"expr": {"lit": False}}},
        "actions": {
            py: {"kind": "custom", "params": {}},
            js: {"kind": "custom", "params": {}},
            "process.exit(1)": {"kind": "custom", "params": {}},
        },
        "actors": {js: {"kind": "rpc", "invokes": [{"id": "call", "outputs": [{}],
                                                     "errors": ["unavailable"]}]}},
    }


@pytest.fixture
def no_marker() -> Any:
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists(), "code from a config file was run"


def test_code_in_a_config_without_a_manifest_is_never_run(
    tmp_path: Path, no_marker: None
) -> None:
    path = tmp_path / "untrusted.json"
    path.write_text(json.dumps(_code_config()), encoding="utf-8")
    chart, report = import_config(path)
    assert CODE_STRINGS[0] in report.opaque_guards
    verify_chart(chart, max_configurations=1000, examples=0)
    assert "untrusted.json" in export_files(chart, "untrusted")


@needs_xstate
def test_code_in_a_config_runs_in_xstate_as_plain_names(tmp_path: Path, no_marker: None) -> None:
    path = tmp_path / "untrusted.json"
    path.write_text(json.dumps(_code_config()), encoding="utf-8")
    (tmp_path / "untrusted.manifest.json").write_text(json.dumps(_code_manifest()))
    chart, report = import_config(path)
    assert report.opaque == []
    result = verify_chart(chart, max_configurations=1000, examples=0)
    assert result.stats["configurations"] == 2
    traces = [[("GO", {})], [("NEXT", {})], [("xstate.done.actor.call", {"output": {}})]]
    [actual] = _xstate([{
        "name": "untrusted",
        "config": export_config(chart),
        "manifest": build_manifest(chart),
        "traces": [[{"type": n, **p} for n, p in t] for t in traces],
    }])
    assert [t[-1].get("status") for t in actual] == ["done", "active", "done"]
    assert actual == [stepper_steps(chart, t) for t in traces]


# -- what the fuzzers found, pinned ------------------------------------------------------------


def _agree(config: dict[str, Any], manifest: dict[str, Any], events: list[Sent]) -> None:
    chart, _ = import_config(config, manifest=manifest, name="found")
    want = stepper_steps(chart, events)
    [[got]] = _xstate([{"name": "found", "config": config, "manifest": manifest,
                        "traces": [[{"type": n, **p} for n, p in events]]}])
    assert want == got


_TRACKS = {"actions": {"track": {"kind": "track"}, "notify": {"kind": "custom", "params": {}}}}


def _track(state: str) -> dict[str, Any]:
    return {"type": "track", "params": {"event": "ENTERED", "properties": {"state": state},
                                        "include": []}}


@needs_xstate
def test_a_parallel_states_own_transition_yields_to_a_regions() -> None:
    # XState selects from the regions first; the parallel state's own NEXT (an action
    # only) runs only when no region takes the event.
    config = {"id": "m", "initial": "p", "context": {}, "states": {"p": {
        "type": "parallel", "on": {"NEXT": [{"actions": [{"type": "notify"}]}]},
        "states": {"a": {"initial": "a1", "states": {"a1": {"on": {"NEXT": "a2"}}, "a2": {}}},
                   "b": {}}}}}
    _agree(config, _TRACKS, [("NEXT", {}), ("NEXT", {})])


@needs_xstate
def test_a_parallel_states_history_defaults_to_the_parallel_state() -> None:
    # Before anything was recorded, entering the history from a region leaves and
    # re-enters the whole parallel state (it used to crash the Stepper).
    regions = {
        "a": {"initial": "a1", "entry": [_track("a")], "states": {"a1": {}}},
        "b": {"entry": [_track("b")], "on": {"GO": "#h"}},
        "h": {"id": "h", "type": "history"},
    }
    config = {"id": "m", "initial": "p", "context": {}, "states": {"p": {
        "type": "parallel", "entry": [_track("p")], "exit": [_track("left p")],
        "states": regions}}}
    _agree(config, _TRACKS, [("GO", {})])


@needs_xstate
def test_a_transition_across_regions_does_not_reenter_the_parallel_state() -> None:
    config = {"id": "m", "initial": "p", "context": {}, "states": {"p": {
        "type": "parallel", "entry": [_track("p")], "states": {
            "a": {"initial": "a1", "states": {"a1": {"on": {"NEXT": "#b2"}}}},
            "b": {"initial": "b1", "entry": [_track("b")],
                  "states": {"b1": {}, "b2": {"id": "b2", "entry": [_track("b2")]}}}}}}}
    _agree(config, _TRACKS, [("NEXT", {})])


def test_an_object_assigned_to_the_context_can_be_explored() -> None:
    config = {"id": "m", "initial": "saving", "context": {"course": None}, "states": {
        "saving": {"invoke": {"id": "save", "src": "save", "onDone": {
            "target": "saved", "actions": [{"type": "keepCourse"}]}}},
        "saved": {"type": "final"}}}
    manifest = {"actions": {"keepCourse": {"kind": "assign", "updates": {
        "course": {"ref": "event.output"}}}},
        "actors": {"save": {"kind": "rpc", "invokes": [
            {"id": "save", "outputs": [{"id": "c1", "tags": ["a"]}], "errors": []}]}}}
    chart, _ = import_config(config, manifest=manifest, name="objects")
    report = verify_chart(chart, max_configurations=100, examples=0)
    # saving, saved, and saving stopped by an error no transition takes (XState's status
    # "error": the invoke has no onError)
    assert report.stats["configurations"] == 3 and report.stats["complete"]


@needs_xstate
def test_reenter_on_a_transition_to_a_history_state_is_exported() -> None:
    # The history restores the source itself: only reenter makes XState exit and enter it.
    config = {"id": "m", "initial": "form", "context": {}, "states": {"form": {
        "initial": "name", "states": {
            "name": {"entry": [_track("name")], "on": {"RESET": {"target": "#h",
                                                                   "reenter": True}}},
            "email": {},
            "h": {"id": "h", "type": "history"}}}}}
    chart, _ = import_config(config, manifest=_TRACKS, name="found")
    assert export_config(chart)["states"]["form"]["states"]["name"]["on"]["RESET"] == [
        {"target": "#h", "reenter": True}]
    _agree(config, _TRACKS, [("RESET", {}), ("RESET", {})])
