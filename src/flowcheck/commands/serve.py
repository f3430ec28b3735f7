"""``flowcheck serve``: the local web simulator for designers, until Ctrl-C.

Scenario files are listed from, and sessions saved into, ``--scenarios DIR``, else
``[tool.flowcheck] scenarios``, else ``scenarios/`` at the project's root.
"""

from __future__ import annotations

import errno
from pathlib import Path

from flowcheck import output
from flowcheck.errors import FlowcheckError
from flowcheck.project import discover, find_settings
from flowcheck.web.server import make_server
from flowcheck.web.simulator import Simulator


def run(machines: Path | None, host: str, port: int, scenarios: Path | None = None) -> int:
    settings = find_settings(machines=machines)
    found = discover(settings)
    if not found:
        dirs = ", ".join(str(d) for d in settings.machines)
        raise FlowcheckError(f"no machines found in {dirs}: nothing to simulate")
    if scenarios is None:
        scenarios = settings.root / str(settings.raw.get("scenarios", "scenarios"))
    # Reads every chart now, so a broken flow fails here.
    simulator = Simulator(found, scenarios=scenarios.resolve())
    try:
        server = make_server(simulator, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise FlowcheckError(
                f"port {port} on {host} is in use: pass another with --port N (0 picks a free one)"
            ) from exc
        raise FlowcheckError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    names = ", ".join(simulator.charts)
    output.out.print(f"flowcheck simulator on {server.url}", markup=False)
    output.info(f"machines: {names}. Ctrl-C stops.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        output.info("stopped")
    finally:
        server.server_close()
    return 0
