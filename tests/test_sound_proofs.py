"""Sound proofs: a green "proved" holds for every environment the frontend can see.

Each defect here is a one-line edit of a bundled flow that stayed green while exploration
used only the examples someone wrote down, the declared error codes and the default
context. Every one must now fail the property a reader expects, with a shortest
counterexample that replays, including the input the flow was started with.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from variants import Variant, variant

from flowcheck.cli import main
from flowcheck.declare import (
    Flow,
    ctx,
    custom,
    eq,
    ev,
    ge,
    guard,
    lt,
    nonempty,
    read_chart,
    step,
    success,
)
from flowcheck.explore.domains import CONNECT_CODES, derive
from flowcheck.explore.graph import explore, replay
from flowcheck.properties.base import Finding
from flowcheck.semantics import Stepper
from flowcheck.verification import MachineReport


def _failed(report: MachineReport) -> dict[str, list[Finding]]:
    return {r.id: r.findings for r in report.results if r.status == "failed"}


def _assert_replays(report: MachineReport, finding: Finding) -> None:
    cx = finding.counterexample
    assert cx is not None, finding.message
    assert replay(Stepper(report.chart), list(cx.events), cx.input) == cx


# -- payloads: the classes the flow's expressions tell apart, not the examples ---------------

WALLET = (
    "PAYMENT_METHOD_ENTERED = paymentDetails.to(None, on=set_method)",
    "PAYMENT_METHOD_ENTERED = paymentDetails.to(None, cond=guard('methodGiven', "
    "nonempty(ev('paymentMethodId'))), on=set_method) | paymentDetails.to(submittingPayment, "
    "cond=guard('walletPay', eq(ev('paymentMethodId'), 'pm_wallet_apple')), on=set_method)",
)


def test_guards_overlapping_only_on_a_value_no_example_names_are_not_deterministic() -> None:
    report = variant("checkout", WALLET).verify("checkout")
    (finding, *_) = _failed(report)["deterministic"]
    assert "walletPay" in finding.message and "methodGiven" in finding.message
    assert finding.counterexample is not None
    assert finding.counterexample.events[-1] == (
        "PAYMENT_METHOD_ENTERED", {"paymentMethodId": "pm_wallet_apple"})
    _assert_replays(report, finding)


def test_a_literal_compared_with_a_plan_id_becomes_a_payload_class() -> None:
    # The team plan is paid, but a guard sends it down the free path too: both hold for it.
    project = variant("registration", (
        'free_plan = guard("freePlan", in_(ev("planId"), FREE_PLANS))',
        'free_plan = guard("freePlan", or_(in_(ev("planId"), FREE_PLANS), '
        'eq(ev("planId"), "plan_team")))',
    ), ("    in_,\n", "    in_,\n    or_,\n"))
    report = project.verify("registration")
    findings = _failed(report)["deterministic"]
    assert any(f.counterexample and f.counterexample.events[-1][1].get("planId") == "plan_team"
               for f in findings)


def test_each_payload_field_reports_how_many_classes_it_has() -> None:
    report = variant("checkout", WALLET).verify("checkout")
    classes = report.stats["domains"]
    # empty, the wallet literal, and any other method
    assert classes["PAYMENT_METHOD_ENTERED.paymentMethodId"] == 3
    assert classes["confirmPayment.error.code"] == 2


# -- error codes: all sixteen, whatever the flow lists ----------------------------------------


def test_an_error_code_the_flow_does_not_list_must_still_land_in_a_failure_state() -> None:
    project = variant(
        "generation",
        ("enqueuing.to(failure.network_error, on=enqueue_failed)",
         "enqueuing.to(failure.network_error, cond=guard('unreachable', "
         "is_code('unavailable')), on=enqueue_failed)"),
        ("    lt,\n", "    lt,\n    is_code,\n"),
    )
    report = project.verify("generation")
    (finding,) = _failed(report)["failure-explicit"]
    assert "resource_exhausted" in finding.message
    cx = finding.counterexample
    assert cx is not None
    code = cx.events[-1][1]["error"]["code"]
    assert code != "unavailable" and code in CONNECT_CODES
    assert cx.states[-1] == ("enqueuing",)
    _assert_replays(report, finding)


def test_a_flow_that_routes_every_code_explicitly_but_one_is_caught() -> None:
    # checkout without its fallback: only the two listed codes are routed.
    project = variant("checkout", (
        "submittingPayment.to(failure.network_error, on=set_error)",
        "submittingPayment.to(failure.network_error, cond=guard('unreachable', "
        "is_code('unavailable')), on=set_error)",
    ))
    report = project.verify("checkout")
    assert "failure-explicit" in _failed(report)


def test_every_invoke_is_explored_with_a_code_standing_for_the_codes_it_does_not_compare() -> None:
    chart = variant("checkout").machine("checkout").chart
    domains = derive(chart)
    codes = domains.codes["confirmPayment"]
    assert "failed_precondition" in codes  # compared: its own class
    assert any(c not in ("failed_precondition",) for c in codes)  # every other code
    assert domains.compared_codes["confirmPayment"] == ["failed_precondition"]


# -- inputs and composition -----------------------------------------------------------------------

OUTLINE_ONLY = (
    "Event(enqueuing.to(waiting, on=set_job)",
    "Event(enqueuing.to(waiting, cond=guard('outlineJob', eq(ctx('kind'), 'outline')), "
    "on=set_job)",
)


def test_a_child_flow_is_explored_from_every_input_class() -> None:
    report = variant("generation", OUTLINE_ONLY).verify("generation")
    (finding, *_) = _failed(report)["no-dead-end"]
    assert "startGeneration" in finding.message
    cx = finding.counterexample
    assert cx is not None and cx.input is not None and cx.input["kind"] == "lessons"
    _assert_replays(report, finding)


def test_a_child_that_hangs_for_the_input_its_parent_passes_fails_the_parent_too() -> None:
    report = variant("generation", OUTLINE_ONLY).verify("course_builder")
    failed = _failed(report)
    # The lessons generation can only end cancelled now: the editor is out of reach.
    assert "live-transitions" in failed or "reachable" in failed
    assert "completable" in failed


def test_a_parent_guard_on_an_outcome_the_child_never_produces_is_a_dead_transition() -> None:
    project = variant("course_builder", (
        'eq(output("outcome"), "cancelled"))', 'eq(output("outcome"), "canceled"))'))
    report = project.verify("course_builder")
    findings = _failed(report)["live-transitions"]
    assert any("generationCancelled" in f.message for f in findings)
    assert report.stats["domains"]["generateOutline.output"] >= 2


def test_a_parent_passes_its_reachable_contexts_as_the_child_input() -> None:
    project = variant("checkout", (
        "PAYMENT_SUBMITTED = paymentDetails.to(submittingPayment, cond=method_chosen)",
        "PAYMENT_SUBMITTED = paymentDetails.to(submittingPayment, cond=[method_chosen, "
        "guard('proPlan', eq(ctx('planId'), 'plan_pro'))])",
    ))
    report = project.verify("checkout")
    finding = _failed(report)["completable"][0]
    cx = finding.counterexample
    assert cx is not None and cx.input is not None and cx.input["planId"] != "plan_pro"
    _assert_replays(report, finding)


# -- what a proof rests on --------------------------------------------------------------------


def test_the_bundled_flows_are_proved_and_say_what_they_assume() -> None:
    project = variant("checkout")
    for name in ("checkout", "course_builder", "generation", "registration"):
        report = project.verify(name)
        assert not _failed(report), name
        assert report.stats["complete"], name
    generation = {r.id: r for r in project.verify("generation").results}
    assert generation["completable"].verdict.startswith("proved (assuming")
    assert any("POLL_INTERVAL" in a for a in generation["completable"].assumptions)
    checkout = {r.id: r for r in project.verify("checkout").results}
    assert checkout["completable"].verdict == "proved"


class _Draft(BaseModel):
    title: str = ""


class _Wizard(Flow):
    """A flow that declares no Input."""

    flow_id = "wizard"
    Context = _Draft

    start = step("Start.", initial=True)
    done = success("Done.")

    FINISHED = start.to(done)


def test_a_flow_without_input_declared_is_proved_assuming_its_default_context() -> None:
    from flowcheck.verification import verify_chart

    chart = read_chart(_Wizard, "wizard")
    report = verify_chart(chart, _Wizard, examples=0)
    completable = next(r for r in report.results if r.id == "completable")
    assert completable.status == "proved"
    assert any("default context" in a for a in completable.assumptions)


def test_too_many_payload_combinations_make_exploration_bounded_never_proved() -> None:
    fields = {f"flag{i}": (bool, False) for i in range(13)}  # 8192 combinations
    from pydantic import create_model

    payload = create_model("Flags", **fields)  # type: ignore[call-overload]

    class Many(Flow):
        flow_id = "many"
        payloads = {"FLAGS_SET": payload}  # noqa: RUF012
        start = step("Start.", initial=True)
        done = success("Done.")
        FLAGS_SET = start.to(done)

    chart = read_chart(Many, "many")
    graph = explore(chart)
    assert not graph.complete and graph.limit == "environment"


# -- the replay command ---------------------------------------------------------------------------


def test_a_printed_counterexample_with_an_input_replays_from_the_command_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    project: Variant = variant("generation", OUTLINE_ONLY)
    monkeypatch.chdir(project.root)
    code = main(["verify", "generation", "--examples", "0"])
    out = capsys.readouterr().out
    assert code == 1
    line = next(x for x in out.splitlines() if "replay:" in x and "--input" in x)
    events = line.split("--events '", 1)[1].split("'", 1)[0]
    given = line.split("--input '", 1)[1].split("'", 1)[0]
    code = main(["simulate", "generation", "--events", events, "--input", given, "--json"])
    steps = json.loads(capsys.readouterr().out)["steps"]
    assert code == 0
    assert json.loads(given)["kind"] == "lessons"
    assert steps[-1]["configuration"] == ["enqueuing"]


def test_simulate_refuses_an_input_that_names_no_context_field(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    code = main(["simulate", "generation", "--events", "", "--input", '{"colour": "red"}'])
    err = capsys.readouterr().err
    assert code == 2
    assert "colour" in err and "Traceback" not in err


class _Seats(BaseModel):
    seats: int = Field(1, ge=1, le=50)
    coupon: str = Field("", max_length=4)


class _Order(Flow):
    flow_id = "order"
    payloads = {"SEATS_CHOSEN": _Seats}  # noqa: RUF012

    choosing = step("Choose seats.", initial=True)
    ordered = success("Ordered.")

    SEATS_CHOSEN = choosing.to(ordered, cond=guard("team", ge(ev("seats"), 10))) | choosing.to(
        ordered, cond=guard("promo", eq(ev("coupon"), "TEAM")))


def test_numeric_boundaries_and_type_bounds_shape_a_payload_domain() -> None:
    domains = {d.name: d for d in derive(read_chart(_Order, "order")).fields}
    seats = domains["SEATS_CHOSEN.seats"].values
    assert {9, 10, 11} <= set(seats)  # around the literal compared with
    assert {1, 50} <= set(seats)  # the type's own bounds
    assert all(1 <= v <= 50 for v in seats)
    coupons = domains["SEATS_CHOSEN.coupon"].values
    assert "TEAM" in coupons
    assert any(c != "TEAM" for c in coupons)  # a value equal to no literal
    assert all(len(c) <= 4 for c in coupons)


# -- guards flowcheck cannot see into ---------------------------------------------------------

SIGN_IN = {
    "id": "signIn",
    "initial": "idle",
    "context": {},
    "states": {
        "idle": {"on": {"SUBMIT": [{"target": "checking", "guard": "isValid"},
                                   {"target": "invalid"}]}},
        "invalid": {"on": {"EDIT": "idle"}},
        "checking": {"always": [{"target": "done", "guard": "isKnownUser"},
                                {"target": "signup"}]},
        "signup": {"on": {"CREATE": "done"}},
        "done": {"type": "final"},
    },
}


def test_a_guard_without_a_body_is_explored_both_ways_and_the_proof_says_so() -> None:
    from flowcheck.formats.xstate.importer import import_config
    from flowcheck.verification import verify_chart

    chart, _ = import_config(SIGN_IN)
    report = verify_chart(chart, examples=0)
    results = {r.id: r for r in report.results}
    assert results["reachable"].status == "proved"  # checking, signup and done included
    assert results["live-transitions"].status == "proved"
    assumption = next(a for a in results["reachable"].assumptions if "without a body" in a)
    assert "isValid" in assumption and "isKnownUser" in assumption


def test_a_guard_without_a_body_in_the_initial_step_is_explored_both_ways() -> None:
    from flowcheck.formats.xstate.importer import import_config

    chart, _ = import_config({
        "id": "decide", "initial": "deciding", "context": {},
        "states": {
            "deciding": {"always": [{"target": "fast", "guard": "isReturning"},
                                    {"target": "slow"}]},
            "fast": {"on": {"GO": "done"}},
            "slow": {"on": {"GO": "done"}},
            "done": {"type": "final"},
        },
    })
    graph = explore(chart)
    seen = {s for node in range(graph.configurations) for s in graph.active(node)}
    assert {"decide.fast", "decide.slow"} <= seen
    node = next(n for n in range(graph.configurations) if "decide.fast" in graph.active(n))
    cx = graph.counterexample(node)
    assert cx.input == {"$guards": {"isReturning": True}}
    assert replay(Stepper(chart), list(cx.events), cx.input) == cx


def test_an_invoke_error_no_transition_takes_stops_the_machine_as_in_xstate() -> None:
    from flowcheck.formats.xstate.importer import import_config

    chart, _ = import_config({
        "id": "upload", "initial": "idle", "context": {},
        "states": {
            "idle": {"on": {"UPLOAD": "uploading"}},
            "uploading": {"invoke": {"id": "put", "src": "putFile",
                                     "onDone": "done"}},
            "done": {"type": "final"},
        },
    })
    stepper = Stepper(chart)
    snap, _ = stepper.initial()
    snap, _ = stepper.step(snap, "UPLOAD")
    errored, _ = stepper.step(snap, "xstate.error.actor.put", {"error": {"code": "unknown"}})
    assert stepper.is_errored(errored) and not stepper.is_done(errored)
    assert stepper.step(errored, "UPLOAD")[0] == errored  # a stopped machine takes nothing
    from flowcheck.verification import verify_chart

    report = verify_chart(chart, examples=0)
    (finding,) = _failed(report)["failure-explicit"]
    assert "stops the whole machine" in finding.message
    assert "no-dead-end" not in _failed(report)


def test_when_the_campaign_finds_a_case_exploration_missed_nothing_explored_is_proved() -> None:
    from flowcheck.explore.campaign import Campaign
    from flowcheck.properties import check_all
    from flowcheck.properties.base import Subject

    machine = variant("checkout").machine("checkout")
    graph = explore(machine.chart)
    seen = Campaign(ran=True, examples=1, abstraction_missed=True)
    results = {r.id: r for r in check_all(Subject(machine.chart, graph=graph, campaign=seen,
                                                  machine_class=machine.cls))}
    assert results["reachable"].status == "tested"
    assert results["completable"].status == "tested"
    assert results["telemetry"].status == "proved"  # read from the chart alone
    clean = Campaign(ran=True, examples=1)
    results = {r.id: r for r in check_all(Subject(machine.chart, graph=graph, campaign=clean,
                                                  machine_class=machine.cls))}
    assert results["reachable"].status == "proved"


class _Note(BaseModel):
    text: str = ""


class _Notes(Flow):
    """A flow whose only way on is a custom action on a targetless transition."""

    flow_id = "notes"
    Context = _Note

    writing = step("Write.", initial=True)
    done = success("Done.")

    NOTE_SAVED = writing.to(None, on=custom("saveDraft"))
    FINISHED = writing.to(done, cond=guard("hasText", nonempty(ctx("text"))))


def test_a_flows_custom_action_is_no_way_forward_where_it_changes_nothing() -> None:
    from flowcheck.verification import verify_chart

    chart = read_chart(_Notes, "notes")
    report = verify_chart(chart, _Notes, examples=0)
    failed = {r.id for r in report.results if r.status == "failed"}
    assert "no-dead-end" in failed  # the text never fills: saveDraft must not be counted


class _Grade(BaseModel):
    letter: str = ""
    score: int = Field(0, examples=[7])


class _Grading(Flow):
    flow_id = "grading"
    payloads = {"GRADED": _Grade}  # noqa: RUF012

    waiting = step("Wait.", initial=True)
    passed = success("Passed.")

    GRADED = waiting.to(passed, cond=guard("early", lt(ev("letter"), "M"))) | waiting.to(
        passed, cond=guard("halfway", ge(ev("score"), 2.5)))


def test_ordering_comparisons_give_values_on_both_sides_of_strings_and_fractions() -> None:
    domains = {d.name: d for d in derive(read_chart(_Grading, "grading")).fields}
    letters = domains["GRADED.letter"].values
    assert any(v < "M" for v in letters) and any(v >= "M" for v in letters)
    scores = domains["GRADED.score"].values
    assert any(v < 2.5 for v in scores) and any(v >= 2.5 for v in scores)
    assert all(isinstance(v, int) for v in scores)  # the field's type bounds the values
