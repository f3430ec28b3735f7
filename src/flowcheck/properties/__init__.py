"""The property catalog: one module per property, found by walking this package.

A property module has ``ID``, ``TITLE`` and ``check(subject) -> list[Finding]`` (see
:mod:`flowcheck.properties.base`). Optional module attributes refine its status:

- ``PROFILES = ("mirai",)``: the rule profiles the property belongs to (default: all);
- ``describe(subject) -> str``: what a proof of it says for this subject, when that
  differs from ``TITLE`` (a generic-profile check asks less);
- ``STATIC = True``: the check reads the chart only, so passing is a proof even when
  exploration was bounded;
- ``status(subject) -> Status | None``: decides the status of a passing check itself
  (``conformance`` says ``skipped`` when the campaign did not run);
- ``assumptions(subject) -> list[str]``: what a proof of this property rests on. Every
  property that is not STATIC also rests on the environment assumptions exploration made
  (``subject.extra["assumptions"]``: an undeclared input, delays of any length, guards
  flowcheck cannot see into), unless the module sets ``ENVIRONMENT = False`` (its proof does
  not rest on what exploration reached). A proved result with assumptions is
  ``proved (assuming ...)``.

The hypothesis campaign reports findings under property ids too (a blocked network call
is a ``pure`` finding, a missing STATE_EXITED a ``telemetry`` one); they are added to the
findings of the property with that id.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from flowcheck.properties.base import Finding, Status, Subject

ORDER = (
    "well-formed",
    "reachable",
    "no-dead-end",
    "completable",
    "failure-explicit",
    "failure-retry",
    "telemetry",
    "semantic-events",
    "pure",
    "deterministic",
    "live-transitions",
    "context-taxonomy",
    "contract",
    "conformance",
)

PROFILES = ("generic", "mirai")
"""Rule profiles. A property module lists the ones it belongs to in ``PROFILES`` (every
profile when it does not): the generic statechart properties hold for any machine, the
``mirai`` profile adds the platform's own rules."""

LIMIT_NAMES = {
    "configurations": "configuration limit (max-configurations)",
    "depth": "depth limit (max-depth)",
    "memory": "memory limit (max-memory)",
    "time": "time limit (max-seconds)",
    "environment": "environment limit (too many payload, output or input combinations)",
}
"""How reports name the exploration limit that made a result bounded."""


@dataclass
class PropertyResult:
    """One property checked on one chart."""

    id: str
    title: str
    status: Status
    message: str
    findings: list[Finding] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    """What a ``proved`` result rests on (a guard flowcheck cannot see into, a delay of any
    length): reports show ``proved (assuming ...)``."""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def verdict(self) -> str:
        """The status as reports name it: ``proved (assuming ...)`` when it rests on
        assumptions."""
        if self.status == "proved" and self.assumptions:
            return f"proved (assuming {'; '.join(self.assumptions)})"
        return self.status


def catalog() -> list[ModuleType]:
    """Every property module of this package, in the catalog's stable order."""
    modules: list[ModuleType] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(module, "ID", None), str) and callable(
            getattr(module, "check", None)
        ):
            modules.append(module)

    def rank(m: ModuleType) -> tuple[int, str]:
        pid: str = m.ID
        return (ORDER.index(pid) if pid in ORDER else len(ORDER), pid)

    return sorted(modules, key=rank)


def check_all(subject: Subject, only: list[str] | None = None) -> list[PropertyResult]:
    """Run every property (or those in ``only``) on ``subject``."""
    from flowcheck import watchdog

    results: list[PropertyResult] = []
    from_campaign: list[Finding] = list(getattr(subject.campaign, "findings", []) or [])
    for module in catalog():
        pid: str = module.ID
        if only is not None and pid not in only:
            continue
        limit = watchdog.tripped()
        if limit is not None:
            # The command is out of time or memory: what is left is not checked, and says so.
            results.append(PropertyResult(
                pid, getattr(module, "TITLE", pid), "bounded",
                f"not checked: the command reached its {LIMIT_NAMES[limit]} first"))
            continue
        profiles: tuple[str, ...] = getattr(module, "PROFILES", PROFILES)
        if subject.profile not in profiles:
            results.append(PropertyResult(
                pid, getattr(module, "TITLE", pid), "skipped",
                f"not checked: a rule of the {', '.join(profiles)} profile (this machine is "
                f"verified with the {subject.profile} profile; --profile mirai checks it)"))
            continue
        findings = list(module.check(subject))
        findings += [f for f in from_campaign if f.property == pid]
        results.append(_result(module, subject, findings))
    return results


def _result(module: ModuleType, subject: Subject, findings: list[Finding]) -> PropertyResult:
    pid: str = module.ID
    title: str = getattr(module, "TITLE", pid)
    if findings:
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        return PropertyResult(pid, title, "failed", findings[0].message + more, findings)
    assume: Any = getattr(module, "assumptions", None)
    assumptions: list[str] = list(assume(subject)) if callable(assume) else []
    explored = not getattr(module, "STATIC", False) and getattr(module, "ENVIRONMENT", True)
    if explored:
        # Whatever exploration proves rests on how it modelled the environment.
        assumptions = list(subject.extra.get("assumptions", [])) + assumptions
    if explored and getattr(subject.campaign, "abstraction_missed", False):
        # The campaign met a guard outcome the explored environment never produced: a
        # proof over that environment is no proof, only what was seen.
        return PropertyResult(pid, title, "tested",
                              f"{title}: not a proof, the explored environment missed a "
                              "case the campaign found (see conformance)", [])
    decide: Any = getattr(module, "status", None)
    decided: tuple[Status, str] | None = decide(subject) if callable(decide) else None
    if decided is not None:
        kept = assumptions if decided[0] == "proved" else []
        return PropertyResult(pid, title, decided[0], decided[1], [], kept)
    graph = subject.graph
    describe: Any = getattr(module, "describe", None)
    proved = str(describe(subject)) if callable(describe) else title
    if getattr(module, "STATIC", False) or (graph is not None and graph.complete):
        return PropertyResult(pid, title, "proved", proved, [], assumptions)
    if graph is None:
        why = "not explored: the chart is not well-formed"
        return PropertyResult(pid, title, "skipped", why, [])
    limit = getattr(graph, "limit", None)
    if graph.interrupted:
        why = "was interrupted"
    elif limit is not None:
        why = f"stopped at the {LIMIT_NAMES.get(limit, limit)}"
    else:
        why = "could not start (the initial step fails, see well-formed)"
    message = (f"no counterexample in {graph.configurations} configurations, but exploration "
               f"{why}: not a proof")
    return PropertyResult(pid, title, "bounded", message, [])
