"""The proto contract loader, against the shipped contracts and a broken one."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.contracts import load_contracts
from flowcheck.contracts.proto import clear_cache
from flowcheck.errors import FlowcheckError

PROTO_ROOT = Path(__file__).resolve().parent.parent / "proto"


def _line_of(path: Path, text: str) -> int:
    """1-based line of the first line of ``path`` containing ``text``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def test_create_course_is_loaded_with_lines() -> None:
    contracts = load_contracts(PROTO_ROOT)
    method = contracts.method("mirai.v1.CourseService/CreateCourse")
    assert method is not None
    source = PROTO_ROOT / "mirai" / "v1" / "course_service.proto"
    assert method.service == "mirai.v1.CourseService"
    assert method.name == "CreateCourse"
    assert method.file == "proto/mirai/v1/course_service.proto"
    assert method.line == _line_of(source, "rpc CreateCourse(")

    request = method.input_type
    assert request.full_name == "mirai.v1.CreateCourseRequest"
    assert request.line == _line_of(source, "message CreateCourseRequest")
    outcome = request.fields["desiredOutcome"]
    assert outcome.name == "desired_outcome"
    assert outcome.type == "string"
    assert not outcome.repeated
    assert outcome.line == _line_of(source, "string desired_outcome = 2;")
    assert list(method.output_type.fields) == ["courseId"]


def test_field_kinds() -> None:
    contracts = load_contracts(PROTO_ROOT)
    job = contracts.method("mirai.v1.GenerationService/GetGenerationJob")
    assert job is not None
    assert job.output_type.fields["status"].type == "enum:mirai.v1.JobStatus"
    me = contracts.method("mirai.v1.AuthService/WhoAmI")
    assert me is not None
    assert me.input_type.fields == {}
    assert me.output_type.fields["user"].type == "message:mirai.v1.User"
    plans = contracts.method("mirai.v1.BillingService/ListPlans")
    assert plans is not None
    assert plans.output_type.fields["plans"].repeated
    plan = contracts.message("mirai.v1.Plan")
    assert plan is not None
    assert plan.file == "proto/mirai/v1/common.proto"
    assert plan.fields["priceCents"].type == "int64"
    assert plan.fields["free"].type == "bool"
    status = contracts.enum("mirai.v1.JobStatus")
    assert status is not None
    assert "JOB_STATUS_FAILED" in status.values


def test_missing_method_is_none() -> None:
    contracts = load_contracts(PROTO_ROOT)
    assert contracts.method("mirai.v1.CourseService/DeleteCourse") is None
    assert contracts.method("mirai.v1.NoSuchService/CreateCourse") is None


def test_result_is_cached_until_a_file_changes(tmp_path: Path) -> None:
    root = tmp_path / "proto"
    root.mkdir()
    source = root / "a.proto"
    source.write_text('syntax = "proto3";\npackage a.v1;\nmessage A {}\n', encoding="utf-8")
    first = load_contracts(root)
    assert load_contracts(root) is first
    source.write_text(
        'syntax = "proto3";\npackage a.v1;\nmessage A {\n  string b_c = 1;\n}\n',
        encoding="utf-8",
    )
    second = load_contracts(root)
    assert second is not first
    message = second.message("a.v1.A")
    assert message is not None
    assert message.fields["bC"].line == 4
    clear_cache()


def test_broken_proto_names_the_file(tmp_path: Path) -> None:
    root = tmp_path / "proto"
    (root / "mirai" / "v1").mkdir(parents=True)
    (root / "mirai" / "v1" / "broken.proto").write_text(
        'syntax = "proto3";\npackage mirai.v1;\nmessage Broken {\n  string a = 1\n}\n',
        encoding="utf-8",
    )
    with pytest.raises(FlowcheckError, match=r"proto/mirai/v1/broken\.proto:5:1") as info:
        load_contracts(root)
    assert "\n" not in str(info.value)


def test_undefined_type_names_the_file(tmp_path: Path) -> None:
    root = tmp_path / "proto"
    root.mkdir()
    (root / "typo.proto").write_text(
        'syntax = "proto3";\nmessage A {\n  Missing m = 1;\n}\n', encoding="utf-8"
    )
    with pytest.raises(FlowcheckError, match=r"proto/typo\.proto:3:.*Missing"):
        load_contracts(root)


def test_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(FlowcheckError, match="not found"):
        load_contracts(tmp_path / "nowhere")
