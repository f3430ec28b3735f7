"""The report page in headless Chromium: it renders, loads nothing, runs no script, and every
number it shows is the JSON report's.

The traces are random walks of the four exported flows in real XState (test_traces_walks).
Regenerate the screenshot in docs/traces.md with

    python tests/test_traces_report_browser.py docs/img/traces-report.png
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_traces_report import EVIL_EVENT, EVIL_FLOW, EVIL_STATE, hostile_report
from test_traces_walks import NODE, PACKAGES, walk

from flowcheck.project import Machine, discover, find_settings
from flowcheck.traces.automaton import Automaton
from flowcheck.traces.html import render
from flowcheck.traces.replay import automata_by_name
from flowcheck.traces.report import report

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars"]

# Everything the page shows, read in the page: per flow section, each number by its row.
READ_PAGE = """() => {
  const text = (el) => el ? el.textContent.trim() : null;
  return [...document.querySelectorAll('section.flow')].map((s) => {
    const rows = (kind) => Object.fromEntries([...s.querySelectorAll(`tr[data-${kind}]`)].map(
      (tr) => [tr.dataset[kind], Object.fromEntries([...tr.querySelectorAll('td[data-metric]')]
        .map((td) => [td.dataset.metric, text(td)]))]));
    const box = (el) => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
    return {
      flow: s.dataset.flow,
      title: text(s.querySelector('h2')),
      runs: Object.fromEntries([...s.querySelectorAll('dd[data-metric]')].map(
        (dd) => [dd.dataset.metric.slice(5), text(dd)])),
      funnel: [...s.querySelectorAll('g[data-stage]')].map((g) => [g.dataset.stage,
        text(g.querySelector('[data-metric=runs]')), text(g.querySelector('[data-metric=share]'))]),
      bars: [...s.querySelectorAll('g[data-stage] rect')].map(box),
      plots: [...s.querySelectorAll('svg')].map(box),
      failure: rows('failure'), abandon: rows('abandon'), time: rows('time'),
      transition: rows('transition'),
      never: text(s.querySelector('[data-metric=never_taken]')),
    };
  });
}"""


def _missing_browser() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).exists():
        return "Chromium is not installed (apt-get install chromium)"
    return ""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing_browser()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {missing}")
        pytest.skip(missing)
    import playwright.sync_api as sync_api

    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def data(machines: dict[str, Machine], tmp_path_factory: pytest.TempPathFactory
         ) -> dict[str, Any]:
    if NODE is None or not (PACKAGES / "xstate").is_dir():
        pytest.skip("Node.js and conformance/node_modules are needed")
    walks = walk(machines, tmp_path_factory.mktemp("walks"), sessions=25, seed=11,
                 cut_off=0.01, max_actions=120)
    models = automata_by_name({n: Automaton(m.chart) for n, m in machines.items()})
    return report(walks.events(), models, source="walks.ndjson")


def open_page(browser: Any, html: str, tmp: Path) -> tuple[Any, list[str], list[str]]:
    """The page opened from a file, with the requests it made and the errors it raised."""
    path = tmp / "report.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, requests, errors


def seconds(shown: str) -> float:
    value, unit = shown.split()
    return float(value) * {"s": 1, "min": 60, "h": 3600}[unit]


def count(shown: str) -> int:
    return int(shown.replace(",", ""))


def test_the_page_renders_every_flow_and_loads_nothing(browser: Any, data: dict[str, Any],
                                                        tmp_path: Path) -> None:
    page, requests, errors = open_page(browser, render(data), tmp_path)
    shown = page.evaluate(READ_PAGE)
    page.close()
    assert errors == []
    assert requests == [(tmp_path / "report.html").as_uri()]
    assert [s["flow"] for s in shown] == [f["flow"] for f in data["flows"]]
    assert {s["flow"] for s in shown} == {"checkout", "courseBuilder", "generation",
                                          "registration"}
    for section in shown:
        assert all(w > 100 and h > 20 for w, h in section["plots"]), section["flow"]
        # Bars are drawn: the first funnel bar (every run started) is the widest.
        widths = [w for w, _ in section["bars"]]
        assert widths[0] == max(widths) > 100


def test_every_number_on_the_page_is_the_json_reports(browser: Any, data: dict[str, Any],
                                                      tmp_path: Path) -> None:
    page, _, _ = open_page(browser, render(data), tmp_path)
    shown = {s["flow"]: s for s in page.evaluate(READ_PAGE)}
    page.close()
    checked = 0
    for flow in data["flows"]:
        page_flow = shown[flow["flow"]]
        assert page_flow["title"] == flow["flow"]
        assert {k: count(v) for k, v in page_flow["runs"].items()} == flow["runs"]
        assert [(s, count(r)) for s, r, _ in page_flow["funnel"]] == [
            (stage["state"], stage["runs"]) for stage in flow["funnel"]]
        for (_, _, share), stage in zip(page_flow["funnel"], flow["funnel"], strict=True):
            assert abs(float(share.rstrip("%")) - stage["share"] * 100) <= 0.05
        for row in flow["failures"]:
            cells = page_flow["failure"][row["state"]]
            for key in ("runs", "entries", "retried_runs", "retries", "retries_succeeded",
                        "recovered_runs"):
                assert count(cells[key]) == row[key], (flow["flow"], row["state"], key)
                checked += 1
        assert set(page_flow["abandon"]) == {r["state"] for r in flow["abandon"]}
        for row in flow["abandon"]:
            cells = page_flow["abandon"][row["state"]]
            assert {k: count(cells[k]) for k in ("cancelled", "cut_off", "ended", "total")} == {
                k: row[k] for k in ("cancelled", "cut_off", "ended", "total")}
            checked += 4
        for row in flow["time_per_state"]:
            cells = page_flow["time"][row["state"]]
            assert count(cells["count"]) == row["count"]
            for key, field in (("median", "median_seconds"), ("p90", "p90_seconds")):
                # Shown with one decimal in its unit.
                unit = seconds("1 " + cells[key].split()[1])
                assert abs(seconds(cells[key]) - row[field]) <= 0.05 * unit + 1e-9, key
            checked += 3
        for row in flow["transitions"]:
            cell = page_flow["transition"][row["label"]]["taken"]
            assert cell == (f"{row['taken']:,}" if row["observable"] else "\u2013")
            checked += 1
        assert count(page_flow["never"]) == len(flow["never_taken"])
    assert checked > 100


def test_names_that_are_markup_show_as_text_and_run_nothing(browser: Any,
                                                            tmp_path: Path) -> None:
    page, requests, errors = open_page(browser, render(hostile_report()), tmp_path)
    (section,) = page.evaluate(READ_PAGE)
    pwned = page.evaluate("() => [typeof window.alert === 'function', document.scripts.length,"
                          " document.images.length]")
    title = page.title()
    page.close()
    assert errors == [] and len(requests) == 1
    assert pwned == [True, 0, 0]
    assert section["title"] == EVIL_FLOW
    assert [stage for stage, _, _ in section["funnel"]] == ["(started)", "a<b", EVIL_STATE]
    assert f"a<b --{EVIL_EVENT}--> {EVIL_STATE}" in section["transition"]
    assert title == "Real usage: <evil>.ndjson"


def screenshot(out: Path) -> None:
    """The checkout section of a report on walks of the four flows, as docs/traces.md shows
    it."""
    from playwright.sync_api import sync_playwright

    machines = {m.name: m for m in discover(find_settings(Path(__file__).resolve().parent))}
    with tempfile.TemporaryDirectory() as tmp:
        walks = walk(machines, Path(tmp) / "walks", sessions=60, seed=5, cut_off=0.01,
                     max_actions=120)
        models = automata_by_name({"checkout": Automaton(machines["checkout"].chart)})
        data = report(walks.events(), models, skip_others=True, source="walks.ndjson")
        page_file = Path(tmp) / "report.html"
        page_file.write_text(render(data), encoding="utf-8")
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = chromium.new_page(viewport={"width": 1100, "height": 1500})
            page.goto(page_file.as_uri())
            page.screenshot(path=str(out), full_page=False)
            chromium.close()


if __name__ == "__main__":
    if shutil.which("node") is None:
        sys.exit("Node.js is needed to make the traces")
    screenshot(Path(sys.argv[1]))
