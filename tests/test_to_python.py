"""``flowcheck import machine.json --to-python``: the flow module it writes is the same machine.

Subjects: the four bundled flows, exported to XState JSON with their manifests and imported
back, and the corpus machines (``tests/data/xstate``) the flow DSL can express. For each,
the generated module is loaded as a project flow (``load_machine``) and must

- read back as the imported chart (the bundled flows, whose state ids are kept);
- verify with the same property statuses, finding counts and explored configurations;
- export to an XState config that behaves like the original in real XState: seeded
  random walks (user events with their payload examples, invoke outcomes, timers, and for
  each event a draw of every opaque guard's outcome, which both configs' guard stubs read
  from the event) replayed through ``conformance/run.mjs`` on both configs, the state
  value, context, status, output and recorded actions compared step by step.

What the DSL cannot express is refused naming the construct; names from the machine never
become code (a canary file that hostile names try to create is never created).
"""

from __future__ import annotations

import ast
import copy
import json
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flow_events import FLOWS, candidates

from flowcheck.chart.model import Chart, after_event
from flowcheck.cli import main
from flowcheck.declare import Flow, State, guard, read_chart, tag
from flowcheck.errors import MachineError
from flowcheck.formats.python import Origin, ToPythonError, chart_to_python
from flowcheck.formats.xstate import build_manifest, export_config, import_config
from flowcheck.formats.xstate.config import reenter_matters
from flowcheck.formats.xstate.export import export_files
from flowcheck.project import Machine, load_machine
from flowcheck.semantics import Stepper
from flowcheck.semantics.stepper import StepError
from flowcheck.verification import verify_chart

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(__file__).resolve().parent / "data" / "xstate"
HARNESS = ROOT / "conformance"
NODE = shutil.which("node")
HAS_XSTATE = NODE is not None and (HARNESS / "node_modules" / "xstate" / "package.json").is_file()
needs_xstate = pytest.mark.skipif(
    not HAS_XSTATE, reason="conformance/node_modules is missing: run `cd conformance && npm ci`")

CORPUS = (
    "applicant_request", "composer", "deep_target", "donut", "fetch", "flight_booker",
    "job_monitoring", "media_scanner", "parallel_execution", "parallel_history",
    "patient_onboarding", "provision_orders", "room_readings", "snake", "tic_tac_toe",
    "traffic_light_meta", "trivia",
)
"""Corpus machines the DSL expresses: nested, parallel and deep-history states, keys that
are not identifiers or repeat under two parents, opaque guards (with params), actions with
params, delays, eventless transitions, self-transitions without reenter, JSON context."""
WALKS = 40
LENGTH = 30

Sent = tuple[str, dict[str, Any]]


@dataclass
class Subject:
    name: str
    original: Chart
    config: dict[str, Any]
    manifest: dict[str, Any]
    machine: Machine
    text: str


def _write(chart: Chart, directory: Path, stem: str, origin: Origin) -> tuple[Machine, str]:
    text = chart_to_python(chart, origin)
    path = directory / f"{stem}.py"
    path.write_text(text, encoding="utf-8")
    return load_machine(path), text


@pytest.fixture(scope="session")
def subjects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Subject]:
    out: dict[str, Subject] = {}
    exported = tmp_path_factory.mktemp("exported")
    generated = tmp_path_factory.mktemp("generated")
    for name in FLOWS:
        project = load_machine(ROOT / "machines" / f"{name}.py")
        files = export_files(project.chart, name)
        for file, text in files.items():
            (exported / file).write_text(text, encoding="utf-8")
        chart, report = import_config(exported / f"{name}.json")
        assert report.manifest, name
        machine, text = _write(chart, generated, name, Origin(f"{name}.json", report.manifest))
        out[name] = Subject(name, chart, json.loads(files[f"{name}.json"]),
                            json.loads(files[f"{name}.manifest.json"]), machine, text)
    for name in CORPUS:
        file = CORPUS_DIR / f"{name}.json"
        chart, _ = import_config(file)
        machine, text = _write(chart, generated, name, Origin(file.name))
        out[name] = Subject(name, chart, json.loads(file.read_text(encoding="utf-8")),
                            build_manifest(chart), machine, text)
    return out


# -- reading back ---------------------------------------------------------------------------


def _comparable(chart: Chart) -> dict[str, Any]:
    """A chart as behaviour sees it: per state, its transitions grouped by event in order
    (the order between events is free), ``reenter`` only where it changes anything."""
    states = chart.state_map()
    out: dict[str, Any] = {"context": chart.model_dump(mode="json")["context"],
                           "initial": chart.initial, "output": chart.model_dump()["output"],
                           "events": chart.model_dump(mode="json")["events"],
                           "input": chart.model_dump(mode="json")["input"],
                           "entry": chart.model_dump(mode="json")["entry"], "states": []}
    for s in chart.states:
        data = s.model_dump(mode="json")
        by_event: dict[str, list[Any]] = {}
        for t in s.transitions:
            dumped = t.model_dump(mode="json")
            dumped.update(order=0, reenter=t.reenter and reenter_matters(t, states))
            by_event.setdefault(t.event or "", []).append(dumped)
        data["transitions"] = dict(sorted(by_event.items()))
        out["states"].append(data)
    return out


@pytest.mark.parametrize("name", FLOWS)
def test_the_generated_module_of_a_bundled_flow_reads_back_as_the_imported_chart(
    subjects: dict[str, Subject], name: str
) -> None:
    subject = subjects[name]
    assert _comparable(subject.machine.chart) == _comparable(subject.original)


def test_the_generated_checkout_reads_like_the_hand_written_one(
    subjects: dict[str, Subject]
) -> None:
    text = subjects["checkout"].text
    assert "class Checkout(Flow):" in text
    assert "    class failure(State.Compound):" in text
    assert 'paymentDetails = step("Enter or pick a payment method.", initial=True)' in text
    assert 'payment_method_chosen = guard("paymentMethodChosen", ' \
        'nonempty(ctx("paymentMethodId")))' in text
    assert "PAYMENT_SUBMITTED = paymentDetails.to(submittingPayment, " \
        "cond=payment_method_chosen)" in text
    assert "id=on_done(\"confirmPayment\")" in text
    # The default telemetry policy stands in for the exported tracks: none is written out.
    assert "STATE_ENTERED" not in text and "TelemetryPolicy" not in text


@pytest.mark.parametrize("name", ["checkout", "course_builder", "trivia", "parallel_history"])
def test_a_generated_module_passes_the_project_lint(
    subjects: dict[str, Subject], name: str, tmp_path: Path
) -> None:
    ruff = ROOT / ".venv" / "bin" / "ruff"
    if not ruff.is_file():
        pytest.skip("ruff is not installed in .venv")
    path = tmp_path / f"{name}.py"
    path.write_text(subjects[name].text, encoding="utf-8")
    proc = subprocess.run([str(ruff), "check", "--no-cache", str(path)], capture_output=True,
                          text=True, check=False, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_keys_that_are_not_identifiers_or_repeat_keep_their_state_value(
    subjects: dict[str, Subject]
) -> None:
    # parallel_history has `on` and `off` ... under two parents; snake has "New Game".
    for name in ("parallel_history", "snake", "donut"):
        original, generated = subjects[name].original, subjects[name].machine.chart
        assert [s.name for s in generated.states] == [s.name for s in original.states]
        assert len({s.id for s in generated.states}) == len(generated.states)
    assert "New Game" in subjects["snake"].text and 'key="New Game"' in subjects["snake"].text


# -- verification -------------------------------------------------------------------------


def _verdicts(chart: Chart, cls: type[Any] | None) -> dict[str, Any]:
    report = verify_chart(chart, machine_class=cls, examples=0,
                          profile="mirai" if cls is not None else "generic")
    return {
        "properties": {r.id: (r.status, len(r.findings)) for r in report.results},
        "configurations": report.stats["configurations"],
        "edges": report.stats["edges"],
    }


@pytest.mark.parametrize("name", [*FLOWS, *CORPUS])
def test_the_generated_flow_verifies_as_the_original(
    subjects: dict[str, Subject], name: str
) -> None:
    subject = subjects[name]
    if name in FLOWS:
        # The project's flow and the generated one, each with its python-statemachine class.
        original = load_machine(ROOT / "machines" / f"{name}.py")
        want = _verdicts(original.chart, original.cls)
        got = _verdicts(subject.machine.chart, subject.machine.cls)
    else:
        want = _verdicts(subject.original, None)
        got = _verdicts(subject.machine.chart, None)
    assert got == want


def test_an_opaque_guard_holding_on_a_targetless_eventless_transition_does_not_hang_python(
    subjects: dict[str, Subject],
) -> None:
    # snake's Moving state: always [{guard: "ate apple", actions: [...]}] with no target.
    # Held for a whole step it loops; the Stepper stops at its bound, and so must the
    # flow's Python run, or verifying the generated module would never end.
    machine = subjects["snake"].machine
    report = verify_chart(machine.chart, machine_class=machine.cls, examples=10,
                          profile="generic")
    statuses = {r.id: r.status for r in report.results}
    assert statuses["reachable"] == "proved"
    assert statuses["conformance"] != "failed", report.results


# -- behaviour in real XState -----------------------------------------------------------------


def _opaque(chart: Chart) -> list[tuple[str, str]]:
    """Opaque guards as (name, key): XState's stubs know the name, the Stepper the key."""
    return sorted({(t.guard.name, t.guard.key) for t in chart.transitions()
                   if t.guard is not None and t.guard.expr is None})


def walks(chart: Chart, seed: int) -> list[list[Sent]]:
    """Seeded random walks, mostly events some active state handles; each event carries
    the draw of every opaque guard's outcome (``$held`` for XState's stubs, ``$guards``
    for the Stepper)."""
    stepper = Stepper(chart)
    rng = random.Random(seed)
    opaque = _opaque(chart)
    out: list[list[Sent]] = []
    for _ in range(WALKS):
        snap, _ = stepper.initial(record=False)
        walk: list[Sent] = []
        for _ in range(LENGTH):
            if stepper.is_done(snap):
                break
            options = candidates(chart, stepper, snap)
            enabled = set(stepper.enabled_events(snap))
            handled = [o for o in options if o[0] in enabled]
            name, payload = rng.choice(handled if handled and rng.random() < 0.85 else options)
            if opaque:
                names = sorted({n for n, _ in opaque})
                held = [n for n in names if rng.random() < 0.5]
                payload = {**payload, "$held": held,
                           "$guards": {k: n in held for n, k in opaque}}
            walk.append((name, payload))
            try:
                snap, _ = stepper.step(snap, name, payload, record=False)
            except StepError:
                break
        out.append(walk)
    return out


def _stubbed(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with every opaque guard implemented as "named in the event's $held"."""
    out = copy.deepcopy(manifest)
    for name, spec in out.get("guards", {}).items():
        if not isinstance(spec, dict) or spec.get("expr") is None:
            out["guards"][name] = {"expr": {"op": "in", "args": [
                {"lit": name}, {"ref": "event.$held"}]}}
    return out


def _paths(chart: Chart) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for s in chart.states:
        out[s.id] = (*out[s.parent], s.name) if s.parent else (s.name,)
    return out


def renamed_events(original: Chart, generated: Chart) -> dict[str, str]:
    """Delay events are named after state ids, which the generated flow renames."""
    by_path = {path: sid for sid, path in _paths(generated).items()}
    ids = {sid: by_path[path] for sid, path in _paths(original).items()}
    return {after_event(t.delay, t.source): after_event(t.delay, ids[t.source])
            for t in original.transitions() if t.delay is not None}


def _entry(name: str, config: dict[str, Any], manifest: dict[str, Any],
           traces: list[list[Sent]], rename: dict[str, str] | None = None) -> dict[str, Any]:
    rename = rename or {}
    return {"name": name, "config": config, "manifest": _stubbed(manifest),
            "traces": [[{"type": rename.get(n, n), **p} for n, p in t] for t in traces]}


def _mutant(subject: Subject, directory: Path) -> Machine:
    """checkout with one guard dropped: a module that does not behave the same."""
    text = subject.text.replace(", cond=payment_requires_action", "", 1)
    assert text != subject.text
    path = directory / "checkout.py"
    path.write_text(text, encoding="utf-8")
    return load_machine(path)


@pytest.fixture(scope="session")
def replayed(
    subjects: dict[str, Subject], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[list[list[Sent]], list[Any], list[Any]]]:
    """Per subject: its walks, XState's steps on the original config and on the generated
    flow's export. Plus "mutant": checkout against a module with one guard dropped."""
    entries: list[dict[str, Any]] = []
    traces: dict[str, list[list[Sent]]] = {}
    for i, (name, s) in enumerate(subjects.items()):
        traces[name] = walks(s.original, seed=i)
        generated = s.machine.chart
        entries.append(_entry(f"{name}/original", s.config, s.manifest, traces[name]))
        entries.append(_entry(f"{name}/generated", export_config(generated),
                              build_manifest(generated), traces[name],
                              renamed_events(s.original, generated)))
    mutant = _mutant(subjects["checkout"], tmp_path_factory.mktemp("mutant")).chart
    traces["mutant"] = traces["checkout"]
    entries.append(_entry("mutant/original", subjects["checkout"].config,
                          subjects["checkout"].manifest, traces["mutant"]))
    entries.append(_entry("mutant/generated", export_config(mutant), build_manifest(mutant),
                          traces["mutant"]))
    assert NODE is not None
    proc = subprocess.run([NODE, str(HARNESS / "run.mjs"), "-"],
                          input=json.dumps({"machines": entries}), capture_output=True,
                          text=True, check=False, timeout=600)
    assert proc.returncode == 0, f"run.mjs failed: {proc.stdout[:2000]} {proc.stderr[:2000]}"
    steps = {m["name"]: m["traces"] for m in json.loads(proc.stdout)["machines"]}
    return {name: (traces[name], steps[f"{name}/original"], steps[f"{name}/generated"])
            for name in traces}


def mismatches(traces: list[list[Sent]], want: list[Any], got: list[Any]) -> list[str]:
    out: list[str] = []
    for events, a, b in zip(traces, want, got, strict=True):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                out.append(f"after {[n for n, _ in events[:i]]}: original {x} != generated {y}")
                break
        else:
            if len(a) != len(b):
                out.append(f"{[n for n, _ in events]}: {len(a)} steps vs {len(b)}")
    return out


@needs_xstate
@pytest.mark.parametrize("name", [*FLOWS, *CORPUS])
def test_the_exported_generated_flow_behaves_in_xstate_as_the_original(
    replayed: dict[str, tuple[list[list[Sent]], list[Any], list[Any]]], name: str
) -> None:
    traces, want, got = replayed[name]
    found = mismatches(traces, want, got)
    assert not found, f"{len(found)} diverging walks of {name}:\n" + "\n".join(found[:3])
    # The walks go somewhere: several state values, and no XState error on the way.
    values = {json.dumps(step["value"], sort_keys=True) for trace in want for step in trace
              if "value" in step}
    assert len(values) > 1
    assert sum(len(t) for t in traces) >= WALKS * 2
    assert not [s for trace in want for s in trace if "error" in s], name


@needs_xstate
def test_the_xstate_comparison_catches_a_module_that_behaves_differently(
    replayed: dict[str, tuple[list[list[Sent]], list[Any], list[Any]]],
) -> None:
    assert mismatches(*replayed["mutant"])


# -- what the DSL cannot say ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "construct"), [
    ("word", "a parallel root"),
    ("stopwatch", "a transition on the root"),
    ("check_inbox", "an invoke on the root"),
    ("todos", "a machine without states"),
    ("clerk_third_party", "a wildcard event"),
    ("vitals_check", "4 invokes on one state"),
    ("car_auction_bids", "a final state with an \"output\""),
    ("book_lending", "give the invoke an \"id\" without spaces"),
])
def test_a_machine_the_dsl_cannot_express_is_refused_naming_the_construct(
    name: str, construct: str
) -> None:
    chart, _ = import_config(CORPUS_DIR / f"{name}.json")
    with pytest.raises(ToPythonError, match=r"^machine .*: ") as info:
        chart_to_python(chart)
    assert construct in str(info.value)


def _config(**states: Any) -> dict[str, Any]:
    return {"id": "m", "initial": next(iter(states)), "states": states}


@pytest.mark.parametrize(("config", "construct"), [
    (_config(a={"on": {"GO": {"target": ["#m.b.x", "#m.b.y"]}}},
             b={"type": "parallel", "states": {"x": {}, "y": {}}}), "2 targets"),
    (_config(a={"on": {"GO": "b"}}, b={"type": "parallel", "states": {"x": {}, "y": {}},
                                       "on": {"AGAIN": "b"}}),
     "parallel state to itself without reenter"),
    (_config(a={"on": {"go on": "b"}}, b={}), "whitespace"),
    (_config(a={"on": {"error_x": "b"}}, b={}), "reserves"),
    (_config(a={"initial": "x", "states": {"x": {"on": {"GO": "y"}}, "y": {"on": {"BACK": "h"}},
                                          "h": {"type": "history"}}}),
     "history state"),
])
def test_a_construct_the_dsl_cannot_express_is_refused_with_a_fix(
    config: dict[str, Any], construct: str
) -> None:
    chart, _ = import_config(config)
    with pytest.raises(ToPythonError) as info:
        chart_to_python(chart)
    assert construct in str(info.value)
    assert ": " in str(info.value).split(construct, 1)[1]  # then the fix


def test_a_compound_state_targeting_itself_without_reenter_restarts_its_children(
    subjects: dict[str, Subject],
) -> None:
    # traffic_light_meta: red --POWER_OUTAGE--> red (XState default: no reenter).
    text = subjects["traffic_light_meta"].text
    assert "red.to(red.walk, internal=True)" in text


# -- hostile names ---------------------------------------------------------------------------------


def test_hostile_names_become_literals_and_run_nothing(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    evil = f'a"); open({str(canary)!r}, "w"); ("'
    doc = f'one\n"""\nopen({str(canary)!r}, "w")\n\\ end'
    event = f'E");open({str(canary)!r},"w");("'  # no space: python-statemachine splits at one
    config = {
        "id": f"m{evil}",
        "description": doc,
        "initial": evil,
        "context": {"note": evil},
        "states": {
            evil: {
                "description": doc,
                "tags": [evil],
                "entry": [{"type": evil, "params": {evil: evil, "x": [evil]}}],
                "on": {event: {"target": "b\n", "guard": {"type": evil,
                                                          "params": {"k": evil}}}},
                "invoke": {"id": "call", "src": evil, "input": {evil: {"ref": "context.note"}},
                           "onDone": "b\n"},
            },
            "b\n": {"type": "final", "description": evil},
        },
    }
    chart, _ = import_config(config)
    text = chart_to_python(chart, Origin(file=f"{evil}.json"))
    calls = {n.func.id for n in ast.walk(ast.parse(text))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "open" not in calls
    path = tmp_path / "hostile.py"
    path.write_text(text, encoding="utf-8")
    machine = load_machine(path)
    generated = machine.chart
    verify_chart(generated, machine_class=machine.cls, examples=5, profile="generic")
    guarded = next(t for t in generated.transitions() if t.event == event)
    assert guarded.guard is not None and json.loads(guarded.guard.params or "") == {"k": evil}
    flow = machine.cls()
    flow.send(event, **{"$guards": {guarded.guard.key: True}})
    assert not canary.exists()
    # Every name survives as data.
    assert generated.id == f"m{evil}"
    assert generated.description == doc
    assert [s.name for s in generated.states] == [evil, "b\n"]
    assert generated.states[0].description == doc and generated.states[0].tags == (evil,)
    assert generated.context[0].default == evil
    assert list(export_config(generated)["states"]) == [evil, "b\n"]
    assert [s.id for s in flow.configuration] == [generated.states[-1].id]  # the guard held


# -- the DSL pieces the generated modules use --------------------------------------------------


class _Opaque(Flow):
    flow_id = "opaque"
    idle = State(initial=True)
    yes = State(final=True)
    no = State(final=True)
    GO = idle.to(yes, cond=guard("isValid", opaque=True, params={"min": 3})) | idle.to(no)


def test_an_opaque_guard_is_explored_both_ways_and_keeps_its_params() -> None:
    chart = read_chart(_Opaque)
    g = chart.transitions()[0].guard
    assert g is not None and g.expr is None and json.loads(g.params or "") == {"min": 3}
    stepper = Stepper(chart)
    start, _ = stepper.initial(record=False)
    held = {g.key: True}  # isValid({"min":3}): the name and its params
    ends = {tuple(stepper.active_ids(stepper.step(start, "GO", {"$guards": outcomes},
                                                  record=False)[0])) for outcomes in (held, {})}
    assert ends == {("yes",), ("no",)}
    assert export_config(chart)["states"]["idle"]["on"]["GO"][0]["guard"] == {
        "type": "isValid", "params": {"min": 3}}
    flow = _Opaque()
    flow.send("GO", **{"$guards": held})
    assert [s.id for s in flow.configuration] == ["yes"]


def test_a_guard_is_either_declarative_or_opaque() -> None:
    with pytest.raises(TypeError, match="opaque=True"):
        guard("isValid")


def test_two_siblings_with_one_xstate_key_are_refused() -> None:
    class Twice(Flow):
        flow_id = "twice"
        first = tag(State(initial=True), key="same")
        second = tag(State(), key="same")
        GO = first.to(second)

    with pytest.raises(MachineError, match="both have the XState key 'same'"):
        read_chart(Twice)


# -- the command ---------------------------------------------------------------------------------


def test_import_to_python_writes_a_module_that_verifies(tmp_path: Path) -> None:
    target = tmp_path / "machines" / "trivia.py"
    assert main(["import", str(CORPUS_DIR / "trivia.json"), "--to-python", str(target)]) == 0
    assert load_machine(target).chart.id == "triviaMachine"
    assert main(["verify", str(target), "--profile", "generic"]) in (0, 1)


def test_import_to_python_does_not_replace_a_file_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "fetch.py"
    target.write_text("# mine\n", encoding="utf-8")
    assert main(["import", str(CORPUS_DIR / "fetch.json"), "--to-python", str(target)]) == 2
    assert target.read_text(encoding="utf-8") == "# mine\n"
    assert "--force" in capsys.readouterr().err
    assert main(["import", str(CORPUS_DIR / "fetch.json"), "--to-python", str(target),
                 "--force"]) == 0
    assert "class " in target.read_text(encoding="utf-8")


def test_import_to_python_refuses_a_machine_the_dsl_cannot_express_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "word.py"
    assert main(["import", str(CORPUS_DIR / "word.json"), "--to-python", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert "parallel root" in err and len(err.splitlines()) == 1
    assert not target.exists()


def test_import_to_python_wants_a_py_file(tmp_path: Path) -> None:
    assert main(["import", str(CORPUS_DIR / "fetch.json"), "--to-python",
                 str(tmp_path / "fetch.txt")]) == 2
