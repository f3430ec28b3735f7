"""Browser fixtures: the simulator on a free loopback port, driven by headless Chromium.

Chromium is the distribution's (/usr/bin/chromium), never a downloaded one. Tests
here carry the ``e2e`` marker; they are skipped only when Chromium or Playwright is
not installed.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowcheck.project import Machine
from flowcheck.web import Simulator, SimulatorServer, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives the web simulator in headless Chromium")


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenarios directory of the test server: a copy of the project's."""
    directory = tmp_path_factory.mktemp("scenarios")
    for path in (Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"):
        (directory / path.name).write_text(path.read_text())
    return directory


@pytest.fixture(scope="module")
def server(machines: dict[str, Machine], scenario_dir: Path) -> Iterator[SimulatorServer]:
    httpd = make_server(Simulator(list(machines.values()), scenarios=scenario_dir),
                        "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _missing_browser() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return "Chromium is not installed (apt-get install chromium)"
    return ""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing_browser()
    if missing:
        if os.environ.get("CI"):
            # CI installs both through scripts/bootstrap.sh: a skip there would hide a gap.
            pytest.fail(f"browser tests cannot run in CI: {missing}")
        pytest.skip(missing)
    import playwright.sync_api as sync_api

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, server: SimulatorServer) -> Iterator[Any]:
    # Reduced motion: the diagram jumps to the active state instead of gliding there, so
    # that what a test measures is where the view ends up.
    context = browser.new_context(viewport={"width": 1440, "height": 900},
                                  reduced_motion="reduce")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    yield page
    context.close()
    assert not errors, f"the page raised: {errors}"
