"""The report of a trace file as one self-contained HTML page.

Plots are inline SVG, styles inline; the page loads nothing (its Content-Security-Policy
forbids it) and runs no script. Every string that comes from a machine or a trace (flow,
state and event names, transition labels, the file name) is escaped, in text and in
attributes alike. Numbers are shown as the JSON report has them, counts with thousands
separators, shares as percentages, durations in s, min or h.
"""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH = 760
"""Width of a plot, in CSS pixels."""
LABEL = 220
"""Width of the label column of a bar chart."""
ROW = 26

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2433;
background:#f6f7f9}
header{background:#1d2433;color:#fff;padding:20px 32px}
header h1{margin:0 0 4px;font-size:22px}header p{margin:0;color:#c8cdd8}
header nav a{color:#9ecbff;margin-right:14px}
main{padding:8px 32px 40px;max-width:1100px}
section.flow{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:8px 24px 20px;
margin:22px 0}
h2{font-size:20px;margin:14px 0 6px}h3{font-size:16px;margin:22px 0 6px}
dl.summary{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
dl.summary div{border:1px solid #dde1e8;border-radius:6px;padding:6px 12px;min-width:92px}
dl.summary dt{font-size:12px;color:#5a6375}dl.summary dd{margin:0;font-size:20px;font-weight:600}
table{border-collapse:collapse;margin:6px 0;font-size:14px}
th,td{border-bottom:1px solid #e6e9ef;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}th{color:#5a6375;font-weight:600}
td.label{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
tr.never td{background:#fff6e5}p.note{color:#5a6375;font-size:13px;margin:4px 0}
svg text{font:12px system-ui,sans-serif;fill:#1d2433}svg .value{fill:#3a4356}
.bar{fill:#3d7bd9}.success{fill:#2e9d5b}.failure{fill:#d64545}.retry{fill:#f0a530}
.cancel{fill:#8a93a5}.cut{fill:#c3c8d3}.end{fill:#5a6375}.whisker{stroke:#1d2433;stroke-width:1.5}
.legend rect{stroke:none}
"""


def render(data: dict[str, Any]) -> str:
    """The page of a report (the data :func:`flowcheck.traces.report.report` returns)."""
    source = str(data.get("source") or "traces")
    flows = data.get("flows", [])
    nav = " ".join(f'<a href="#flow-{n}">{escape(str(f["flow"]))}</a>'
                   for n, f in enumerate(flows))
    body = "\n".join(_flow(n, f) for n, f in enumerate(flows))
    if not flows:
        body = "<p>No run of a flow in this file.</p>"
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>Real usage: {escape(source)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        "<body>\n<header>\n<h1>Real usage of the flows</h1>\n"
        f"<p>{escape(source)}: <span data-metric=\"lines\">{_count(data.get('lines', 0))}</span>"
        f" lines{_skipped(data)}, replayed against the flows by "
        "<code>flowcheck traces report</code>.</p>\n"
        f"<nav>{nav}</nav>\n</header>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _skipped(data: dict[str, Any]) -> str:
    skipped = int(data.get("skipped", 0))
    return f" ({_count(skipped)} of other flows skipped)" if skipped else ""


def _flow(n: int, f: dict[str, Any]) -> str:
    runs = f["runs"]
    name = escape(str(f["flow"]))
    summary = "".join(
        f'<div><dt>{label}</dt><dd data-metric="runs.{key}">{_count(runs[key])}</dd></div>'
        for key, label in (("total", "runs"), ("fit", "fit the flow"),
                           ("succeeded", "succeeded"), ("complete", "complete"),
                           ("cut_off", "cut off"), ("deviating", "deviate")))
    deviating = ""
    if runs["deviating"]:
        deviating = (f'<p class="note">{_count(runs["deviating"])} run(s) deviate from the '
                     "flow and are left out below: <code>flowcheck traces check</code> "
                     "shows where.</p>")
    return "\n".join([
        f'<section class="flow" id="flow-{n}" data-flow="{name}">',
        f"<h2>{name}</h2>",
        f'<dl class="summary">{summary}</dl>',
        deviating,
        "<h3>Funnel: from the start to success</h3>",
        '<p class="note">Runs that reached each state of the shortest path to success, of '
        "the runs that started.</p>",
        _funnel(f["funnel"]),
        "<h3>Failures and retries</h3>",
        _failures(f["failures"]),
        "<h3>Where users abandon</h3>",
        _abandon(f["abandon"]),
        "<h3>Time per step</h3>",
        _times(f["time_per_state"]),
        "<h3>Transitions real users take</h3>",
        _transitions(f["transitions"], f["never_taken"]),
        "</section>",
    ])


# -- plots ------------------------------------------------------------------------------------


def _svg(height: int, body: str, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title>{body}</svg>")


def _label(y: float, text: str) -> str:
    shown = text if len(text) <= 30 else text[:29] + "\u2026"
    return (f'<text x="{LABEL - 8}" y="{y:.1f}" text-anchor="end">'
            f"<title>{escape(text)}</title>{escape(shown)}</text>")


def _funnel(stages: list[dict[str, Any]]) -> str:
    span = WIDTH - LABEL - 110
    parts = []
    for i, stage in enumerate(stages):
        y = i * ROW + 4
        width = max(stage["share"] * span, 1.0 if stage["runs"] else 0.0)
        cls = "success" if i == len(stages) - 1 and i > 0 else "bar"
        parts.append(
            f'<g data-stage="{escape(str(stage["state"]))}">{_label(y + 15, stage["state"])}'
            f'<rect class="{cls}" x="{LABEL}" y="{y}" width="{width:.1f}" height="{ROW - 8}"/>'
            f'<text class="value" x="{LABEL + width + 6:.1f}" y="{y + 15}">'
            f'<tspan data-metric="runs">{_count(stage["runs"])}</tspan> '
            f'(<tspan data-metric="share">{_percent(stage["share"])}</tspan>)</text></g>')
    return _svg(len(stages) * ROW + 8, "".join(parts), "Funnel")


def _failures(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p class="note">The flow has no failure state.</p>'
    most = max([r["runs"] for r in rows] + [1])
    span = WIDTH - LABEL - 60
    plots: list[str] = []
    for i, r in enumerate(rows):
        y = i * ROW + 26
        scale = span / most
        bars = [f'<g data-failure="{escape(str(r["state"]))}">{_label(y + 15, r["state"])}']
        for k, (key, cls, what) in enumerate((("runs", "failure", "entered in"),
                                              ("retried_runs", "retry", "retried in"),
                                              ("recovered_runs", "success",
                                               "succeeded after retrying in"))):
            bars.append(f'<rect class="{cls}" x="{LABEL}" y="{y + 1 + 6 * k}" '
                        f'width="{r[key] * scale:.1f}" height="5"><title>{what} '
                        f"{r[key]} run(s)</title></rect>")
        bars.append(f'<text class="value" x="{LABEL + r["runs"] * scale + 6:.1f}" '
                    f'y="{y + 15}">{_count(r["runs"])}</text></g>')
        plots.append("".join(bars))
    legend = _legend([("failure", "entered"), ("retry", "retried"),
                      ("success", "succeeded after retrying")])
    table = _table(
        ["failure state", "runs", "of all runs", "entries", "runs that retried", "retries",
         "retries that succeeded", "runs that succeeded after retrying"],
        [[r["state"], ("runs", r["runs"]), ("share", r["share"]), ("entries", r["entries"]),
          ("retried_runs", r["retried_runs"]), ("retries", r["retries"]),
          ("retries_succeeded", r["retries_succeeded"]),
          ("recovered_runs", r["recovered_runs"])] for r in rows],
        "failure")
    note = ('<p class="note">A retry leaves the failure state for a state of the flow that '
            "is neither a failure nor an abandonment; it succeeded when the run reached "
            "success before failing again.</p>")
    return _svg(len(rows) * ROW + 30, legend + "".join(plots), "Failures") + table + note


def _abandon(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p class="note">Every run that fits the flow succeeded.</p>'
    most = max([r["total"] for r in rows] + [1])
    span = WIDTH - LABEL - 60
    bars = []
    for i, r in enumerate(rows):
        y = i * ROW + 26
        x = float(LABEL)
        segs = []
        for key, cls in (("cancelled", "cancel"), ("cut_off", "cut"), ("ended", "end")):
            w = r[key] * span / most
            if w:
                segs.append(f'<rect class="{cls}" x="{x:.1f}" y="{y}" width="{w:.1f}" '
                            f'height="{ROW - 8}"><title>{key.replace("_", " ")}: '
                            f"{r[key]}</title></rect>")
            x += w
        bars.append(f'<g data-abandon="{escape(str(r["state"]))}">{_label(y + 15, r["state"])}'
                    f'{"".join(segs)}<text class="value" x="{x + 6:.1f}" y="{y + 15}">'
                    f'{_count(r["total"])}</text></g>')
    legend = _legend([("cancel", "left for an abandoned state"),
                      ("cut", "cut off here (tab closed)"), ("end", "ended here")])
    table = _table(["state", "left to abandon", "cut off", "ended", "total"],
                   [[r["state"], ("cancelled", r["cancelled"]), ("cut_off", r["cut_off"]),
                     ("ended", r["ended"]), ("total", r["total"])] for r in rows], "abandon")
    return _svg(len(rows) * ROW + 30, legend + "".join(bars), "Abandonment") + table


def _times(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p class="note">No state was left in these runs.</p>'
    most = max([r["p90_seconds"] or 0.0 for r in rows] + [0.001])
    span = WIDTH - LABEL - 130
    bars = []
    for i, r in enumerate(rows):
        y = i * ROW + 26
        median = r["median_seconds"] or 0.0
        p90 = r["p90_seconds"] or 0.0
        cls = "failure" if "failure" in r["tags"] else "bar"
        x90 = LABEL + p90 * span / most
        bars.append(
            f'<g data-time="{escape(str(r["state"]))}">{_label(y + 15, r["state"])}'
            f'<rect class="{cls}" x="{LABEL}" y="{y}" width="{median * span / most:.1f}" '
            f'height="{ROW - 8}"/><line class="whisker" x1="{LABEL}" x2="{x90:.1f}" '
            f'y1="{y + ROW / 2 - 4}" y2="{y + ROW / 2 - 4}"/>'
            f'<line class="whisker" x1="{x90:.1f}" x2="{x90:.1f}" y1="{y + 3}" '
            f'y2="{y + ROW - 11}"/><text class="value" x="{x90 + 6:.1f}" y="{y + 15}">'
            f"{_duration(median)} (p90 {_duration(p90)})</text></g>")
    legend = _legend([("bar", "median"), ("whisker", "90th percentile")])
    table = _table(["state", "times left", "median", "90th percentile"],
                   [[r["state"], ("count", r["count"]), ("median", r["median_seconds"]),
                     ("p90", r["p90_seconds"])] for r in rows], "time")
    return _svg(len(rows) * ROW + 30, legend + "".join(bars), "Time per step") + table


def _transitions(rows: list[dict[str, Any]], never: list[str]) -> str:
    if never:
        intro = (f'<p class="note"><span data-metric="never_taken">{len(never)}</span> '
                 "transition(s) the model can take were never taken by a real user "
                 "(highlighted).</p>")
    else:
        intro = ('<p class="note"><span data-metric="never_taken">0</span> transitions the '
                 "model can take were left untaken.</p>")
    body = []
    for r in sorted(rows, key=lambda r: (r["taken"] > 0 or not r["reachable"]
                                         or not r["observable"], r["source"], r["index"])):
        notes = []
        if not r["reachable"]:
            notes.append("the model never takes it")
        if not r["observable"]:
            notes.append("tracks nothing: not seen in traces")
        never_taken = r["reachable"] and r["observable"] and not r["taken"]
        taken = _count(r["taken"]) if r["observable"] else "\u2013"
        cls = ' class="never"' if never_taken else ""
        body.append(
            f"<tr{cls} "
            f'data-transition="{escape(str(r["label"]))}">'
            f'<td class="label">{escape(str(r["label"]))}</td>'
            f'<td data-metric="taken">{taken}</td>'
            f'<td>{"yes" if r["reachable"] else "no"}</td><td>{escape("; ".join(notes))}</td>'
            "</tr>")
    head = ("<tr><th>transition</th><th>runs that took it</th><th>the model can take it "
            "(<code>flowcheck paths</code>)</th><th>note</th></tr>")
    return f"{intro}<table>{head}{''.join(body)}</table>"


# -- pieces -------------------------------------------------------------------------------------


def _legend(entries: list[tuple[str, str]]) -> str:
    x = LABEL
    parts = []
    for cls, text in entries:
        if cls == "whisker":
            parts.append(f'<line class="whisker" x1="{x}" x2="{x + 12}" y1="8" y2="8"/>')
        else:
            parts.append(f'<rect class="{cls}" x="{x}" y="2" width="12" height="12"/>')
        parts.append(f'<text x="{x + 16}" y="12">{escape(text)}</text>')
        x += 24 + 7 * len(text)
    return f'<g class="legend">{"".join(parts)}</g>'


def _table(head: list[str], rows: list[list[Any]], kind: str) -> str:
    out = ["<table><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        out.append(f'<tr data-{kind}="{escape(str(row[0]))}"><td>{escape(str(row[0]))}</td>')
        for key, value in row[1:]:
            out.append(f'<td data-metric="{key}">{_value(key, value)}</td>')
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _value(key: str, value: Any) -> str:
    if key == "share":
        return _percent(value)
    if key in ("median", "p90"):
        return _duration(value)
    return _count(value)


def _count(value: Any) -> str:
    return f"{int(value):,}"


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "\u2013"
    if seconds < 100:
        return f"{seconds:.1f} s"
    if seconds < 6000:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
