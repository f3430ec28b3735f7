"""Diagrams: Graphviz drawings and Mermaid text of the project's flows."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from flowcheck.chart.model import FAILURE, Chart
from flowcheck.declare.reader import read_chart
from flowcheck.formats.diagram import (
    FAILURE_FILL,
    RECOVERY,
    label_lines,
    label_nodes,
    render,
    to_dot,
    to_mermaid,
)
from flowcheck.project import Machine

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")


def _svg_nodes(svg: bytes) -> dict[str, ET.Element]:
    """Graphviz SVG node groups by node name (their <title>)."""
    tree = ET.fromstring(svg)
    nodes = {}
    for g in tree.iter(f"{SVG}g"):
        if "node" in (g.get("class") or "").split():
            title = g.find(f"{SVG}title")
            assert title is not None
            nodes[title.text or ""] = g
    return nodes


def _svg_text(svg: bytes) -> str:
    return " ".join(t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text"))


@needs_dot
def test_course_builder_svg_shows_every_state(machines: dict[str, Machine]) -> None:
    chart = machines["course_builder"].chart
    text = _svg_text(render(to_dot(chart), "svg"))
    words = set(re.split(r"\s+", text))
    missing = [s.id for s in chart.states if s.kind != "history" and s.id not in words]
    assert missing == []


@needs_dot
def test_course_builder_failure_states_are_filled_red_and_others_are_not(
    machines: dict[str, Machine],
) -> None:
    chart = machines["course_builder"].chart
    nodes = _svg_nodes(render(to_dot(chart), "svg"))
    failures = set(chart.tagged(FAILURE))
    assert failures
    for state in chart.states:
        if state.kind in ("compound", "parallel", "history"):
            continue
        fills = [
            e.get("fill") for e in nodes[state.id].iter() if e.tag in (f"{SVG}path",
                                                                      f"{SVG}polygon")
        ]
        filled_red = FAILURE_FILL in fills
        assert filled_red == (state.id in failures), state.id


def test_recovery_transitions_are_bold_green_and_others_are_not(
    machines: dict[str, Machine],
) -> None:
    chart = machines["course_builder"].chart
    dot = to_dot(chart)
    retry = next(t for t in chart.transitions() if t.event == "RETRY")
    edit = next(t for t in chart.transitions() if t.event == "EDIT")
    submit = next(t for t in chart.transitions() if t.event == "BASICS_SUBMITTED")
    for t, green in ((retry, True), (edit, True), (submit, False)):
        label = "\\n".join(label_lines(t))
        line = next(x for x in dot.splitlines() if f'label="{label}"' in x)
        assert (f'fontcolor="{RECOVERY}"' in line) == green, line


def test_transition_labels_show_guards_and_actions_but_not_telemetry(
    machines: dict[str, Machine],
) -> None:
    chart = machines["checkout"].chart
    dot = to_dot(chart)
    assert 'label="PAYMENT_SUBMITTED\\n[paymentMethodChosen]"' in dot
    assert 'label="PAYMENT_METHOD_ENTERED\\n/ setPaymentMethod"' in dot
    assert "track" not in dot


def test_every_transition_has_a_label_node_between_its_source_and_targets(
    machines: dict[str, Machine],
) -> None:
    chart = machines["registration"].chart
    nodes = label_nodes(chart)
    assert sorted(id(t) for n in nodes for t in n.transitions) == sorted(
        id(t) for t in chart.transitions())
    dot = to_dot(chart)
    for node in nodes:
        assert f'"{node.name}" [label=' in dot
        for source in node.sources:
            assert re.search(rf'"{source}" -> "{node.name}"|"{node.name}" -> "{source}"', dot)


def test_unguarded_transitions_to_one_target_share_one_label_node(
    machines: dict[str, Machine],
) -> None:
    chart = machines["course_builder"].chart
    cancels = [n for n in label_nodes(chart) if n.event == "COURSE_BUILDER_CANCELLED"]
    assert len(cancels) == 1
    assert len(cancels[0].sources) == 12
    assert to_dot(chart).count('label="COURSE_BUILDER_CANCELLED"') == 1


def test_a_label_node_is_drawn_in_the_innermost_compound_holding_both_ends(
    machines: dict[str, Machine],
) -> None:
    chart = machines["checkout"].chart
    nodes = label_nodes(chart)
    retry = next(n for n in nodes if n.event == "RETRY")  # network_error -> submittingPayment
    assert retry.container is None
    kept = next(n for n in nodes if n.sources == ["payment_declined"] and not
                n.transitions[0].targets)  # PAYMENT_METHOD_ENTERED while declined
    assert kept.container == "failure"
    cluster = to_dot(chart).split('subgraph "cluster_failure" {')[1].split("\n  }")[0]
    assert f'"{kept.name}" [label=' in cluster
    assert f'"{retry.name}" [label=' not in cluster


def test_invokes_appear_in_the_state_label(machines: dict[str, Machine]) -> None:
    dot = to_dot(machines["checkout"].chart)
    assert 'label="submittingPayment\\ninvoke: mirai.v1.BillingService/ConfirmPayment"' in dot


def test_final_states_have_a_double_border(machines: dict[str, Machine]) -> None:
    dot = to_dot(machines["checkout"].chart)
    completed = next(x for x in dot.splitlines() if x.strip().startswith('"completed" ['))
    assert "peripheries=2" in completed


def test_compound_states_are_clusters_with_an_initial_marker(
    machines: dict[str, Machine],
) -> None:
    dot = to_dot(machines["checkout"].chart)
    assert 'subgraph "cluster_failure" {' in dot
    assert '"__failure__" -> "network_error";' in dot


def test_same_chart_gives_the_same_dot_and_mermaid(machines: dict[str, Machine]) -> None:
    machine = machines["registration"]
    again = read_chart(machine.cls, machine.name)
    assert to_dot(machine.chart) == to_dot(again)
    assert to_mermaid(machine.chart) == to_mermaid(again)


def _parse_mermaid(text: str) -> tuple[set[str], list[tuple[str, str, str]]]:
    """A structural reading of stateDiagram-v2: declared states and transitions."""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    assert lines[0] == "stateDiagram-v2"
    states: set[str] = set()
    edges: list[tuple[str, str, str]] = []
    depth = 0
    for line in lines[1:]:
        if line.startswith(("%%", "classDef ", "class ")) or line == "--":
            continue
        if line == "}":
            depth -= 1
            assert depth >= 0, "unbalanced }"
        elif m := re.fullmatch(r"state (\w+) \{", line):
            states.add(m[1])
            depth += 1
        elif m := re.fullmatch(r'state "[^"]*" as (\w+)', line):
            states.add(m[1])
        elif m := re.fullmatch(r"(\[\*\]|\w+) --> (\[\*\]|\w+)(?: : ([^:;#]+))?", line):
            edges.append((m[1], m[2], m[3] or ""))
        elif m := re.fullmatch(r"(\w+)(?: : [^:;#]+)?", line):
            states.add(m[1])
        else:
            raise AssertionError(f"not stateDiagram-v2 syntax: {line!r}")
    assert depth == 0, "unbalanced {"
    return states, edges


@pytest.mark.parametrize("name", ["checkout", "course_builder", "registration", "generation"])
def test_mermaid_declares_every_state_and_links_only_declared_ones(
    machines: dict[str, Machine], name: str
) -> None:
    chart: Chart = machines[name].chart
    states, edges = _parse_mermaid(to_mermaid(chart))
    assert states == {s.id for s in chart.states}
    for source, target, _ in edges:
        assert source in states | {"[*]"} and target in states | {"[*]"}
    user_edges = [e for e in edges if "[*]" not in (e[0], e[1])]
    assert len(user_edges) == sum(max(1, len(t.targets)) for t in chart.transitions())


def _flowcheck(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("flowcheck")
    return subprocess.run(
        [str(exe), *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
    )


@needs_dot
def test_diagram_command_writes_one_svg_per_machine(tmp_path: Path) -> None:
    result = _flowcheck("diagram", "checkout", "generation", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkout.svg", "generation.svg"]


def test_without_graphviz_svg_fails_with_install_advice_and_dot_still_works(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PATH": str(tmp_path / "empty")}
    result = _flowcheck("diagram", "checkout", "--out", str(tmp_path), env=env)
    assert result.returncode == 2
    assert "apt-get install graphviz" in result.stderr
    assert "Traceback" not in result.stderr
    ok = _flowcheck("diagram", "checkout", "--format", "mermaid", "--out", str(tmp_path), env=env)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "checkout.md").read_text().count("```mermaid") == 1


def test_the_mermaid_docs_list_each_event_with_the_payload_the_simulator_fills_in(
    tmp_path: Path,
) -> None:
    result = _flowcheck("diagram", "course_builder", "--format", "mermaid", "--out",
                        str(tmp_path))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "course_builder.md").read_text()
    assert '| `RETRY` | `{"generationKey": "gen-2"}` |' in text


def test_the_committed_mermaid_docs_are_what_the_flows_give_now(tmp_path: Path) -> None:
    result = _flowcheck("diagram", "--format", "mermaid", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for made in sorted(tmp_path.glob("*.md")):
        committed = ROOT / "docs" / "diagrams" / made.name
        assert committed.read_text() == made.read_text(), (
            f"{committed} is stale: run flowcheck diagram --format mermaid")


def _cluster_x_range(svg: bytes, state_id: str) -> tuple[float, float]:
    for g in ET.fromstring(svg).iter(f"{SVG}g"):
        title = g.find(f"{SVG}title")
        if "cluster" in (g.get("class") or "") and title is not None and (
                title.text == f"cluster_{state_id}"):
            shape = g.find(f"{SVG}path")
            if shape is None:
                shape = g.find(f"{SVG}polygon")
            assert shape is not None
            xs = [float(n) for n in re.findall(r"(-?[\d.]+),-?[\d.]+",
                                               shape.get("d") or shape.get("points") or "")]
            return min(xs), max(xs)
    raise AssertionError(f"no cluster for {state_id}")


@needs_dot
def test_the_regions_of_a_parallel_state_are_side_by_side_and_named_by_their_key() -> None:
    from flowcheck.formats.xstate.importer import import_config

    chart = import_config(ROOT / "tests" / "data" / "semantics.json")[0]
    svg = render(to_dot(chart), "svg")
    left = _cluster_x_range(svg, "semantics.par.r1")
    right = _cluster_x_range(svg, "semantics.par.r2")
    assert left[1] < right[0]
    words = set(_svg_text(svg).split())
    assert {"r1", "x1", "y2"} <= words and "semantics.par.r1.x1" not in words
