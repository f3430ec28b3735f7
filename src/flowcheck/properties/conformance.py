"""conformance: python-statemachine and the Stepper agree on every generated run.

The hypothesis campaign (flowcheck.explore.campaign) drives the flow's real
python-statemachine class with generated event sequences and payloads and compares the
configuration, the context and the telemetry with the Stepper after every event; a
disagreement is reported here, shrunk to a minimal event list. Charts imported from
XState JSON have no Python class: the property is skipped for them.
"""

from __future__ import annotations

from flowcheck.properties.base import Finding, Status, Subject

ID = "conformance"
TITLE = "the Stepper and python-statemachine agree on every hypothesis-generated run"


def check(subject: Subject) -> list[Finding]:
    return []  # the campaign's findings carry this id and are added by the catalog


def status(subject: Subject) -> tuple[Status, str] | None:
    campaign = subject.campaign
    if campaign is None or not getattr(campaign, "ran", False):
        why = getattr(campaign, "skipped", None) or (
            "no python-statemachine class (imported chart)" if subject.machine_class is None
            else "the hypothesis campaign did not run (--examples 0)")
        return "skipped", f"not checked: {why}"
    # A campaign samples runs: however many agree, that is a test, not a proof.
    status: Status = "tested"
    return status, (f"{campaign.examples} generated runs ({campaign.events} events, seed "
                    f"{campaign.seed}) agreed step by step")
