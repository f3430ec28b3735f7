"""``flowcheck serve``: the local web simulator for designers, until Ctrl-C.

Scenario files are listed from, and sessions saved into, ``--scenarios DIR``, else
``[tool.flowcheck] scenarios``, else ``scenarios/`` at the project's root. The server
listens on a loopback address unless ``--allow-remote`` says otherwise, with a warning:
it has no login, and it writes scenario files.
"""

from __future__ import annotations

import errno
from pathlib import Path

from flowcheck import output
from flowcheck.errors import FlowcheckError
from flowcheck.project import discover, find_settings
from flowcheck.web.server import check_address, is_loopback, make_server
from flowcheck.web.simulator import Simulator


def run(machines: Path | None, host: str, port: int, scenarios: Path | None = None,
        allow_remote: bool = False) -> int:
    check_address(host, port, allow_remote)
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
        server = make_server(simulator, host, port, allow_remote=allow_remote,
                             on_error=lambda line: output.warn(f"simulator: {line}"))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise FlowcheckError(
                f"port {port} on {host} is in use: pass another with --port N (0 picks a free one)"
            ) from exc
        raise FlowcheckError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    names = ", ".join(simulator.charts)
    output.out.print(f"flowcheck simulator on {server.url}", markup=False)
    if not is_loopback(host):
        output.warn(
            f"listening on {host}, not only this machine: anyone who can reach "
            f"{server.url} can use the simulator and write into {scenarios}; there is no login"
        )
    output.info(f"machines: {names}. Ctrl-C stops.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        output.info("stopped")
    finally:
        server.server_close()
    return 0
