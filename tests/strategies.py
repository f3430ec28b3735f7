"""Hypothesis strategies: random well-formed charts, and XState configs made invalid.

``charts()`` builds charts directly in the chart model, from small named parts:
a tree of states (nesting, parallel regions, shallow and deep history, final
states), a small context (an int ``n``, a string ``s`` and an int ``gate``),
guards written in the expression language over context and event fields,
assigns, ``track`` and custom actions, ``raise``, invokes with ``done`` and
``error`` outcomes, ``onDone`` of compound and parallel states, and eventless
transitions. Every chart has a finite state space, and almost every one settles:

- an eventless transition (never inside a parallel state, see ``_in_parallel``)
  is guarded by ``gate == 0`` and closes the gate
  (``gate := 1``) when it fires; only user events and invoke outcomes open it again;
- a raised event is handled only by transitions that raise nothing;
- ``n`` grows only under the guard ``n < 2``.

(An ``onDone`` transition that re-enters its own compound can still loop; the
Stepper and XState must then both report the endless step.)

``mutated_configs()`` takes valid XState configs (the project's exports and any
given) and breaks them: keys dropped or renamed (``cond``, unknown keys), values
of the wrong type, targets that resolve nowhere, random strings (code among them)
in guards, actions and params, and states nested very deep.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from flowcheck.chart.expr import Expr
from flowcheck.chart.model import (
    Action,
    Assign,
    Chart,
    Custom,
    DataField,
    EventSpec,
    Guard,
    Invoke,
    Raise,
    State,
    Track,
    Transition,
    done_actor,
    done_state,
    error_actor,
)

Draw = Callable[[st.SearchStrategy[Any]], Any]

CONTEXT = (
    DataField(name="n", type="integer", default=0, examples=(0, 1, 2)),
    DataField(name="s", type="string", default="", examples=("", "a")),
    DataField(name="gate", type="integer", default=0, examples=(0, 1)),
)
USER_EVENTS: dict[str, tuple[DataField, ...]] = {
    "GO": (),
    "NEXT": (),
    "BACK": (),
    "SET": (DataField(name="v", type="integer", examples=(0, 1, 2)),),
    "NAME": (DataField(name="s", type="string", examples=("", "a")),),
}
RAISED = ("R1", "R2")
TAGS = ("failure", "success", "step", "abandoned")
CODES = ("unavailable", "internal")
SRC = "mirai.v1.CourseService/CreateCourse"


def ref(path: str) -> Expr:
    return Expr(op="ref", path=path)


def lit(value: Any) -> Expr:
    return Expr(op="lit", value=value)


def op(name: str, *args: Expr) -> Expr:
    return Expr(op=name, args=args)


# -- the tree of states ---------------------------------------------------------------------


@dataclass
class _Node:
    id: str
    kind: str
    parent: str | None
    children: list[str] = field(default_factory=list)
    initial: str | None = None
    history: str | None = None


@dataclass
class _Tree:
    budget: int
    nodes: dict[str, _Node] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def new(self, kind: str, parent: str | None) -> _Node:
        node = _Node(f"s{len(self.nodes) + 1}", kind, parent)
        self.nodes[node.id] = node
        self.order.append(node.id)
        return node


def _state(draw: Draw, tree: _Tree, parent: str | None, depth: int, region: bool) -> str:
    room = len(tree.nodes) + 3 < tree.budget and depth < 3
    if region:
        kinds = ["compound", "compound", "atomic"] if room else ["atomic"]
    else:
        kinds = ["atomic", "atomic", "final"] + (["compound", "compound", "parallel"] if room
                                                 else [])
    kind = draw(st.sampled_from(kinds))
    node = tree.new(kind, parent)
    if kind == "compound":
        for _ in range(draw(st.integers(1, 3))):
            node.children.append(_state(draw, tree, node.id, depth + 1, False))
        node.initial = draw(st.sampled_from(node.children))
    elif kind == "parallel":
        for _ in range(draw(st.integers(2, 3))):
            node.children.append(_state(draw, tree, node.id, depth + 1, True))
    # History only in compound states: in a parallel state, transitions into its history
    # from inside it leave XState's own configuration inconsistent (two top-level states
    # active at once, a parallel state in the value but not entered).
    if kind == "compound" and draw(st.integers(0, 3)) == 0:
        hist = tree.new("history", node.id)
        hist.history = draw(st.sampled_from(["shallow", "deep"]))
        node.children.append(hist.id)
    return node.id


def _tree(draw: Draw, max_states: int) -> tuple[_Tree, list[str]]:
    tree = _Tree(budget=max_states)
    tops = [_state(draw, tree, None, 0, False) for _ in range(draw(st.integers(1, 4)))]
    if all(tree.nodes[t].kind == "final" for t in tops):
        tree.nodes[tops[0]].kind = "atomic"
    return tree, tops


def _document_order(tree: _Tree, tops: list[str]) -> list[str]:
    out: list[str] = []

    def visit(sid: str) -> None:
        out.append(sid)
        for c in tree.nodes[sid].children:
            visit(c)

    for t in tops:
        visit(t)
    return out


# -- guards and actions ---------------------------------------------------------------------


class _Names:
    """One name per guard expression, so that equal names always mean equal guards."""

    def __init__(self) -> None:
        self.guards: dict[str, str] = {}

    def guard(self, expr: Expr) -> Guard:
        key = json.dumps(expr.to_json(), sort_keys=True)
        name = self.guards.setdefault(key, f"guard{len(self.guards) + 1}")
        return Guard(name=name, expr=expr)


def _int_atoms(event_refs: tuple[str, ...]) -> st.SearchStrategy[Expr]:
    atoms = [st.just(ref("context.n")), st.integers(0, 2).map(lit)]
    atoms += [st.just(ref(r)) for r in event_refs if r.endswith((".v", "output.v"))]
    return st.one_of(atoms)


def _str_atoms(event_refs: tuple[str, ...]) -> st.SearchStrategy[Expr]:
    atoms = [st.just(ref("context.s")), st.sampled_from(["", "a"]).map(lit)]
    atoms += [st.just(ref(r)) for r in event_refs if r.endswith(".s")]
    atoms += [st.just(ref(r)) for r in event_refs if r.endswith("error.code")]
    return st.one_of(atoms)


def _comparison(event_refs: tuple[str, ...]) -> st.SearchStrategy[Expr]:
    ints = _int_atoms(event_refs)
    strs = _str_atoms(event_refs)
    return st.one_of(
        st.tuples(st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]), ints, ints).map(
            lambda t: op(t[0], t[1], t[2])),
        st.tuples(st.sampled_from(["eq", "ne"]), strs,
                  st.sampled_from(["", "a", *CODES]).map(lit)).map(
            lambda t: op(t[0], t[1], t[2])),
        strs.map(lambda a: op("nonempty", a)),
    )


def guard_exprs(event_refs: tuple[str, ...] = ()) -> st.SearchStrategy[Expr]:
    """Boolean expressions over the context and the fields of the event being handled."""
    return st.recursive(
        _comparison(event_refs),
        lambda inner: st.one_of(
            inner.map(lambda a: op("not", a)),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: op("and", *xs)),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: op("or", *xs)),
        ),
        max_leaves=4,
    )


def _event_refs(event: str | None) -> tuple[str, ...]:
    if event is None:
        return ()
    if event.startswith("xstate.done.actor."):
        return ("event.output.v",)
    if event.startswith("xstate.error.actor."):
        return ("event.error.code",)
    return tuple(f"event.{f.name}" for f in USER_EVENTS.get(event, ()))


SET_N = {k: Assign(name=f"setN{k}", updates=(("n", lit(k)),)) for k in range(3)}
INC_N = Assign(name="incN", updates=(("n", op("add", ref("context.n"), lit(1))),))
SET_S = {v: Assign(name=f"setS{v.upper() or 'Empty'}", updates=(("s", lit(v)),))
         for v in ("", "a")}
OPEN_GATE = Assign(name="openGate", updates=(("gate", lit(0)),))
CLOSE_GATE = Assign(name="closeGate", updates=(("gate", lit(1)),))
FROM_EVENT = {
    "event.v": Assign(name="setNFromEvent", updates=(("n", ref("event.v")),)),
    "event.s": Assign(name="setSFromEvent", updates=(("s", ref("event.s")),)),
    "event.output.v": Assign(name="setNFromOutput", updates=(("n", ref("event.output.v")),)),
    "event.error.code": Assign(name="setSFromError", updates=(("s", ref("event.error.code")),)),
}
NOTIFY = Custom(name="notifyUser", params=(("channel", "email"),))
LOG = Custom(name="logStep")


def _track(state: str, kind: str, include: bool) -> Track:
    return Track(event=f"STATE_{kind}", properties=(("state", state),),
                 include=("n",) if include else ())


def _plain_actions(draw: Draw, event: str | None) -> list[Action]:
    """Actions that raise nothing: assigns, track, custom."""
    pool: list[Action] = [*SET_N.values(), *SET_S.values(), NOTIFY, LOG, OPEN_GATE]
    pool += [FROM_EVENT[r] for r in _event_refs(event) if r in FROM_EVENT]
    pool.append(Track(event="STEP_TAKEN", properties=(("via", event or "always"),)))
    return list(draw(st.lists(st.sampled_from(pool), max_size=2)))


# -- transitions ----------------------------------------------------------------------------


@dataclass
class _Context:
    draw: Draw
    names: _Names
    targets: list[str]
    counter: int = 0

    def transition(self, source: str, event: str | None, raising: bool) -> Transition:
        draw = self.draw
        target = draw(st.one_of(st.none(), st.sampled_from(self.targets)))
        guard_expr: Expr | None = None
        if draw(st.booleans()):
            guard_expr = draw(guard_exprs(_event_refs(event)))
        actions = _plain_actions(draw, event)
        if event is None or event in RAISED or event.startswith("xstate.done.state."):
            # Handled within the macrostep that closed the gate: must not open it again.
            actions = [a for a in actions if a is not OPEN_GATE]
        if event is None:
            # Eventless: fires once, then the gate stays closed until a user event opens it.
            actions.append(CLOSE_GATE)
            gate = op("eq", ref("context.gate"), lit(0))
            guard_expr = gate if guard_expr is None else op("and", gate, guard_expr)
        elif raising and draw(st.integers(0, 3)) == 0:
            actions.append(Raise(event=draw(st.sampled_from(RAISED))))
        if draw(st.integers(0, 4)) == 0:
            actions.append(INC_N)
            bound = op("lt", ref("context.n"), lit(2))
            guard_expr = bound if guard_expr is None else op("and", bound, guard_expr)
        self.counter += 1
        return Transition(
            source=source,
            event=event,
            targets=(target,) if target else (),
            guard=None if guard_expr is None else self.names.guard(guard_expr),
            actions=tuple(actions),
            reenter=bool(target) and draw(st.booleans()),
            order=self.counter,
        )


def _in_parallel(tree: _Tree, sid: str) -> bool:
    """Whether the state is a parallel state or lies inside one. Eventless transitions stay
    out of parallel states: XState selects them in the order states were entered, not in
    document order, so two regions' eventless transitions could run in either order."""
    node: _Node | None = tree.nodes[sid]
    while node is not None:
        if node.kind == "parallel":
            return True
        node = tree.nodes[node.parent] if node.parent else None
    return False


def _has_final_child(tree: _Tree, sid: str) -> bool:
    node = tree.nodes[sid]
    if node.kind == "compound":
        return any(tree.nodes[c].kind == "final" for c in node.children)
    if node.kind == "parallel":
        return all(_has_final_child(tree, c) for c in node.children
                   if tree.nodes[c].kind != "history")
    return False


@st.composite
def charts(draw: Draw, max_states: int = 12) -> Chart:
    """A random chart that settles and has a finite state space (see the module docstring)."""
    tree, tops = _tree(draw, max_states)
    order = _document_order(tree, tops)
    names = _Names()
    ctx = _Context(draw, names, targets=order)
    states: list[State] = []
    invoke_count = 0
    for sid in order:
        node = tree.nodes[sid]
        transitions: list[Transition] = []
        invokes: list[Invoke] = []
        entry: list[Action] = []
        exit_: list[Action] = []
        if node.kind not in ("final", "history"):
            for event in draw(st.lists(st.sampled_from(list(USER_EVENTS)), max_size=3)):
                transitions.append(ctx.transition(sid, event, raising=True))
            for event in draw(st.lists(st.sampled_from(RAISED), max_size=1)):
                transitions.append(ctx.transition(sid, event, raising=False))
            if not _in_parallel(tree, sid) and draw(st.integers(0, 3)) == 0:
                transitions.append(ctx.transition(sid, None, raising=False))
            if node.kind in ("atomic", "compound") and draw(st.integers(0, 3)) == 0:
                invoke_count += 1
                inv = Invoke(id=f"inv{invoke_count}", kind="rpc", src=SRC,
                             input=(("title", ref("context.s")),),
                             outputs=({"v": 1}, {"v": 2}), error_codes=CODES)
                invokes.append(inv)
                transitions.append(ctx.transition(sid, done_actor(inv.id), raising=False))
                failed = ctx.transition(sid, error_actor(inv.id), raising=False)
                transitions.append(failed)
                if failed.guard is not None:
                    # XState stops a machine on an actor error no transition takes (status
                    # "error"); flows route every error, and so do these charts.
                    transitions.append(Transition(source=sid, event=failed.event,
                                                  targets=failed.targets,
                                                  order=failed.order + 1000))
            if _has_final_child(tree, sid) and draw(st.booleans()):
                transitions.append(ctx.transition(sid, done_state(sid), raising=False))
        if node.kind != "history":
            if draw(st.booleans()):
                entry.append(_track(sid, "ENTERED", draw(st.booleans())))
            if draw(st.integers(0, 3)) == 0:
                entry.append(draw(st.sampled_from([*SET_N.values(), NOTIFY])))
            # A top-level final state is never exited: XState stops the machine there.
            top_final = node.kind == "final" and node.parent is None
            if not top_final and draw(st.booleans()):
                exit_.append(_track(sid, "EXITED", False))
        tags = tuple(draw(st.lists(st.sampled_from(TAGS), max_size=1)))
        states.append(State(
            id=sid,
            kind=node.kind,  # type: ignore[arg-type]
            parent=node.parent,
            children=tuple(node.children),
            initial=node.initial,
            entry=tuple(entry),
            exit=tuple(exit_),
            transitions=tuple(transitions),
            invokes=tuple(invokes),
            tags=tags,
            history=node.history,  # type: ignore[arg-type]
        ))
    initial = draw(st.sampled_from([t for t in tops if tree.nodes[t].kind != "final"]))
    used: list[str] = []
    for s in states:
        for t in s.transitions:
            if t.event and not t.event.startswith("xstate.") and t.event not in used:
                used.append(t.event)
    events = tuple(EventSpec(name=e, payload=USER_EVENTS.get(e, ())) for e in used)
    return Chart(id="fuzz", name="fuzz", initial=initial, states=tuple(states),
                 context=CONTEXT, events=events)


# -- breaking valid XState configs ------------------------------------------------------------

CODE_STRINGS = (
    "__import__('os').system('touch /tmp/flowcheck-pwned')",
    "process.exit(1)",
    "require('child_process').execSync('touch /tmp/flowcheck-pwned')",
    "${process.exit(1)}",
    "eval('1+1')",
    "({ context }) => context.n > 0",
)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(CODE_STRINGS) | st.sampled_from(["#s1", ".x", "cond"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6,
)
"""Any JSON value, biased towards what an XState config holds."""


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


def _mutate_once(draw: Draw, config: Any) -> Any:
    paths = _paths(config)
    path = draw(st.sampled_from(paths))
    how = draw(st.sampled_from(
        ["drop", "replace", "rename", "code", "target", "guard", "nest", "listify"]))
    if not path:
        return draw(json_values) if how == "replace" else config
    parent = _get(config, path[:-1])
    key = path[-1]
    if how == "drop":
        del parent[key]
    elif how == "replace":
        parent[key] = draw(json_values)
    elif how == "rename" and isinstance(parent, dict):
        new = draw(st.sampled_from(["cond", "internal", "bogus", "on", "states", "type"])
                   | st.text(max_size=6))
        parent[new] = parent.pop(key)
    elif how == "code":
        parent[key] = draw(st.sampled_from(CODE_STRINGS))
    elif how == "target":
        parent[key] = {"target": draw(st.sampled_from(["#nowhere", "x.y", ".", "#", "", "#s1"]))}
    elif how == "guard":
        parent[key] = {"target": "#s1", "guard": draw(json_values), "actions": draw(json_values)}
    elif how == "nest":
        inner = parent[key]
        for i in range(draw(st.integers(1, 400))):
            inner = {"initial": f"n{i}", "states": {f"n{i}": inner}}
        parent[key] = inner
    elif how == "listify":
        parent[key] = [parent[key]]
    return config


@st.composite
def mutated_configs(draw: Draw, bases: list[dict[str, Any]]) -> dict[str, Any]:
    """A deep copy of one of ``bases`` with one to three random mutations."""
    config = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        config = _mutate_once(draw, config)
    return config  # type: ignore[no-any-return]
