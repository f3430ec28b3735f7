"""Verifying one chart: explore it, run the hypothesis campaign, check every property.

``flowcheck verify`` and ``flowcheck check`` call :func:`verify_chart` once per machine
and hand the :class:`MachineReport` objects to the report formats. Nothing here prints.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowcheck.chart.model import Chart, Custom
from flowcheck.explore.limits import DEFAULT_EXAMPLES, DEFAULT_MAX_CONFIGURATIONS
from flowcheck.properties import PropertyResult

if TYPE_CHECKING:
    from flowcheck.composition import Environment
    from flowcheck.explore.campaign import Campaign
    from flowcheck.explore.domains import Domains
    from flowcheck.explore.graph import Exploration
    from flowcheck.explore.limits import Limits, Progress
    from flowcheck.project import Machine, Settings

__all__ = ["MachineReport", "component_environment", "project_environment", "verify_chart"]


_ENVIRONMENTS: dict[tuple[Any, ...], dict[str, Environment]] = {}


def project_environment(settings: Settings, machine: Machine) -> Environment | None:
    """The environment the project's other flows give ``machine`` (None when it is not one
    of the project's machines: it is then verified standalone). Computed once per project
    state (the machine files' names, sizes and modification times)."""
    from flowcheck.errors import FlowcheckError
    from flowcheck.project import machine_files

    try:
        files = machine_files(settings)
    except FlowcheckError:
        return None
    if machine.path.resolve() not in {f.resolve() for f in files}:
        return None
    return component_environment({f.stem: f for f in files}, machine)


def component_environment(files: dict[str, Path], machine: Machine) -> Environment:
    """The environment of ``machine`` given the project flows ``files`` (name -> module):
    all of the project's flows, or only those composed with it (its component, see
    :func:`flowcheck.composition.components`), which give the same environment. Each
    component is explored once per state of its files (names, sizes, modification
    times)."""
    from flowcheck.composition import components, environments
    from flowcheck.errors import FlowcheckError
    from flowcheck.project import load_machine

    key = tuple((name, str(f), f.stat().st_mtime_ns, f.stat().st_size)
                for name, f in sorted(files.items()))
    cached = _ENVIRONMENTS.get(key)
    if cached is not None and machine.name in cached:
        return cached[machine.name]
    charts: dict[str, Chart] = {}
    for name, f in files.items():
        try:
            charts[name] = (machine if f.resolve() == machine.path.resolve()
                            else load_machine(f)).chart
        except FlowcheckError:
            continue  # a broken flow is reported when it is verified itself
    if machine.name not in charts:
        charts[machine.name] = machine.chart
    members = components(charts)[machine.name]
    envs = environments({name: charts[name] for name in members})
    if cached is None:
        _ENVIRONMENTS.clear()
        cached = _ENVIRONMENTS[key] = {}
    cached.update(envs)
    return envs[machine.name]


@dataclass
class MachineReport:
    """Everything verify learnt about one machine."""

    name: str
    chart: Chart
    source: Path | None
    results: list[PropertyResult]
    stats: dict[str, Any]
    graph: Exploration | None = None
    campaign: Campaign | None = None
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    replay_target: str | None = None
    """What `flowcheck simulate` needs to find this machine: its name, or its file's path
    when it is not one of the project's machines."""
    cached: bool = False
    """Read from the verification cache (see :mod:`flowcheck.cache`) rather than computed
    by this run; reports render the same either way."""

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.ok for r in self.results)

    @property
    def complete(self) -> bool:
        return bool(self.stats.get("complete"))


def verify_chart(
    chart: Chart,
    machine_class: type[Any] | None = None,
    source: Path | None = None,
    settings: Settings | None = None,
    max_configurations: int = DEFAULT_MAX_CONFIGURATIONS,
    examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    progress: Progress | None = None,
    limits: Limits | None = None,
    environment: Environment | None = None,
    profile: str | None = None,
) -> MachineReport:
    """Explore ``chart``, run the campaign on ``machine_class`` (when given) and check every
    property. On KeyboardInterrupt during exploration the report is marked interrupted and
    holds what was explored so far."""
    from flowcheck.explore.campaign import Campaign, run_campaign
    from flowcheck.explore.coverage import run_cover
    from flowcheck.explore.domains import derive
    from flowcheck.explore.graph import explore
    from flowcheck.properties import check_all
    from flowcheck.properties import well_formed as _well_formed
    from flowcheck.properties.base import Subject
    from flowcheck.semantics.stepper import Stepper

    started = time.perf_counter()
    notes: list[str] = []
    graph: Exploration | None = None
    stepper: Stepper | None = None
    try:
        stepper = Stepper(chart)
    except (KeyError, ValueError, IndexError) as exc:
        if not _well_formed.structural(chart):
            raise
        notes.append(f"not explored: the chart cannot run ({type(exc).__name__}: {exc})")
    domains = derive(chart, environment.child_outputs if environment else None,
                     environment.inputs if environment else ())
    if stepper is not None:
        graph = explore(chart, max_configurations, progress, stepper, limits, domains)
    interrupted = graph is not None and graph.interrupted
    campaign: Campaign | None = None
    if machine_class is None:
        campaign = Campaign(ran=False, seed=seed,
                            skipped="no python-statemachine class (imported chart)")
    elif interrupted or stepper is None:
        campaign = Campaign(ran=False, seed=seed, skipped="exploration did not finish")
    else:
        campaign = run_campaign(chart, machine_class, examples=examples, seed=seed,
                                stepper=stepper, graph=graph)
    subject = Subject(chart=chart, settings=settings, source=source,
                      machine_class=machine_class, graph=graph, campaign=campaign,
                      profile=profile or default_profile(settings, machine_class))
    subject.extra["assumptions"] = environment_assumptions(chart, environment, domains)
    checking = time.perf_counter()
    if machine_class is not None and graph is not None and not interrupted:
        subject.extra["cover"] = run_cover(chart, machine_class, graph)
    # An interrupted run reports what it explored, not properties of a partial graph.
    results = [] if interrupted else check_all(subject)
    properties_seconds = time.perf_counter() - checking
    if source is not None:
        results = [_located(r, chart, source) for r in results]
    stats = {
        "states": len(chart.states),
        "transitions": len(chart.transitions()),
        "configurations": graph.configurations if graph else 0,
        "edges": graph.edges if graph else 0,
        "complete": bool(graph and graph.complete),
        "limit": graph.limit if graph else None,
        "depth": graph.depth if graph else 0,
        "seconds": round(time.perf_counter() - started, 3),
        "state_configurations": len({s.configuration for s in graph.snapshots}) if graph else 0,
        "steps": graph.steps if graph else 0,
        "explore_seconds": round(graph.seconds, 4) if graph else 0.0,
        "campaign_examples": campaign.examples if campaign else 0,
        "campaign_events": campaign.events if campaign else 0,
        "campaign_seconds": round(campaign.seconds, 3) if campaign else 0.0,
        "campaign_cover_runs": campaign.cover_runs if campaign else 0,
        "campaign_cover_events": campaign.cover_events if campaign else 0,
        "campaign_cover_transitions": campaign.cover_transitions if campaign else 0,
        "campaign_cover_seconds": round(campaign.cover_seconds, 3) if campaign else 0.0,
        "campaign_random_seconds": round(campaign.random_seconds, 3) if campaign else 0.0,
        "properties_seconds": round(properties_seconds, 3),
        "seed": seed,
        "domains": domains.stats(),
        "inputs": len(graph.roots) if graph else 0,
    }
    return MachineReport(chart.name, chart, source, results, stats, graph, campaign,
                         interrupted, notes)


PROFILE_NAMES = ("generic", "mirai")


def default_profile(settings: Settings | None, machine_class: type[Any] | None) -> str:
    """The project's flows are checked with the ``mirai`` rules, machines imported from
    XState JSON with the ``generic`` ones, unless ``[tool.flowcheck]`` says otherwise
    (``profile``, ``import-profile``)."""
    raw = settings.raw if settings is not None else {}
    if machine_class is not None:
        return str(raw.get("profile", "mirai"))
    return str(raw.get("import-profile", "generic"))


def environment_assumptions(
    chart: Chart, environment: Environment | None, domains: Domains | None = None
) -> list[str]:
    """What exploration assumed of the world outside ``chart``: said next to every
    property it proves."""
    out: list[str] = []
    parents = environment.parents if environment else ()
    if chart.input is None:
        if chart.source.endswith(".json"):
            out.append("the machine starts from the context its config declares (XState "
                       "input is not explored)")
        elif parents:
            out.append(f"the flow is started only by {', '.join(parents)} (it declares no "
                       "Input; other starts are not explored)")
        else:
            out.append("the flow starts from its default context (it declares no Input; "
                       "declare one to explore every input)")
    if domains is not None:
        out.extend(domains.assumed)
    out.extend(_opaque_action_assumptions(chart))
    opaque = domains.opaque_names() if domains is not None else []
    if opaque:
        out.append(f"the guards without a body ({', '.join(opaque)}) may be true or false at "
                   "each step, independently (give them a body to sharpen the proof)")
    delays = chart.delays()
    if delays:
        out.append(f"a delay ({', '.join(delays)}) may be of any length")
    if environment is not None and not environment.complete:
        out.append("child flows end only with the outputs their bounded exploration reached")
    return out


def _opaque_action_assumptions(chart: Chart) -> list[str]:
    """An imported machine's actions without a body may assign: the guards with a body that
    read the context are then evaluated on a context those actions did not change."""
    if not chart.source.endswith(".json"):
        return []
    actions = sorted({a.name for s in chart.nodes() for a in (
        *s.entry, *s.exit, *(a for t in s.transitions for a in t.actions))
        if isinstance(a, Custom)})
    read = sorted({path.split(".")[1] for t in chart.transitions()
                   if t.guard is not None and t.guard.expr is not None
                   for path in t.guard.expr.refs() if path.startswith("context.")})
    if not actions or not read:
        return []
    named = ", ".join(actions[:5]) + (", ..." if len(actions) > 5 else "")
    return [f"the actions without a body ({named}) leave the context fields guards read "
            f"({', '.join(read)}) unchanged"]


# -- where findings point ---------------------------------------------------------------


def _located(result: PropertyResult, chart: Chart, source: Path) -> PropertyResult:
    """Every finding with the file and line of the construct at fault (see
    :mod:`flowcheck.locations`, which every report format relies on)."""
    from flowcheck.locations import locate

    findings = [locate(f, chart, source) for f in result.findings]
    return dataclasses.replace(result, findings=findings)
