"""Where a flow's constructs are declared: the one place every report asks for file:line.

A finding speaks the chart's vocabulary: a state, an event, sometimes a guard or an action.
A reader needs the line to open. This module reads a flow module (with :mod:`ast`, never by
importing it again) or an XState JSON config once per version of the file and answers:

- a **transition**: the ``source.to(...)`` call inside the event's declaration
  (``PAYMENT_SUBMITTED = paymentDetails.to(...)``, ``Event(..., id=on_done("x"))``); when
  an event has several transitions from one state (guarded alternatives), the n-th of them
  in the chart is the n-th call in the file;
- a **guard** or an **action**: the line that defines it (``guard("name", ...)``,
  ``assign("name", ...)``);
- an **invoke**: the line of its id in ``rpc("id", ...)`` / ``child_flow("id", ...)``;
- a **state**: ``name = step(...)`` or ``class name(State.Compound)``;
- the **flow** itself: its class.

:func:`locate` picks the most precise of these for a finding, from its own fields and the
chart: the guard or action it names, else the transition on its event from its state (or a
state around it), else the invoke behind an ``xstate.done``/``xstate.error`` event, else
the state, else the flow. :func:`step_locations` does the same for each step of a
counterexample (the transition each event takes), for reports that walk through it.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowcheck.chart.model import Chart, Transition

if TYPE_CHECKING:
    from flowcheck.properties.base import Counterexample, Finding

_DONE = "xstate.done.actor."
_ERROR = "xstate.error.actor."
_AFTER = "xstate.after."


@dataclass(frozen=True)
class Location:
    """A construct of a flow and where it is declared (``line`` None: not found)."""

    file: str
    line: int | None
    construct: str


@dataclass
class SourceMap:
    """The declarations of one flow module or XState config, by name, with their lines."""

    path: Path
    flow_line: int | None = None
    states: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    transitions: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    guards: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    invokes: dict[str, int] = field(default_factory=dict)
    sends: dict[str, int] = field(default_factory=dict)
    """Events sent to the parent flow (``send_parent("EVENT")``): the first line of each."""
    lines: list[str] = field(default_factory=list)

    def attribute_line(self, class_line: int, name: str) -> int | None:
        """The line where the class body starting at ``class_line`` assigns ``name``."""
        pattern = re.compile(rf"^\s+{re.escape(name)}\s*(:[^=]*)?=")
        for number, line in enumerate(self.lines[class_line:], start=class_line + 1):
            if line and not line[0].isspace() and not line.startswith("#"):
                return None  # the class body ended
            if pattern.match(line):
                return number
        return None


_MAPS: dict[tuple[Path, int, int], SourceMap] = {}


def source_map(path: Path | str) -> SourceMap:
    """The declarations of ``path``, read once per version of the file (an unreadable file
    gives an empty map: every lookup then answers None)."""
    path = Path(path)
    try:
        stat = path.stat()
        key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
    except OSError:
        return SourceMap(path)
    found = _MAPS.get(key)
    if found is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        found = _read_json(path, text) if path.suffix == ".json" else _read_python(path, text)
        if len(_MAPS) > 256:
            _MAPS.clear()
        _MAPS[key] = found
    return found


# -- answering for a finding -----------------------------------------------------------------


def locate(finding: Finding, chart: Chart, source: Path | str | None = None) -> Finding:
    """``finding`` with ``file``, ``line`` and ``construct`` filled in where it does not say
    them itself (a finding that already points somewhere, e.g. at a proto file, keeps it)."""
    path = source or chart.source or None
    if path is None or (finding.file and finding.line):
        return finding
    where = where_is(finding, chart, Path(path))
    return dataclasses.replace(
        finding,
        file=finding.file or where.file,
        line=finding.line or where.line,
        construct=finding.construct or where.construct,
    )


def where_is(finding: Finding, chart: Chart, source: Path) -> Location:
    """The construct a finding is about, most precise first (see the module docstring)."""
    smap = source_map(source)
    file = str(source)
    if finding.guard and finding.guard in smap.guards:
        return Location(file, smap.guards[finding.guard], f"guard {finding.guard}")
    if finding.action and finding.action in smap.actions:
        return Location(file, smap.actions[finding.action], f"action {finding.action}")
    if finding.event:
        candidates = transitions_on(chart, finding.state, finding.event)
        if candidates:
            t = _pick(candidates, finding)
            return Location(file, transition_line(chart, t, smap), describe(t))
        invoke = _invoke_of(finding.event)
        if invoke and invoke in smap.invokes:
            return Location(file, smap.invokes[invoke], f"invoke {invoke}")
    if finding.state:
        line = smap.states.get(finding.state)
        if line is not None:
            return Location(file, line, f"state {finding.state}")
    if finding.event and _declared_event(finding.event) in smap.events:
        return Location(file, smap.events[_declared_event(finding.event)],
                        f"event {finding.event}")
    return Location(file, smap.flow_line, f"flow {chart.name}")


def related(finding: Finding, chart: Chart, source: Path | str | None = None) -> list[Location]:
    """The other declarations a reader of ``finding`` wants to open: the transition on its
    event and the definition of that transition's guard, less the one it points at."""
    path = source or chart.source or None
    if path is None or not finding.event:
        return []
    candidates = transitions_on(chart, finding.state, finding.event)
    if not candidates:
        return []
    t = _pick(candidates, finding)
    smap = source_map(path)
    out = [Location(str(path), transition_line(chart, t, smap), describe(t))]
    if t.guard is not None and t.guard.name in smap.guards:
        out.append(Location(str(path), smap.guards[t.guard.name], f"guard {t.guard.name}"))
    return [x for x in out
            if x.line is not None and (x.line, x.construct) != (finding.line, finding.construct)]


def step_locations(chart: Chart, cx: Counterexample,
                   source: Path | str | None = None) -> list[Location]:
    """One location per step of ``cx``: the initial state's declaration, then, for each
    event, the transition it takes (the one whose targets are in the next configuration)."""
    path = Path(source or chart.source or "")
    smap = source_map(path) if str(path) else SourceMap(path)
    file = str(path)
    out: list[Location] = []
    first = cx.states[0] if cx.states else ()
    start = first[-1] if first else chart.initial
    out.append(Location(file, smap.states.get(start, smap.flow_line), f"state {start}"))
    for i, (event, _) in enumerate(cx.events):
        before = cx.states[i] if i < len(cx.states) else ()
        after = set(cx.states[i + 1]) if i + 1 < len(cx.states) else set()
        candidates = [t for s in reversed(before) for t in transitions_on(chart, s, event,
                                                                          around=False)]
        if not candidates:
            candidates = transitions_on(chart, None, event)
        taken = next((t for t in candidates if t.targets and set(t.targets) <= after),
                     candidates[0] if candidates else None)
        if taken is not None:
            out.append(Location(file, transition_line(chart, taken, smap), describe(taken)))
            continue
        invoke = _invoke_of(event)
        line = smap.invokes.get(invoke) if invoke else smap.events.get(_declared_event(event))
        out.append(Location(file, line or smap.flow_line, f"event {event}"))
    return out


def transitions_on(chart: Chart, state: str | None, event: str,
                   around: bool = True) -> list[Transition]:
    """The transitions on ``event`` from ``state`` (then, when ``around``, from the states
    around it, innermost first); from any state when ``state`` is None."""
    if state is None:
        return [t for t in chart.transitions() if t.event == event]
    states = chart.state_map()
    current = states.get(state)
    while current is not None:
        found = [t for t in current.transitions if t.event == event]
        if found or not around:
            return found
        current = states.get(current.parent) if current.parent else None
    return []


def transition_line(chart: Chart, t: Transition, smap: SourceMap) -> int | None:
    """The line of ``t``'s ``source.to(...)`` call, else of its event's declaration."""
    event = t.event or ""
    lines = smap.transitions.get((t.source, _declared_event(event)), [])
    siblings = [x for x in chart.state(t.source).transitions if x.event == t.event]
    index = siblings.index(t) if t in siblings else 0
    if lines:
        return lines[min(index, len(lines) - 1)]
    return smap.events.get(_declared_event(event), smap.states.get(t.source))


def describe(t: Transition) -> str:
    """``transition EVENT from source, guard name`` for messages."""
    event = t.event or "(eventless)"
    guard = f", guard {'!' if t.guard.negated else ''}{t.guard.name}" if t.guard else ""
    return f"transition {event} from {t.source}{guard}"


def _pick(candidates: Sequence[Transition], finding: Finding) -> Transition:
    """The candidate whose guard the finding names (its ``guard`` field, or a guard quoted
    in its message), else the first."""
    quoted = {a or b for a, b in re.findall(r"'(\w+)'|\[!?(\w+)\]", finding.message)}
    names = {finding.guard} if finding.guard else quoted
    for t in candidates:
        if t.guard is not None and t.guard.name in names:
            return t
    return candidates[0]


def _invoke_of(event: str) -> str | None:
    for prefix in (_DONE, _ERROR):
        if event.startswith(prefix):
            return event[len(prefix):]
    return None


def _declared_event(event: str) -> str:
    """How a flow module names ``event`` in its declaration: delays as ``after.DELAY``
    (``Event(..., id=after("DELAY"))``), everything else as the chart does."""
    if event.startswith(_AFTER):
        return "after." + event[len(_AFTER):].rsplit(".", 1)[0]
    return event


# -- paths and objects -----------------------------------------------------------------------


def shown(path: str | Path, root: Path | None) -> str:
    """``path`` relative to ``root`` (POSIX separators) when it is inside it, else as given."""
    p = Path(path)
    if root is not None:
        try:
            return p.resolve().relative_to(root.resolve()).as_posix()
        except (ValueError, OSError):
            pass
    return p.as_posix()


def file_line(file: str | None, line: int | None, root: Path | None) -> str | None:
    """``machines/checkout.py:42`` (or just the file when the line is unknown)."""
    if not file:
        return None
    return shown(file, root) + (f":{line}" if line else "")


def object_line(obj: Any) -> int:
    """The line where a class or function is defined (1 when Python cannot tell)."""
    try:
        return inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return 1


def defined_in(obj: Any, path: Path) -> bool:
    """Whether ``obj`` is defined in the file ``path``."""
    try:
        source = inspect.getsourcefile(obj)
    except TypeError:
        return False
    return source is not None and Path(source).resolve() == path.resolve()


def first_difference(old: bytes, new: bytes) -> int | None:
    """The first line (1-based) where two versions of a text file differ; None if equal."""
    if old == new:
        return None
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    for number, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x != y:
            return number
    return min(len(a), len(b)) + 1


# -- reading a flow module -------------------------------------------------------------------


def _read_python(path: Path, text: str) -> SourceMap:
    smap = SourceMap(path, lines=text.splitlines())
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return smap
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            _declaration(smap, node)
    flow = _flow_class(tree)
    if flow is not None:
        smap.flow_line = flow.lineno
        _class_body(smap, flow)
    return smap


def _declaration(smap: SourceMap, node: ast.Call) -> None:
    """``guard("name", ...)``, ``assign("name", ...)``, ``rpc("id", ...)``, ..."""
    name = _callee(node.func)
    if not node.args or not isinstance(node.args[0], ast.Constant):
        return
    value = node.args[0].value
    if not isinstance(value, str):
        return
    if name == "guard":
        smap.guards.setdefault(value, node.lineno)
    elif name in ("assign", "custom"):
        smap.actions.setdefault(value, node.lineno)
    elif name in ("rpc", "child_flow"):
        smap.invokes.setdefault(value, node.args[0].lineno)
    elif name == "send_parent":
        smap.sends[value] = min(smap.sends.get(value, node.lineno), node.lineno)


def _flow_class(tree: ast.Module) -> ast.ClassDef | None:
    """The module's flow: a class deriving from Flow or StateChart, else the class with the
    most ``.to(`` calls."""
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    for c in classes:
        if any(_callee(b) in ("Flow", "StateChart") for b in c.bases):
            return c
    counted = [(sum(1 for n in ast.walk(c) if _is_to(n)), c) for c in classes]
    counted = [(n, c) for n, c in counted if n]
    return max(counted, key=lambda x: x[0])[1] if counted else None


def _class_body(smap: SourceMap, cls: ast.ClassDef) -> None:
    for node in cls.body:
        if isinstance(node, ast.ClassDef):
            smap.states.setdefault(node.name, node.lineno)
            _class_body(smap, node)
            continue
        target, value = _assignment(node)
        if target is None or value is None:
            continue
        calls = sorted((n for n in ast.walk(value) if isinstance(n, ast.Call) and _is_to(n)),
                       key=lambda n: (n.lineno, n.col_offset))
        if not calls:
            smap.states.setdefault(target, node.lineno)
            continue
        event = _event_id(value) or target
        smap.events.setdefault(event, node.lineno)
        for call in calls:
            source = _receiver(call)
            if source is not None:
                smap.transitions.setdefault((source, event), []).append(call.lineno)


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return (target.id if isinstance(target, ast.Name) else None), node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def _event_id(value: ast.expr) -> str | None:
    """The id given to ``Event(..., id=...)``: a string, or ``on_done("x")`` and its kin."""
    if not (isinstance(value, ast.Call) and _callee(value.func) == "Event"):
        return None
    for kw in value.keywords:
        if kw.arg != "id":
            continue
        if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
        if (isinstance(kw.value, ast.Call) and kw.value.args
                and isinstance(kw.value.args[0], ast.Constant)):
            arg = str(kw.value.args[0].value)
            prefix = {"on_done": _DONE, "on_error": _ERROR, "after": "after."}
            kind = _callee(kw.value.func)
            if kind in prefix:
                return prefix[kind] + arg
    return None


def _is_to(node: ast.AST) -> bool:
    """``source.to(...)`` or ``source.to.itself(...)``."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    func = node.func
    if func.attr == "itself" and isinstance(func.value, ast.Attribute):
        return func.value.attr == "to"
    return func.attr == "to"


def _receiver(call: ast.Call) -> str | None:
    """The state a ``.to(`` call leaves: the last name of ``failure.network_error.to``."""
    assert isinstance(call.func, ast.Attribute)
    value = call.func.value
    if call.func.attr == "itself" and isinstance(value, ast.Attribute):
        value = value.value
    return _callee(value)


def _callee(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


# -- reading an XState JSON config -----------------------------------------------------------


def _read_json(path: Path, text: str) -> SourceMap:
    """Lines of an XState config, by the indentation of its keys: a state is a key of a
    ``states`` object (known by its key, its path of keys ``parent.child``, that path under
    the machine's id, and its own ``"id"``), a transition a key of its state's ``on``
    object, a guard or action the first ``"type": "<name>"``, an invoke its ``"id"``."""
    lines = text.splitlines()
    smap = SourceMap(path, flow_line=1 if lines else None, lines=lines)
    key = re.compile(r'^(\s*)"([^"]+)"\s*:\s*("([^"]*)")?')
    typed = re.compile(r'"type"\s*:\s*"([^"]+)"')
    stack: list[tuple[int, str, str]] = []  # (indent, "states" | "state" | "on" | "", name)
    machine = ""
    for number, line in enumerate(lines, start=1):
        for match in typed.finditer(line):
            smap.guards.setdefault(match.group(1), number)
            smap.actions.setdefault(match.group(1), number)
        found = key.match(line)
        if not found:
            continue
        indent, name, value = len(found.group(1)), found.group(2), found.group(4)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        if name == "id" and value is not None:
            if not stack:
                machine = value
            elif parent == "state":
                smap.states.setdefault(value, smap.states[stack[-1][2]])
            else:
                smap.invokes.setdefault(value, number)
            continue
        if parent == "states":
            around = [n for _, kind, n in stack if kind == "state"][-1:]
            dotted = ".".join([*around, name])
            for known in {name, dotted, f"{machine}.{dotted}" if machine else dotted}:
                smap.states.setdefault(known, number)
            stack.append((indent, "state", dotted))
        elif parent == "on":
            # ``on`` of the machine root belongs to the machine itself.
            state = next((n for _, kind, n in reversed(stack) if kind == "state"), machine)
            for known in {state, state.rsplit(".", 1)[-1],
                          f"{machine}.{state}" if machine else state}:
                smap.transitions.setdefault((known, name), []).append(number)
            smap.events.setdefault(name, number)
            stack.append((indent, "", name))
        else:
            kind = name if name in ("states", "on") and parent in ("", "state") else ""
            stack.append((indent, kind, name))
    return smap
