"""The web simulator's JSON API, over real HTTP on a loopback port, without a browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from flowcheck.project import Machine
from flowcheck.web import Simulator, SimulatorServer, make_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server(machines: dict[str, Machine]) -> Iterator[SimulatorServer]:
    httpd = make_server(Simulator(list(machines.values())), "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def fetch(server: SimulatorServer, path: str, body: Any = None) -> tuple[int, str, bytes]:
    """(status, content type, body) of GET ``path``, or of POST when ``body`` is given."""
    data = None if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"Content-Type": "application/json"}
    request = urllib.request.Request(server.url + path.lstrip("/"), data=data, headers=headers,
                                     method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def api(server: SimulatorServer, path: str, body: Any = None, status: int = 200) -> Any:
    got, content_type, raw = fetch(server, path, body)
    assert content_type == "application/json"
    data = json.loads(raw)
    assert got == status, data
    return data


def open_checkout(server: SimulatorServer) -> dict[str, Any]:
    view: dict[str, Any] = api(server, "/api/session", {"machine": "checkout"})
    return view


def send(server: SimulatorServer, sid: str, event: str, payload: Any = None,
         status: int = 200) -> Any:
    return api(server, f"/api/session/{sid}/send", {"event": event, "payload": payload}, status)


def test_machines_lists_every_discovered_flow(
    server: SimulatorServer, machines: dict[str, Machine]
) -> None:
    listed = api(server, "/api/machines")["machines"]
    assert [m["name"] for m in listed] == list(machines)


def test_machines_describe_event_payload_fields(server: SimulatorServer) -> None:
    checkout = next(m for m in api(server, "/api/machines")["machines"]
                    if m["name"] == "checkout")
    event = next(e for e in checkout["events"] if e["name"] == "PAYMENT_METHOD_ENTERED")
    assert event["fields"] == [{"name": "paymentMethodId", "type": "string", "nullable": False,
                                "default": None, "examples": ["pm_card_visa", ""], "enum": []}]


def test_a_new_session_starts_in_the_initial_configuration(server: SimulatorServer) -> None:
    view = open_checkout(server)
    assert view["step"]["configuration"] == ["paymentDetails"]
    assert [t["event"] for t in view["telemetry"]] == ["FLOW_STARTED", "STATE_ENTERED"]
    assert [a["event"] for a in view["actions"]] == [
        "PAYMENT_METHOD_ENTERED", "PAYMENT_SUBMITTED", "CHECKOUT_CANCELLED"]
    assert view["can_undo"] is False


def test_each_session_is_separate(server: SimulatorServer) -> None:
    first, second = open_checkout(server), open_checkout(server)
    send(server, first["session"], "CHECKOUT_CANCELLED")
    again = api(server, f"/api/session/{second['session']}")
    assert again["step"]["configuration"] == ["paymentDetails"]


def test_send_applies_the_payload_to_the_context(server: SimulatorServer) -> None:
    sid = open_checkout(server)["session"]
    view = send(server, sid, "PAYMENT_METHOD_ENTERED", {"paymentMethodId": "pm_card_visa"})
    assert view["step"]["context"]["paymentMethodId"] == "pm_card_visa"
    assert view["history"] == [
        {"event": "PAYMENT_METHOD_ENTERED", "payload": {"paymentMethodId": "pm_card_visa"}}]


def test_a_payload_of_the_wrong_type_is_a_400_naming_the_field(server: SimulatorServer) -> None:
    sid = open_checkout(server)["session"]
    error = send(server, sid, "PAYMENT_METHOD_ENTERED", {"paymentMethodId": 4}, status=400)
    assert "'paymentMethodId' must be string" in error["error"]


def test_a_missing_payload_field_is_a_400(server: SimulatorServer) -> None:
    sid = open_checkout(server)["session"]
    error = send(server, sid, "PAYMENT_METHOD_ENTERED", {}, status=400)
    assert "'paymentMethodId' (string) is required" in error["error"]


def test_an_unknown_event_is_a_400(server: SimulatorServer) -> None:
    sid = open_checkout(server)["session"]
    error = send(server, sid, "PAYMENT_TELEPORTED", status=400)
    assert "unknown event 'PAYMENT_TELEPORTED'" in error["error"]


def test_an_unknown_session_is_a_400(server: SimulatorServer) -> None:
    error = api(server, "/api/session/nope/undo", {}, status=400)
    assert "unknown session 'nope'" in error["error"]


def test_an_unknown_machine_is_a_400(server: SimulatorServer) -> None:
    error = api(server, "/api/session", {"machine": "onboarding"}, status=400)
    assert "unknown machine 'onboarding'" in error["error"]


def test_a_body_that_is_not_json_is_a_400(server: SimulatorServer) -> None:
    request = urllib.request.Request(server.url + "api/session", data=b"{machine",
                                     headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert "not valid JSON" in json.loads(caught.value.read())["error"]


def test_an_event_its_guard_blocks_is_not_kept_and_the_false_condition_is_named(
    server: SimulatorServer,
) -> None:
    sid = open_checkout(server)["session"]
    view = send(server, sid, "PAYMENT_SUBMITTED")
    assert view["step"]["configuration"] == ["paymentDetails"]
    assert view["history"] == []
    assert view["notice"] == "PAYMENT_SUBMITTED changed nothing: paymentMethodId is empty"


def test_invoke_outcomes_are_offered_with_example_outputs_and_error_codes(
    server: SimulatorServer,
) -> None:
    sid = open_checkout(server)["session"]
    send(server, sid, "PAYMENT_METHOD_ENTERED", {"paymentMethodId": "pm_card_visa"})
    view = send(server, sid, "PAYMENT_SUBMITTED")
    outcomes = [(a["kind"], a["payload"]) for a in view["actions"] if a["kind"] != "user"]
    assert outcomes == [
        ("done", {"output": {"paymentId": "pay_1", "status": "succeeded"}}),
        ("done", {"output": {"paymentId": "pay_1", "status": "requires_action"}}),
        ("error", {"error": {"code": "failed_precondition"}}),
        ("error", {"error": {"code": "unavailable"}}),
    ]


def test_an_invoke_error_outcome_lands_in_its_failure_state(server: SimulatorServer) -> None:
    sid = open_checkout(server)["session"]
    send(server, sid, "PAYMENT_METHOD_ENTERED", {"paymentMethodId": "pm_card_visa"})
    send(server, sid, "PAYMENT_SUBMITTED")
    view = send(server, sid, "xstate.error.actor.confirmPayment",
                {"error": {"code": "unavailable"}})
    assert view["step"]["configuration"] == ["failure", "network_error"]
    assert view["step"]["context"]["error"] == "unavailable"


def test_the_final_state_offers_no_event_and_refuses_more(server: SimulatorServer) -> None:
    sid = open_checkout(server)["session"]
    view = send(server, sid, "CHECKOUT_CANCELLED")
    assert view["step"]["done"] is True
    assert view["actions"] == []
    error = send(server, sid, "PAYMENT_SUBMITTED", status=400)
    assert "final state" in error["error"]


def test_undo_steps_back_one_event(server: SimulatorServer) -> None:
    sid = open_checkout(server)["session"]
    send(server, sid, "PAYMENT_METHOD_ENTERED", {"paymentMethodId": "pm_card_visa"})
    send(server, sid, "PAYMENT_SUBMITTED")
    view = api(server, f"/api/session/{sid}/undo", {})
    assert view["step"]["configuration"] == ["paymentDetails"]
    assert view["step"]["context"]["paymentMethodId"] == "pm_card_visa"
    assert len(view["history"]) == 1


def test_undo_at_the_initial_step_changes_nothing_and_says_so(server: SimulatorServer) -> None:
    sid = open_checkout(server)["session"]
    view = api(server, f"/api/session/{sid}/undo", {})
    assert view["step"]["configuration"] == ["paymentDetails"]
    assert view["notice"] == "nothing to undo: this is the initial step"


def test_reset_returns_to_the_initial_configuration_and_context(server: SimulatorServer) -> None:
    sid = open_checkout(server)["session"]
    send(server, sid, "PAYMENT_METHOD_ENTERED", {"paymentMethodId": "pm_card_visa"})
    send(server, sid, "CHECKOUT_CANCELLED")
    view = api(server, f"/api/session/{sid}/reset", {})
    assert view["step"]["configuration"] == ["paymentDetails"]
    assert view["step"]["context"]["paymentMethodId"] == ""
    assert view["history"] == []


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_the_diagram_tags_every_state_of_every_flow(
    server: SimulatorServer, machines: dict[str, Machine]
) -> None:
    for name, machine in machines.items():
        status, content_type, raw = fetch(server, f"/api/machines/{name}/diagram.svg")
        assert (status, content_type) == (200, "image/svg+xml")
        tagged = set(re.findall(r'data-state="([^"]+)"', raw.decode()))
        assert tagged == {s.id for s in machine.chart.states}, name


NETWORK_ERROR_REPORT = {
    "ok": False,
    "machines": [{
        "name": "checkout", "ok": False,
        "properties": [
            {"id": "reachable", "ok": True, "message": "every state is reachable",
             "counterexample": None},
            {"id": "failure-retry", "ok": False, "message": "network_error has no way out",
             "counterexample": {
                 "events": ["PAYMENT_METHOD_ENTERED", "PAYMENT_SUBMITTED",
                            "xstate.error.actor.confirmPayment"],
                 "states": [["paymentDetails"], ["paymentDetails"], ["submittingPayment"],
                            ["failure", "network_error"]]}},
        ],
    }],
}


def test_a_counterexample_without_payloads_gets_the_ones_that_reach_its_states(
    server: SimulatorServer,
) -> None:
    found = api(server, "/api/counterexamples", {"report": NETWORK_ERROR_REPORT})
    (entry,) = found["counterexamples"]
    assert (entry["machine"], entry["property"]) == ("checkout", "failure-retry")
    assert entry["steps"] == [
        {"event": "PAYMENT_METHOD_ENTERED", "payload": {"paymentMethodId": "pm_card_visa"}},
        {"event": "PAYMENT_SUBMITTED", "payload": {}},
        {"event": "xstate.error.actor.confirmPayment",
         "payload": {"error": {"code": "unavailable"}}},
    ]


def test_a_counterexample_report_may_be_sent_as_text(server: SimulatorServer) -> None:
    found = api(server, "/api/counterexamples", {"report": json.dumps(NETWORK_ERROR_REPORT)})
    assert [e["property"] for e in found["counterexamples"]] == ["failure-retry"]


def test_the_payloads_of_a_counterexample_are_replayed_as_given(server: SimulatorServer) -> None:
    report = {"machines": [{"name": "checkout", "properties": [{
        "id": "reachable", "ok": False, "message": "m",
        "counterexample": {"events": ["PAYMENT_METHOD_ENTERED"],
                           "payloads": [{"paymentMethodId": "pm_other"}],
                           "states": [["paymentDetails"], ["paymentDetails"]]}}]}]}
    (entry,) = api(server, "/api/counterexamples", {"report": report})["counterexamples"]
    assert entry["steps"] == [
        {"event": "PAYMENT_METHOD_ENTERED", "payload": {"paymentMethodId": "pm_other"}}]


def test_a_counterexample_that_no_longer_replays_names_its_step(server: SimulatorServer) -> None:
    report = {"machines": [{"name": "checkout", "properties": [{
        "id": "reachable", "ok": False, "message": "m",
        "counterexample": {"events": ["PAYMENT_SUBMITTED"],
                           "states": [["paymentDetails"], ["submittingPayment"]]}}]}]}
    (entry,) = api(server, "/api/counterexamples", {"report": report})["counterexamples"]
    assert "steps" not in entry
    assert entry["error"].startswith(
        "checkout: step 1 (PAYMENT_SUBMITTED) of the counterexample does not replay "
        "to reach submittingPayment")


def test_a_report_that_is_not_a_verify_report_is_a_400(server: SimulatorServer) -> None:
    error = api(server, "/api/counterexamples", {"report": "[1, 2]"}, status=400)
    assert "not a verify report" in error["error"]


def test_the_page_and_its_assets_are_served(server: SimulatorServer) -> None:
    status, content_type, page = fetch(server, "/")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert b'<script type="module" src="/static/simulator.js">' in page
    status, content_type, _ = fetch(server, "/static/simulator.js")
    assert (status, content_type) == (200, "text/javascript; charset=utf-8")


def test_only_the_static_files_are_served(server: SimulatorServer) -> None:
    assert fetch(server, "/static/..%2Fserver.py")[0] == 404
    assert fetch(server, "/static/.hidden")[0] == 404
    assert fetch(server, "/api/nothing")[0] == 404


def test_the_page_loads_nothing_from_the_network() -> None:
    static = resources.files("flowcheck.web").joinpath("static")
    for item in static.iterdir():
        text = item.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), item.name
        assert "@import" not in text, item.name


def test_serve_prints_its_url_and_stops_on_ctrl_c_with_exit_0() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowcheck.cli", "serve", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        with urllib.request.urlopen(url[0] + "api/machines", timeout=10) as response:
            assert response.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- designers: descriptions, guards explained, children inline, scenarios, links ----------------


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("scenarios")
    (directory / "checkout.yaml").write_text((ROOT / "scenarios" / "checkout.yaml").read_text())
    (directory / "broken.yaml").write_text("machine: checkout\nsteps: 3\n")
    return directory


@pytest.fixture(scope="module")
def studio(machines: dict[str, Machine], scenario_dir: Path) -> Iterator[SimulatorServer]:
    """A server with a scenarios directory of its own (saving writes there)."""
    httpd = make_server(Simulator(list(machines.values()), scenarios=scenario_dir),
                        "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _to_generating_outline(server: SimulatorServer) -> str:
    sid: str = api(server, "/api/session", {"machine": "course_builder"})["session"]
    for event, payload in [
        ("TITLE_CHANGED", {"title": "Go"}), ("DESIRED_OUTCOME_CHANGED", {"desiredOutcome": "CLI"}),
        ("BASICS_SUBMITTED", {}), ("xstate.done.actor.createCourse", {"output": {"courseId": "c"}}),
        ("SME_SELECTED", {"smeId": "s"}), ("SMES_CONFIRMED", {}),
        ("AUDIENCE_SELECTED", {"audienceId": "a"}), ("AUDIENCES_CONFIRMED", {"generationKey": "g"}),
        ("xstate.done.actor.setCourseTargeting", {"output": {}}),
    ]:
        send(server, sid, event, payload)
    return sid


def test_flows_are_described_by_their_module_docstring(server: SimulatorServer) -> None:
    listed = {m["name"]: m for m in api(server, "/api/machines")["machines"]}
    for name, info in listed.items():
        assert info["description"].startswith(name.replace("_", " ").capitalize()), name
    basics = next(s for s in listed["course_builder"]["states"] if s["id"] == "basics")
    assert basics["description"].startswith("Name the course")


def test_transitions_carry_their_guard_in_words(server: SimulatorServer) -> None:
    checkout = next(m for m in api(server, "/api/machines")["machines"]
                    if m["name"] == "checkout")
    submitted = next(t for t in checkout["transitions"] if t["event"] == "PAYMENT_SUBMITTED")
    assert submitted["condition"] == "paymentMethodId is not empty"


def test_each_event_says_whether_it_does_anything_now_and_why_not(
    server: SimulatorServer,
) -> None:
    view = api(server, "/api/session", {"machine": "course_builder"})
    by_event = {a["event"]: a for a in view["actions"]}
    assert by_event["TITLE_CHANGED"]["enabled"] is True
    assert by_event["BASICS_SUBMITTED"]["enabled"] is False
    assert by_event["BASICS_SUBMITTED"]["reason"].startswith(
        "BASICS_SUBMITTED changed nothing: title is empty; desiredOutcome is empty")


def test_check_explains_an_event_with_the_payload_being_typed(server: SimulatorServer) -> None:
    sid = open_checkout(server)["session"]
    blocked = api(server, f"/api/session/{sid}/check",
                  {"event": "PAYMENT_METHOD_ENTERED", "payload": {"paymentMethodId": ""}})
    assert blocked == {"enabled": True, "reason": None}  # it sets the field, even to ""
    view = send(server, sid, "PAYMENT_METHOD_ENTERED", {"paymentMethodId": ""})
    assert api(server, f"/api/session/{sid}/check", {"event": "PAYMENT_SUBMITTED",
                                                     "payload": {}}) == {
        "enabled": False, "reason": "PAYMENT_SUBMITTED changed nothing: paymentMethodId is empty"}
    assert len(api(server, f"/api/session/{sid}")["history"]) == len(view["history"])


def test_payload_fields_come_with_the_one_default_value(server: SimulatorServer) -> None:
    sid = _to_generating_outline(server)
    view = send(server, sid, "AI_GENERATION_FAILED")
    retry = next(a for a in view["actions"] if a["event"] == "RETRY")
    assert retry["payload"] == {"generationKey": "gen-2"}
    assert retry["fields"][0]["value"] == "gen-2"


def test_a_running_child_flow_is_in_the_view_with_its_own_events(
    server: SimulatorServer,
) -> None:
    view = api(server, f"/api/session/{_to_generating_outline(server)}")
    (child,) = view["actors"]
    assert (child["actor"], child["machine"], child["state"]) == (
        "generateOutline", "generation", "generatingOutline")
    assert child["step"]["configuration"] == ["enqueuing"]
    assert [a["event"] for a in child["actions"]] == [
        "xstate.done.actor.startGeneration", "xstate.error.actor.startGeneration",
        "GENERATION_CANCELLED"]
    shortcuts = [a for a in view["actions"] if a.get("shortcut")]
    assert {a["event"] for a in shortcuts} == {
        "xstate.done.actor.generateOutline", "xstate.error.actor.generateOutline"}


def test_events_sent_to_the_child_reach_the_parent_when_it_ends(server: SimulatorServer) -> None:
    sid = _to_generating_outline(server)
    for event, payload in [
        ("xstate.done.actor.startGeneration", {"output": {"jobId": "job_4"}}),
        ("xstate.after.POLL_INTERVAL.waiting", {}),
        ("xstate.done.actor.getGenerationJob", {"output": {"jobId": "job_4",
                                                           "status": "succeeded"}}),
    ]:
        view = api(server, f"/api/session/{sid}/send",
                   {"event": event, "payload": payload, "actor": "generateOutline"})
    assert view["step"]["configuration"] == ["reviewingOutline"]
    assert view["deliveries"] == [{
        "actor": "generateOutline", "event": "xstate.done.actor.generateOutline",
        "payload": {"output": {"jobId": "job_4", "outcome": "succeeded"}}}]
    assert view["history"][-1]["actor"] == "generateOutline"
    assert any(t.get("actor") == "generateOutline" for t in view["telemetry"])


def test_what_can_go_wrong_groups_every_code_by_where_it_lands(server: SimulatorServer) -> None:
    sid = open_checkout(server)["session"]
    send(server, sid, "PAYMENT_METHOD_ENTERED", {"paymentMethodId": "pm_card_visa"})
    view = send(server, sid, "PAYMENT_SUBMITTED")
    outcomes = {tuple(o["lands"]): o for o in view["whatif"]}
    declined = outcomes[("failure", "payment_declined")]
    assert declined["codes"] == ["failed_precondition"]
    network = outcomes[("failure", "network_error")]
    assert len(network["codes"]) == 15 and network["codes"][0] == "unavailable"
    assert [(r["event"], r["leads_to"]) for r in network["recovery"]] == [
        ("RETRY", ["submittingPayment"])]


def test_a_shared_link_s_steps_replay_into_a_new_session(server: SimulatorServer) -> None:
    view = api(server, "/api/session", {"machine": "checkout", "steps": [
        {"event": "PAYMENT_METHOD_ENTERED", "payload": {"paymentMethodId": "pm_1"}},
        {"event": "PAYMENT_SUBMITTED", "payload": {}},
    ]})
    assert view["step"]["configuration"] == ["submittingPayment"]
    assert view["notice"] is None


def test_a_shared_link_that_no_longer_replays_stops_at_its_step_and_says_so(
    server: SimulatorServer,
) -> None:
    view = api(server, "/api/session", {"machine": "checkout", "steps": [
        {"event": "PAYMENT_SUBMITTED", "payload": {}},
    ]})
    assert view["history"] == []
    assert view["notice"].startswith("the link's step 1 (PAYMENT_SUBMITTED) changes nothing")


def test_the_session_downloads_as_a_scenario_file(server: SimulatorServer) -> None:
    sid = open_checkout(server)["session"]
    send(server, sid, "CHECKOUT_CANCELLED")
    status, content_type, raw = fetch(server, f"/api/session/{sid}/scenario.yaml?name=gave+up")
    assert (status, content_type) == (200, "application/yaml; charset=utf-8")
    text = raw.decode()
    assert text.startswith("# checkout: gave up\n")
    assert "- event: CHECKOUT_CANCELLED" in text and "done: true" in text


def _post_as(server: SimulatorServer, path: str, body: Any,
             headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(server.url + path.lstrip("/"), method="POST",
                                     data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_saving_writes_the_scenario_into_the_scenarios_directory(
    studio: SimulatorServer, scenario_dir: Path
) -> None:
    sid = open_checkout(studio)["session"]
    send(studio, sid, "CHECKOUT_CANCELLED")
    status, saved = _post_as(studio, f"/api/session/{sid}/scenario",
                             {"name": "gave up", "file": "checkout_gave_up"},
                             {"Content-Type": "application/json"})
    assert status == 200, saved
    assert saved["path"] == "scenarios/checkout_gave_up.yaml"
    assert (scenario_dir / "checkout_gave_up.yaml").read_text() == saved["yaml"]
    status, again = _post_as(studio, f"/api/session/{sid}/scenario",
                             {"name": "gave up", "file": "checkout_gave_up"},
                             {"Content-Type": "application/json"})
    assert status == 400 and "exists already" in again["error"]


def test_saving_refuses_names_that_leave_the_directory(studio: SimulatorServer) -> None:
    sid = open_checkout(studio)["session"]
    status, error = _post_as(studio, f"/api/session/{sid}/scenario",
                             {"name": "x", "file": "../escape"},
                             {"Content-Type": "application/json"})
    assert status == 400 and "scenario file name" in error["error"]


def test_saving_is_refused_to_another_site_s_page(
    studio: SimulatorServer, scenario_dir: Path
) -> None:
    sid = open_checkout(studio)["session"]
    for headers, status, words in (
        ({"Content-Type": "application/json", "Origin": "http://evil.example"}, 403,
         "another site's page"),
        ({"Content-Type": "text/plain"}, 415, "must carry JSON"),
        ({"Content-Type": "application/json", "Host": "evil.example:80"}, 403,
         "DNS rebinding"),
    ):
        got, error = _post_as(studio, f"/api/session/{sid}/scenario",
                              {"name": "x", "file": "evil"}, headers)
        assert (got, words in error["error"]) == (status, True), (headers, error)
    assert not (scenario_dir / "evil.yaml").exists()


def test_the_scenario_files_are_listed_and_one_is_read_with_its_steps(
    studio: SimulatorServer,
) -> None:
    listed = {f["file"]: f for f in api(studio, "/api/scenarios")["scenarios"]}
    assert listed["checkout.yaml"]["machine"] == "checkout"
    assert "'steps' is missing" in listed["broken.yaml"]["error"]
    loaded = api(studio, "/api/scenarios/checkout.yaml")
    (scenario,) = loaded["scenarios"]
    assert scenario["steps"][0]["event"] == "PAYMENT_METHOD_ENTERED"


def test_a_scenario_step_sent_with_its_expectations_says_which_do_not_hold(
    server: SimulatorServer,
) -> None:
    sid = open_checkout(server)["session"]
    view = api(server, f"/api/session/{sid}/send", {
        "event": "CHECKOUT_CANCELLED", "payload": {},
        "expect": {"configuration": ["paymentDetails"]}})
    assert view["check"][:3] == ["configuration", "  expected: paymentDetails",
                                 "  actual:   cancelled"]
