"""pure: the flow reaches the outside world only through invokes.

What is checked, and what it proves:

- From the chart: every action is declarative (assign, track, raise, send_parent) or a
  declared custom action. A plain Python callable passed as an action is undeclared: the
  frontend cannot implement it and nothing says what it does, so it is a finding.
  Declarative actions cannot do I/O: a chart without custom actions is pure, proved.
- A flow read from a python-statemachine class gives custom actions Python code
  (``custom(name, run)``) that flowcheck cannot read. The coverage run
  (:mod:`flowcheck.explore.coverage`, its result in ``subject.extra["cover"]``) runs every
  occurrence of every custom action (per transition that carries it, per state entry and
  exit) at least once on the real machine, along the shortest explored path to it, while
  audit hooks refuse network access, file writes, processes, databases and native
  libraries (:mod:`flowcheck.explore.sandbox`). Any attempt is a finding, with that path.
  With no attempt, the result is ``proved (assuming ...)``: every occurrence ran and
  attempted nothing, assuming each custom action does on other contexts and events what
  it did on the run that covered it. That assumption is the limit of the method: a run
  shows what the code did, not what it could do, so an action whose I/O depends on the
  data (``if ctx.n > 3: post(...)``) is not proved pure. The hypothesis campaign runs
  other inputs under the same hooks and adds what it finds here.
- An occurrence no explored path runs never ran, so nothing is known of its code: the
  result is ``tested`` when exploration was complete (the occurrence cannot run at all;
  see live-transitions and reachable), ``bounded`` when it stopped before reaching it.
- An imported chart has no Python code: custom actions are names the frontend implements.
  The declarative part is proved, assuming the frontend implements them pure.

Audit hooks do not see writes through a file or socket opened before the run, I/O done
from a thread the action starts, or native code calling the operating system directly.
"""

from __future__ import annotations

from flowcheck.chart.model import Action, Chart, Custom
from flowcheck.explore.coverage import Cover
from flowcheck.properties._witness import path_to_state, path_to_transition
from flowcheck.properties.base import Finding, Status, Subject

ID = "pure"
TITLE = ("actions are declarative or declared custom actions, and no custom action reaches "
         "outside the process when it runs (network, file writes, processes, databases)")

# Purity rests on what the actions are and on the cover run, not on the environment that
# exploration derived: its assumptions are its own (see assumptions()).
ENVIRONMENT = False

def _undeclared(actions: tuple[Action, ...]) -> list[str]:
    return [a.name for a in actions if isinstance(a, Custom) and not a.declared]


def _custom_names(chart: Chart) -> list[str]:
    groups = [chart.entry, *(a for s in chart.states for a in (s.entry, s.exit)),
              *(t.actions for t in chart.transitions())]
    return sorted({a.name for g in groups for a in g if isinstance(a, Custom)})


def _cover(subject: Subject) -> Cover | None:
    cover = subject.extra.get("cover")
    return cover if isinstance(cover, Cover) else None


def _listed(names: list[str]) -> str:
    return ", ".join(names)


def check(subject: Subject) -> list[Finding]:
    chart = subject.chart
    graph = subject.graph
    findings: list[Finding] = []
    fix = ("declare it with flowcheck.declare.custom(name) (opaque, implemented by the "
           "frontend) or write it with assign/track/raise_")
    for name in _undeclared(chart.entry):
        findings.append(Finding(ID, f"action {name!r} on the chart's entry is undeclared: {fix}"))
    for s in chart.states:
        for where, actions in (("entry", s.entry), ("exit", s.exit)):
            for name in _undeclared(actions):
                findings.append(Finding(
                    ID, f"action {name!r} on {where} of {s.id!r} is an undeclared Python "
                    f"callable: {fix}", state=s.id, counterexample=path_to_state(graph, s.id)))
        for t in s.transitions:
            for name in _undeclared(t.actions):
                findings.append(Finding(
                    ID, f"action {name!r} on {t.event or 'eventless'} from {s.id!r} is an "
                    f"undeclared Python callable: {fix}", state=s.id, event=t.event,
                    counterexample=path_to_transition(graph, t)))
    cover = _cover(subject)
    if cover is not None:
        findings.extend(cover.findings)
    return findings


def status(subject: Subject) -> tuple[Status, str] | None:
    """How far a passing check goes: see the module docstring."""
    names = _custom_names(subject.chart)
    if not names:
        return ("proved", "every action is declarative (assign, track, raise, send_parent): "
                "none can reach outside the flow")
    if subject.machine_class is None:
        return ("proved", f"the declarative actions cannot reach outside the flow; the custom "
                f"actions ({_listed(names)}) are names the frontend implements")
    cover = _cover(subject)
    if cover is None:
        campaign = subject.campaign
        if getattr(campaign, "ran", False):
            return ("tested", f"custom actions ({_listed(names)}) ran only where the hypothesis "
                    "campaign's sample took them: no coverage run executed each of them")
        return ("skipped", f"the Python code of the custom actions ({_listed(names)}) was not "
                "run under audit hooks (no coverage run, no campaign)")
    if cover.uncovered:
        ran = (f"{cover.covered} of {cover.occurrences} custom action occurrences ran under "
               f"audit hooks and attempted no I/O")
        never = "; ".join(cover.uncovered)
        graph = subject.graph
        if graph is not None and graph.complete:
            return ("tested", f"{ran}; never run, so nothing is known of: {never}")
        return ("bounded", f"{ran}; exploration stopped before a path ran: {never}")
    return ("proved", f"all {cover.occurrences} custom action occurrences ran on the real machine "
            f"({cover.runs} runs) under audit hooks and attempted no I/O")


def assumptions(subject: Subject) -> list[str]:
    """What a proof of purity rests on when custom actions carry code flowcheck cannot read."""
    names = _custom_names(subject.chart)
    if not names:
        return []
    if subject.machine_class is None:
        return [f"the custom actions ({_listed(names)}) are implemented pure by the frontend"]
    return [f"each custom action ({_listed(names)}) does no I/O on other contexts and events "
            "either: each occurrence ran once under audit hooks, which cannot prove that a "
            "data-dependent action never does I/O"]
