"""failure-retry: which transitions are retries, in the property and in the campaign.

A retry leaves the failure state for a state that does not give up. It may be declared on
the failure state, inside it, or on a compound around it (``RETRY = failure.to(...)``).
"""

from __future__ import annotations

import pytest
from variants import Variant, variant

from flowcheck.explore.campaign import run_campaign
from flowcheck.project import Machine
from flowcheck.properties.failure_retry import retry_events
from flowcheck.verification import verify_chart

RETRY_ON_NETWORK_ERROR = "RETRY = failure.network_error.to(submittingPayment, on=clear_error)"


@pytest.fixture(scope="module")
def retry_on_the_group() -> Variant:
    """Checkout with RETRY declared on the ``failure`` compound around network_error."""
    return variant("checkout", (RETRY_ON_NETWORK_ERROR,
                                "RETRY = failure.to(submittingPayment, on=clear_error)"))


@pytest.fixture(scope="module")
def cancel_only() -> Variant:
    """Checkout without RETRY: network_error is left only by CHECKOUT_CANCELLED, declared
    on the ``failure`` compound around it."""
    return variant("checkout", (RETRY_ON_NETWORK_ERROR, ""))


def _failure_retry(v: Variant) -> list[str]:
    m = v.machine("checkout")
    report = verify_chart(m.chart, m.cls, m.path, v.settings, examples=0)
    (result,) = [r for r in report.results if r.id == "failure-retry"]
    return [f.message for f in result.findings]


def test_a_retry_declared_on_a_compound_around_the_failure_state_is_a_retry(
    retry_on_the_group: Variant,
) -> None:
    assert retry_events(retry_on_the_group.machine("checkout").chart, "network_error") == [
        "RETRY"]


def test_failure_retry_accepts_a_retry_declared_on_a_compound_around_the_failure_state(
    retry_on_the_group: Variant,
) -> None:
    assert _failure_retry(retry_on_the_group) == []


def test_the_campaign_accepts_a_retry_declared_on_a_compound_around_the_failure_state(
    retry_on_the_group: Variant,
) -> None:
    m: Machine = retry_on_the_group.machine("checkout")
    result = run_campaign(m.chart, m.cls, examples=100)
    assert result.events > 0
    assert [f for f in result.findings if f.property == "failure-retry"] == []


def test_cancelling_from_a_compound_around_the_failure_state_is_no_retry(
    cancel_only: Variant,
) -> None:
    assert retry_events(cancel_only.machine("checkout").chart, "network_error") == []
    (message,) = _failure_retry(cancel_only)
    assert message.startswith("failure state 'network_error' has no retry transition")


def test_the_campaign_refuses_a_failure_state_left_only_by_cancelling(
    cancel_only: Variant,
) -> None:
    m = cancel_only.machine("checkout")
    result = run_campaign(m.chart, m.cls, examples=100)
    (finding,) = [f for f in result.findings if f.property == "failure-retry"]
    assert "in failure state 'network_error' no retry event is allowed" in finding.message


def test_a_blocked_retry_names_its_guard_and_the_context_values_behind_it() -> None:
    from variants import variant

    project = variant("checkout", (
        "RETRY = failure.network_error.to(submittingPayment, on=clear_error)",
        "RETRY = failure.network_error.to(submittingPayment, cond=guard('keyKept', "
        "eq(ctx('idempotencyKey'), 'never')), on=clear_error)",
    ))
    report = project.verify("checkout")
    results = {r.id: r for r in report.results}
    (finding, *_) = results["failure-retry"].findings
    assert finding.guard == "keyKept"
    assert 'idempotencyKey is "idem-1", not "never"' in finding.message
    assert finding.counterexample is not None
    # completable points at the same root cause instead of repeating the path
    (trap,) = results["completable"].findings
    assert "see failure-retry" in trap.message and trap.counterexample is None
