"""``flowcheck traces check``: the trace format, replaying runs against the real flows, and
the command's verdicts and exit codes.

Traces here are written by hand, line for line what the exported machines send (see
test_traces_walks.py for traces real XState writes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from trace_lines import trace_line

from flowcheck import inputs
from flowcheck.cli import main
from flowcheck.errors import InputError
from flowcheck.project import Machine
from flowcheck.traces import replay as replay_module
from flowcheck.traces.automaton import Automaton
from flowcheck.traces.check import allowed_json, check
from flowcheck.traces.format import TraceEvent, TraceFormatError, parse, read_events
from flowcheck.traces.replay import Replay, UnknownFlowError, automata_by_name

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_746_090_000_000


def lines(session: str, flow: str, *items: Any, start_ms: int = T0,
          every_ms: int = 1000) -> list[str]:
    """Trace lines: ``"start"``, ``"+state"`` (entered), ``"-state"`` (exited),
    ``"FLOW_FAILED:state"`` (a flow event of a state) or ``(event, properties)``."""
    return [trace_line(session, flow, item, start_ms + n * every_ms)
            for n, item in enumerate(items)]


PAID = ("CHECKOUT_COMPLETED", {"planId": "plan_team", "paymentId": "pay_9f2"})
HAPPY = ("start", "+paymentDetails", "-paymentDetails", "+submittingPayment",
         "-submittingPayment", "+completed", "FLOW_COMPLETED:completed", PAID)


def events_of(text: list[str]) -> list[TraceEvent]:
    return list(parse([line.encode() + b"\n" for line in text]))


@pytest.fixture(scope="module")
def models(machines: dict[str, Machine]) -> dict[str, Automaton]:
    return automata_by_name({name: Automaton(m.chart) for name, m in machines.items()})


def deviations(text: list[str], models: dict[str, Automaton]) -> list[Any]:
    result = check(events_of(text), models, keep=True)
    assert result.deviations is not None
    return result.deviations


# -- the format ---------------------------------------------------------------------------------


def test_a_timestamp_is_iso_8601_or_milliseconds_since_the_epoch() -> None:
    iso, ms = events_of([
        '{"session":"s","flow":"checkout","event":"E","timestamp":"2025-05-01T09:00:00.250Z"}',
        '{"session":"s","flow":"checkout","event":"E","timestamp":1746090000250}',
    ])
    assert iso.time == ms.time == 1746090000.25
    assert iso.properties == {}


def test_blank_lines_are_skipped_and_lines_keep_their_numbers() -> None:
    found = list(parse([b"\n", b'{"session":"s","flow":"f","event":"E","timestamp":0}\n',
                        b"   \n", b' {"session":"s","flow":"f","event":"F","timestamp":0} \n']))
    assert [(e.line, e.event) for e in found] == [(2, "E"), (4, "F")]


@pytest.mark.parametrize(("text", "says"), [
    ('{"session":"s","flow":"f","event":"E","timestamp":0', "not a JSON object"),
    ('["s","f"]', "a list, not an object"),
    ('{"flow":"f","event":"E","timestamp":0}', "no 'session' field"),
    ('{"session":"s","flow":"f","event":"E"}', "no 'timestamp' field"),
    ('{"session":"","flow":"f","event":"E","timestamp":0}', '"session" must be a non-empty'),
    ('{"session":"s","flow":"f","event":3,"timestamp":0}', '"event" must be a string'),
    ('{"session":"s","flow":"f","event":"E","properties":[1],"timestamp":0}',
     '"properties" must be an object'),
    ('{"session":"s","flow":"f","event":"E","timestamp":"yesterday"}', "neither an ISO 8601"),
    ('{"session":"s","flow":"f","event":"E","timestamp":"2025-05-01T09:00:00"}',
     "no time zone"),
    ('{"session":"s","flow":"f","event":"E","timestamp":0} trailing', "not a JSON object"),
])
def test_a_line_that_breaks_the_format_names_its_line_and_what_is_wrong(text: str,
                                                                        says: str) -> None:
    good = b'{"session":"s","flow":"f","event":"E","timestamp":0}\n'
    with pytest.raises(TraceFormatError) as err:
        list(parse([good, good, text.encode() + b"\n"], "traces.ndjson"))
    assert str(err.value).startswith("traces.ndjson:3: ")
    assert says in str(err.value)


def test_bytes_that_are_not_utf8_are_bad_input() -> None:
    with pytest.raises(TraceFormatError, match=r"^t:1: .*not UTF-8"):
        list(parse([b'{"session":"\xff","flow":"f","event":"E","timestamp":0}\n'], "t"))


def test_a_line_longer_than_the_input_limit_is_refused_before_it_is_read_whole(
        tmp_path: Path) -> None:
    good = b'{"session":"s","flow":"f","event":"E","timestamp":0}\n'
    path = tmp_path / "zeros.ndjson"
    path.write_bytes(good + b"\0" * 4096)  # /dev/zero would never end
    inputs.configure(max_mb=1024 / (1024 * 1024))
    try:
        with pytest.raises(TraceFormatError, match=r"zeros.ndjson:2: a line longer than the "
                                                   r"input limit of 0.000976562 MB"):
            list(read_events(path))
    finally:
        inputs.reset()


def test_properties_nested_past_the_input_limit_are_refused() -> None:
    deep: Any = "x"
    for _ in range(250):
        deep = [deep]
    text = json.dumps({"session": "s", "flow": "f", "event": "E", "timestamp": 0,
                       "properties": {"deep": deep}})
    with pytest.raises(InputError, match=r"^t:1: properties: nested more than 200 levels"):
        list(parse([text.encode()], "t"))
    hostile = b'{"session":"s","flow":"f","event":"E","timestamp":0,"p":' + b"[" * 100_000
    with pytest.raises(TraceFormatError, match=r"^t:1: "):
        list(parse([hostile + b"]" * 100_000 + b"}"], "t"))


def test_a_gzip_file_reads_like_the_plain_one(tmp_path: Path) -> None:
    import gzip

    text = "\n".join(lines("s", "checkout", *HAPPY)) + "\n"
    (tmp_path / "t.ndjson").write_text(text)
    with gzip.open(tmp_path / "t.ndjson.gz", "wt") as f:
        f.write(text)
    plain = list(read_events(tmp_path / "t.ndjson"))
    assert plain == list(read_events(tmp_path / "t.ndjson.gz"))
    assert len(plain) == len(HAPPY)


# -- replaying runs -----------------------------------------------------------------------------


def test_a_run_to_a_final_state_fits_with_the_steps_between_its_lines_inferred(
        models: dict[str, Automaton]) -> None:
    # PAYMENT_SUBMITTED needs a payment method: PAYMENT_METHOD_ENTERED tracks nothing, so
    # the replay infers it; the invoke's outcome is inferred from the state entered after.
    result = check(events_of(lines("s", "checkout", *HAPPY)), models)
    counts = result.flows["checkout"]
    assert (counts.runs, counts.complete, counts.cut_off, counts.deviating) == (1, 1, 0, 0)
    assert counts.lines == len(HAPPY)


def test_a_skipped_state_deviates_at_the_line_after_it_with_what_the_model_allowed(
        models: dict[str, Automaton]) -> None:
    skipped = ("start", "+paymentDetails", "-paymentDetails", "+completed")
    (run,) = deviations(lines("s", "checkout", *skipped), models)
    assert (run.session, run.flow, run.deviation.line) == ("s", "checkout", 4)
    assert run.deviation.event == "STATE_ENTERED"
    assert run.lines == 3
    allowed = sorted((a["properties"]["state"], a["after"])
                     for a in map(allowed_json, run.deviation.allowed))
    assert allowed == [("cancelled", ["CHECKOUT_CANCELLED"]),
                       ("submittingPayment", ["PAYMENT_SUBMITTED"])]


def test_a_missing_exit_deviates_at_the_next_line(models: dict[str, Automaton]) -> None:
    missing = ("start", "+paymentDetails", "+submittingPayment")
    (run,) = deviations(lines("s", "checkout", *missing), models)
    assert run.deviation.line == 3
    assert {a.item.event for a in run.deviation.allowed if a.item} == {"STATE_EXITED"}


def test_an_included_context_field_must_be_there_its_value_is_free(
        models: dict[str, Automaton]) -> None:
    fine = check(events_of(lines("s", "checkout", *HAPPY)), models)
    assert fine.deviating == 0
    short = (*HAPPY[:-1], ("CHECKOUT_COMPLETED", {"planId": "plan_team"}))
    (run,) = deviations(lines("s", "checkout", *short), models)
    assert run.deviation.line == len(HAPPY)
    (allowed,) = map(allowed_json, run.deviation.allowed)
    assert allowed["properties"] == {"planId": "<planId>", "paymentId": "<paymentId>"}


def test_a_run_cut_off_mid_flow_is_not_a_deviation(models: dict[str, Automaton]) -> None:
    text = lines("a", "checkout", *HAPPY[:4]) + lines("b", "checkout", *HAPPY[:5])
    result = check(events_of(text), models)
    counts = result.flows["checkout"]
    assert (counts.runs, counts.cut_off, counts.complete, counts.deviating) == (2, 2, 0, 0)
    assert result.patterns == []


def test_lines_after_the_flow_ended_deviate_and_only_a_new_start_is_allowed(
        models: dict[str, Automaton]) -> None:
    text = lines("s", "checkout", *HAPPY, "-completed")
    (run,) = deviations(text, models)
    assert run.deviation.line == len(HAPPY) + 1
    assert [a.item.event for a in run.deviation.allowed if a.item] == ["FLOW_STARTED"]
    assert check(events_of(text), models).flows["checkout"].complete == 1


def test_a_flow_started_again_in_a_session_is_a_new_run_and_the_first_was_cut_off(
        models: dict[str, Automaton]) -> None:
    # Registration stops its checkout child on a decline and runs it again on a retry.
    first = lines("s", "checkout", "start", "+paymentDetails")
    again = lines("s", "checkout", *HAPPY, start_ms=T0 + 60_000)
    counts = check(events_of(first + again), models).flows["checkout"]
    assert (counts.runs, counts.cut_off, counts.complete, counts.deviating) == (2, 1, 1, 0)


def test_a_run_deviates_once_its_later_lines_are_skipped_until_the_flow_starts_again(
        models: dict[str, Automaton]) -> None:
    broken = lines("s", "checkout", "start", "+paymentDetails", "+completed",
                   "FLOW_COMPLETED:completed", PAID)
    again = lines("s", "checkout", *HAPPY, start_ms=T0 + 60_000)
    result = check(events_of(broken + again), models, keep=True)
    assert [r.deviation.line for r in result.deviations or []] == [3]
    assert result.ignored == 2
    counts = result.flows["checkout"]
    assert (counts.runs, counts.deviating, counts.complete) == (2, 1, 1)


def test_a_child_flow_in_the_same_session_is_replayed_against_its_own_flow(
        models: dict[str, Automaton]) -> None:
    parent = ["start", "+account", "-account", "+registering", "-registering",
              "+emailVerification", "-emailVerification", "+verifyingEmail", "-verifyingEmail",
              "+profile", "-profile", "+savingProfile", "-savingProfile", "+planSelection",
              "-planSelection", "+payingForPlan"]
    reg = lines("s", "registration", *parent)
    child = lines("s", "checkout", *HAPPY, start_ms=T0 + 20_000)
    done = lines("s", "registration", "-payingForPlan", "+complete", "FLOW_COMPLETED:complete",
                 ("REGISTRATION_COMPLETED", {"userId": "u_1", "planId": "plan_team"}),
                 start_ms=T0 + 40_000)
    # The child's lines come between its parent's, in one session.
    result = check(events_of(reg + child + done), models)
    assert result.deviating == 0
    assert result.flows["checkout"].complete == 1
    assert result.flows["registration"].complete == 1


def test_the_machine_name_names_a_flow_as_well_as_its_xstate_id(
        models: dict[str, Automaton]) -> None:
    text = [line.replace('"flow": "courseBuilder"', '"flow": "course_builder"', 1)
            for line in lines("s", "courseBuilder", "start", "+basics")]
    result = check(events_of(text), models)
    assert result.flows["courseBuilder"].cut_off == 1


def test_a_line_of_a_flow_the_project_does_not_have_is_bad_input(
        models: dict[str, Automaton]) -> None:
    text = lines("s", "checkout", *HAPPY) + lines("s", "onboarding", "start")
    with pytest.raises(UnknownFlowError, match=r"^t.ndjson:9: flow 'onboarding' is not a flow"):
        check(events_of(text), models, source="t.ndjson")
    skipped = check(events_of(text), models, skip_others=True)
    assert (skipped.skipped, skipped.deviating) == (1, 0)


def test_only_open_runs_are_kept(models: dict[str, Automaton]) -> None:
    """Runs that end are forgotten: memory follows the runs open at one time."""
    text: list[str] = []
    for n in range(300):
        # Ten sessions at a time, their lines interleaved.
        text += lines(f"s{n}", "checkout", *HAPPY, start_ms=T0 + (n // 10) * 100_000 + n)
    text.sort(key=lambda line: json.loads(line)["timestamp"])
    replay = Replay(models)
    most = 0
    ended = 0
    for _ in replay.runs(iter(events_of(text))):
        ended += 1
        most = max(most, replay.open_runs)
    assert ended == 300
    assert most <= 10
    assert replay.open_runs == 0


def test_with_idle_a_closed_tab_is_cut_off_once_its_run_has_been_quiet_that_long(
        models: dict[str, Automaton], monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed tab looks open until the file ends; ``idle`` ends it sooner, so memory
    follows the runs active at one time, not the tabs closed in a whole file."""
    monkeypatch.setattr(replay_module, "SWEEP_EVERY", 10)
    text: list[str] = []
    for n in range(200):  # a tab every 10 s, each closed on the payment form
        text += lines(f"s{n}", "checkout", "start", "+paymentDetails", start_ms=T0 + n * 10_000)
    text += lines("late", "checkout", *HAPPY, start_ms=T0 + 2_000_000)
    kept = Replay(models)
    held = max(kept.open_runs for _ in kept.runs(iter(events_of(text))))
    assert held == 200  # without idle: every closed tab until the file ends
    idle = Replay(models, idle=60.0)
    most = 0
    ends = []
    for end in idle.runs(iter(events_of(text))):
        ends.append(end)
        most = max(most, idle.open_runs)
    assert most <= 12  # the tabs of the last minute, and those of one sweep
    assert sorted(e.outcome for e in ends) == ["complete"] + ["cut off"] * 200
    result = check(events_of(text), models, idle=60.0)
    assert (result.flows["checkout"].cut_off, result.deviating) == (200, 0)


# -- the command --------------------------------------------------------------------------------


def run_cli(tmp_path: Path, text: list[str], *args: str) -> int:
    path = tmp_path / "traces.ndjson"
    path.write_text("\n".join(text) + "\n")
    return main(["traces", "check", str(path), "--machines", str(ROOT / "machines"), *args])


def test_check_exits_0_when_every_run_fits(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(tmp_path, lines("a", "checkout", *HAPPY) + lines("b", "checkout", *HAPPY[:3]),
                   "--idle", "1800")
    out = capsys.readouterr().out
    assert code == 0
    assert "checkout: 2 run(s), 11 line(s): 2 fit (1 complete, 1 cut off mid-flow), 0 deviate" \
        in out


def test_check_exits_1_and_names_the_first_deviating_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(tmp_path, lines("a", "checkout", "start", "+paymentDetails", "-paymentDetails",
                                   "+completed"))
    out = capsys.readouterr().out
    assert code == 1
    assert "session a line 4" in out
    assert 'first deviating line: STATE_ENTERED {"flow": "checkout", "state": "completed"}' \
        in out
    assert ('STATE_ENTERED {"flow": "checkout", "state": "submittingPayment"}  '
            "(after PAYMENT_SUBMITTED)") in out


def test_check_as_json_lists_every_deviating_run(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = ("start", "+paymentDetails", "-paymentDetails", "+completed")
    text = [*lines("a", "checkout", *bad), *lines("b", "checkout", *bad),
            *lines("c", "checkout", *HAPPY)]
    assert run_cli(tmp_path, text, "--format", "json") == 1
    data = json.loads(capsys.readouterr().out)
    assert [(d["session"], d["line"]) for d in data["deviations"]] == [("a", 4), ("b", 8)]
    (pattern,) = data["patterns"]
    assert pattern["runs"] == 2
    assert data["ok"] is False


def test_check_exits_2_with_one_line_on_a_broken_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = [*lines("a", "checkout", *HAPPY[:2]), '{"session": "a", "flow": ']
    assert run_cli(tmp_path, text) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "traces.ndjson:3: not a JSON object" in err


def test_check_exits_2_on_an_unknown_flow_and_flow_replays_one_flow(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = [*lines("a", "checkout", *HAPPY), *lines("a", "onboarding", "start")]
    assert run_cli(tmp_path, text) == 2
    assert "flow 'onboarding' is not a flow of this project" in capsys.readouterr().err
    assert run_cli(tmp_path, text, "--flow", "checkout") == 0
    assert "1 line(s) of other flows skipped" in capsys.readouterr().out
    assert run_cli(tmp_path, text, "--flow", "nope") == 2
    assert "unknown flow 'nope' for --flow" in capsys.readouterr().err


def test_a_missing_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traces", "check", str(tmp_path / "none.ndjson"), "--machines",
                 str(ROOT / "machines")]) == 2
    assert "cannot be read" in capsys.readouterr().err
