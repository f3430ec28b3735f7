"""The pure property: every custom action runs on the real machine under audit hooks.

Each test declares a small flow whose custom action does one thing, explores it, runs
the coverage run on the python-statemachine class and checks what ``pure`` says, and
that the refused operation left no trace (no file, no process, no connection).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from flowcheck.chart.model import Chart
from flowcheck.declare import (
    Flow,
    add,
    assign,
    ctx,
    custom,
    eq,
    ge,
    guard,
    lt,
    read_chart,
    step,
    success,
)
from flowcheck.explore import Exploration, explore
from flowcheck.explore.coverage import Cover, run_cover
from flowcheck.explore.sandbox import BlockedIO, IOAttempt, blocked_io
from flowcheck.properties import PropertyResult, check_all
from flowcheck.properties.base import Subject

Run = Callable[[Any], object]


def _saving(run: Run) -> type[Flow]:
    """editing --SAVE / saveDraft--> saved."""

    class Saving(Flow):
        flow_id = "saving"
        editing = step("The user edits a draft.", initial=True)
        saved = success("The draft is saved.")
        SAVE = editing.to(saved, on=custom("saveDraft", run=run))

    return Saving


class Count(BaseModel):
    n: int = 0


def _counting(run: Run) -> type[Flow]:
    """TICK fifteen times in ``counting``, a sixteenth enters ``summit``, whose entry runs
    ``announce``: the shortest path to it is 16 events long."""
    below = guard("belowFifteen", lt(ctx("n"), 15))
    reached = guard("reachedFifteen", ge(ctx("n"), 15))

    class Counting(Flow):
        flow_id = "counter"
        Context = Count
        counting = step("Counting up.", initial=True)
        summit = step("Fifteen reached.")
        done = success("Done.")
        summit.enter.add(custom("announce", run=run))
        TICK = (counting.to(counting, cond=below, on=assign("increment", n=add(ctx("n"), 1)))
                | counting.to(summit, cond=reached))
        FINISH = summit.to(done)

    return Counting


def _covered(cls: type[Flow], max_configurations: int | None = None
             ) -> tuple[Chart, Exploration, Cover]:
    chart = read_chart(cls, cls.flow_id)
    graph = explore(chart) if max_configurations is None else explore(chart, max_configurations)
    return chart, graph, run_cover(chart, cls, graph)


def _pure(chart: Chart, graph: Exploration, cover: Cover | None,
          machine_class: type[Flow] | None) -> PropertyResult:
    subject = Subject(chart=chart, machine_class=machine_class, graph=graph)
    if cover is not None:
        subject.extra["cover"] = cover
    (result,) = check_all(subject, only=["pure"])
    return result


def _verified(cls: type[Flow]) -> tuple[Cover, PropertyResult]:
    chart, graph, cover = _covered(cls)
    return cover, _pure(chart, graph, cover, cls)


def _touch(path: Path) -> list[str]:
    """A command that creates ``path``: if it ever ran, the file exists."""
    return [sys.executable, "-c", "import pathlib, sys; pathlib.Path(sys.argv[1]).touch()",
            str(path)]


# -- what is refused ----------------------------------------------------------------------------


def test_an_action_running_a_subprocess_is_a_pure_finding_and_the_command_never_runs(
    tmp_path: Path,
) -> None:
    spawned = tmp_path / "spawned"
    cover, result = _verified(_saving(lambda m: subprocess.run(_touch(spawned), check=False)))
    assert result.status == "failed"
    (finding,) = cover.findings
    assert finding.property == "pure"
    assert "'saveDraft' on SAVE from 'editing'" in finding.message
    assert "subprocess.Popen([" in finding.message
    assert finding.counterexample is not None
    assert [name for name, _ in finding.counterexample.events] == ["SAVE"]
    assert not spawned.exists()


def test_an_action_opening_a_sqlite_database_is_refused_and_no_database_is_created(
    tmp_path: Path,
) -> None:
    database = tmp_path / "drafts.db"
    cover, result = _verified(_saving(lambda m: sqlite3.connect(database)))
    assert result.status == "failed"
    (finding,) = cover.findings
    assert f"sqlite3.connect('{database}')" in finding.message
    assert not database.exists()


def test_an_action_calling_os_system_is_refused_and_the_command_never_runs(
    tmp_path: Path,
) -> None:
    spawned = tmp_path / "spawned"
    command = " ".join(f"'{part}'" for part in _touch(spawned))
    cover, result = _verified(_saving(lambda m: os.system(command)))
    assert result.status == "failed"
    (finding,) = cover.findings
    assert "os.system(" in finding.message
    assert not spawned.exists()


def test_an_action_writing_a_file_is_refused_and_the_file_is_not_created(
    tmp_path: Path,
) -> None:
    draft = tmp_path / "draft.txt"
    cover, result = _verified(_saving(lambda m: draft.write_text("draft")))
    assert result.status == "failed"
    (finding,) = cover.findings
    assert f"open('{draft}', 'w')" in finding.message
    assert not draft.exists()


def test_an_action_connecting_a_socket_is_refused_and_nothing_connects() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.2)
        address = server.getsockname()

        def connect(machine: Any) -> None:
            with socket.socket() as client:
                client.connect(address)

        cover, result = _verified(_saving(connect))
        assert result.status == "failed"
        (finding,) = cover.findings
        assert f"socket.connect({address!r})" in finding.message
        with pytest.raises(TimeoutError):
            server.accept()


def test_an_action_sixteen_events_deep_is_run_and_its_io_caught(tmp_path: Path) -> None:
    draft = tmp_path / "summit.txt"
    cover, result = _verified(_counting(lambda m: draft.write_text("fifteen")))
    assert result.status == "failed"
    (finding,) = cover.findings
    assert "'announce' on entry of 'summit'" in finding.message
    assert finding.counterexample is not None
    assert [name for name, _ in finding.counterexample.events] == ["TICK"] * 16
    assert finding.counterexample.states[-1] == ("summit",)
    assert not draft.exists()


def test_the_finding_names_the_action_that_tried_io_not_another_in_the_same_step(
    tmp_path: Path,
) -> None:
    draft = tmp_path / "draft.txt"

    class Focusing(Flow):
        flow_id = "focusing"
        editing = step("The user edits a draft.", initial=True)
        saved = success("The draft is saved.")
        editing.exit.add(custom("blurField", run=lambda m: None))
        saved.enter.add(custom("persist", run=lambda m: draft.write_text("draft")))
        SAVE = editing.to(saved, on=custom("focusSummary", run=lambda m: None))

    cover, _ = _verified(Focusing)
    (finding,) = cover.findings
    assert "'persist' on entry of 'saved'" in finding.message
    assert "blurField" not in finding.message and "focusSummary" not in finding.message


def test_an_action_on_the_initial_entry_is_caught_when_the_machine_starts(
    tmp_path: Path,
) -> None:
    draft = tmp_path / "started.txt"

    class Starting(Flow):
        flow_id = "starting"
        editing = step("The user edits a draft.", initial=True)
        saved = success("The draft is saved.")
        editing.enter.add(custom("restoreDraft", run=lambda m: draft.write_text("x")))
        SAVE = editing.to(saved)

    cover, _ = _verified(Starting)
    (finding,) = cover.findings
    assert "'restoreDraft' on entry of 'editing'" in finding.message
    assert finding.counterexample is not None
    assert finding.counterexample.events == ()
    assert not draft.exists()


def test_an_occurrence_only_reached_through_refused_io_is_not_covered_and_says_why(
    tmp_path: Path,
) -> None:
    class Behind(Flow):
        flow_id = "behind"
        editing = step("The user edits a draft.", initial=True)
        saved = step("The draft is saved.")
        done = success("Done.")
        SAVE = editing.to(saved, on=custom("persist", run=lambda m: os.mkdir(tmp_path / "d")))
        CLOSE = saved.to(done, on=custom("celebrate", run=lambda m: None))

    cover, _ = _verified(Behind)
    assert (cover.occurrences, cover.covered, len(cover.findings)) == (2, 1, 1)
    (uncovered,) = cover.uncovered
    assert uncovered.startswith("custom action 'celebrate' on CLOSE")
    assert "first runs custom action 'persist'" in uncovered


# -- what is allowed, and what is proved --------------------------------------------------------


def test_an_action_reading_a_file_is_allowed() -> None:
    read: list[str] = []
    cover, result = _verified(_saving(lambda m: read.append(Path(__file__).read_text())))
    assert cover.findings == []
    assert read and "test_an_action_reading_a_file_is_allowed" in read[0]
    assert result.status == "proved"


def test_a_pure_custom_action_is_proved_assuming_it_does_the_same_on_other_inputs() -> None:
    cover, result = _verified(_saving(lambda m: None))
    assert (cover.occurrences, cover.covered, cover.uncovered) == (1, 1, [])
    assert result.status == "proved"
    assumption = next(a for a in result.assumptions if "saveDraft" in a)
    assert "other contexts and events" in assumption


def test_every_occurrence_of_an_action_is_run_also_deep_ones() -> None:
    cover, result = _verified(_counting(lambda m: None))
    assert (cover.occurrences, cover.covered, cover.findings) == (1, 1, [])
    assert result.status == "proved"


def test_one_run_covers_every_occurrence_its_path_executes() -> None:
    class Twice(Flow):
        flow_id = "twice"
        editing = step("The user edits a draft.", initial=True)
        reviewing = step("The user reviews it.")
        saved = success("The draft is saved.")
        focus = custom("focusField", run=lambda m: None)
        reviewing.enter.add(focus)
        REVIEW = editing.to(reviewing, on=focus)
        SAVE = reviewing.to(saved, on=custom("saveDraft", run=lambda m: None))

    cover, _ = _verified(Twice)
    assert (cover.occurrences, cover.covered, cover.runs) == (3, 3, 1)


def test_an_action_on_a_transition_that_changes_nothing_is_run(tmp_path: Path) -> None:
    draft = tmp_path / "focused.txt"

    class Focus(Flow):
        flow_id = "focus"
        editing = step("The user edits a draft.", initial=True)
        saved = success("The draft is saved.")
        FOCUS_REQUESTED = editing.to(
            None, on=custom("focusTitle", run=lambda m: draft.write_text("x")))
        SAVE = editing.to(saved)

    cover, _ = _verified(Focus)
    (finding,) = cover.findings
    assert "'focusTitle' on FOCUS_REQUESTED from 'editing' (targetless)" in finding.message
    assert not draft.exists()


def test_an_occurrence_on_a_transition_that_never_fires_is_reported_not_covered() -> None:
    never = guard("countIsNinetyNine", eq(ctx("n"), 99))

    class Stuck(Flow):
        flow_id = "stuck"
        Context = Count
        editing = step("The user edits a draft.", initial=True)
        saved = success("The draft is saved.")
        SAVE = editing.to(saved)
        SKIP = editing.to(saved, cond=never, on=custom("skipReview", run=lambda m: None))

    chart, graph, cover = _covered(Stuck)
    assert graph.complete
    assert (cover.occurrences, cover.covered) == (1, 0)
    assert cover.uncovered == [
        "custom action 'skipReview' on SKIP from 'editing' to 'saved' when countIsNinetyNine"]
    result = _pure(chart, graph, cover, Stuck)
    assert result.status == "tested"
    assert "skipReview" in result.message


def test_an_occurrence_beyond_a_bounded_exploration_is_bounded_not_proved() -> None:
    cls = _counting(lambda m: None)
    chart, graph, cover = _covered(cls, max_configurations=5)
    assert not graph.complete
    assert cover.covered == 0
    assert _pure(chart, graph, cover, cls).status == "bounded"


def test_a_chart_without_custom_actions_is_pure_without_a_purity_assumption() -> None:
    class Plain(Flow):
        flow_id = "plain"
        editing = step("The user edits a draft.", initial=True)
        saved = success("The draft is saved.")
        SAVE = editing.to(saved)

    chart, graph, cover = _covered(Plain)
    assert cover.occurrences == 0
    result = _pure(chart, graph, cover, Plain)
    assert result.status == "proved"
    assert not any("custom" in a for a in result.assumptions)


def test_an_imported_chart_is_proved_assuming_the_frontend_implements_custom_actions_pure(
) -> None:
    chart = read_chart(_saving(lambda m: None), "saving")
    result = _pure(chart, explore(chart), None, None)
    assert result.status == "proved"
    assert any("saveDraft" in a and "frontend" in a for a in result.assumptions)


# -- the audit hook -------------------------------------------------------------------------------


def test_the_audit_hook_is_inert_after_a_run(tmp_path: Path) -> None:
    _verified(_saving(lambda m: (tmp_path / "refused.txt").write_text("draft")))
    (tmp_path / "after.txt").write_text("ok")
    subprocess.run(_touch(tmp_path / "spawned"), check=True)
    assert (tmp_path / "after.txt").read_text() == "ok"
    assert (tmp_path / "spawned").exists()


def test_blocked_io_does_not_reach_other_threads(tmp_path: Path) -> None:
    attempts: list[IOAttempt] = []
    elsewhere = tmp_path / "elsewhere.txt"
    armed, written = threading.Event(), threading.Event()

    def write_once_armed() -> None:
        armed.wait(5)
        elsewhere.write_text("ok")
        written.set()

    worker = threading.Thread(target=write_once_armed)
    worker.start()
    with blocked_io(attempts):
        armed.set()
        assert written.wait(5)
        with pytest.raises(BlockedIO):
            (tmp_path / "here.txt").write_text("refused")
    worker.join()
    assert elsewhere.read_text() == "ok"
    assert [a.kind for a in attempts] == ["file"]
