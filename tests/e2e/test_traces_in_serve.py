"""``flowcheck serve --traces FILE`` in headless Chromium: the weights on the diagram, and a
real session played to its end beside its real lines."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_serve_traces import RUNS, write_trace

from flowcheck.commands.serve import load_traces
from flowcheck.project import Machine, find_settings
from flowcheck.web import Simulator, SimulatorServer, make_server

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(machines: dict[str, Machine],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorServer]:
    found = list(machines.values())
    trace = write_trace(tmp_path_factory.mktemp("traces") / "day.ndjson")
    httpd = make_server(Simulator(found, traces=load_traces(trace, found, find_settings(ROOT))),
                        "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_weights_show_and_a_real_session_plays_to_its_end(page: Any) -> None:
    page.locator("#machine").select_option("checkout")
    expect(page.locator("#traces-panel")).to_be_visible()
    expect(page.locator("#traces-summary")).to_contain_text(
        "4 runs: 2 complete, 1 cut off, 1 deviating")
    # the submit label carries the two runs that paid, as a count beside it
    submit = page.locator('#diagram [data-transition][data-event="PAYMENT_SUBMITTED"]')
    expect(submit.locator("text.traffic-badge")).to_have_text("2\u00d7")
    assert "traffic-4" in (submit.get_attribute("class") or "")
    # no run cancelled: the cancel label is faded
    cancel = page.locator('#diagram [data-transition][data-event="CHECKOUT_CANCELLED"]').first
    expect(cancel).to_have_class(re.compile(r"\buntaken\b"))

    page.locator('button.trace-run[data-session="tab-retry"]').click()
    expect(page.locator("#replay")).to_be_visible()
    expect(page.locator("#replay-title")).to_have_text("Real session")
    steps = page.locator("#replay-steps > li")
    expect(steps).to_have_count(5)
    expect(steps.nth(0)).to_contain_text("inferred: this step tracks nothing")
    expect(steps.nth(1).locator(".trace-lines li").first).to_contain_text("STATE_EXITED")
    expect(steps.nth(1)).to_contain_text("line ")
    page.get_by_role("button", name="Play to the end").click()
    expect(page.locator("#replay-status")).to_contain_text("replayed all 5 steps", timeout=15000)
    expect(page.locator("#replay-status")).to_contain_text("It was complete")
    expect(page.locator("#configuration")).to_have_text("completed")
    assert len(RUNS) == 4


def test_a_deviating_session_shows_its_deviation_and_what_the_model_allowed(page: Any) -> None:
    page.locator("#machine").select_option("checkout")
    page.locator('button.trace-run[data-session="tab-skip"]').click()
    deviation = page.locator("#replay-deviation")
    expect(deviation).to_be_visible()
    expect(deviation).to_contain_text("deviates from the flow")
    expect(deviation).to_contain_text("submittingPayment")
    page.get_by_role("button", name="Play to the end").click()
    expect(page.locator("#replay-status")).to_contain_text("It was deviating at line",
                                                           timeout=15000)
