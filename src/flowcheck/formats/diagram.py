"""Diagrams of a chart: Graphviz DOT (rendered to SVG or PNG by ``dot``) and Mermaid.

What the drawings show:

- compound and parallel states as clusters; the regions of a parallel state dashed;
- the initial state of the chart and of every compound marked by a black dot;
- final states with a double border (success green, abandoned grey);
- states tagged ``failure`` filled red; the transitions a user takes out of a
  failure state (its recovery: RETRY, EDIT, ...) bold green; invoke errors red;
- transition labels ``EVENT [guard] / action, action`` (telemetry ``track`` actions are
  left out: every state has them, the telemetry property checks them);
- invokes in the state label (``invoke: mirai.v1.CourseService/CreateCourse``).

In the Graphviz drawing every transition label is a node of its own, the way Stately
Studio lays out labels with ELK: ``dot`` never lets two nodes overlap, so a label can sit
neither on another label nor on a state, however many transitions a flow has. Graphviz
rather than ELK because it is already what ``flowcheck diagram`` runs, in Python, with
no JavaScript runtime: the command line, the docs and ``flowcheck serve`` show one
drawing. Transitions back to an earlier step are drawn upwards (their label between the
two states) and the failure states of a compound sit side by side in one row.

The output depends only on the chart (document order throughout), so the same
chart gives the same DOT and Mermaid text byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flowcheck.chart.model import (
    ABANDONED,
    FAILURE,
    SUCCESS,
    Chart,
    State,
    Track,
    Transition,
    action_name,
)
from flowcheck.errors import FlowcheckError

FAILURE_FILL = "#fde2e2"
FAILURE_LINE = "#c0392b"
RECOVERY = "#1e8449"
SUCCESS_FILL = "#e3f4e8"
ABANDONED_FILL = "#eeeeee"
CLUSTER_LINE = "#5d6d7e"
FONT = "Helvetica"

_INTERNAL = (
    ("xstate.done.actor.", "done: "),
    ("xstate.error.actor.", "error: "),
    ("xstate.done.state.", "done: "),
)


class GraphvizMissingError(FlowcheckError):
    """``dot`` is not installed, so SVG and PNG cannot be rendered."""


# -- shared --------------------------------------------------------------------------------


def event_label(event: str | None) -> str:
    """A readable event name: invoke outcomes and delays in XState's own words."""
    if event is None:
        return "always"
    for prefix, short in _INTERNAL:
        if event.startswith(prefix):
            return short + event[len(prefix):]
    if event.startswith("xstate.after."):
        delay = event[len("xstate.after."):].rsplit(".", 1)[0]
        return f"after {delay}"
    return event


def transition_label(t: Transition) -> str:
    """``EVENT [guard] / action, action``, telemetry left out."""
    label = event_label(t.event)
    if t.guard is not None:
        label += f" [{'!' if t.guard.negated else ''}{t.guard.name}]"
    actions = [action_name(a) for a in t.actions if not isinstance(a, Track)]
    if actions:
        label += " / " + ", ".join(actions)
    return label


def is_recovery(chart: Chart, t: Transition) -> bool:
    """A user event that leads out of a failure state into the flow again."""
    source = chart.state(t.source)
    if FAILURE not in source.tags or t.event is None or t.event.startswith("xstate."):
        return False
    return bool(t.targets) and all(chart.state(x).kind != "final" for x in t.targets)


def is_error(t: Transition) -> bool:
    return t.event is not None and t.event.startswith("xstate.error.actor.")


def _invoke_lines(state: State) -> list[str]:
    lines = []
    for inv in state.invokes:
        src = inv.src if inv.kind == "rpc" else f"{inv.src} (flow)"
        lines.append(f"invoke: {src}")
    return lines


def _children(chart: Chart, parent: str | None) -> Iterator[State]:
    return (s for s in chart.states if s.parent == parent)


# -- Graphviz --------------------------------------------------------------------------------
#
# A transition is drawn as source -> label node -> target; the label node lives in the
# innermost cluster that holds both ends, so it stays inside the compound state it belongs
# to. Unguarded transitions that differ only by their source (COURSE_BUILDER_CANCELLED
# from every step) share one label node.


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _anchor(state_id: str) -> str:
    return f"__{state_id}__"


def _attrs(**attrs: str | float) -> str:
    parts = []
    for key, value in attrs.items():
        if isinstance(value, str):
            parts.append(f"{key}={_q(value)}")
        else:
            parts.append(f"{key}={value:g}")
    return "[" + ", ".join(parts) + "]"


def label_lines(t: Transition) -> list[str]:
    """The label of a transition node: the event, then ``[guard]``, then ``/ actions``,
    one per line so that a label stays narrow."""
    lines = [event_label(t.event)]
    if t.guard is not None:
        lines.append(f"[{'!' if t.guard.negated else ''}{t.guard.name}]")
    actions = [action_name(a) for a in t.actions if not isinstance(a, Track)]
    if actions:
        lines.append("/ " + ", ".join(actions))
    return lines


@dataclass
class LabelNode:
    """One transition label as a node: the transitions it stands for (same event, guard,
    actions and targets; only the sources differ) and the cluster it is drawn in."""

    name: str
    """The DOT node's name, ``#t<n>``: ``#`` never starts a state id."""
    transitions: list[Transition]
    container: str | None
    kind: str  # "recovery", "error" or ""

    @property
    def sources(self) -> list[str]:
        return [t.source for t in self.transitions]

    @property
    def targets(self) -> tuple[str, ...]:
        t = self.transitions[0]
        return t.targets or (t.source,)

    @property
    def event(self) -> str | None:
        return self.transitions[0].event


def _ancestors(chart: Chart, state_id: str) -> list[str]:
    """``state_id`` and its ancestors, innermost first."""
    out = [state_id]
    parent = chart.state(state_id).parent
    while parent is not None:
        out.append(parent)
        parent = chart.state(parent).parent
    return out


def _container(chart: Chart, ends: list[str]) -> str | None:
    """The innermost cluster that holds every one of ``ends`` strictly inside (None: the
    top of the drawing). A cluster that is an end itself holds the label only when the
    other ends are inside it (a transition from a compound to one of its children)."""
    common: list[str] | None = None
    for end in ends:
        chain = _ancestors(chart, end)
        if not _is_cluster(chart, end):
            chain = chain[1:]
        common = chain if common is None else [s for s in common if s in chain]
    return common[0] if common else None


def _transition_kind(chart: Chart, t: Transition) -> str:
    if is_recovery(chart, t):
        return "recovery"
    if is_error(t):
        return "error"
    return ""


def label_nodes(chart: Chart) -> list[LabelNode]:
    """The label nodes of a chart's drawing, in document order."""
    groups: dict[tuple[Any, ...], LabelNode] = {}
    for t in chart.transitions():
        if chart.root is not None and t.source == chart.root.id:
            continue
        kind = _transition_kind(chart, t)
        targets = t.targets or (t.source,)
        key: tuple[Any, ...]
        if t.targets and not t.guard:
            key = (t.event, tuple(action_name(a) for a in t.actions), targets, kind,
                   t.reenter)
        else:
            key = ("one", len(groups))
        node = groups.get(key)
        if node is None:
            groups[key] = LabelNode(f"#t{len(groups)}", [t], None, kind)
        else:
            node.transitions.append(t)
    nodes = list(groups.values())
    for node in nodes:
        node.container = _container(chart, [*node.sources, *node.targets])
    return nodes


def to_dot(chart: Chart) -> str:
    """The chart as Graphviz DOT source."""
    lines = [
        f"// {chart.name}: generated by `flowcheck diagram {chart.name} --format dot`; "
        "do not edit, regenerate.",
        f"digraph {_q(chart.id)} {{",
        "  " + "graph " + _attrs(
            label=chart.id, labelloc="t", fontname=FONT, fontsize=14, rankdir="TB",
            compound="true", newrank="true", nodesep=0.3, ranksep=0.3,
        ) + ";",
        "  " + "node " + _attrs(
            shape="box", style="rounded,filled", fillcolor="white", color="#34495e",
            fontname=FONT, fontsize=12, margin="0.15,0.08",
        ) + ";",
        "  " + "edge " + _attrs(color="#34495e", arrowsize=0.7) + ";",
        "  __start__ "
        + _attrs(shape="point", width=0.15, label="", color="black", fillcolor="black")
        + ";",
    ]
    labels = label_nodes(chart)
    inside: dict[str | None, list[LabelNode]] = {}
    for node in labels:
        inside.setdefault(node.container, []).append(node)
    initial = chart.initial
    if _is_cluster(chart, initial):
        lines.append(f"  __start__ -> {_q(_anchor(initial))} "
                     f"{_attrs(lhead='cluster_' + initial)};")
    else:
        lines.append(f"  __start__ -> {_q(initial)};")
    for state in _children(chart, None):
        lines += _dot_state(chart, state, "  ", region=False, inside=inside)
    lines += _dot_labels(inside.get(None, []), "  ")
    for node in labels:
        lines += _dot_edges(chart, node)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_labels(nodes: list[LabelNode], pad: str) -> list[str]:
    out = []
    for node in nodes:
        attrs: dict[str, str | float] = {
            "label": "\n".join(label_lines(node.transitions[0])), "shape": "plain",
            "style": "", "fontsize": 10, "margin": "0",
            "class": " ".join(["transition", node.kind]).strip(),
        }
        if node.kind == "recovery":
            attrs.update(fontcolor=RECOVERY)
        elif node.kind == "error":
            attrs.update(fontcolor=FAILURE_LINE)
        out.append(f"{pad}{_q(node.name)} {_attrs(**attrs)};")
    return out


def _dot_state(
    chart: Chart, state: State, pad: str, region: bool,
    inside: dict[str | None, list[LabelNode]],
) -> list[str]:
    if state.kind in ("compound", "parallel"):
        return _dot_cluster(chart, state, pad, region, inside)
    label = "\n".join([state.name, *_invoke_lines(state)])
    attrs: dict[str, str | float] = {"label": label}
    if state.kind == "history":
        attrs = {"label": "H*" if state.history == "deep" else "H", "shape": "circle",
                 "width": 0.3, "fixedsize": "true"}
    elif state.kind == "final":
        attrs["peripheries"] = 2
        if SUCCESS in state.tags:
            attrs["fillcolor"] = SUCCESS_FILL
            attrs["color"] = RECOVERY
        elif ABANDONED in state.tags:
            attrs["fillcolor"] = ABANDONED_FILL
    if FAILURE in state.tags:
        attrs.update(fillcolor=FAILURE_FILL, color=FAILURE_LINE, fontcolor="#7b241c",
                     penwidth=1.5)
        attrs["class"] = "failure"
    return [f"{pad}{_q(state.id)} {_attrs(**attrs)};"]


def _dot_cluster(
    chart: Chart, state: State, pad: str, region: bool,
    inside: dict[str | None, list[LabelNode]],
) -> list[str]:
    label = "\n".join([state.name + (" (parallel)" if state.kind == "parallel" else ""),
                       *_invoke_lines(state)])
    style = "dashed,rounded" if region else "rounded"
    color = FAILURE_LINE if FAILURE in state.tags else CLUSTER_LINE
    cluster_attrs = _attrs(
        label=label, style=style, color=color, fontname=FONT, fontsize=12, labeljust="l",
        margin=12,
    )
    lines = [
        f"{pad}subgraph {_q('cluster_' + state.id)} {{",
        f"{pad}  graph {cluster_attrs};",
    ]
    anchor = _anchor(state.id)
    if state.kind == "compound" and state.initial:
        dot = _attrs(shape="point", width=0.12, label="", fillcolor="black")
        lines.append(f"{pad}  {_q(anchor)} {dot};")
        target = state.initial
        edge = {}
        if _is_cluster(chart, target):
            edge = {"lhead": f"cluster_{target}"}
            target = _anchor(target)
        lines.append(f"{pad}  {_q(anchor)} -> {_q(target)}{' ' + _attrs(**edge) if edge else ''};")
    else:
        lines.append(
            f"{pad}  {_q(anchor)} {_attrs(shape='point', style='invis', width=0.01, label='')};"
        )
    children = list(_children(chart, state.id))
    for child in children:
        lines += _dot_state(chart, child, pad + "  ", region=state.kind == "parallel",
                            inside=inside)
    if state.kind == "parallel" and len(children) > 1:
        # Regions side by side: their tops on one rank.
        tops = [_anchor(c.id) if _is_cluster(chart, c.id) else c.id for c in children]
        lines.append(f"{pad}  {{rank=same; {'; '.join(_q(t) for t in tops)}}}")
    failures = [c.id for c in children if FAILURE in c.tags and not _is_cluster(chart, c.id)]
    if state.kind == "compound" and len(failures) > 1:
        # Failure states side by side: one row the errors lead down to, not a column as
        # tall as the flow.
        lines.append(f"{pad}  {{rank=same; {'; '.join(_q(f) for f in failures)}}}")
    lines += _dot_labels(inside.get(state.id, []), pad + "  ")
    lines.append(f"{pad}}}")
    return lines


def _is_cluster(chart: Chart, state_id: str) -> bool:
    return chart.state(state_id).kind in ("compound", "parallel")


def _within(chart: Chart, inner: str | None, outer: str) -> bool:
    """Whether cluster ``inner`` (None: the top) is ``outer`` or inside it."""
    return inner is not None and outer in _ancestors(chart, inner)


def _backward(chart: Chart, node: LabelNode) -> bool:
    """A transition back to an earlier step (RETRY, BACK, EDIT): drawn upwards, so that
    its label sits between the two states instead of below the later one."""
    order = {s.id: i for i, s in enumerate(chart.states)}
    return all(
        chart.state(target).kind != "final" and order[target] < order[source]
        for target in node.targets for source in node.sources
    )


def _dot_edges(chart: Chart, node: LabelNode) -> list[str]:
    style: dict[str, str | float] = {}
    if node.kind == "recovery":
        style.update(color=RECOVERY, penwidth=2.2, style="bold")
    elif node.kind == "error":
        style.update(color=FAILURE_LINE)
    if not node.transitions[0].targets:
        style["style"] = "dotted"
    style["class"] = f"of-t{node.name[2:]}"
    back = _backward(chart, node)
    out = []
    for source in node.sources:
        end, clip = _end(chart, node, source)
        edge = dict(style)
        if back:
            edge.update(dir="none", **({"lhead": clip} if clip else {}))
            out.append(f"  {_q(node.name)} -> {_q(end)} {_attrs(**edge)};")
        else:
            edge.update(arrowhead="none", **({"ltail": clip} if clip else {}))
            out.append(f"  {_q(end)} -> {_q(node.name)} {_attrs(**edge)};")
    for target in node.targets:
        end, clip = _end(chart, node, target)
        edge = dict(style)
        if back:
            edge.update(dir="back", **({"ltail": clip} if clip else {}))
            out.append(f"  {_q(end)} -> {_q(node.name)} {_attrs(**edge)};")
        else:
            edge.update(**({"lhead": clip} if clip else {}))
            out.append(f"  {_q(node.name)} -> {_q(end)} {_attrs(**edge)};")
    return out


def _end(chart: Chart, node: LabelNode, state_id: str) -> tuple[str, str]:
    """The DOT node an edge of ``node`` ends at for ``state_id``, and the cluster to clip
    it at ("" when the edge stays inside that cluster or the state is not one)."""
    if not _is_cluster(chart, state_id):
        return state_id, ""
    clip = "" if _within(chart, node.container, state_id) else f"cluster_{state_id}"
    return _anchor(state_id), clip


def render(dot_source: str, fmt: str) -> bytes:
    """SVG or PNG bytes from DOT source, by Graphviz's ``dot``."""
    import graphviz

    try:
        return bytes(graphviz.Source(dot_source).pipe(format=fmt, quiet=True))
    except graphviz.ExecutableNotFound as exc:
        raise GraphvizMissingError(
            f"cannot render {fmt}: Graphviz's `dot` is not installed; install Graphviz "
            "(apt-get install graphviz, brew install graphviz) or use --format dot|mermaid"
        ) from exc
    except graphviz.CalledProcessError as exc:  # a bug in this module, not user input
        stderr = (exc.stderr or b"").decode(errors="replace").strip()
        raise FlowcheckError(f"Graphviz failed to render the diagram: {stderr}") from exc


# -- Mermaid -------------------------------------------------------------------------------


def _m_label(text: str) -> str:
    # ':' splits a Mermaid description; '#' and ';' start entities and statements.
    return text.replace(": ", " ").replace(":", " ").replace(";", ",").replace("#", "")


def to_mermaid(chart: Chart) -> str:
    """The chart as a Mermaid ``stateDiagram-v2``."""
    lines = [
        "stateDiagram-v2",
        f"  %% {chart.name}: generated by `flowcheck diagram {chart.name} --format mermaid`",
        f"  classDef failure fill:{FAILURE_FILL},stroke:{FAILURE_LINE},color:#7b241c",
        f"  classDef success fill:{SUCCESS_FILL},stroke:{RECOVERY},stroke-width:3px",
        f"  classDef abandoned fill:{ABANDONED_FILL},stroke:#7f8c8d,stroke-width:3px",
        f"  [*] --> {chart.initial}",
    ]
    for state in _children(chart, None):
        lines += _m_state(chart, state, "  ")
    for t in chart.transitions():
        for target in t.targets or (t.source,):
            label = transition_label(t)
            if is_recovery(chart, t):
                label += " (recovery)"
            lines.append(f"  {t.source} --> {target} : {_m_label(label)}")
    for state in chart.states:
        if state.kind == "final" and state.parent is None:
            lines.append(f"  {state.id} --> [*]")
    for cls in (FAILURE, SUCCESS, ABANDONED):
        ids = [s.id for s in chart.states if cls in s.tags and s.kind not in ("compound",
                                                                              "parallel")]
        if ids:
            lines.append(f"  class {','.join(ids)} {cls}")
    return "\n".join(lines) + "\n"


def _m_state(chart: Chart, state: State, pad: str) -> list[str]:
    invokes = _invoke_lines(state)
    if state.kind in ("compound", "parallel"):
        lines = []
        if invokes:
            lines.append(f"{pad}state \"{state.id} ({_m_label('; '.join(invokes))})\" as "
                         f"{state.id}")
        lines.append(f"{pad}state {state.id} {{")
        children = list(_children(chart, state.id))
        if state.kind == "compound" and state.initial:
            lines.append(f"{pad}  [*] --> {state.initial}")
        for n, child in enumerate(children):
            if state.kind == "parallel" and n:
                lines.append(f"{pad}  --")
            lines += _m_state(chart, child, pad + "  ")
        lines.append(f"{pad}}}")
        return lines
    if state.kind == "history":
        return [f"{pad}{state.id} : history ({state.history or 'shallow'})"]
    if invokes:
        return [f"{pad}{state.id} : {_m_label(invoke)}" for invoke in invokes]
    return [f"{pad}{state.id}"]
