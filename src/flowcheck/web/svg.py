"""The simulator's diagram: a chart drawn by Graphviz as SVG, states and transitions tagged.

The drawing is the one ``flowcheck diagram`` makes (flowcheck.formats.diagram). The page
highlights the active configuration by toggling a CSS class on the SVG groups that carry
``data-state="<state id>"``, and the transitions that can fire now on the groups of
transition labels, which carry ``data-transition="t<n>"`` (their edges have the class
``of-t<n>``), ``data-event``, ``data-sources`` and ``data-targets`` (space-separated ids).

Graphviz puts a node's name in its group's ``<title>`` and names the group after the
node's ``id`` attribute when it has one; :func:`tag_states` reads either, so any DOT whose
nodes are named (or have ids) after the states, clusters as ``cluster_<id>``, is tagged.
"""

from __future__ import annotations

import html
import re

from flowcheck.chart.model import Chart
from flowcheck.formats.diagram import LabelNode, label_nodes, render, to_dot


def render_svg(chart: Chart) -> str:
    """The chart drawn by the diagram module, with its states and transitions tagged."""
    svg = render(to_dot(chart), "svg").decode("utf-8")
    return tag_states(svg, chart)


_GROUP = re.compile(
    r'<g id="(?P<id>[^"]*)" class="(?P<cls>(?:node|cluster)(?: [^"]*)?)">\s*'
    r"<title>(?P<title>[^<]*)</title>"
)


def tag_states(svg: str, chart: Chart) -> str:
    """Add ``data-state`` to the node and cluster groups that draw a state, and the
    ``data-transition`` attributes to the groups of transition labels."""
    ids = {s.id for s in chart.states}
    labels: dict[str, LabelNode] = {node.name: node for node in label_nodes(chart)}

    def state_of(match: re.Match[str]) -> str | None:
        for name in (match["id"], html.unescape(match["title"])):
            for candidate in (name, name.removeprefix("cluster_"), name.removeprefix("cluster")):
                if candidate in ids:
                    return candidate
        return None

    def tag(match: re.Match[str]) -> str:
        head = f'<g id="{match["id"]}" class="{match["cls"]}"'
        label = labels.get(html.unescape(match["title"]))
        if label is not None:
            attrs = {
                "data-transition": f"t{label.name[2:]}",
                "data-event": label.event or "",
                "data-sources": " ".join(label.sources),
                "data-targets": " ".join(label.targets),
            }
            extra = "".join(f' {k}="{html.escape(v)}"' for k, v in attrs.items())
            return head + extra + ">" + match[0][match[0].index(">") + 1:]
        state = state_of(match)
        if state is None:
            return match[0]
        return head + f' data-state="{html.escape(state)}">' + match[0][match[0].index(">") + 1:]

    return _GROUP.sub(tag, svg)
