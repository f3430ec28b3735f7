"""Chart -> a flow module in the project's DSL (``flowcheck import FILE.json --to-python``).

The module reads like a hand-written flow (see ``machines/checkout.py``): a pydantic
Context, payload and Input models, guards and assigns as declarative DSL calls at module
level, one :class:`~flowcheck.declare.Flow` class with the states as class attributes
(compound and parallel states as nested classes), entry and exit actions, and the
transitions grouped by event. Read back with :func:`~flowcheck.declare.read_chart`, it is
the same chart (ids aside, below) and exports to an XState config that behaves the same.

Names from the machine never become code by accident: every string (state keys, event
names, descriptions, params, context values) is written as a Python literal, and every
identifier is made from ASCII letters, digits and underscores, deterministically:

- a state's attribute name (and so its id in the flow, python-statemachine's rule) is its
  XState key when that is a usable identifier, else a snake_case form of it, made unique;
  the key itself is kept with ``tag(state, key=...)`` so that ``snapshot.value`` is
  unchanged. XState ids (``machine.parent.child``) become those attribute names: events
  named after a state id (``xstate.after.<delay>.<id>``, ``xstate.done.state.<id>``)
  follow them;
- an event is a class attribute of its own name when that is a usable identifier, else
  ``Event(..., id="<name>")``.

What the DSL cannot say (transitions or invokes on the machine root, a parallel root,
wildcard events, several targets, ...) raises :class:`ToPythonError` naming the construct
and the fix: nothing is written that would behave differently. The generated text is
parsed and checked before it is returned: it imports the DSL and calls nothing else.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import itertools
import json
import keyword
import math
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flowcheck.chart.expr import Expr
from flowcheck.chart.model import (
    ABANDONED,
    FAILURE,
    STEP,
    SUCCESS,
    Action,
    Assign,
    Chart,
    Custom,
    DataField,
    Guard,
    Invoke,
    Raise,
    SendParent,
    State,
    Track,
    Transition,
    after_event,
    done_actor,
    done_state,
    error_actor,
)
from flowcheck.errors import FlowcheckError

LINE = 99
"""Longest line written (the project's ruff line length is 100)."""
INDENT = "    "

_HELPERS = frozenset({
    "Event", "Flow", "HistoryState", "NoInput", "State", "TelemetryPolicy", "abandoned",
    "add", "after", "and_", "append", "assign", "child_flow", "count", "ctx", "custom", "eq",
    "ev", "failure", "ge", "gt", "guard", "in_", "invoking", "is_code", "le", "lit", "lt",
    "ne", "nonempty", "not_", "on_done", "on_error", "or_", "output", "raise_", "remove",
    "rpc", "send_parent", "step", "success", "tag", "track",
})
"""What a generated module may import from flowcheck.declare."""
_OTHER_IMPORTS = {"typing": {"Any", "Literal"}, "pydantic": {"BaseModel", "Field"},
                  "__future__": {"annotations"}}
_OPS = {"and": "and_", "or": "or_", "not": "not_", "in": "in_"}
_CONVENTION = re.compile(r"^(on_|before_|after_|prepare_|done_|error_|_)")
"""Attribute prefixes python-statemachine reads as callbacks or event aliases."""


class ToPythonError(FlowcheckError):
    """A chart the flow DSL cannot express without changing its behaviour."""


@dataclass(frozen=True)
class Origin:
    """Where the chart came from, for the module docstring."""

    file: str = ""
    manifest: str = ""
    command: str = ""


def chart_to_python(chart: Chart, origin: Origin | None = None) -> str:
    """The text of a flow module that reads back as ``chart`` (ids renamed as above)."""
    banned: set[str] = set()
    for _ in range(len(chart.states) + 8):
        writer = _Writer(chart, origin or Origin(file=chart.source), banned)
        text = writer.write()
        shadowed = _shadowed(text, writer.shadowable)
        if not shadowed:
            _audit(text)
            return text
        banned |= shadowed
    raise ToPythonError(f"machine {chart.id!r}: no names found for its states")  # pragma: no cover


# -- names ---------------------------------------------------------------------------------


@functools.cache
def _reserved() -> frozenset[str]:
    """Names no generated identifier takes: Python's keywords, the names the module
    imports, and the attributes of a Flow class and instance, of states and of pydantic
    models (a state or event by such a name would replace them)."""
    from pydantic import BaseModel
    from statemachine import State as PsmState

    from flowcheck.declare.flow import Flow

    class _Probe(Flow):
        flow_id = "probe"
        start = PsmState(initial=True)

        class region(PsmState.Compound):
            inner = PsmState(initial=True)

    names: set[str] = set(keyword.kwlist) | set(keyword.softkwlist)
    for obj in (_Probe, _Probe(), _Probe.start, _Probe.region, PsmState, BaseModel):
        names |= set(dir(obj))
    names -= {"start", "region", "inner"}
    names |= {"annotations", "Any", "Literal", "BaseModel", "Field", "str", "int", "bool",
              "list", "dict", "None", "True", "False"}
    return frozenset(names)


def _words(name: str) -> list[str]:
    """``paymentMethodChosen``, ``PAYMENT_CHOSEN``, ``In Progress`` -> lowercase words."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def snake(name: str) -> str:
    return "_".join(_words(name))


def pascal(name: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in _words(name))


def _plain(name: str) -> bool:
    """An ASCII identifier python-statemachine takes as it is."""
    return (re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) is not None
            and not _CONVENTION.match(name))


class _Namespace:
    """One set of names for the whole module: states (python-statemachine ids are unique
    across the chart), events, guards, actions and classes never share a name, so no class
    attribute hides a module-level name the class body uses. A state or event may take
    the name of a DSL helper or a builtin (class attributes, never read as such), unless
    the class body calls that helper after it (``banned``, see :func:`_shadowed`)."""

    def __init__(self, banned: set[str]) -> None:
        self.used: set[str] = set()
        self.banned = banned
        self.shadowable = _HELPERS | frozenset(dir(builtins))

    def free(self, name: str, attribute: bool = False) -> bool:
        return (_plain(name) and name not in self.used and name not in self.banned
                and name not in _reserved() and (attribute or name not in self.shadowable))

    def take(self, wanted: str, kind: str, attribute: bool = False) -> str:
        """``wanted`` when it is free, else its snake_case (or PascalCase for classes)
        form, then with ``kind`` added, then numbered."""
        if self.free(wanted, attribute):
            self.used.add(wanted)
            return wanted
        cls = kind[:1].isupper()
        base = pascal(wanted) if cls else snake(wanted)
        if not _plain(base):
            base = f"{kind}{base}" if cls else f"{kind}_{base}".rstrip("_")
        longer = f"{base}{kind}" if cls else f"{base}_{kind}"
        if not _plain(longer):  # ("done_state" reads as python-statemachine's callback)
            longer = f"{kind}{base}" if cls else f"{kind}_{base}"
        numbered = (f"{longer}_{n}" for n in itertools.count(2))
        name = next(c for c in itertools.chain((base, longer), numbered)
                    if self.free(c, attribute))
        self.used.add(name)
        return name

    def take_exact(self, name: str) -> bool:
        """Take ``name`` as it is (python-statemachine's ``done_state_<id>``) if unused."""
        if name in self.used or name in self.banned or name in _reserved():
            return False
        self.used.add(name)
        return True


def _shadowed(text: str, helpers: frozenset[str]) -> set[str]:
    """Class attributes that hide a DSL helper the same class body uses after them (calls
    it, or reads ``State.Compound``); a state read by its name is no conflict."""
    found: set[str] = set()

    def body(stmts: list[ast.stmt]) -> None:
        bound: set[str] = set()
        for stmt in stmts:
            found.update(_helper_uses(stmt) & bound & helpers)
            if isinstance(stmt, ast.ClassDef):
                body(stmt.body)
                bound.add(stmt.name)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                bound.update(t.id for t in targets if isinstance(t, ast.Name))

    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef):
            body(node.body)
    return found


def _helper_uses(stmt: ast.stmt) -> set[str]:
    """Names a statement uses as helpers in its own scope (a nested class body is another
    scope): called, or read as ``State.Compound``/``State.Parallel``."""
    roots: list[ast.AST] = [stmt]
    if isinstance(stmt, ast.ClassDef):
        roots = [*stmt.bases, *stmt.keywords, *stmt.decorator_list]
    out: set[str] = set()
    for root in roots:
        for node in ast.walk(root):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                out.add(node.func.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.attr in ("Compound", "Parallel"):
                out.add(node.value.id)
    return out


# -- literals -------------------------------------------------------------------------------


def q(text: str) -> str:
    """A Python string literal of ``text`` (double quotes where that needs no escape)."""
    r = repr(text)
    if r.startswith("'") and '"' not in text:
        r = f'"{r[1:-1]}"'
    return r


def py(value: Any, where: str) -> str:
    """A Python literal of a JSON-like value (tuples stay tuples, as the chart holds them)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ToPythonError(f"{where}: {value!r} is not a JSON number; write a finite "
                                "number or a string in the machine")
        return repr(value)
    if isinstance(value, str):
        return q(value)
    if isinstance(value, tuple):
        items = [py(v, where) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return f"[{', '.join(py(v, where) for v in value)}]"
    if isinstance(value, dict):
        pairs = []
        for k, v in value.items():
            if not isinstance(k, str):
                raise ToPythonError(f"{where}: an object key {k!r} is not a string")
            pairs.append(f"{q(k)}: {py(v, where)}")
        return "{" + ", ".join(pairs) + "}"
    raise ToPythonError(f"{where}: a value of type {type(value).__name__} is not JSON")


def docstring(text: str, indent: str = "") -> str:
    """A triple-quoted docstring whose value is exactly ``text``."""
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"' and (text[i - 1:i] == '"' or text[i + 1:i + 2] in ('"', "")):
            out.append('\\"')  # a quote that could close the docstring
        elif ch == "\n" or (ch.isprintable() and ch not in "\u2028\u2029"):
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    body = "".join(out)
    if "\n" in body:
        body = body.replace("\n", "\n" + indent).replace("\n" + indent + "\n", "\n\n")
        lines = body.split("\n")
        body = "\n".join(line.rstrip() if line.strip() else "" for line in lines)
        return f'{indent}"""{body}\n{indent}"""'
    return f'{indent}"""{body}"""'


def kwargs(pairs: Iterable[tuple[str, str]], reserved: Iterable[str] = ()) -> list[str]:
    """``name=code`` for identifier keys, one ``**{...}`` for the rest (any string)."""
    plain: list[str] = []
    other: list[str] = []
    blocked = set(reserved)
    for key, code in pairs:
        if key.isidentifier() and key.isascii() and not keyword.iskeyword(key) \
                and key not in blocked:
            plain.append(f"{key}={code}")
        else:
            other.append(f"{q(key)}: {code}")
    if other:
        plain.append("**{" + ", ".join(other) + "}")
    return plain


def fit(code: str, indent: str, used: int = 0, bare: bool = False) -> str:
    """``code`` (one line of Python) laid out to fit the line length: as it is when it
    fits after ``used`` columns at ``indent``, else calls, containers and ``|`` chains
    broken one item a line, recursively, continuation lines at ``indent``. ``bare``: an
    argument, whose ``|`` chain needs no parentheses."""
    if "\n" not in code and len(indent) + used + len(code) <= LINE:
        return code
    try:
        node = ast.parse(code, mode="eval").body
    except SyntaxError:  # pragma: no cover - the writer only passes expressions
        return code
    inner = indent + INDENT

    def seg(n: ast.AST) -> str:
        return ast.get_source_segment(code, n) or ""

    def items(parts: list[str], open_: str, close: str) -> str:
        return open_ + "\n" + "".join(f"{inner}{p},\n" for p in parts) + indent + close

    if isinstance(node, ast.Call):
        parts = [fit(seg(a), inner, bare=True) for a in node.args]
        for k in node.keywords:
            head = f"{k.arg}=" if k.arg else "**"
            parts.append(head + fit(seg(k.value), inner, len(head), bare=True))
        return items(parts, f"{seg(node.func)}(", ")") if parts else code
    if isinstance(node, ast.Dict):
        parts = [f"{seg(k)}: " + fit(seg(v), inner, len(seg(k)) + 2, bare=True)
                 if k is not None else "**" + fit(seg(v), inner, 2)
                 for k, v in zip(node.keys, node.values, strict=True)]
        return items(parts, "{", "}")
    if isinstance(node, ast.List) and node.elts:
        return items([fit(seg(e), inner, bare=True) for e in node.elts], "[", "]")
    if isinstance(node, ast.Tuple) and node.elts:
        return items([fit(seg(e), inner, bare=True) for e in node.elts], "(", ")")
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
        parts = [fit(seg(e), inner, bare=True) for e in node.slice.elts]
        return items(parts, f"{seg(node.value)}[", "]")
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        pieces = _pieces(node.value, LINE - len(inner))
        if len(pieces) > 1:
            return "(\n" + "".join(f"{inner}{q(p)}\n" for p in pieces) + indent + ")"
        return code
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        operands: list[ast.expr] = []
        stack: ast.expr = node
        while isinstance(stack, ast.BinOp) and isinstance(stack.op, ast.BitOr):
            operands.insert(0, stack.right)
            stack = stack.left
        operands.insert(0, stack)
        if bare:
            laid = [fit(seg(o), indent, 2) for o in operands]
            return f"\n{indent}| ".join(laid)
        laid = [fit(seg(o), inner, 2) for o in operands]
        return "(\n" + inner + f"\n{inner}| ".join(laid) + "\n" + indent + ")"
    return code


def _pieces(text: str, width: int) -> list[str]:
    """``text`` cut after spaces and newlines into pieces whose literals fit ``width``."""
    pieces: list[str] = []
    current = ""
    for token in re.findall(r"[^\s]+\s*|\s+", text):
        if current and (len(q(current + token)) > width or current.endswith("\n")):
            pieces.append(current)
            current = ""
        current += token
    if current:
        pieces.append(current)
    return pieces


# -- the writer -----------------------------------------------------------------------------


@dataclass
class _Node:
    state: State
    attr: str
    path: str  # dotted access from the Flow class body


@dataclass
class _Group:
    """The transitions of one event, in document order."""

    kind: str  # "event", "done", "error", "after", "done_state", "always"
    key: str
    transitions: list[Transition] = field(default_factory=list)


class _Writer:
    def __init__(self, chart: Chart, origin: Origin, banned: set[str]) -> None:
        self.chart = chart
        self.origin = origin
        self.shadowable = _HELPERS
        self.names = _Namespace(banned)
        self.states = chart.state_map()
        self.nodes: dict[str, _Node] = {}
        self.ids: dict[str, str] = {}
        self.imports: set[str] = {"Flow"}
        self.typing: set[str] = set()
        self.pydantic: set[str] = set()
        self.guards: dict[tuple[str, Any, str | None], str] = {}
        self.guard_lines: list[str] = []
        self.assigns: dict[Assign, str] = {}
        self.assign_lines: list[str] = []
        self.aliases: dict[tuple[Any, ...], str] = {}
        self.alias_lines: list[str] = []
        self.policy_default = False
        self.renamed: list[tuple[str, str]] = []
        self.notes: list[str] = []

    def fail(self, where: str, problem: str) -> ToPythonError:
        return ToPythonError(f"machine {self.chart.id!r}: {where}: {problem}")

    # -- what the DSL cannot say -------------------------------------------------------

    def refuse(self) -> None:
        chart = self.chart
        if chart.root is not None:
            self._refuse_root(chart.root)
        for s in chart.states:
            where = f"state {s.id!r}"
            if s.output:
                raise self.fail(where, "a final state with an \"output\" (done data); the "
                                "flow DSL has none: drop the state's output, or give the "
                                "machine an \"output\" read from the context")
            if len(s.invokes) > 1:
                raise self.fail(where, f"{len(s.invokes)} invokes on one state; a flow "
                                "state invokes one actor: split the state into parallel "
                                "regions, one invoke each")
            if s.invokes and s.kind != "atomic":
                raise self.fail(where, f"an invoke on a {s.kind} state; a flow invokes "
                                "from atomic states: move the invoke into a child state")
            for inv in s.invokes:
                if inv.input_value is not None:
                    raise self.fail(f"{where}: invoke {inv.id!r}", "an input that is not "
                                    "an object; rpc() and child_flow() take an object of "
                                    "fields: wrap the value in an object")
            if s.kind in ("final", "history") and s.transitions:
                raise self.fail(where, f"a {s.kind} state with outgoing transitions; a flow "
                                "cannot have them: remove them")
            for t in s.transitions:
                self._refuse_transition(t)
            for a in (*s.entry, *s.exit):
                self._check_action(a, where)
        for f in chart.context:
            self._check_field(f, "context field")
        for e in chart.events:
            for f in e.payload:
                self._check_field(f, f"payload field of {e.name!r}")
        for f in chart.input or ():
            self._check_field(f, "input field")

    def _refuse_root(self, root: State) -> None:
        fix = ("wrap the states in one compound state and put them there (its key then "
               "appears in the state value)")
        if root.kind == "parallel":
            raise self.fail("the machine root", "a parallel root; a flow's top level is one "
                            "compound state at a time: wrap the regions in one parallel state "
                            "(its key then appears in the state value)")
        if root.kind == "atomic":
            raise self.fail("the machine root", "a machine without states; a flow needs at "
                            "least one state: add an initial state")
        if root.transitions:
            t = root.transitions[0]
            raise self.fail("the machine root", f"a transition on the root "
                            f"({_event_label(t)}); flows have transitions on states: {fix}, "
                            "or repeat it on each top-level state")
        if root.invokes:
            raise self.fail("the machine root", f"an invoke on the root "
                            f"({root.invokes[0].id!r}); flows invoke from states: {fix}")
        if root.tags or root.exit:
            what = "tags" if root.tags else "exit actions"
            raise self.fail("the machine root", f"{what} on the root; a flow has none: move "
                            "them onto the states")
        raise self.fail("the machine root", "a transition targets the machine itself; a flow "
                        f"cannot target its root: {fix}")

    def _refuse_transition(self, t: Transition) -> None:
        where = f"transition {_event_label(t)} from {t.source!r}"
        event = t.event
        if event is not None:
            if event == "*" or event.endswith(".*"):
                raise self.fail(where, "a wildcard event; python-statemachine matches event "
                                "names otherwise: list the events it stands for")
            if not event.strip() or any(ch.isspace() for ch in event):
                fix = "rename the event"
                if event.startswith(("xstate.done.actor.", "xstate.error.actor.")):
                    fix = ("give the invoke an \"id\" without spaces (XState names its "
                           "events after the id, by default after the state's)")
                raise self.fail(where, "an event name with whitespace; python-statemachine "
                                f"splits event names at spaces: {fix}")
            if event.startswith(("done_state_", "done_invoke_", "done.state.", "done.invoke.")) \
                    or (event.startswith("error_") and "." not in event):
                raise self.fail(where, "an event name python-statemachine reserves for its "
                                "own done and error events: rename the event")
            if event.startswith("xstate.after.") and t.delay is None:
                raise self.fail(where, "a delay event named by hand in \"on\"; its name "
                                "follows the state id, which changes: use \"after\"")
        if len(t.targets) > 1:
            raise self.fail(where, f"{len(t.targets)} targets; a flow transition has one "
                            "target: make the other targets initial states of their regions, "
                            "or split the transition")
        if t.guard is not None and t.guard.negated:
            raise self.fail(where, f"guard {t.guard.name!r} is negated; give the negation "
                            "its own named guard")
        for a in t.actions:
            self._check_action(a, where)
        if t.targets and not t.reenter and _reenter_matters(t, self.states):
            self._reenter_expressible(t, where)

    def _reenter_expressible(self, t: Transition, where: str) -> None:
        """A transition XState does not re-enter its source for (``reenter: false``, its
        default) where that matters, written as python-statemachine can say it."""
        target = self.states[t.targets[0]]
        source = self.states[t.source]
        if target.id == source.id and source.kind == "parallel":
            raise self.fail(where, "a transition of the parallel state to itself without "
                            "reenter: XState restarts its regions and leaves it entered, "
                            "which a flow cannot say: add \"reenter\": true")
        if target.kind == "history" and target.parent is not None \
                and _inside(source.id, target.parent, self.states):
            raise self.fail(where, f"a transition to the history state {target.id!r} "
                            "without reenter; when the history restores the source itself "
                            "XState does not re-enter it, a flow does: add \"reenter\": true")

    def _check_action(self, a: Action, where: str) -> None:
        if isinstance(a, Custom):
            if not a.declared:
                raise self.fail(where, f"action {a.name!r} is a plain Python callable in the "
                                "source; declare it with custom(name)")
            if any(k == "run" for k, _ in a.params):
                raise self.fail(where, f"action {a.name!r} has a param named 'run', which "
                                "custom() takes for its Python body: rename the param")
        if isinstance(a, Track) and any(k in ("event", "include") for k, _ in a.properties):
            raise self.fail(where, "a track property named 'event' or 'include', which "
                            "track() takes itself: rename the property")

    def _check_field(self, f: DataField, what: str) -> None:
        from pydantic import BaseModel

        if not (f.name.isidentifier() and f.name.isascii()) or keyword.iskeyword(f.name) \
                or f.name.startswith("_") or f.name in dir(BaseModel):
            raise self.fail(f"{what} {f.name!r}", "not a name a pydantic model field can "
                            "have (an ASCII identifier, not a keyword, not starting with _, "
                            "not a BaseModel attribute): rename the field")
        if f.type == "null":
            raise self.fail(f"{what} {f.name!r}", "the type null; give the field a type "
                            "(string, integer, boolean, a list, an object)")
        if f.enum and len({type(v) for v in f.enum}) != 1:
            raise self.fail(f"{what} {f.name!r}", "an enum of mixed types; a Literal of one "
                            "type is what a flow reads: split the values or drop the enum")

    # -- names ---------------------------------------------------------------------------

    def name_states(self) -> None:
        for s in self.chart.states:
            attr = self.names.take(s.name, "state", attribute=True)
            if attr != s.name:
                self.renamed.append((s.name, attr))
            parent = self.nodes.get(s.parent) if s.parent else None
            path = f"{parent.path}.{attr}" if parent else attr
            self.nodes[s.id] = _Node(s, attr, path)
        self.ids = {sid: node.attr for sid, node in self.nodes.items()}

    def name_events(self, groups: list[_Group]) -> dict[tuple[str, str], tuple[str, str]]:
        """Per group: its attribute name and the code of the Event's id ("" for none)."""
        out: dict[tuple[str, str], tuple[str, str]] = {}
        for g in groups:
            if g.kind == "always":
                continue
            if g.kind == "event":
                attr = self.names.take(g.key, "event", attribute=True)
                out[(g.kind, g.key)] = (attr, "" if attr == g.key else q(g.key))
            elif g.kind == "done_state" and self.names.take_exact(f"done_state_{g.key}"):
                out[(g.kind, g.key)] = (f"done_state_{g.key}", "")
            elif g.kind == "done_state":
                attr = self.names.take(f"{g.key}_done", "event", attribute=True)
                out[(g.kind, g.key)] = (attr, q(f"done.state.{g.key}"))
            else:
                helper = {"done": "on_done", "error": "on_error", "after": "after"}[g.kind]
                self.imports.add(helper)
                stem = snake(g.key) or "invoke"
                wanted = {"done": f"{stem}_done", "error": f"{stem}_error",
                          "after": stem if stem[:1].isalpha() else f"delay_{stem}"}[g.kind]
                attr = self.names.take(wanted, "event", attribute=True)
                out[(g.kind, g.key)] = (attr, f"{helper}({q(g.key)})")
        return out

    # -- telemetry -----------------------------------------------------------------------

    def telemetry(self) -> dict[str, tuple[tuple[Action, ...], tuple[Action, ...]]]:
        """Entry and exit actions per state, without the default telemetry policy's tracks
        when every state carries exactly those (the flow then keeps the default policy);
        else the policy is off and every track is written out."""
        from flowcheck.declare.flow import TelemetryPolicy

        policy = TelemetryPolicy()
        flow = self.chart.id
        stripped: dict[str, tuple[tuple[Action, ...], tuple[Action, ...]]] = {}
        default = tuple(self.chart.entry) == tuple(policy.on_start(flow))
        for s in self.chart.states:
            if not default:
                break
            if s.kind == "history":
                stripped[s.id] = (s.entry, s.exit)
                continue
            sid = self.ids[s.id]
            entry = tuple(policy.on_entry(flow, sid, list(s.tags), s.kind == "final"))
            exit_: tuple[Track, ...] = ()
            if not (s.kind == "final" and s.parent is None):
                exit_ = tuple(policy.on_exit(flow, sid))
            if s.entry[:len(entry)] != entry or s.exit[:len(exit_)] != exit_:
                default = False
                break
            stripped[s.id] = (s.entry[len(entry):], s.exit[len(exit_):])
        self.policy_default = default
        if default:
            return stripped
        if self.chart.entry:
            raise self.fail("the machine root", "entry actions on the root; a flow runs its "
                            "start telemetry only: move them onto the initial state")
        return {s.id: (s.entry, s.exit) for s in self.chart.states}

    # -- expressions, guards and actions -------------------------------------------------

    def expr(self, e: Expr, in_class: bool = False) -> str:
        """DSL code for an expression. In the Flow class body ``output`` is the class's
        own attribute, so invoke inputs spell ``ev("output.x")`` out."""
        if e.op == "ref":
            head, _, rest = (e.path or "").partition(".")
            if head == "context":
                self.imports.add("ctx")
                return f"ctx({q(rest)})"
            if rest.startswith("output.") and not in_class:
                self.imports.add("output")
                return f"output({q(rest[len('output.'):])})"
            self.imports.add("ev")
            return f"ev({q(rest)})"
        if e.op == "lit":
            return py(e.value, "an expression")
        code = self._is_code(e)
        if code is not None:
            return code
        func = _OPS.get(e.op, e.op)
        self.imports.add(func)
        return f"{func}({', '.join(self.expr(a, in_class) for a in e.args)})"

    def _is_code(self, e: Expr) -> str | None:
        """``is_code("x")`` where the expression is the one it builds."""
        if e.op not in ("eq", "in") or len(e.args) != 2:
            return None
        ref, value = e.args
        if ref.op != "ref" or ref.path != "event.error.code" or value.op != "lit":
            return None
        codes = value.value
        if e.op == "eq" and isinstance(codes, str):
            codes = (codes,)
        elif not (e.op == "in" and isinstance(codes, tuple) and len(codes) > 1
                  and all(isinstance(c, str) for c in codes)):
            return None
        self.imports.add("is_code")
        return f"is_code({', '.join(q(c) for c in codes)})"

    def guard(self, g: Guard) -> str:
        key = (g.name, g.expr, g.params)
        known = self.guards.get(key)
        if known is not None:
            return known
        var = self.names.take(snake(g.name), "guard")
        self.guards[key] = var
        self.imports.add("guard")
        args = [q(g.name)]
        if g.expr is None:
            args.append("opaque=True")
            if g.params is not None:
                args.append(f"params={py(json.loads(g.params), f'guard {g.name!r}')}")
        elif g.expr.op == "lit":
            self.imports.add("lit")
            args.append(f"lit({self.expr(g.expr)})")
        else:
            args.append(self.expr(g.expr))
        self.guard_lines.append(f"{var} = {fit(one('guard', args), '', len(var) + 3)}")
        return var

    def action(self, a: Action) -> str:
        """One action as DSL code on one line (assigns by their module-level name)."""
        if isinstance(a, Assign):
            return self.assign(a)
        if isinstance(a, Track):
            self.imports.add("track")
            args = [q(a.event)]
            if a.include:
                args.append(f"include={py(list(a.include), 'track')}")
            props = [(k, py(v, f"track {a.event!r}")) for k, v in a.properties]
            return one("track", args + kwargs(props, ("event", "include")))
        if isinstance(a, Raise):
            self.imports.add("raise_")
            return f"raise_({q(a.event)})"
        if isinstance(a, SendParent):
            self.imports.add("send_parent")
            return f"send_parent({q(a.event)})"
        self.imports.add("custom")
        params = [(k, py(v, f"action {a.name!r}")) for k, v in a.params]
        return one("custom", [q(a.name), *kwargs(params, ("run",))])

    def assign(self, a: Assign) -> str:
        known = self.assigns.get(a)
        if known is not None:
            return known
        var = self.names.take(snake(a.name), "action")
        self.assigns[a] = var
        self.imports.add("assign")
        updates = [(k, self.expr(v)) for k, v in a.updates]
        args = [q(a.name), *kwargs(updates)]
        self.assign_lines.append(f"{var} = {fit(one('assign', args), '', len(var) + 3)}")
        return var

    # -- models --------------------------------------------------------------------------

    def annotation(self, f: DataField) -> str:
        if f.enum:
            self.typing.add("Literal")
            base = f"Literal[{', '.join(py(v, f.name) for v in f.enum)}]"
            if len(base) > LINE // 2:
                # A long Literal reads better named, as hand-written flows do.
                alias = self.aliases.get(f.enum)
                if alias is None:
                    alias = self.names.take(pascal(f.name) or "Values", "Values")
                    self.aliases[f.enum] = alias
                    self.alias_lines.append(f"{alias} = {fit(base, '', len(alias) + 3)}")
                base = alias
        elif f.type in _SCALARS:
            base = _SCALARS[f.type]
        elif f.type == "object":
            self.typing.add("Any")
            base = "dict[str, Any]" if f.default is None or isinstance(f.default, dict) \
                else "Any"
        else:
            self.typing.add("Any")
            items = f.default if isinstance(f.default, tuple | list) else ()
            base = "list[dict[str, Any]]" if all(isinstance(v, dict) for v in items) \
                else "list[Any]"
        if f.nullable and base != "Any":
            base += " | None"
        return base

    def model_field(self, f: DataField, *, context: bool, input_: bool = False) -> str:
        """One field line. A context field always has its default; a payload or input
        field is required when it has no default and cannot be null."""
        from flowcheck.formats.xstate.config import required

        ann = self.annotation(f)
        where = f"field {f.name!r}"
        extra: list[str] = []
        if f.examples and (input_ or f.examples != _inferred_examples(f)):
            extra.append(f"examples={py([_thaw(x) for x in f.examples], where)}")
        for attr, key in (("minimum", "ge"), ("maximum", "le"), ("min_length", "min_length"),
                          ("max_length", "max_length")):
            bound = getattr(f, attr)
            if bound is not None:
                extra.append(f"{key}={bound}")
        if f.fact:
            extra.append('json_schema_extra={"flowcheck": "domain-fact"}')
        default = py(_thaw(f.default), where) if context or not required(f) else None
        head = f"{f.name}: {ann}"
        if not extra:
            return head + (f" = {fit(default, INDENT, len(head) + 3)}"
                           if default is not None else "")
        self.pydantic.add("Field")
        args = ([f"default={default}"] if default is not None else []) + extra
        return f"{head} = {fit(one('Field', args), INDENT, len(head) + 3)}"

    def model(self, name: str, fields: list[str], doc: str = "") -> list[str]:
        self.pydantic.add("BaseModel")
        lines = [f"class {name}(BaseModel):"]
        if doc:
            lines.append(self._doc(doc, INDENT, "an event description"))
            if fields:
                lines.append("")
        lines += [f"{INDENT}{line}" for line in fields]
        if not doc and not fields:
            lines.append(f"{INDENT}pass")
        return lines

    def _doc(self, text: str, indent: str, what: str) -> str:
        """A class docstring the reader reads back as ``text`` (``inspect.cleandoc``)."""
        literal = docstring(text, indent)
        if inspect.cleandoc(ast.literal_eval(literal.strip())) != text:
            self.notes.append(f"{what.capitalize()} is a docstring here: its surrounding "
                              "blank lines, indentation and tabs are normalised as "
                              "docstrings are.")
        return literal

    # -- states --------------------------------------------------------------------------

    def state_lines(self, s: State, indent: str) -> list[str]:
        node = self.nodes[s.id]
        parent = self.states[s.parent] if s.parent else None
        initial = (parent.initial if parent is not None else self.chart.initial) == s.id
        key = s.name if s.name != node.attr else ""
        if s.kind in ("compound", "parallel"):
            self.imports.add("State")
            kind = "Compound" if s.kind == "compound" else "Parallel"
            lines = [f"{indent}class {node.attr}(State.{kind}"
                     + (", initial=True):" if initial else "):")]
            for child in s.children:
                lines += self.state_lines(self.states[child], indent + INDENT)
            meta = self._tag_args(list(s.tags), s.description, key)
            if meta:
                self.imports.add("tag")
                lines.append(indent + fit(one("tag", [node.attr, *meta]), indent))
            return lines
        if s.kind == "history":
            self.imports.add("HistoryState")
            code = 'HistoryState(type="deep")' if s.history == "deep" else "HistoryState()"
            tags, described = list(s.tags), False
        else:
            code, tags, described = self._constructor(s, initial, list(s.tags))
        meta = self._tag_args(tags, "" if described else s.description, key)
        if meta:
            self.imports.add("tag")
            code = one("tag", [code, *meta])
        return [f"{indent}{node.attr} = {fit(code, indent, len(node.attr) + 3)}"]

    def _constructor(self, s: State, initial: bool, tags: list[str]) -> tuple[str, list[str], bool]:
        """The state's DSL call, the tags it leaves to tag(), whether it says the
        description."""
        kw = ["initial=True"] if initial else []
        desc = [q(s.description)] if s.description else []
        if s.invokes:
            self.imports.add("invoking")
            args = [self.invoke(s.invokes[0]), *([f"description={desc[0]}"] if desc else []),
                    *kw]
            return one("invoking", args), tags, True
        if s.kind == "final":
            if not initial and tags[:1] in ([SUCCESS], [ABANDONED]):
                helper = "success" if tags[0] == SUCCESS else "abandoned"
                self.imports.add(helper)
                return one(helper, desc), tags[1:], True
            self.imports.add("State")
            return one("State", ["final=True", *kw]), tags, False
        if tags[:1] in ([STEP], [FAILURE]):
            helper = tags[0]
            self.imports.add(helper)
            return one(helper, [*desc, *kw]), tags[1:], True
        self.imports.add("State")
        return one("State", kw), tags, False

    @staticmethod
    def _tag_args(tags: list[str], description: str, key: str) -> list[str]:
        args = [q(t) for t in tags]
        if description:
            args.append(f"description={q(description)}")
        if key:
            args.append(f"key={q(key)}")
        return args

    def invoke(self, inv: Invoke) -> str:
        """``rpc(...)`` or ``child_flow(...)``."""
        helper = "rpc" if inv.kind == "rpc" else "child_flow"
        self.imports.add(helper)
        where = f"invoke {inv.id!r}"
        args = [q(inv.id), q(inv.src)]
        if inv.input:
            items = [f"{q(k)}: {self.expr(v, in_class=True)}" for k, v in inv.input]
            args.append(f"input={{{', '.join(items)}}}")
        if inv.outputs != ({},):
            args.append(f"outputs=[{', '.join(py(o, where) for o in inv.outputs)}]")
        if inv.error_codes != ("unavailable",):
            args.append(f"errors={py(list(inv.error_codes), where)}")
        return one(helper, args)

    # -- transitions ---------------------------------------------------------------------

    def groups(self) -> list[_Group]:
        invokes = {i.id for _, i in self.chart.invokes()}
        out: dict[tuple[str, str], _Group] = {}
        for s in self.chart.states:
            for t in s.transitions:
                kind, key = self._classify(t, invokes)
                out.setdefault((kind, key), _Group(kind, key)).transitions.append(t)
        return list(out.values())

    def _classify(self, t: Transition, invokes: set[str]) -> tuple[str, str]:
        event = t.event
        if event is None:
            return "always", ""
        if t.delay is not None and event == after_event(t.delay, t.source):
            return "after", t.delay
        for kind, prefix in (("done", done_actor("")), ("error", error_actor(""))):
            if event.startswith(prefix) and event[len(prefix):] in invokes:
                return kind, event[len(prefix):]
        prefix = done_state("")
        if event.startswith(prefix) and event[len(prefix):] in self.ids:
            return "done_state", self.ids[event[len(prefix):]]
        return "event", event

    def transition(self, t: Transition) -> tuple[str, list[str]]:
        """``source.to`` and its arguments."""
        target = "None"
        extra: list[str] = []
        if t.targets:
            tgt = self.states[t.targets[0]]
            matters = not t.reenter and _reenter_matters(t, self.states)
            if matters and tgt.id == t.source and tgt.initial is not None:
                # XState's self-transition of a compound state without reenter exits its
                # children and enters the initial one, the state itself staying entered:
                # a non-reentering transition to the initial child does just that.
                tgt = self.states[tgt.initial]
            if not (matters and tgt.id == t.source):
                # (an atomic state's self-transition without reenter is targetless)
                target = self.nodes[tgt.id].path
                if matters:
                    extra.append("internal=True")
        args = [target]
        if t.guard is not None:
            args.append(f"cond={self.guard(t.guard)}")
        args += extra
        if t.actions:
            acts = [self.action(a) for a in t.actions]
            args.append(f"on={acts[0]}" if len(acts) == 1 else f"on=[{', '.join(acts)}]")
        return f"{self.nodes[t.source].path}.to", args

    # -- the module ----------------------------------------------------------------------

    def write(self) -> str:
        self.refuse()
        self.name_states()
        acts = self.telemetry()
        groups = self.groups()
        events = self.name_events(groups)
        flow = pascal(self.chart.id) or "Machine"
        flow_cls = self.names.take(flow, "Flow")
        context_cls = self.names.take(f"{flow_cls}Context", "Model")
        input_cls = self.names.take(f"{flow_cls}Input", "Model")
        payload_names = self._payload_classes()

        body: list[str] = []
        for top in self.chart.top_level():
            nested = self.states[top].kind in ("compound", "parallel")
            if body and (nested or body[-1].startswith(INDENT * 2)):
                body.append("")
            body += self.state_lines(self.states[top], INDENT)
        adds: list[str] = []
        for s in self.chart.states:
            entry, exit_ = acts[s.id]
            for group, actions in (("enter", entry), ("exit", exit_)):
                for a in actions:
                    code = f"{self.nodes[s.id].path}.{group}.add({self.action(a)})"
                    adds.append(INDENT + fit(code, INDENT))
        transitions: list[str] = []
        for g in groups:
            calls = [self.transition(t) for t in g.transitions]
            if g.kind == "always":
                transitions += [INDENT + fit(one(f, a), INDENT) for f, a in calls]
                continue
            attr, event_id = events[(g.kind, g.key)]
            if event_id:
                self.imports.add("Event")
            transitions.append(_event_lines(attr, calls, event_id))

        models: list[list[str]] = []
        if self.chart.context:
            models.append(self.model(context_cls, [self.model_field(f, context=True)
                                                   for f in self.chart.context]))
        if self.chart.input:
            models.append(self.model(input_cls, [self.model_field(f, context=False, input_=True)
                                                 for f in self.chart.input]))
        payloads: list[tuple[str, str]] = []
        for spec in self.chart.events:
            cls = payload_names.get(spec.name)
            if cls is None:
                continue
            if cls not in {c for _, c in payloads}:
                models.append(self.model(cls, [self.model_field(f, context=False)
                                               for f in spec.payload], spec.description))
            payloads.append((spec.name, cls))

        cls_lines = [f"class {flow_cls}(Flow):"]
        if self.chart.description:
            cls_lines += [self._doc(self.chart.description, INDENT, "the machine's description"),
                          ""]
        cls_lines.append(f"{INDENT}flow_id = {q(self.chart.id)}")
        if self.chart.context:
            cls_lines.append(f"{INDENT}Context = {context_cls}")
        if self.chart.input is not None:
            if not self.chart.input:
                self.imports.add("NoInput")
            cls_lines.append(f"{INDENT}Input = {input_cls if self.chart.input else 'NoInput'}")
        if not self.policy_default:
            self.imports.add("TelemetryPolicy")
            cls_lines += [f"{INDENT}telemetry_policy = TelemetryPolicy(",
                          f"{INDENT * 2}entered=None, exited=None, started=None, "
                          "completed=None, failed=None, abandoned=None",
                          f"{INDENT})"]
        if payloads:
            cls_lines.append(_dict_line(f"{INDENT}payloads = ",
                                        [f"{q(name)}: {cls}" for name, cls in payloads]))
        if self.chart.output:
            items = [f"{q(k)}: {self.expr(v, in_class=True)}" for k, v in self.chart.output]
            cls_lines.append(_dict_line(f"{INDENT}output = ", items))
        cls_lines += ["", *body]
        if adds:
            cls_lines += ["", *adds]
        if transitions:
            cls_lines += ["", *transitions]

        lines = [docstring(self._module_doc()), "", "from __future__ import annotations", ""]
        lines += self._import_lines()
        if self.alias_lines:
            lines += ["", *self.alias_lines]
        for m in models:
            lines += ["", "", *m]
        defs = self.guard_lines + ([""] if self.guard_lines and self.assign_lines else []) \
            + self.assign_lines
        if defs:
            lines += ["", "", *defs]
        lines += ["", "", *cls_lines]
        return "\n".join(lines).rstrip() + "\n"

    def _payload_classes(self) -> dict[str, str]:
        """A payload model per event that has a payload or a description; events of the
        same payload and description share one."""
        out: dict[str, str] = {}
        seen: dict[tuple[tuple[DataField, ...], str], str] = {}
        for spec in self.chart.events:
            if not spec.payload and not spec.description:
                continue
            shape = (spec.payload, spec.description)
            if shape not in seen:
                seen[shape] = self.names.take(pascal(spec.name) or "Payload", "Payload")
            out[spec.name] = seen[shape]
        return out

    def _import_lines(self) -> list[str]:
        lines: list[str] = []
        if self.typing:
            lines += [f"from typing import {', '.join(sorted(self.typing))}", ""]
        if self.pydantic:
            lines += [f"from pydantic import {', '.join(sorted(self.pydantic))}", ""]
        names = sorted(self.imports, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper()
                                                    else 2, n))
        one = f"from flowcheck.declare import {', '.join(names)}"
        if len(one) <= LINE:
            return [*lines, one]
        return [*lines, "from flowcheck.declare import (", *(f"{INDENT}{n}," for n in names),
                ")"]

    def _module_doc(self) -> str:
        chart, origin = self.chart, self.origin
        parts = [f"{pascal(chart.id) or 'Machine'}: imported from XState (machine id "
                 f"``{chart.id}``)."]
        if chart.description:
            parts.append(chart.description)
        made = "Generated by ``flowcheck import"
        if origin.file:
            made += f" {_basename(origin.file)}"
        made += " --to-python``"
        if origin.manifest:
            made += (f", with the declarative guards and actions of "
                     f"{_basename(origin.manifest)}")
        parts.append(made + ". It is a flow like the hand-written ones: edit it, then verify "
                     "and export it as usual.")
        opaque = sorted({t.guard.name for t in self.chart.transitions()
                         if t.guard is not None and t.guard.expr is None})
        if opaque:
            parts.append("Opaque guards, implemented by the frontend and explored both ways "
                         "(true and false at each evaluation): " + ", ".join(opaque)
                         + ". Give one a body, guard(name, expression), to sharpen the "
                         "proof.")
        customs = sorted({a.name for a in _all_actions(chart) if isinstance(a, Custom)})
        if customs:
            parts.append("Actions implemented by the frontend: " + ", ".join(customs) + ".")
        if self.renamed:
            pairs = "; ".join(f"{q(key)} is {attr}" for key, attr in self.renamed)
            parts.append("State keys that are not usable Python names keep their key with "
                         f"tag(..., key=...): {pairs}.")
        if any(n.state.id != n.attr for n in self.nodes.values()):
            parts.append("State ids are the attribute names, as in every flow (an XState id "
                         "such as ``machine.parent.child`` is ``child`` here): the exported "
                         "config's ids, and the ``xstate.after.*`` and ``xstate.done.state.*`` "
                         "events named after them, follow. State values are unchanged.")
        parts += self.notes
        return "\n\n".join(_wrap(p) for p in parts)


_SCALARS = {"string": "str", "integer": "int", "boolean": "bool", "string[]": "list[str]"}


def _inferred_examples(f: DataField) -> tuple[Any, ...]:
    """What the reader takes as the examples of a field that declares none."""
    defaults: dict[str, tuple[Any, ...]] = {"string": ("example",), "integer": (0, 1),
                                            "boolean": (False, True)}
    return f.enum or defaults.get(f.type, ())


def _wrap(text: str) -> str:
    """Generated prose wrapped at the line length; text from the machine as it is."""
    if "\n" in text:
        return text
    return textwrap.fill(text, width=LINE - 4, break_long_words=False,
                         break_on_hyphens=False)


# -- helpers ---------------------------------------------------------------------------------


def _event_label(t: Transition) -> str:
    return t.event if t.event is not None else "(eventless)"


def _basename(path: str) -> str:
    return re.split(r"[\\/]", path)[-1]


def _thaw(value: Any) -> Any:
    """A default as the model states it (the reader freezes lists again)."""
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _all_actions(chart: Chart) -> list[Action]:
    out: list[Action] = list(chart.entry)
    for s in chart.states:
        out += [*s.entry, *s.exit]
        for t in s.transitions:
            out += t.actions
    return out


def _inside(state_id: str, ancestor: str, states: dict[str, State]) -> bool:
    parent = states[state_id].parent
    while parent is not None:
        if parent == ancestor:
            return True
        parent = states[parent].parent
    return False


def _reenter_matters(t: Transition, states: dict[str, State]) -> bool:
    from flowcheck.formats.xstate.config import reenter_matters

    return reenter_matters(t, states)


def _event_lines(attr: str, calls: list[tuple[str, list[str]]], event_id: str) -> str:
    """``ATTR = a.to(b) | c.to(d)``, or ``attr = Event(..., id=...)``."""
    joined = " | ".join(one(f, a) for f, a in calls)
    code = f"Event({joined}, id={event_id})" if event_id else joined
    return f"{INDENT}{attr} = {fit(code, INDENT, len(attr) + 3)}"


def one(func: str, args: list[str]) -> str:
    """``func(args)`` on one line; :func:`fit` lays it out."""
    return f"{func}({', '.join(args)})"


def _dict_line(head: str, items: list[str]) -> str:
    one = head + "{" + ", ".join(items) + "}  # noqa: RUF012"
    if len(one) <= LINE:
        return one
    body = "".join(f"{INDENT * 2}{item},\n" for item in items)
    return head + "{  # noqa: RUF012\n" + body + INDENT + "}"


# -- the audit -------------------------------------------------------------------------------

_ALLOWED_NODES = (
    ast.Module, ast.Expr, ast.ImportFrom, ast.alias, ast.ClassDef, ast.Assign, ast.AnnAssign,
    ast.Pass, ast.Call, ast.keyword, ast.Name, ast.Load, ast.Store, ast.Attribute,
    ast.Constant, ast.Tuple, ast.List, ast.Dict, ast.BinOp, ast.BitOr, ast.UnaryOp, ast.USub,
    ast.Subscript,
)


def _audit(text: str) -> None:
    """The generated module declares a flow and does nothing else: it imports only the DSL,
    typing and pydantic, and calls only DSL helpers, ``Field``, ``.to(...)`` and
    ``.enter/.exit.add(...)``. A failure here is a bug in this module, never the input's."""
    tree = ast.parse(text)
    imported: set[str] = set()
    defined: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise AssertionError(f"generated code holds a {type(node).__name__}")
        if isinstance(node, ast.ImportFrom):
            allowed = _HELPERS if node.module == "flowcheck.declare" \
                else _OTHER_IMPORTS.get(node.module or "", set())
            for alias in node.names:
                if alias.name not in allowed or alias.asname:
                    raise AssertionError(f"generated code imports {node.module}.{alias.name}")
                imported.add(alias.name)
        elif isinstance(node, ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) \
                and node.id not in imported | defined | {"str", "int", "bool", "list", "dict"}:
            raise AssertionError(f"generated code reads an unknown name {node.id!r}")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                if func.id not in (_HELPERS | {"Field"}) & imported:
                    raise AssertionError(f"generated code calls {func.id}")
            elif not (isinstance(func, ast.Attribute) and (
                    func.attr == "to" or (func.attr == "add" and isinstance(func.value,
                                                                            ast.Attribute)
                                          and func.value.attr in ("enter", "exit")))):
                raise AssertionError("generated code calls something other than the DSL")
