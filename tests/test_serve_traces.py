"""``flowcheck serve --traces FILE``: real traffic on the diagram and real sessions to play,
over real HTTP on a loopback port."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from trace_lines import trace_line

from flowcheck.cli import main
from flowcheck.commands.serve import load_traces
from flowcheck.project import Machine, find_settings
from flowcheck.web import Simulator, SimulatorServer, make_server

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_746_090_000.0
PAID = ("CHECKOUT_COMPLETED", {"planId": "plan_team", "paymentId": "pay_9f2"})


def lines_of(session: str, *items: tuple[float, Any], flow: str = "checkout") -> list[str]:
    """Trace lines at the given seconds: ``"start"``, ``"+state"``, ``"-state"``,
    ``"EVENT:state"`` or ``(event, properties)``."""
    return [trace_line(session, flow, item, int((T0 + at) * 1000))
            for at, item in items]


RUNS: dict[str, list[tuple[float, Any]]] = {
    # paid at once
    "tab-paid": [(0, "start"), (0, "+paymentDetails"), (30, "-paymentDetails"),
                 (30, "+submittingPayment"), (32, "-submittingPayment"), (32, "+completed"),
                 (32, "FLOW_COMPLETED:completed"), (32, PAID)],
    # a network error, retried, then paid
    "tab-retry": [(0, "start"), (0, "+paymentDetails"), (20, "-paymentDetails"),
                  (20, "+submittingPayment"), (21, "-submittingPayment"), (21, "+failure"),
                  (21, "+network_error"), (21, "FLOW_FAILED:network_error"),
                  (31, "-network_error"), (31, "-failure"), (31, "+submittingPayment"),
                  (33, "-submittingPayment"), (33, "+completed"),
                  (33, "FLOW_COMPLETED:completed"), (33, PAID)],
    # the tab closed on the payment form
    "tab-left": [(0, "start"), (0, "+paymentDetails")],
    # the frontend skipped submittingPayment: the model does not allow it
    "tab-skip": [(0, "start"), (0, "+paymentDetails"), (9, "-paymentDetails"),
                 (9, "+completed")],
}


def write_trace(path: Path) -> Path:
    """The four runs above, their lines interleaved as a day's file mixes tabs."""
    per = [lines_of(session, *items) for session, items in RUNS.items()]
    mixed = []
    for n in range(max(len(p) for p in per)):
        mixed += [p[n] for p in per if n < len(p)]
    path.write_text("\n".join(mixed) + "\n")
    return path


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_trace(tmp_path_factory.mktemp("traces") / "day.ndjson")


@pytest.fixture(scope="module")
def server(machines: dict[str, Machine], trace_file: Path) -> Iterator[SimulatorServer]:
    found = list(machines.values())
    traces = load_traces(trace_file, found, find_settings(ROOT))
    httpd = make_server(Simulator(found, traces=traces), "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def call(server: SimulatorServer, path: str, body: Any = None) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"Content-Type": "application/json"}
    request = urllib.request.Request(server.url + path.lstrip("/"), data=data, headers=headers,
                                     method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def checkout_of(server: SimulatorServer) -> dict[str, Any]:
    status, data = call(server, "/api/traces")
    assert status == 200 and data["loaded"] and data["source"] == "day.ndjson"
    (flow,) = data["flows"]
    assert isinstance(flow, dict)
    return flow


def run_of(flow: dict[str, Any], session: str) -> dict[str, Any]:
    (run,) = [r for r in flow["listed"] if r["session"] == session]
    assert isinstance(run, dict)
    return run


def test_the_runs_are_listed_per_flow_with_their_counts_by_outcome(
        server: SimulatorServer) -> None:
    flow = checkout_of(server)
    assert flow["machine"] == "checkout"
    assert flow["by_outcome"] == {"complete": 2, "cut off": 1, "deviating": 1}
    assert {r["session"]: r["outcome"] for r in flow["listed"]} == {
        "tab-paid": "complete", "tab-retry": "complete", "tab-left": "cut off",
        "tab-skip": "deviating"}
    assert flow["more"] is False
    assert run_of(flow, "tab-retry")["lines"] == 15


def test_label_weights_count_the_runs_that_took_each_drawn_transition(
        server: SimulatorServer) -> None:
    flow = checkout_of(server)
    status, svg = 200, server.diagram("checkout")
    assert status == 200
    labels = flow["labels"]
    # every weighted label is one the diagram draws
    for name in labels:
        assert f'data-transition="{name}"' in svg
    taken = {name: w["taken"] for name, w in labels.items() if w["taken"]}
    # both complete runs submitted; one retried once; the cut-off run took nothing
    events = dict(_label_events(svg))
    by_event: dict[str, int] = {}
    for name, n in taken.items():
        by_event[events[name]] = by_event.get(events[name], 0) + n
    assert by_event["PAYMENT_SUBMITTED"] == 2
    assert by_event["RETRY"] == 1
    assert "CHECKOUT_CANCELLED" not in by_event


def _label_events(svg: str) -> list[tuple[str, str]]:
    import re

    return re.findall(r'data-transition="(t\d+)" data-event="([^"]*)"', svg)


def test_playing_a_run_opens_a_session_with_its_input_and_explained_steps(
        server: SimulatorServer) -> None:
    run = run_of(checkout_of(server), "tab-retry")
    status, played = call(server, "/api/traces/play", {"run": run["id"]})
    assert status == 200, played
    assert played["run"]["session"] == "tab-retry"
    view = played["view"]
    assert view["machine"] == "checkout" and view["step"]["configuration"] == ["paymentDetails"]
    steps = played["steps"]
    assert [s["event"] for s in steps] == [
        "PAYMENT_METHOD_ENTERED", "PAYMENT_SUBMITTED", "xstate.error.actor.confirmPayment",
        "RETRY", "xstate.done.actor.confirmPayment"]
    assert steps[0]["inferred"] and steps[0]["lines"] == []
    # each step sits beside the real lines its telemetry sent, with their line numbers
    assert [(line["event"], line["properties"].get("state")) for line in steps[1]["lines"]] \
        == [("STATE_EXITED", "paymentDetails"), ("STATE_ENTERED", "submittingPayment")]
    assert all(line["line"] >= run["first_line"] for s in steps for line in s["lines"])
    assert sum(len(s["lines"]) for s in steps) == run["lines"] - 2  # the start's two lines
    # the steps replay in the session the play opened
    sid = view["session"]
    for step in steps:
        status, view = call(server, f"/api/session/{sid}/send",
                            {"event": step["event"], "payload": step["payload"]})
        assert status == 200, view
    assert view["step"]["configuration"] == ["completed"]
    assert played["deviation"] is None


def test_a_deviating_run_shows_where_it_deviates_and_what_the_model_allowed(
        server: SimulatorServer) -> None:
    run = run_of(checkout_of(server), "tab-skip")
    status, played = call(server, "/api/traces/play", {"run": run["id"]})
    assert status == 200, played
    deviation = played["deviation"]
    assert deviation["line"] == run["last_line"]
    assert deviation["properties"] == {"flow": "checkout", "state": "completed"}
    allowed = {(a["event"], a["properties"].get("state")) for a in deviation["allowed"]
               if not a.get("end")}
    assert ("STATE_ENTERED", "submittingPayment") in allowed


@pytest.mark.parametrize("run", [-1, 999, "0", True, None])
def test_an_unknown_run_is_a_400(server: SimulatorServer, run: Any) -> None:
    status, data = call(server, "/api/traces/play", {"run": run})
    assert status == 400 and "unknown run" in data["error"]


def test_without_traces_the_api_says_none_is_loaded(machines: dict[str, Machine]) -> None:
    httpd = make_server(Simulator(list(machines.values())), "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        assert call(httpd, "/api/traces") == (200, {"loaded": False})
        status, data = call(httpd, "/api/traces/play", {"run": 0})
        assert status == 400 and "--traces" in data["error"]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("text, message", [
    ("not json\n", "day.ndjson:1"),
    ('{"session": "s", "flow": "nosuchflow", "event": "FLOW_STARTED", "timestamp": 1}\n',
     "nosuchflow"),
])
def test_a_bad_trace_file_stops_serve_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    bad = tmp_path / "day.ndjson"
    bad.write_text(text)
    code = main(["serve", "--machines", str(ROOT / "machines"), "--port", "0",
                 "--traces", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_a_missing_trace_file_stops_serve(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--machines", str(ROOT / "machines"), "--port", "0",
                 "--traces", str(tmp_path / "nope.ndjson")])
    assert code == 2
    assert "nope.ndjson" in capsys.readouterr().err
