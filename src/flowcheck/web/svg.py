"""The simulator's diagram: a chart drawn by Graphviz as SVG, every state tagged by id.

The drawing is the one ``flowcheck diagram`` makes (flowcheck.formats.diagram).
The page highlights the active configuration by toggling a CSS class on the SVG
groups that carry ``data-state="<state id>"``. Graphviz puts a node's name in
its group's ``<title>`` and names the group after the node's ``id`` attribute
when it has one; :func:`tag_states` reads either, so any DOT whose nodes are
named (or have ids) after the states, clusters as ``cluster_<id>``, is tagged.
"""

from __future__ import annotations

import html
import re

from flowcheck.chart.model import Chart
from flowcheck.formats.diagram import render, to_dot


def render_svg(chart: Chart) -> str:
    """The chart drawn by the diagram module, with ``data-state`` on its state groups."""
    svg = render(to_dot(chart), "svg").decode("utf-8")
    return tag_states(svg, chart)


_GROUP = re.compile(
    r'<g id="(?P<id>[^"]*)" class="(?P<cls>(?:node|cluster)(?: [^"]*)?)">\s*'
    r"<title>(?P<title>[^<]*)</title>"
)


def tag_states(svg: str, chart: Chart) -> str:
    """Add ``data-state`` to the node and cluster groups that draw a state."""
    ids = {s.id for s in chart.states}

    def state_of(match: re.Match[str]) -> str | None:
        for name in (match["id"], html.unescape(match["title"])):
            for candidate in (name, name.removeprefix("cluster_"), name.removeprefix("cluster")):
                if candidate in ids:
                    return candidate
        return None

    def tag(match: re.Match[str]) -> str:
        state = state_of(match)
        if state is None:
            return match[0]
        head = f'<g id="{match["id"]}" class="{match["cls"]}" data-state="{html.escape(state)}">'
        return head + match[0][match[0].index(">") + 1:]

    return _GROUP.sub(tag, svg)
