"""The web simulator in headless Chromium: a designer clicking through checkout."""

from __future__ import annotations

import json
from typing import Any

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.e2e

DONE = "xstate.done.actor.confirmPayment"

NETWORK_ERROR_REPORT = {
    "ok": False,
    "machines": [{
        "name": "checkout", "ok": False,
        "stats": {"states": 8, "transitions": 17, "configurations": 9, "edges": 30,
                  "complete": True, "seconds": 0.01},
        "properties": [{
            "id": "failure-retry", "ok": False,
            "message": "failure.network_error: RETRY never leads back to success",
            "counterexample": {
                "events": ["PAYMENT_METHOD_ENTERED", "PAYMENT_SUBMITTED",
                           "xstate.error.actor.confirmPayment"],
                "states": [["paymentDetails"], ["paymentDetails"], ["submittingPayment"],
                           ["failure", "network_error"]],
            },
        }],
    }],
}


def active_states(page: Any) -> list[str]:
    """The states highlighted in the diagram."""
    states: list[str] = page.eval_on_selector_all(
        "#diagram .active[data-state]", "els => els.map(e => e.dataset.state)")
    return sorted(states)


def enter_payment_method(page: Any, method: str) -> None:
    form = page.locator('form[data-event="PAYMENT_METHOD_ENTERED"]')
    form.locator('input[name="paymentMethodId"]').fill(method)
    form.get_by_role("button", name="PAYMENT_METHOD_ENTERED").click()
    expect(page.locator("#context")).to_contain_text(json.dumps(method))


def test_the_initial_state_is_highlighted(page: Any) -> None:
    expect(page.locator('#diagram [data-state="paymentDetails"]')).to_have_class("node active")
    assert active_states(page) == ["paymentDetails"]


def test_clicking_through_checkout_with_the_payment_form_reaches_completed(page: Any) -> None:
    enter_payment_method(page, "pm_card_visa")
    page.get_by_role("button", name="PAYMENT_SUBMITTED", exact=True).click()
    expect(page.locator("#configuration")).to_have_text("submittingPayment")
    page.locator(
        f'button.outcome[data-event="{DONE}"][data-outcome="paymentId=pay_1, status=succeeded"]'
    ).click()
    expect(page.locator("#done")).to_be_visible()
    assert active_states(page) == ["completed"]
    expect(page.locator("#telemetry")).to_contain_text("CHECKOUT_COMPLETED")
    expect(page.locator("#context")).to_contain_text('"pay_1"')
    expect(page.locator("#events")).to_contain_text("reached a final state")


def test_an_event_its_guard_blocks_says_which_condition_is_false_before_and_after_a_click(
    page: Any,
) -> None:
    enter_payment_method(page, "")
    blocked = "PAYMENT_SUBMITTED changed nothing: paymentMethodId is empty"
    row = page.locator(".event-row", has=page.get_by_role("button", name="PAYMENT_SUBMITTED"))
    expect(row.locator(".status")).to_have_text(blocked)
    page.get_by_role("button", name="PAYMENT_SUBMITTED", exact=True).click()
    expect(page.locator("#notice")).to_have_text(blocked)
    assert active_states(page) == ["paymentDetails"]


def test_undo_steps_back_to_the_previous_state(page: Any) -> None:
    enter_payment_method(page, "pm_card_visa")
    page.get_by_role("button", name="PAYMENT_SUBMITTED", exact=True).click()
    expect(page.locator("#configuration")).to_have_text("submittingPayment")
    page.get_by_role("button", name="Undo").click()
    expect(page.locator("#configuration")).to_have_text("paymentDetails")
    assert active_states(page) == ["paymentDetails"]
    expect(page.locator("#context")).to_contain_text('"pm_card_visa"')


def test_replaying_a_counterexample_highlights_the_failure_state(page: Any) -> None:
    page.locator("#replay-panel summary").click()
    page.locator("#report").fill(json.dumps(NETWORK_ERROR_REPORT))
    page.get_by_role("button", name="Load", exact=True).click()
    page.locator('button.cx[data-property="failure-retry"]').click()
    expect(page.locator("#replay-status")).to_have_text("failure-retry: step 0 of 3")
    page.get_by_role("button", name="Next step").click()
    expect(page.locator("#replay-status")).to_have_text("failure-retry: step 1 of 3")
    page.get_by_role("button", name="Play to the end").click()
    expect(page.locator("#replay-status")).to_contain_text("replayed all 3 steps")
    expect(page.locator("#configuration li")).to_have_text(["failure", "network_error"])
    assert active_states(page) == ["failure", "network_error"]
    expect(page.locator('#diagram [data-state="network_error"]')).to_have_class(
        "node failure active")


def test_a_session_the_server_closed_is_reopened_from_its_steps_on_the_next_click(
    page: Any, server: Any,
) -> None:
    enter_payment_method(page, "pm_card_visa")
    sid = page.evaluate("() => JSON.parse(sessionStorage.getItem('flowcheck.session')).id")
    server.simulator.close(sid, "after 12 hours without use")
    page.get_by_role("button", name="PAYMENT_SUBMITTED", exact=True).click()
    expect(page.locator("#configuration")).to_have_text("submittingPayment")
    expect(page.locator("#notice")).to_have_text(
        "The simulator had closed this session after 12 hours without use; it was reopened "
        "from its 1 step.")
    expect(page.locator("#history li")).to_have_count(3)  # initial, and both steps
    reopened = page.evaluate("() => JSON.parse(sessionStorage.getItem('flowcheck.session')).id")
    assert reopened != sid
    expect(page.locator("#context")).to_contain_text('"pm_card_visa"')
