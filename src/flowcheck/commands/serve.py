"""``flowcheck serve``: the local web simulator for designers, until Ctrl-C.

Scenario files are listed from, and sessions saved into, ``--scenarios DIR``, else
``[tool.flowcheck] scenarios``, else ``scenarios/`` at the project's root. The server
listens on a loopback address unless ``--allow-remote`` says otherwise, with a warning:
it has no login, and it writes scenario files.

``--traces FILE`` loads a trace file (NDJSON, as ``flowcheck traces`` reads it): the page
draws how many real runs took each transition, lists the runs, and plays one of them step
by step beside its real lines. The file is checked before the server starts: a line that
is not a trace, or of a flow the project does not have, stops the command (exit 2).
"""

from __future__ import annotations

import errno
from pathlib import Path

from flowcheck import output
from flowcheck.errors import FlowcheckError
from flowcheck.explore.graph import explore
from flowcheck.project import Machine, Settings, discover, find_settings
from flowcheck.traces.automaton import Automaton
from flowcheck.web.server import check_address, is_loopback, make_server
from flowcheck.web.simulator import Simulator
from flowcheck.web.traces import TraceRuns


def run(machines: Path | None, host: str, port: int, scenarios: Path | None = None,
        allow_remote: bool = False, traces: Path | None = None) -> int:
    check_address(host, port, allow_remote)
    settings = find_settings(machines=machines)
    found = discover(settings)
    if not found:
        dirs = ", ".join(str(d) for d in settings.machines)
        raise FlowcheckError(f"no machines found in {dirs}: nothing to simulate")
    if scenarios is None:
        scenarios = settings.root / str(settings.raw.get("scenarios", "scenarios"))
    loaded = None if traces is None else load_traces(traces, found, settings)
    # Reads every chart now, so a broken flow fails here.
    simulator = Simulator(found, scenarios=scenarios.resolve(), traces=loaded)
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
    if loaded is not None:
        runs = sum(sum(f["by_outcome"].values()) for f in loaded.flows)
        output.info(f"trace {loaded.name}: {loaded.lines:,} line(s), {runs:,} run(s)")
    output.info(f"machines: {names}. Ctrl-C stops.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        output.info("stopped")
    finally:
        server.server_close()
    return 0


def load_traces(path: Path, machines: list[Machine], settings: Settings) -> TraceRuns:
    """The trace file replayed against every flow (each explored once, as ``flowcheck
    traces`` does)."""
    automata: dict[str, Automaton] = {}
    for m in machines:
        exploration = explore(m.chart, limits=settings.limits())
        if not exploration.complete:
            output.warn(f"{m.name}: exploration stopped at its {exploration.limit} limit; "
                        "runs are replayed past it, with the same letters")
        automata[m.name] = Automaton(m.chart, exploration)
    return TraceRuns(path, automata)
