"""Regenerate docs/img/serve.png: the simulator mid-way through checkout.

    python tests/e2e/screenshot.py docs/img/serve.png
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

from flowcheck.project import discover, find_settings
from flowcheck.web import Simulator, make_server

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars"]


def main(out: Path) -> None:
    server = make_server(Simulator(discover(find_settings(ROOT))), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 680})
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=true]")
        form = page.locator('form[data-event="PAYMENT_METHOD_ENTERED"]')
        form.get_by_role("button").click()
        page.get_by_role("button", name="PAYMENT_SUBMITTED", exact=True).click()
        page.locator('button.outcome[data-outcome="unavailable"]').click()
        page.get_by_role("button", name="RETRY", exact=True).click()
        page.wait_for_selector('#diagram [data-state="submittingPayment"].active')
        page.screenshot(path=str(out))
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
