"""What every property module shares: findings, counterexamples and the subject checked.

A property is one module in this package with a module-level ``ID`` (its stable id,
e.g. ``"failure-retry"``), ``TITLE`` (one line: what it proves) and one public
function ``check(subject: Subject) -> list[Finding]``. The package finds the modules
itself: adding a property means adding a file.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flowcheck.chart.model import Chart

if TYPE_CHECKING:
    from flowcheck.project import Settings

Status = Literal["proved", "tested", "bounded", "failed", "skipped"]
"""proved: exhaustive exploration finished (or the check is static); tested: sampled by the
hypothesis campaign and never contradicted, which is evidence, not a proof; bounded:
exploration stopped at a limit; failed; skipped: not checked, with the reason."""
"""proved: holds on the whole explored space; bounded: no finding, but exploration stopped
early; failed: findings; skipped: not checked (say why in the message)."""


@dataclass(frozen=True)
class Counterexample:
    """The shortest event path from the initial configuration that shows a finding.

    ``events`` are (name, payload) pairs; ``states`` has one configuration (active state
    ids in document order) for the initial snapshot and one after each event.
    """

    events: tuple[tuple[str, dict[str, Any]], ...]
    states: tuple[tuple[str, ...], ...]
    input: dict[str, Any] | None = None
    """The input the flow was started with (None: its default context)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "events": [name for name, _ in self.events],
            "payloads": [payload for _, payload in self.events],
            "states": [list(s) for s in self.states],
        }
        if self.input is not None:
            out["input"] = self.input
        return out


def event_list(events: tuple[tuple[str, dict[str, Any]], ...] | list[Any]) -> str:
    """The ``--events`` argument of ``flowcheck simulate`` that replays ``events``."""
    parts = []
    for name, payload in events:
        parts.append(f"{name}:{json.dumps(payload, separators=(',', ':'))}" if payload else name)
    return ",".join(parts)


def replay_command(target: str, cx: Counterexample) -> str:
    """The ``flowcheck simulate`` command that replays ``cx`` on the machine ``target``,
    every argument quoted for a POSIX shell: pasting it runs flowcheck and nothing else,
    whatever the machine's names hold (``$(...)``, quotes, backticks, newlines)."""
    command = f"flowcheck simulate {shlex.quote(target)} --events {_quoted(event_list(cx.events))}"
    if cx.input is not None:
        command += f" --input {_quoted(json.dumps(cx.input, separators=(',', ':')))}"
    return command


def _quoted(argument: str) -> str:
    """``shlex.quote``, always in single quotes (the form users copy event lists in)."""
    quoted = shlex.quote(argument)
    return quoted if quoted.startswith("'") else f"'{argument}'"


@dataclass(frozen=True)
class Finding:
    """A failed property: what is wrong, where, and how to get there."""

    property: str
    message: str
    state: str | None = None
    event: str | None = None
    counterexample: Counterexample | None = None
    file: str | None = None
    line: int | None = None
    construct: str | None = None
    """What ``file:line`` points at (``transition RETRY from network_error``, ``guard
    paymentMethodChosen``); set with the location by :mod:`flowcheck.locations`."""
    guard: str | None = None
    """The guard at fault, when the property knows it (a guard that never holds, the guard
    that blocks a retry): reports then point at the line defining it."""
    action: str | None = None
    """The action at fault, when the property knows it."""
    kind: str | None = None
    """Findings of one property and one kind (a dead end, a state that tracks nothing on
    entry) are grouped: only the first few of a kind carry a counterexample
    (:class:`CounterexampleQuota`), and text reports show the first and count the others
    (:func:`grouped`)."""


PER_KIND = 10
"""How many findings of one kind get a counterexample."""


class CounterexampleQuota:
    """Which findings get a counterexample: the first :data:`PER_KIND` of each kind. Each
    counterexample replays its path, so one per finding would be quadratic in a long chain
    (a state that tracks nothing, in each of 10,000 states); reports show the first of a
    kind and count the others."""

    def __init__(self) -> None:
        self._given: dict[str, int] = {}

    def wanted(self, kind: str) -> bool:
        given = self._given.get(kind, 0)
        if given >= PER_KIND:
            return False
        self._given[kind] = given + 1
        return True


def grouped(findings: list[Finding]) -> list[tuple[Finding, list[Finding]]]:
    """Each finding that leads a group (the first of its kind, or one without a kind) with
    the later findings of its kind, in the order found."""
    groups: list[tuple[Finding, list[Finding]]] = []
    leaders: dict[str, list[Finding]] = {}
    for f in findings:
        if f.kind is not None and f.kind in leaders:
            leaders[f.kind].append(f)
            continue
        rest: list[Finding] = []
        if f.kind is not None:
            leaders[f.kind] = rest
        groups.append((f, rest))
    return groups


@dataclass
class Subject:
    """What a property looks at: the chart, and what was learnt about it.

    ``graph`` is the explored state graph (set by exploration, see flowcheck.explore);
    ``machine_class`` is the python-statemachine class when the chart was read from one;
    ``campaign`` the hypothesis campaign's result when it ran.
    """

    chart: Chart
    settings: Settings | None = None
    source: Path | None = None
    machine_class: type[Any] | None = None
    graph: Any = None
    campaign: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    profile: str = "mirai"
    """The rules checked: ``generic`` statechart properties for any machine, or ``mirai``,
    which adds the platform's rules (failure tags with retry, telemetry, semantic events,
    taxonomy, proto contract)."""
