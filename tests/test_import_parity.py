"""XState machines from outside import as XState reads them, and are judged honestly.

Each test is a shape XState 5 accepts that the importer used to refuse or misread: root
transitions, path ids, ``#machine.path`` targets, any JSON context, guard and action params;
and the verdicts on what imports: guards without a body go both ways, an error no
transition takes stops the machine, names are XState's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowcheck.chart.model import Custom
from flowcheck.explore import explore
from flowcheck.formats.xstate.importer import import_config
from flowcheck.semantics import Stepper
from flowcheck.verification import verify_chart


def _statuses(config: dict[str, Any], profile: str | None = None) -> dict[str, str]:
    chart, _ = import_config(config)
    report = verify_chart(chart, examples=0, profile=profile)
    return {r.id: r.status for r in report.results}


WIZARD: dict[str, Any] = {
    "id": "wizard",
    "initial": "profile",
    "context": {"user": None, "items": [{"id": 1, "tags": ["a"]}], "ratio": 0.5},
    "on": {"RESET": {"target": ".profile", "actions": "clearAll"}},
    "states": {
        "profile": {
            "initial": "editing",
            "states": {
                "editing": {"on": {"NEXT": "#wizard.address.editing"}},
            },
        },
        "address": {
            "initial": "editing",
            "states": {
                "editing": {
                    "on": {
                        "NEXT": {"target": "#wizard.done",
                                 "guard": {"type": "isLongerThan", "params": {"min": 3}}},
                    },
                },
            },
        },
        "done": {"type": "final"},
    },
}


def test_the_same_key_under_two_parents_and_root_transitions_are_read() -> None:
    chart, _ = import_config(WIZARD)
    ids = {s.id for s in chart.states}
    assert {"wizard.profile.editing", "wizard.address.editing"} <= ids
    assert chart.root is not None
    (reset,) = chart.root.transitions
    assert reset.event == "RESET" and reset.targets == ("wizard.profile",)


def test_a_root_transition_fires_from_any_state_and_values_use_state_keys() -> None:
    chart, _ = import_config(WIZARD)
    stepper = Stepper(chart)
    snap, _ = stepper.initial()
    snap, _ = stepper.step(snap, "NEXT")
    assert stepper.value(snap) == {"address": "editing"}
    snap, _ = stepper.step(snap, "RESET")
    assert stepper.value(snap) == {"profile": "editing"}


def test_any_json_context_and_guard_params_are_kept() -> None:
    chart, report = import_config(WIZARD)
    assert {f.name for f in chart.context} == {"user", "items", "ratio"}
    guard = next(t.guard for t in chart.transitions() if t.guard is not None)
    assert guard.name == "isLongerThan" and json.loads(guard.params or "") == {"min": 3}
    assert "isLongerThan" in report.opaque_guards


def test_action_params_of_any_shape_are_the_machines_own_action() -> None:
    config = {
        "id": "m", "initial": "a", "context": {},
        "states": {"a": {"entry": [{"type": "track",
                                    "params": {"event": "STEP_ENTERED", "step": "x"}}]}},
    }
    chart, _ = import_config(config)
    (action,) = chart.states[0].entry
    assert isinstance(action, Custom) and dict(action.params) == {
        "event": "STEP_ENTERED", "step": "x"}


def test_a_guarded_final_transition_is_reachable_when_its_guard_may_hold() -> None:
    chart, _ = import_config(WIZARD)
    graph = explore(chart)
    reached = {s for n in range(graph.configurations) for s in graph.active(n)}
    assert "wizard.done" in reached


def test_xstate_names_invokes_delays_and_done_events_by_path() -> None:
    config = {
        "id": "auth", "initial": "authentication", "context": {},
        "states": {
            "authentication": {
                "initial": "signup",
                "states": {
                    "signup": {
                        "invoke": {"src": "signUp", "onDone": "#auth.verified"},
                        "after": {"1000": "slow"},
                    },
                    "slow": {"type": "final"},
                },
                "onDone": "verified",
            },
            "verified": {"type": "final"},
        },
    }
    chart, _ = import_config(config)
    events = {t.event for t in chart.transitions()}
    assert "xstate.done.actor.0.auth.authentication.signup" in events
    assert "xstate.after.1000.auth.authentication.signup" in events
    assert "xstate.done.state.auth.authentication" in events


def test_a_sound_outside_machine_passes_the_generic_profile() -> None:
    statuses = _statuses(WIZARD)
    assert "failed" not in statuses.values(), statuses
    assert statuses["telemetry"] == "skipped"  # a Mirai rule


def test_the_mirai_profile_can_be_asked_for_an_outside_machine() -> None:
    statuses = _statuses(WIZARD, profile="mirai")
    assert statuses["telemetry"] == "failed"


def test_a_side_file_gives_an_opaque_guard_a_body(tmp_path: Path) -> None:
    config = json.loads(json.dumps(WIZARD))
    config["states"]["address"]["states"]["editing"]["on"]["NEXT"]["guard"] = "isComplete"
    (tmp_path / "wizard.json").write_text(json.dumps(config), encoding="utf-8")
    never = {"op": "eq", "args": [{"ref": "context.ratio"}, {"lit": 2}]}
    (tmp_path / "wizard.flowcheck.json").write_text(
        json.dumps({"guards": {"isComplete": {"expr": never}}}), encoding="utf-8")
    chart, _ = import_config(tmp_path / "wizard.json")
    report = verify_chart(chart, examples=0)
    failed = {r.id for r in report.results if r.status == "failed"}
    assert "reachable" in failed  # done needs the guard, which can never hold now


SOUND = ["car_auction_bids", "clerk_third_party", "composer", "donut", "feedback",
         "flight_booker", "patient_onboarding", "tic_tac_toe", "tiles", "todos",
         "traffic_light_meta", "word"]
"""Corpus machines with no defect a generic rule catches (the others have invokes without
onError, dead ends, or states their own authors never reach)."""


@pytest.mark.parametrize("name", SOUND)
def test_a_sound_machine_from_the_corpus_exits_0_under_the_generic_profile(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowcheck.cli import main

    path = Path(__file__).parent / "data" / "xstate" / f"{name}.json"
    assert main(["verify", str(path), "--examples", "0"]) == 0, capsys.readouterr().out


def test_an_invoke_without_on_error_fails_the_generic_profile(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flowcheck.cli import main

    path = Path(__file__).parent / "data" / "xstate" / "friend.json"
    assert main(["verify", str(path), "--examples", "0", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failed = {p["id"] for p in report["machines"][0]["properties"] if not p["ok"]}
    assert failed == {"failure-explicit"}
