"""conformance: python-statemachine and the Stepper agree on every generated run.

The hypothesis campaign (flowcheck.explore.campaign) drives the flow's real
python-statemachine class, first along the exploration's transition cover (every transition
it fired, once), then with generated event sequences and payloads, and compares the
configuration, the context and the telemetry with the Stepper after every event; a
disagreement is reported here, shrunk to a minimal event list. The campaign is also the
adversary of exploration's environment: its values come from the types, and a step whose
guard outcomes exploration never saw means the derived domains missed a case; that is a
finding here, and then nothing else is reported proved. Charts imported from
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
    checked = getattr(campaign, "adversary_skipped", None)
    adversary = ("; every guard outcome they met was one exploration had seen" if checked is None
                 else f"; guard outcomes not compared with exploration ({checked})")
    cover = ""
    if getattr(campaign, "cover_runs", 0):
        cover = (f"the transition cover ({campaign.cover_runs} runs firing "
                 f"{campaign.cover_transitions} of {campaign.transitions} transitions) and ")
    return status, (f"{cover}{campaign.examples} generated runs ({campaign.events} events, "
                    f"seed {campaign.seed}) agreed step by step{adversary}")
