"""Regenerate the screenshots of docs/serve.md: the simulator at 1440x900 on course_builder.

    python tests/e2e/screenshot.py docs/img

writes serve.png (the generation child flow playing inline), serve-guard.png (a blocked
event and a state's description) and serve-failure.png (what can go wrong while a call
runs, and the way back), and prints the height in pixels of the smallest state name in
view in each.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from flowcheck.project import discover, find_settings
from flowcheck.web import Simulator, make_server

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars"]
SMALLEST_NAME = """(pane) => {
  const p = pane.getBoundingClientRect();
  const seen = [...pane.querySelectorAll("g.node[data-state] text:first-of-type")]
    .map((t) => t.getBoundingClientRect())
    .filter((r) => r.right > p.left && r.left < p.right && r.bottom > p.top && r.top < p.bottom);
  return Math.min(...seen.map((r) => r.height));
}"""


def _step(page: Any) -> int:
    return int(page.evaluate("Number(document.body.dataset.step || 0)"))


def _click(page: Any, selector: str) -> None:
    before = _step(page)
    page.locator(selector).first.click()
    page.wait_for_function(f"Number(document.body.dataset.step) !== {before}")


def _event(page: Any, event: str) -> None:
    _click(page, f'#events form[data-event="{event}"]:not([data-actor]) button[type=submit], '
                 f'#events button.event[data-event="{event}"]:not([data-actor])')


def _outcome(page: Any, event: str, actor: str = "") -> None:
    scope = f'[data-actor="{actor}"]' if actor else ":not([data-actor])"
    _click(page, f'#events button.outcome[data-event="{event}"]{scope}')


def _shot(page: Any, path: Path) -> None:
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    smallest = page.locator("#diagram").evaluate(SMALLEST_NAME)
    print(f"{path}: smallest state name in view {smallest:.1f} px high")


def main(out: Path) -> None:
    server = make_server(Simulator(discover(find_settings(ROOT))), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900},
                                      reduced_motion="reduce")
        page = context.new_page()
        page.goto(server.url + "#flow=course_builder")
        page.wait_for_selector("body[data-ready=true]")

        _event(page, "TITLE_CHANGED")
        page.locator('#diagram g.node[data-state="basics"]').hover()
        _shot(page, out / "serve-guard.png")

        page.mouse.move(0, 0)
        _event(page, "DESIRED_OUTCOME_CHANGED")
        _event(page, "BASICS_SUBMITTED")
        _shot(page, out / "serve-failure.png")
        _click(page, '#whatif button.inject')  # createCourse fails: invalid_argument
        page.reload()  # the URL holds the session: the same steps, replayed
        page.wait_for_selector("body[data-ready=true]")

        _event(page, "EDIT")
        _event(page, "BASICS_SUBMITTED")
        _outcome(page, "xstate.done.actor.createCourse")
        for event in ("SME_SELECTED", "SMES_CONFIRMED", "AUDIENCE_SELECTED",
                      "AUDIENCES_CONFIRMED"):
            _event(page, event)
        _outcome(page, "xstate.done.actor.setCourseTargeting")
        page.wait_for_selector('section.child[data-actor="generateOutline"] svg')
        _outcome(page, "xstate.done.actor.startGeneration", "generateOutline")
        _outcome(page, "xstate.after.POLL_INTERVAL.waiting", "generateOutline")
        _shot(page, out / "serve.png")
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
