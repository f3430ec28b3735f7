"""``flowcheck traces report``: the numbers of a report on runs written by hand, and the HTML
page (self-contained, every name escaped).

Five checkout runs, each a kind of user, with the time of each line given:

- A pays at once;
- B meets a network error, retries and pays;
- C is declined and closes the tab there;
- D is declined, changes the payment method (a retry), and cancels;
- E closes the tab on the payment form.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from trace_lines import trace_line

from flowcheck.chart.model import Chart, EventSpec, State, Track, Transition
from flowcheck.cli import main
from flowcheck.project import Machine
from flowcheck.traces.automaton import Automaton
from flowcheck.traces.format import TraceEvent, parse
from flowcheck.traces.html import render
from flowcheck.traces.replay import automata_by_name
from flowcheck.traces.report import EXACT, Durations, report

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_746_090_000.0
PAID = ("CHECKOUT_COMPLETED", {"planId": "plan_team", "paymentId": "pay_9f2"})


def timed(session: str, flow: str, *items: tuple[float, Any]) -> list[str]:
    """Lines at the given seconds: ``"start"``, ``"+state"``, ``"-state"``,
    ``"EVENT:state"`` or ``(event, properties)``."""
    return [trace_line(session, flow, item, int((T0 + at) * 1000))
            for at, item in items]


def declined(at: float) -> list[tuple[float, Any]]:
    return [(at, "-submittingPayment"), (at, "+failure"), (at, "+payment_declined"),
            (at, "FLOW_FAILED:payment_declined")]


RUNS = {
    "A": [(0, "start"), (0, "+paymentDetails"), (30, "-paymentDetails"),
          (30, "+submittingPayment"), (32, "-submittingPayment"), (32, "+completed"),
          (32, "FLOW_COMPLETED:completed"), (32, PAID)],
    "B": [(0, "start"), (0, "+paymentDetails"), (20, "-paymentDetails"),
          (20, "+submittingPayment"), (21, "-submittingPayment"), (21, "+failure"),
          (21, "+network_error"), (21, "FLOW_FAILED:network_error"), (31, "-network_error"),
          (31, "-failure"), (31, "+submittingPayment"), (33, "-submittingPayment"),
          (33, "+completed"), (33, "FLOW_COMPLETED:completed"), (33, PAID)],
    "C": [(0, "start"), (0, "+paymentDetails"), (10, "-paymentDetails"),
          (10, "+submittingPayment"), *declined(11)],
    "D": [(0, "start"), (0, "+paymentDetails"), (10, "-paymentDetails"),
          (10, "+submittingPayment"), *declined(12), (40, "-payment_declined"),
          (40, "-failure"), (40, "+paymentDetails"), (45, "-paymentDetails"),
          (45, "+cancelled"), (45, "FLOW_ABANDONED:cancelled")],
    "E": [(0, "start"), (0, "+paymentDetails")],
}


def events_of(text: list[str]) -> list[TraceEvent]:
    return list(parse([line.encode() + b"\n" for line in text]))


@pytest.fixture(scope="module")
def checkout(machines: dict[str, Machine]) -> dict[str, Any]:
    models = automata_by_name({"checkout": Automaton(machines["checkout"].chart)})
    text = [line for session, items in RUNS.items() for line in timed(session, "checkout",
                                                                       *items)]
    data = report(events_of(text), models, source="five.ndjson")
    (flow,) = data["flows"]
    assert isinstance(flow, dict)
    return flow


def by(rows: list[dict[str, Any]], key: str = "state") -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


def test_the_runs_are_counted_by_how_they_ended(checkout: dict[str, Any]) -> None:
    assert checkout["runs"] == {"total": 5, "fit": 5, "complete": 3, "cut_off": 2,
                                "deviating": 0, "succeeded": 2}


def test_the_funnel_follows_the_shortest_path_to_success(checkout: dict[str, Any]) -> None:
    assert [(s["state"], s["runs"], s["share"]) for s in checkout["funnel"]] == [
        ("(started)", 5, 1.0), ("paymentDetails", 5, 1.0), ("submittingPayment", 4, 0.8),
        ("completed", 2, 0.4)]


def test_each_failure_state_counts_its_users_their_retries_and_which_succeeded(
        checkout: dict[str, Any]) -> None:
    failures = by(checkout["failures"])
    assert failures["network_error"] == {
        "state": "network_error", "runs": 1, "share": 0.2, "entries": 1, "retried_runs": 1,
        "retries": 1, "retries_succeeded": 1, "recovered_runs": 1}
    # D changed the payment method (a retry) and then cancelled; C never left.
    assert failures["payment_declined"] == {
        "state": "payment_declined", "runs": 2, "share": 0.4, "entries": 2, "retried_runs": 1,
        "retries": 1, "retries_succeeded": 0, "recovered_runs": 0}


def test_abandonment_is_where_runs_left_for_cancelled_or_were_cut_off(
        checkout: dict[str, Any]) -> None:
    assert checkout["abandon"] == [
        {"state": "paymentDetails", "cancelled": 1, "cut_off": 1, "ended": 0, "total": 2},
        {"state": "payment_declined", "cancelled": 0, "cut_off": 1, "ended": 0, "total": 1}]


def test_time_per_state_is_the_median_and_90th_percentile_of_each_visit(
        checkout: dict[str, Any]) -> None:
    times = by(checkout["time_per_state"])
    # paymentDetails: 30, 20, 10, 10 and D's second visit, 5.
    assert (times["paymentDetails"]["count"], times["paymentDetails"]["median_seconds"],
            times["paymentDetails"]["p90_seconds"]) == (5, 10.0, 30.0)
    # submittingPayment: 2, 1, 2 (B's retry), 1 and 2.
    assert times["submittingPayment"]["median_seconds"] == 2.0
    assert times["network_error"]["median_seconds"] == 10.0
    assert "completed" not in times  # a final state is never left


def test_transitions_count_the_runs_that_took_them_beside_what_the_model_can_take(
        checkout: dict[str, Any]) -> None:
    rows = by(checkout["transitions"], "label")
    taken = {label: row["taken"] for label, row in rows.items() if row["taken"]}
    assert taken == {
        "paymentDetails --PAYMENT_SUBMITTED [paymentMethodChosen]--> submittingPayment": 4,
        "paymentDetails --CHECKOUT_CANCELLED--> cancelled": 1,
        "submittingPayment --xstate.done.actor.confirmPayment--> completed": 2,
        "submittingPayment --xstate.error.actor.confirmPayment [paymentDeclined]--> "
        "payment_declined": 2,
        "submittingPayment --xstate.error.actor.confirmPayment--> network_error": 1,
        "network_error --RETRY--> submittingPayment": 1,
        "payment_declined --PAYMENT_METHOD_CHANGED--> paymentDetails": 1,
    }
    # Typing a payment method tracks nothing: the traces cannot tell.
    typing = rows["paymentDetails --PAYMENT_METHOD_ENTERED--> (stays)"]
    assert (typing["observable"], typing["reachable"]) == (False, True)
    assert "payment_declined --PAYMENT_RETRIED--> submittingPayment" in checkout["never_taken"]
    assert "requiresAction --PAYMENT_ACTION_COMPLETED--> completed" in checkout["never_taken"]
    assert not any("PAYMENT_METHOD_ENTERED" in label for label in checkout["never_taken"])
    assert all(rows[label]["reachable"] and not rows[label]["taken"]
               for label in checkout["never_taken"])


def test_deviating_runs_are_counted_and_left_out(machines: dict[str, Machine]) -> None:
    models = automata_by_name({"checkout": Automaton(machines["checkout"].chart)})
    text = [*timed("A", "checkout", *RUNS["A"]),
            *timed("X", "checkout", (0, "start"), (0, "+paymentDetails"),
                   (5, "-paymentDetails"), (5, "+completed"))]
    (flow,) = report(events_of(text), models)["flows"]
    assert flow["runs"]["deviating"] == 1
    assert flow["runs"]["fit"] == 1
    assert flow["funnel"][1] == {"state": "paymentDetails", "runs": 1, "share": 1.0}
    # X left paymentDetails after 5 s before it deviated: only A's 30 s count.
    (details, *_) = flow["time_per_state"]
    assert (details["state"], details["count"], details["median_seconds"]) == (
        "paymentDetails", 1, 30.0)


def test_durations_past_the_exact_limit_keep_the_median_within_one_percent() -> None:
    d = Durations()
    values = [0.5 + (n * 7919 % 20_011) / 100 for n in range(EXACT * 2 + 1)]
    for v in values:
        d.add(v)
    exact = sorted(values)[len(values) // 2]
    median = d.median()
    assert median is not None and abs(median - exact) / exact < 0.01
    p90 = d.quantile(0.9)
    assert p90 is not None and abs(p90 - sorted(values)[int(0.9 * len(values))]) < 0.01 * p90


def test_report_command_writes_json_and_html(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.ndjson"
    trace.write_text("\n".join(line for s, items in RUNS.items()
                               for line in timed(s, "checkout", *items)) + "\n")
    args = ["--machines", str(ROOT / "machines")]
    assert main(["traces", "report", str(trace), "--format", "json", *args]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "t.ndjson"
    assert [f["flow"] for f in data["flows"]] == ["checkout"]
    page = tmp_path / "r.html"
    assert main(["traces", "report", str(trace), "--out", str(page), *args]) == 0
    html = page.read_text()
    assert html.startswith("<!doctype html>")
    assert 'data-metric="runs.succeeded">2<' in html


# -- the page ---------------------------------------------------------------------------------

EVIL_FLOW = 'f"><script>alert(1)</script>'
EVIL_STATE = '<img src=x onerror="alert(2)">'
EVIL_EVENT = "GO&<b>"


def hostile_chart() -> Chart:
    """A flow whose every name is markup: what an imported XState config may hold."""
    def props(state: str) -> tuple[tuple[str, str], ...]:
        return (("flow", EVIL_FLOW), ("state", state))

    return Chart(
        id=EVIL_FLOW, name="evil", initial="a<b",
        entry=(Track(event="FLOW_STARTED", properties=(("flow", EVIL_FLOW),)),),
        events=(EventSpec(name=EVIL_EVENT),),
        states=(
            State(id="a<b", kind="atomic", tags=("step",),
                  entry=(Track(event="STATE_ENTERED", properties=props("a<b")),),
                  exit=(Track(event="STATE_EXITED", properties=props("a<b")),),
                  transitions=(Transition(source="a<b", event=EVIL_EVENT,
                                          targets=(EVIL_STATE,)),)),
            State(id=EVIL_STATE, kind="final", tags=("success",),
                  entry=(Track(event="STATE_ENTERED", properties=props(EVIL_STATE)),
                         Track(event="FLOW_COMPLETED", properties=props(EVIL_STATE)))),
        ),
    )


def hostile_report() -> dict[str, Any]:
    models = automata_by_name({"evil": Automaton(hostile_chart())})
    text = timed("s<1>", EVIL_FLOW, (0, "start"), (0, "+a<b"), (3, "-a<b"),
                 (3, "+" + EVIL_STATE), (3, ("FLOW_COMPLETED", {"flow": EVIL_FLOW,
                                                                 "state": EVIL_STATE})))
    text += timed("s2", EVIL_FLOW, (0, "start"), (0, "+a<b"))
    return report(events_of(text), models, source="<evil>.ndjson")


def test_every_name_on_the_page_is_escaped() -> None:
    data = hostile_report()
    (flow,) = data["flows"]
    assert flow["runs"]["succeeded"] == 1
    html = render(data)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html
    assert "f&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "GO&amp;&lt;b&gt;" in html
    assert "&lt;evil&gt;.ndjson" in html


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.style = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1][0] == "style":
            self.style += data


def test_the_page_loads_nothing_and_runs_no_script() -> None:
    html = render(hostile_report())
    parsed = _Tags()
    parsed.feed(html)
    names = {tag for tag, _ in parsed.tags}
    assert "script" not in names and "img" not in names and "link" not in names
    for tag, attrs in parsed.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert name != "src", tag
            if name == "href":
                assert value is not None and value.startswith("#"), value
    assert "url(" not in parsed.style and "@import" not in parsed.style
    csp = next(dict(a) for t, a in parsed.tags if t == "meta" and
               ("http-equiv", "Content-Security-Policy") in a)
    assert str(csp["content"]).startswith("default-src 'none'")
