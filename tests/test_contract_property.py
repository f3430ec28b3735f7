"""The contract property: invokes against the proto contracts, and no fetching in a machine.

Each mutant in tests/fixtures/contract_*.py breaks one rule; a ``# mutation`` comment marks
the line that breaks it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from statemachine import Event

from flowcheck.chart.model import Guard
from flowcheck.declare import ctx, eq, output
from flowcheck.errors import FlowcheckError
from flowcheck.project import Settings, find_settings, load_machine, machine_files
from flowcheck.properties import contract
from flowcheck.properties.base import Finding, Subject

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
PROTO = REPO / "proto" / "mirai" / "v1"
SETTINGS = find_settings(REPO)


def _subject(path: Path, settings: Settings = SETTINGS) -> Subject:
    machine = load_machine(path)
    return Subject(
        chart=machine.chart, settings=settings, source=machine.path, machine_class=machine.cls
    )


def _findings(fixture: str, settings: Settings = SETTINGS) -> list[Finding]:
    return contract.check(_subject(FIXTURES / f"{fixture}.py", settings))


def _only(fixture: str) -> Finding:
    findings = _findings(fixture)
    assert len(findings) == 1, [f.message for f in findings]
    assert findings[0].property == "contract"
    return findings[0]


def _line(path: Path, text: str) -> int:
    """1-based line of the first line of ``path`` containing ``text``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def _mutation_line(fixture: str) -> int:
    return _line(FIXTURES / f"{fixture}.py", "# mutation")


@pytest.mark.parametrize("path", machine_files(SETTINGS), ids=lambda p: p.stem)
def test_the_shipped_flows_keep_the_contract(path: Path) -> None:
    findings = contract.check(_subject(path))
    assert [f.message for f in findings] == []


def test_a_method_missing_from_the_proto_is_reported_at_its_service() -> None:
    finding = _only("contract_missing_method")
    assert finding.file == "proto/mirai/v1/course_service.proto"
    assert finding.line == _line(PROTO / "course_service.proto", "service CourseService {")
    assert "has no method CreateCourseDraft" in finding.message


def test_an_input_field_missing_from_the_request_is_reported_at_the_request() -> None:
    finding = _only("contract_missing_input")
    assert finding.file == "proto/mirai/v1/course_service.proto"
    assert finding.line == _line(PROTO / "course_service.proto", "message CreateCourseRequest")
    assert "maps input 'summary'" in finding.message


def test_a_response_field_the_flow_reads_but_the_proto_lacks_is_reported() -> None:
    finding = _only("contract_missing_response_field")
    assert finding.file == "proto/mirai/v1/course_service.proto"
    assert finding.line == _line(PROTO / "course_service.proto", "message CreateCourseResponse")
    assert "reads event.output.id in assign 'setCourse'" in finding.message
    assert finding.event == "xstate.done.actor.createCourse"


def test_an_input_of_the_wrong_type_is_reported_at_the_proto_field() -> None:
    finding = _only("contract_input_type")
    assert finding.file == "proto/mirai/v1/course_service.proto"
    assert finding.line == _line(PROTO / "course_service.proto", "string title = 1;")
    assert "(boolean)" in finding.message


def test_a_string_that_names_no_enum_value_is_reported_at_the_enum_field() -> None:
    finding = _only("contract_enum_value")
    assert finding.file == "proto/mirai/v1/generation_service.proto"
    assert finding.line == _line(PROTO / "generation_service.proto", "GenerationKind kind = 2;")
    assert "'summary' names none of its values" in finding.message
    assert "'outline', 'lessons'" in finding.message


def test_a_plain_function_invoke_is_fetching_inside_the_machine() -> None:
    finding = _only("contract_plain_function")
    assert finding.file == "tests/fixtures/contract_plain_function.py"
    assert finding.line == _mutation_line("contract_plain_function")
    assert "'fetchCourses'" in finding.message
    assert "fetching inside the machine" in finding.message


def test_a_service_missing_from_the_proto_is_fetching_inside_the_machine() -> None:
    finding = _only("contract_unknown_service")
    assert finding.file == "tests/fixtures/contract_unknown_service.py"
    assert finding.line == _mutation_line("contract_unknown_service")
    assert "no service mirai.v1.CatalogService" in finding.message
    assert "fetching inside the machine" in finding.message


def test_a_child_flow_that_is_not_a_machine_is_reported_at_the_invoke() -> None:
    finding = _only("contract_missing_child_flow")
    assert finding.file == "tests/fixtures/contract_missing_child_flow.py"
    assert finding.line == _mutation_line("contract_missing_child_flow")
    assert "child flow 'outline_generation'" in finding.message


def test_an_error_code_connect_never_sends_is_reported_at_the_invoke() -> None:
    finding = _only("contract_error_code")
    assert finding.file == "tests/fixtures/contract_error_code.py"
    assert finding.line == _line(FIXTURES / "contract_error_code.py", '"createCourse",')
    assert "'network_error'" in finding.message


def test_a_finding_names_the_flow_the_invoke_and_both_locations() -> None:
    finding = _only("contract_missing_input")
    invoke_line = _line(FIXTURES / "contract_missing_input.py", '"createCourse",')
    assert finding.message.startswith("contract_missing_input: invoke 'createCourse'")
    assert f"(tests/fixtures/contract_missing_input.py:{invoke_line})" in finding.message
    assert f"(proto/mirai/v1/course_service.proto:{finding.line})" in finding.message
    assert finding.state == "creatingCourse"


def test_the_proto_root_comes_from_the_settings(tmp_path: Path) -> None:
    proto = tmp_path / "proto"
    shutil.copytree(REPO / "proto", proto)
    service = proto / "mirai" / "v1" / "course_service.proto"
    text = service.read_text(encoding="utf-8").replace(
        "  rpc CreateCourse(CreateCourseRequest) returns (CreateCourseResponse);\n",
        "  rpc CreateCourse(CreateCourseRequest) returns (CreateCourseResponse);\n"
        "  rpc CreateCourseDraft(CreateCourseRequest) returns (CreateCourseResponse);\n",
    )
    service.write_text(text, encoding="utf-8")
    settings = Settings(
        root=SETTINGS.root, machines=SETTINGS.machines, proto=proto, exports=SETTINGS.exports
    )
    assert _findings("contract_missing_method", settings) == []


def test_a_missing_proto_root_is_an_input_error(tmp_path: Path) -> None:
    settings = Settings(
        root=SETTINGS.root,
        machines=SETTINGS.machines,
        proto=tmp_path / "nowhere",
        exports=SETTINGS.exports,
    )
    with pytest.raises(FlowcheckError, match="proto root not found"):
        _findings("contract_missing_input", settings)


def _checkout_with(
    guard: Guard | None = None, outputs: tuple[dict[str, Any], ...] = ()
) -> Subject:
    """The real checkout chart with its requires-action guard or its example outputs replaced."""
    subject = _subject(REPO / "machines" / "checkout.py")
    states = []
    for state in subject.chart.states:
        transitions = tuple(
            t.model_copy(update={"guard": guard})
            if guard and t.guard is not None and t.guard.name == guard.name
            else t
            for t in state.transitions
        )
        invokes = tuple(i.model_copy(update={"outputs": outputs}) if outputs else i
                        for i in state.invokes)
        states.append(state.model_copy(update={"transitions": transitions, "invokes": invokes}))
    subject.chart = subject.chart.model_copy(update={"states": tuple(states)})
    return subject


def test_a_guard_comparing_a_response_enum_with_no_such_value_is_reported() -> None:
    misspelt = Guard(name="paymentRequiresAction", expr=eq(output("status"), "requires_acton"))
    findings = contract.check(_checkout_with(guard=misspelt))
    assert len(findings) == 1, [f.message for f in findings]
    assert findings[0].file == "proto/mirai/v1/billing_service.proto"
    assert findings[0].line == _line(PROTO / "billing_service.proto", "PaymentStatus status = 2;")
    assert "'requires_acton' names none of its values" in findings[0].message


def test_an_example_output_key_missing_from_the_response_is_reported() -> None:
    findings = contract.check(_checkout_with(outputs=({"paymentID": "pay_1"},)))
    assert len(findings) == 1, [f.message for f in findings]
    response = _line(PROTO / "billing_service.proto", "message ConfirmPaymentResponse")
    assert findings[0].line == response
    assert "has an example output with paymentID" in findings[0].message


# -- child flows: what the parent reads, maps and expects against what the child declares ----

CHILDREN = Settings(
    root=SETTINGS.root,
    machines=[*SETTINGS.machines, FIXTURES],
    proto=SETTINGS.proto,
    exports=SETTINGS.exports,
)
GENERATION = REPO / "machines" / "generation.py"


def _generation_output_line() -> int:
    return _line(GENERATION, 'output = {"jobId"')


def _course_builder_with(**update: Any) -> Subject:
    """The real course builder with its generateOutline invoke changed (input, outputs)."""
    subject = _subject(REPO / "machines" / "course_builder.py")
    states = []
    for state in subject.chart.states:
        invokes = tuple(
            i.model_copy(update=update) if i.id == "generateOutline" else i for i in state.invokes
        )
        states.append(state.model_copy(update={"invokes": invokes}))
    subject.chart = subject.chart.model_copy(update={"states": tuple(states)})
    return subject


def test_a_parent_reading_a_key_the_child_does_not_output_is_reported_at_the_output() -> None:
    finding = _only("contract_child_output_key")
    assert finding.file == "machines/generation.py"
    assert finding.line == _generation_output_line()
    assert finding.event == "xstate.done.actor.generateOutline"
    assert "reads event.output.outlineId in assign 'setOutline'" in finding.message
    assert "outputs only jobId, outcome" in finding.message
    invoke_line = _line(FIXTURES / "contract_child_output_key.py", '"generateOutline",')
    assert f"(tests/fixtures/contract_child_output_key.py:{invoke_line})" in finding.message


def test_a_child_flow_without_output_is_reported_at_the_child_class() -> None:
    findings = _findings("contract_child_without_output", CHILDREN)
    assert len(findings) == 1, [f.message for f in findings]
    finding = findings[0]
    assert finding.file == "tests/fixtures/silent_generation.py"
    assert finding.line == _mutation_line("silent_generation")
    assert "child flow 'silent_generation', which declares no output" in finding.message
    assert "the parent reads event.output.jobId in assign 'setOutlineJob'" in finding.message
    assert finding.message.startswith("contract_child_without_output: invoke 'generateOutline'")


def test_an_example_output_key_the_child_never_outputs_is_reported() -> None:
    subject = _course_builder_with(
        outputs=({"jobId": "job_1", "outcome": "succeeded", "status": "succeeded"},)
    )
    findings = contract.check(subject)
    assert len(findings) == 1, [f.message for f in findings]
    assert findings[0].file == "machines/generation.py"
    assert findings[0].line == _generation_output_line()
    assert "example output with 'status', which child flow 'generation' never outputs" in (
        findings[0].message
    )


def test_an_example_output_missing_a_key_the_child_always_outputs_is_reported() -> None:
    findings = contract.check(_course_builder_with(outputs=({"outcome": "cancelled"},)))
    assert len(findings) == 1, [f.message for f in findings]
    assert "example output without 'jobId'" in findings[0].message


def test_an_event_the_child_sends_its_parent_and_the_parent_ignores_is_reported() -> None:
    finding = _only("contract_unhandled_send_parent")
    assert finding.file == "machines/generation.py"
    assert finding.line == _line(GENERATION, '.add(send_parent("AI_GENERATION_FAILED"))')
    assert finding.event == "AI_GENERATION_FAILED"
    invoke_line = _line(FIXTURES / "contract_unhandled_send_parent.py", '"generateOutline",')
    assert finding.message.startswith(
        "contract_unhandled_send_parent: invoke 'generateOutline' of state 'generating' "
        f"(tests/fixtures/contract_unhandled_send_parent.py:{invoke_line})"
    )
    assert "sends AI_GENERATION_FAILED to its parent" in finding.message
    assert "neither 'generating' nor a state around it handles" in finding.message


def test_an_event_the_child_sends_may_be_handled_by_an_ancestor_of_the_invoking_state() -> None:
    from flowcheck.declare import Flow, State, child_flow, invoking, on_done, on_error, read_chart

    class Wrapped(Flow):
        flow_id = "wrapped"

        class working(State.Compound, initial=True):
            generating = invoking(
                child_flow("generateOutline", "generation",
                           outputs=[{"jobId": "job_1", "outcome": "succeeded"}]),
                initial=True,
            )
        done = State(final=True)
        given_up = State(final=True)

        finished = Event(working.generating.to(done), id=on_done("generateOutline"))
        crashed = Event(working.generating.to(given_up), id=on_error("generateOutline"))
        AI_GENERATION_FAILED = working.to(given_up)

    subject = Subject(chart=read_chart(Wrapped), settings=SETTINGS)
    assert contract.check(subject) == []


def test_an_input_key_that_is_no_context_field_of_the_child_is_reported_at_its_context() -> None:
    subject = _course_builder_with(input=(("course", ctx("courseId")),))
    findings = contract.check(subject)
    assert len(findings) == 1, [f.message for f in findings]
    assert findings[0].file == "machines/generation.py"
    assert findings[0].line == _line(GENERATION, "class GenerationContext(BaseModel):")
    assert "maps input 'course', which child flow 'generation' has no context field" in (
        findings[0].message
    )
