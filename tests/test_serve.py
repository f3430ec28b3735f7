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
    request = urllib.request.Request(server.url + path.lstrip("/"), data=data,
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
                                     method="POST")
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
