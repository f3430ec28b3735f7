"""Command-line parsing only: every command lives in flowcheck.commands and returns an exit code.

Exit codes: 0 all good; 1 a property failed or exports are stale; 2 bad input or usage;
3 stopped at --max-seconds or --max-memory before a report could be written; 130
interrupted.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from flowcheck import __version__
from flowcheck.errors import FlowcheckError

CACHE = click.option(
    "--no-cache", "no_cache", is_flag=True,
    help="Verify every machine again, neither reading nor writing the verification cache "
         "(.flowcheck_cache/, or [tool.flowcheck] cache-dir).",
)
JOBS = click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
    help="Verify machines in N processes (default: one per core); the report is the same.",
)
VERIFY_JOBS = click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
    help="Verify machines in N processes (progress bars only with 1); the report is the "
         "same.",
)

MACHINES = click.option(
    "--machines",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory of machine modules (default: [tool.flowcheck] machines in pyproject.toml).",
)


class _Positive(click.ParamType[float]):
    """A finite number above zero: ``nan`` and ``inf`` are refused, not taken as no limit."""

    name = "number"

    def __init__(self, integer: bool = False) -> None:
        self.integer = integer

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float | int:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r} is not a finite number above 0 (a limit cannot be turned "
                      "off; give a large one instead)", param, ctx)
        if self.integer:
            if number != int(number):
                self.fail(f"{value!r} is not a whole number", param, ctx)
            return int(number)
        return number


SECONDS = _Positive()
MEGABYTES = _Positive(integer=True)


class _Group(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("standalone_mode", False)
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.UsageError as exc:
            from flowcheck import output

            # One line, not click's four: what was wrong, and where the usage is.
            command = exc.ctx.command_path if exc.ctx is not None else "flowcheck"
            output.error(f"{exc.format_message().rstrip('.')}; see `{command} --help`")
            return 2
        except click.ClickException as exc:
            exc.show()
            return 2
        except click.exceptions.Abort:
            return 130
        return code if isinstance(code, int) else 0


def _run(code: int) -> int:
    return code


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flowcheck")
@click.option("--max-input-mb", type=SECONDS, default=None, metavar="MB",
              help="Refuse input files larger than this (default 32; [tool.flowcheck] "
                   "max-input-mb).")
@click.option("--max-input-nesting", type=click.IntRange(min=1), default=None, metavar="N",
              help="Refuse input documents nested deeper than this (default 200; "
                   "[tool.flowcheck] max-input-nesting).")
def cli(max_input_mb: float | None, max_input_nesting: int | None) -> None:
    """flowcheck: prove wizard flows and ship them to XState.

    Flows are python-statemachine charts in machines/. flowcheck explores every
    reachable configuration to prove the properties the platform demands (every
    failure has a retry path, telemetry on entry and exit, ...), and exports each
    flow as an XState v5 config, a typed TypeScript module and a manifest.
    """
    from flowcheck import inputs

    inputs.reset()
    if max_input_mb is not None or max_input_nesting is not None:
        inputs.configure(max_input_mb, max_input_nesting, from_command_line=True)


@cli.command("list")
@MACHINES
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(machines: Path | None, as_json: bool) -> int:
    """List the machines found, with their states, events and failure states."""
    from flowcheck.commands import list as command

    return int(command.run(machines=machines, as_json=as_json))


@cli.command()
@MACHINES
@click.argument("name")
@click.option("--events", default=None,
              help="Comma-separated events, each optionally EVENT:{json payload}.")
@click.option("--script", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="A scenario file (YAML or JSON) with events and expectations.")
@click.option("--json", "as_json", is_flag=True, help="Print each step as JSON.")
@click.option("--input", "input_json", default=None, metavar="JSON",
              help="Start the flow with this input (a JSON object of context fields), as a "
                   "parent or the frontend would; counterexamples print it when they need it.")
def simulate(
    machines: Path | None, name: str, events: str | None, script: Path | None, as_json: bool,
    input_json: str | None,
) -> int:
    """Run a machine: scripted with --events or --script, interactive otherwise."""
    from flowcheck.commands import simulate as command

    if events is not None and script is not None:
        raise click.UsageError("--events and --script both say what to send: give one of the "
                               "two (a scenario file can hold the events)")
    return int(command.run(machines=machines, name=name, events=events, script=script,
                       as_json=as_json, input_json=input_json))


@cli.command()
@MACHINES
@click.argument("targets", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "sarif"]),
              default="text", show_default=True)
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the report to this file instead of stdout.")
@click.option("--max-configurations", type=click.IntRange(min=1), default=None,
              help="Stop exploring after this many configurations; the result is then bounded.")
@click.option("--max-depth", type=click.IntRange(min=1), default=None,
              help="Explore event sequences up to this length; longer ones make it bounded.")
@click.option("--max-memory", type=MEGABYTES, default=None, metavar="MB",
              help="Resident memory limit of the whole command: exploration stops (bounded) at "
                   "80% of it, the command at it (exit 3).")
@click.option("--max-seconds", type=SECONDS, default=None,
              help="Time limit: exploring a machine, and the whole command, stop (bounded) "
                   "after this long; the command is stopped (exit 3) a grace period later.")
@click.option("--examples", type=click.IntRange(min=0), default=None,
              help="Hypothesis examples per machine (0 skips the campaign).")
@click.option("--seed", type=int, default=0, show_default=True, help="Hypothesis seed.")
@click.option("--compact", is_flag=True,
              help="Text report for hooks: a line per machine, then each failure at its "
                   "file:line with its counterexample (no tables).")
@click.option("--profile", type=click.Choice(["generic", "mirai"]), default=None,
              help="The rules to check: generic statechart properties, or mirai (adds failure "
                   "tags with retry, telemetry, semantic events, taxonomy, contract). Default: "
                   "mirai for the project's flows, generic for XState JSON files "
                   "([tool.flowcheck] profile, import-profile).")
@CACHE
@VERIFY_JOBS
def verify(machines: Path | None, targets: tuple[str, ...], fmt: str, output: Path | None,
           max_configurations: int | None, max_depth: int | None, max_memory: int | None,
           max_seconds: float | None, examples: int | None, seed: int, compact: bool,
           profile: str | None, no_cache: bool, jobs: int | None) -> int:
    """Prove the properties of machines (names, or XState JSON files)."""
    from flowcheck.commands import verify as command

    _compact_needs_text(fmt, compact)
    return _watched(machines, max_seconds, max_memory, "verify", lambda: command.run(
        machines=machines, targets=list(targets), fmt=fmt, output=output,
        max_configurations=max_configurations, examples=examples, seed=seed,
        max_depth=max_depth, max_memory=max_memory, max_seconds=max_seconds,
        compact=compact, profile=profile, cache=not no_cache, jobs=jobs))


@cli.command()
@MACHINES
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "sarif"]),
              default="text", show_default=True)
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--examples", type=click.IntRange(min=0), default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--compact", is_flag=True,
              help="Text report for hooks: a line per machine, then each failure at its "
                   "file:line with its counterexample (no tables).")
@CACHE
@JOBS
def check(machines: Path | None, fmt: str, output: Path | None, examples: int | None,
          seed: int, compact: bool, no_cache: bool, jobs: int | None) -> int:
    """What CI runs: verify every machine, check exports for drift, check contracts."""
    from flowcheck.commands import check as command

    _compact_needs_text(fmt, compact)
    return _watched(machines, None, None, "check", lambda: command.run(
        machines=machines, fmt=fmt, output_path=output, examples=examples, seed=seed,
        compact=compact, cache=not no_cache, jobs=jobs))


def _watched(machines: Path | None, seconds: float | None, memory: int | None, name: str,
             run: Callable[[], int]) -> int:
    """Run a verifying command under its time and memory limits, the given ones or the
    project's, over the whole command (see flowcheck.watchdog)."""
    from flowcheck import watchdog
    from flowcheck.project import find_settings

    settings = find_settings(machines=machines)
    with watchdog.watch(seconds or settings.max_seconds, memory or settings.max_memory,
                        f"flowcheck {name}") as watch:
        try:
            code = int(run())
        except BaseException as exc:
            # Stopped at a hard limit: whatever the interruption became on its way up (a
            # library may wrap it), the command ends with the limit's message.
            if watch.hard is not None:
                raise watchdog.LimitExceeded(watch.message()) from exc
            raise
        if watch.hard is not None:  # interrupted, and something on the way swallowed it
            raise watchdog.LimitExceeded(watch.message())
        return code


def _compact_needs_text(fmt: str, compact: bool) -> None:
    if compact and fmt != "text":
        raise click.UsageError(f"--compact shapes the text report; --format {fmt} has no "
                               "compact form (drop one of the two)")


@cli.command()
@MACHINES
@click.argument("names", nargs=-1)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Output directory (default: [tool.flowcheck] exports).")
@click.option("--check", "check_only", is_flag=True,
              help="Compare with the files on disk without writing; exit 1 on drift.")
def export(machines: Path | None, names: tuple[str, ...], out: Path | None,
           check_only: bool) -> int:
    """Export machines as XState v5 JSON, a typed TypeScript module and a manifest."""
    from flowcheck.commands import export as command

    return int(command.run(machines=machines, names=list(names), out=out, check_only=check_only))


@cli.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the chart model as JSON here (default: print a summary).")
@click.option("--to-python", "to_python", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Write the machine as a flow module in the DSL here "
              "(machines/<name>.py).")
@click.option("--force", is_flag=True, help="Replace the --to-python file if it exists.")
def import_cmd(file: Path, out: Path | None, to_python: Path | None, force: bool) -> int:
    """Read an XState v5 config (hand-written or from Stately Studio) into the chart model."""
    from flowcheck.commands import import_ as command

    return int(command.run(file=file, out=out, to_python=to_python, force=force))


@cli.command()
@MACHINES
@click.argument("names", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["svg", "png", "dot", "mermaid"]),
              default="svg", show_default=True)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Output directory (default: docs/diagrams).")
def diagram(machines: Path | None, names: tuple[str, ...], fmt: str, out: Path | None) -> int:
    """Draw machines with Graphviz, or as Mermaid stateDiagram-v2."""
    from flowcheck.commands import diagram as command

    return int(command.run(machines=machines, names=list(names), fmt=fmt, out=out))


@cli.command()
@MACHINES
@click.argument("name")
@click.option("--to", "to_state", default=None, help="Only the shortest path to this state.")
@click.option("--cover", type=click.Choice(["states", "transitions"]), default="states",
              show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def paths(machines: Path | None, name: str, to_state: str | None, cover: str, fmt: str) -> int:
    """Shortest event paths to states, or a set of paths covering every transition."""
    from flowcheck.commands import paths as command

    return int(command.run(machines=machines, name=name, to_state=to_state, cover=cover, fmt=fmt))


@cli.command()
@MACHINES
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on: a loopback one (or localhost) unless --allow-remote.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on, 0 to 65535 (0 picks a free one).")
@click.option("--scenarios", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Scenario files to list and save sessions into (default: scenarios/).")
@click.option("--allow-remote", is_flag=True,
              help="Allow a --host other machines can reach (there is no login: a warning "
                   "says so).")
@click.option("--traces", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="FILE",
              help="A trace file (NDJSON, as `flowcheck traces` reads): real traffic on the "
                   "diagram, and real sessions to play step by step.")
def serve(machines: Path | None, host: str, port: int, scenarios: Path | None,
          allow_remote: bool, traces: Path | None) -> int:
    """Serve the local web simulator for designers."""
    from flowcheck.commands import serve as command

    return int(command.run(machines=machines, host=host, port=port, scenarios=scenarios,
                           allow_remote=allow_remote, traces=traces))


@cli.group(cls=click.Group, no_args_is_help=False)
def traces() -> None:
    """Check production telemetry (NDJSON traces) against the flows; report real usage."""


TRACE_FILE = click.argument("file", type=click.Path(path_type=Path, dir_okay=False,
                                                    allow_dash=True))
TRACE_FLOW = click.option("--flow", default=None, metavar="NAME",
                          help="Replay this flow only (machine name or XState id); lines of "
                               "other flows are skipped.")
TRACE_IDLE = click.option("--idle", type=click.FloatRange(min=0, min_open=True), default=None,
                          metavar="SECONDS",
                          help="Take a run without a line for this long as cut off (a closed "
                               "tab), so it is not kept until the file ends; make it longer "
                               "than any pause of a user.")


@traces.command("check")
@MACHINES
@TRACE_FILE
@TRACE_FLOW
@TRACE_IDLE
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def traces_check(machines: Path | None, file: Path, flow: str | None, idle: float | None,
                 fmt: str) -> int:
    """Replay every session of FILE against its flow; exit 1 if any deviates."""
    from flowcheck.commands import traces as command

    return int(command.run_check(machines=machines, file=file, flow=flow, fmt=fmt, idle=idle))


@traces.command("report")
@MACHINES
@TRACE_FILE
@TRACE_FLOW
@TRACE_IDLE
@click.option("--format", "fmt", type=click.Choice(["html", "json"]), default="html",
              show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the report here (default: stdout).")
def traces_report(machines: Path | None, file: Path, flow: str | None, idle: float | None,
                  fmt: str, out: Path | None) -> int:
    """Funnel, failures and retries, abandonment, untaken transitions, time per step."""
    from flowcheck.commands import traces as command

    return int(command.run_report(machines=machines, file=file, flow=flow, fmt=fmt, out=out,
                                  idle=idle))


def main(argv: list[str] | None = None) -> int:
    from flowcheck import output
    from flowcheck.watchdog import EXIT_LIMIT, LimitExceeded

    try:
        code = cli.main(args=argv, prog_name="flowcheck")
    except FlowcheckError as exc:
        output.error(str(exc))
        return 2
    except LimitExceeded as exc:
        output.error(str(exc))
        return EXIT_LIMIT
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
