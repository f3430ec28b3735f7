"""XState import: round trips, relative targets, opaque names, and errors that say where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flow_events import FLOWS

from flowcheck.chart.model import Custom, Guard, SendParent
from flowcheck.cli import main
from flowcheck.errors import ImportFormatError
from flowcheck.formats.xstate import export_files, import_config
from flowcheck.project import Machine

DATA = Path(__file__).resolve().parent / "data"


def _write(tmp_path: Path, config: Any, name: str = "m.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def _small(**on: Any) -> dict[str, Any]:
    return {
        "id": "m",
        "initial": "basics",
        "states": {
            "basics": {"on": {"NEXT": [{"target": "review"}], **on}},
            "review": {"initial": "tags", "states": {"tags": {}, "summary": {}}},
        },
    }


@pytest.mark.parametrize("name", FLOWS)
def test_exporting_an_imported_export_gives_the_same_bytes(
    machines: dict[str, Machine], name: str, tmp_path: Path
) -> None:
    files = export_files(machines[name].chart, name)
    for file_name, text in files.items():
        (tmp_path / file_name).write_text(text, encoding="utf-8")
    chart, report = import_config(tmp_path / f"{name}.json")
    assert report.opaque == []
    assert export_files(chart, name) == files


def test_a_send_to_the_parent_is_read_back_from_the_manifest(
    machines: dict[str, Machine], tmp_path: Path
) -> None:
    for file_name, text in export_files(machines["generation"].chart, "generation").items():
        (tmp_path / file_name).write_text(text, encoding="utf-8")
    chart, _ = import_config(tmp_path / "generation.json")
    assert chart.state("generation_failed").entry[-1] == SendParent(event="AI_GENERATION_FAILED")


def test_without_a_manifest_guards_and_actions_are_opaque_and_reported(
    machines: dict[str, Machine], tmp_path: Path
) -> None:
    files = export_files(machines["checkout"].chart, "checkout")
    path = tmp_path / "checkout.json"
    path.write_text(files["checkout.json"], encoding="utf-8")
    chart, report = import_config(path)
    assert report.manifest is None
    assert "paymentMethodChosen" in report.opaque_guards
    assert "setPaymentMethod" in report.opaque_actions
    assert "track" not in report.opaque_actions
    guard = next(t.guard for t in chart.transitions() if t.event == "PAYMENT_SUBMITTED")
    assert guard == Guard(name="paymentMethodChosen", expr=None)
    (action,) = next(t.actions for t in chart.transitions() if t.event == "PAYMENT_METHOD_ENTERED")
    assert action == Custom(name="setPaymentMethod", declared=True)


def test_sibling_child_and_id_targets_resolve(tmp_path: Path) -> None:
    config = _small(DEEP="review.summary", BY_ID="#tags", BY_PATH="#m.review.summary")
    config["states"]["review"]["states"]["tags"]["id"] = "tags"
    config["states"]["review"]["on"] = {"SKIP": ".summary"}
    chart, _ = import_config(_write(tmp_path, config))
    targets = {t.event: t.targets for t in chart.transitions()}
    assert targets == {
        "NEXT": ("m.review",), "DEEP": ("m.review.summary",), "BY_ID": ("tags",),
        "BY_PATH": ("m.review.summary",), "SKIP": ("m.review.summary",),
    }


def test_a_machine_without_explicit_ids_uses_xstate_path_ids_and_keys(tmp_path: Path) -> None:
    chart, _ = import_config(_write(tmp_path, _small()))
    assert [s.id for s in chart.states] == ["m.basics", "m.review", "m.review.tags",
                                            "m.review.summary"]
    assert [s.name for s in chart.states] == ["basics", "review", "tags", "summary"]
    assert chart.state("m.review").initial == "m.review.tags"


def test_a_key_that_is_not_an_id_is_no_hash_target_as_in_xstate(tmp_path: Path) -> None:
    file = _write(tmp_path, _small(BY_KEY="#summary"))
    with pytest.raises(ImportFormatError, match="no state has id 'summary'"):
        import_config(file)


def test_a_hand_written_machine_with_every_construct_is_read(tmp_path: Path) -> None:
    chart, report = import_config(DATA / "semantics.json")
    assert report.opaque == []
    assert chart.state("par").kind == "parallel"
    assert chart.state("deep").history == "deep"
    assert chart.state("workDone").kind == "final"
    events = {t.event for t in chart.transitions()}
    # XState's own event names: state ids are explicit ids or paths from the machine id
    assert {None, "xstate.done.state.work", "xstate.after.TICK.semantics.waiting",
            "xstate.done.actor.load", "xstate.error.actor.load"} <= events


@pytest.mark.parametrize(
    ("config", "path", "fix"),
    [
        (_small(NEXT=[{"cond": "ok", "target": "review"}]), r"states\.basics\.on\.NEXT\[0\]\.cond",
         "rename it to 'guard'"),
        (_small(NEXT=[{"target": "nowhere"}]), r"states\.basics\.on\.NEXT\[0\]\.target",
         "does not resolve"),
        (_small(NEXT=[{"target": "#ghost"}]), r"states\.basics\.on\.NEXT\[0\]\.target",
         "no state has id 'ghost'"),
        ({**_small(), "predictableActionArguments": True}, r"predictableActionArguments",
         "unknown key"),
        (_small(NEXT={"target": "review", "internal": False}),
         r"states\.basics\.on\.NEXT\.internal", "reenter"),
        (_small(**{"": "review"}), r"states\.basics\.on\.", "empty event name"),
    ],
    ids=["v4-cond", "bad-target", "unknown-id", "unknown-key", "v4-internal", "empty-event"],
)
def test_bad_configs_name_the_file_the_json_path_and_the_fix(
    tmp_path: Path, config: dict[str, Any], path: str, fix: str
) -> None:
    file = _write(tmp_path, config)
    with pytest.raises(ImportFormatError, match=rf"{file}: {path}: .*{fix}"):
        import_config(file)


def test_the_machine_output_is_read_from_the_root(tmp_path: Path) -> None:
    config = {**_small(), "context": {"courseId": ""},
              "output": {"courseId": {"ref": "context.courseId"}}}
    chart, _ = import_config(_write(tmp_path, config))
    assert [(k, str(v)) for k, v in chart.output] == [("courseId", "context.courseId")]


def test_a_machine_output_that_reads_no_context_field_is_refused(tmp_path: Path) -> None:
    config = {**_small(), "context": {"courseId": ""},
              "output": {"courseId": {"ref": "event.output.courseId"}}}
    file = _write(tmp_path, config)
    with pytest.raises(ImportFormatError, match=rf"{file}: output\.courseId: .*context fields"):
        import_config(file)


def test_the_same_key_under_two_parents_is_two_states(tmp_path: Path) -> None:
    config = _small()
    config["states"]["basics"]["states"] = {"tags": {}}
    config["states"]["basics"]["initial"] = "tags"
    chart, _ = import_config(_write(tmp_path, config))
    assert {"m.basics.tags", "m.review.tags"} <= {s.id for s in chart.states}


def test_two_states_with_the_same_explicit_id_are_refused(tmp_path: Path) -> None:
    config = _small()
    config["states"]["basics"]["id"] = "twin"
    config["states"]["review"]["id"] = "twin"
    with pytest.raises(ImportFormatError, match=r"states\.review: .*unique"):
        import_config(_write(tmp_path, config))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"{\"id\": ", "not valid JSON"),
        (b"[1, 2]", "not an XState machine config object"),
        ("{\"id\": \"caf\u00e9\"}".encode("latin-1"), "not UTF-8"),
    ],
    ids=["empty", "not-json", "not-an-object", "not-utf8"],
)
def test_unreadable_files_are_refused_with_the_reason(
    tmp_path: Path, content: bytes, message: str
) -> None:
    file = tmp_path / "m.json"
    file.write_bytes(content)
    with pytest.raises(ImportFormatError, match=message):
        import_config(file)


def test_nothing_in_the_file_is_evaluated(tmp_path: Path) -> None:
    config = _small()
    config["states"]["basics"]["entry"] = ["__import__('os').system('false')"]
    chart, report = import_config(_write(tmp_path, config))
    assert report.opaque_actions == ["__import__('os').system('false')"]
    assert isinstance(chart.state("m.basics").entry[0], Custom)


def test_import_command_summarises_and_reports_opaque_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["import", str(DATA / "upload_without_retry.json")]) == 0
    out, err = capsys.readouterr()
    assert "machine 'upload', 6 states" in out
    assert "action setFileId" in err


def test_import_command_exits_2_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = _write(tmp_path, _small(NEXT=[{"cond": "ok"}]))
    assert main(["import", str(file)]) == 2
    err = capsys.readouterr().err
    assert "cond" in err and "Traceback" not in err


def test_verify_reports_failure_retry_on_a_hand_written_machine(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["verify", str(DATA / "upload_without_retry.json"), "--format", "json",
                 "--profile", "mirai"])
    report = json.loads(capsys.readouterr().out)
    results = {p["id"]: p for p in report["machines"][0]["properties"]}
    assert code == 1
    assert results["failure-retry"]["ok"] is False
    assert "network_error" in results["failure-retry"]["message"]
