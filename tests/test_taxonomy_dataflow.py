"""context-taxonomy by type and data flow: each case is a bundled flow plus one small patch.

A boolean is a UI flag unless declared a domain fact; a field only ever written from an RPC's
response, or a list the flow never writes, is server data unless it is an id.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from variants import variant

from flowcheck.chart.model import DataField
from flowcheck.dataflow import field_flows
from flowcheck.errors import MachineError
from flowcheck.formats.xstate.importer import import_config
from flowcheck.project import find_settings, load_machine
from flowcheck.properties import context_taxonomy
from flowcheck.properties.base import Finding, Subject
from flowcheck.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parent.parent
SETTINGS = find_settings(REPO)

LAST_FIELD = "    error: str | None = None\n"
LESSON_JOB = 'set_lesson_job = assign("setLessonJob", lessonJobId=output("jobId"))\n'
SET_COURSE = 'set_course = assign("setCourse", courseId=output("courseId"))'
SET_PAYMENT = 'set_payment = assign("setPayment", paymentId=output("paymentId"), error=None)'


def _field(declaration: str) -> tuple[str, str]:
    """A patch adding a context field after ``error`` (the last field of every flow)."""
    return LAST_FIELD, f"{LAST_FIELD}    {declaration}\n"


def _findings(
    flow: str, *patches: tuple[str, str], taxonomy: dict[str, Any] | None = None
) -> list[Finding]:
    project = variant(flow, *patches)
    settings = project.settings if taxonomy is None else replace(
        project.settings, taxonomy=taxonomy
    )
    machine = project.machine(flow)
    subject = Subject(
        chart=machine.chart, settings=settings, source=machine.path, machine_class=machine.cls
    )
    return context_taxonomy.check(subject)


def _more(assign: str, updates: str) -> str:
    """An ``assign(...)`` line with more updates before its closing parenthesis."""
    return f"{assign[:-1]}, {updates})"


def _only(flow: str, *patches: tuple[str, str]) -> Finding:
    findings = _findings(flow, *patches)
    assert len(findings) == 1, [f.message for f in findings]
    return findings[0]


def _line_of(flow: str, text: str, *patches: tuple[str, str]) -> int:
    """The line ``text`` is on in the patched flow."""
    source = (REPO / "machines" / f"{flow}.py").read_text(encoding="utf-8")
    for old, new in patches:
        source = source.replace(old, new)
    return next(n for n, line in enumerate(source.splitlines(), start=1) if text in line)


# -- booleans ---------------------------------------------------------------------------


def test_a_loading_boolean_in_checkout_is_a_ui_flag_at_its_line() -> None:
    patch = _field("loading: bool = False")
    finding = _only("checkout", patch)
    assert finding.file == "machines/checkout.py"
    assert finding.line == _line_of("checkout", "loading: bool", patch)
    assert "'loading' (boolean)" in finding.message
    assert "rule ui-flags, type boolean" in finding.message
    assert "rather than setting boolean flags" in finding.message
    assert '"flowcheck": "domain-fact"' in finding.message  # the fix says how to declare one


def test_a_boolean_declared_a_domain_fact_is_flow_data() -> None:
    marked = 'loading: bool = Field(False, json_schema_extra={"flowcheck": "domain-fact"})'
    assert _findings("checkout", _field(marked)) == []


def test_a_boolean_in_the_allow_list_is_flow_data() -> None:
    assert _findings("checkout", _field("loading: bool = False"),
                     taxonomy={"allow": ["loading"]}) == []


def test_the_domain_fact_marker_reaches_the_chart() -> None:
    marked = 'isFree: bool = Field(False, json_schema_extra={"flowcheck": "domain-fact"})'
    chart = variant("checkout", _field(marked)).machine("checkout").chart
    facts = {f.name: f.fact for f in chart.context}
    assert facts["isFree"] is True
    assert facts["planId"] is False


def test_a_misspelt_domain_fact_marker_is_refused_naming_the_field() -> None:
    marked = 'isFree: bool = Field(False, json_schema_extra={"flowcheck": "domain_fact"})'
    project = variant("checkout", _field(marked))
    with pytest.raises(MachineError, match=r"'isFree'.*'domain-fact'"):
        _ = project.machine("checkout").chart


def test_a_boolean_set_from_a_response_is_server_state() -> None:
    finding = _only(
        "checkout",
        _field("needsAction: bool = False"),
        (SET_PAYMENT, _more(SET_PAYMENT, 'needsAction=eq(output("status"), "requires_action")')),
    )
    assert "'needsAction' (boolean)" in finding.message
    assert "rule server-state, data flow" in finding.message
    assert "mirai.v1.BillingService/ConfirmPayment" in finding.message


def test_a_boolean_the_flow_sends_to_the_server_is_form_data() -> None:
    assert _findings(
        "registration",
        _field("marketingOptIn: bool = False"),
        ('"organization": ctx("organization"),\n',
         '"organization": ctx("organization"),\n'
         '                "marketingOptIn": ctx("marketingOptIn"),\n'),
    ) == []


def test_a_boolean_named_like_a_pattern_it_misses_is_classified_by_its_type() -> None:
    violation = load_taxonomy().classify(DataField(name="isolated", type="boolean"))
    assert violation is not None
    assert violation.rule.id == "ui-flags"
    assert violation.pattern is None
    assert violation.basis == "type boolean"


# -- server data, from the data flow ----------------------------------------------------


def test_a_list_filled_from_an_rpc_response_is_a_server_collection() -> None:
    finding = _only(
        "course_builder",
        _field("cachedCourses: list[str] = Field(default_factory=list)"),
        (SET_COURSE,
         _more(SET_COURSE, 'cachedCourses=append(ctx("cachedCourses"), output("courseId"))')),
    )
    assert "'cachedCourses' (string[])" in finding.message
    assert "rule server-collections, data flow" in finding.message
    assert (
        "written only from the response of mirai.v1.CourseService/CreateCourse on "
        "xstate.done.actor.createCourse, never by a user event"
    ) in finding.message


def test_a_list_the_flow_never_writes_is_a_server_collection_at_its_line() -> None:
    patch = _field("availablePlans: list[str] = Field(default_factory=list)")
    finding = _only("checkout", patch)
    assert finding.line == _line_of("checkout", "availablePlans:", patch)
    assert "'availablePlans' (string[])" in finding.message
    assert "rule server-collections" in finding.message
    assert "never written by the flow" in finding.message


def test_a_string_from_an_rpc_response_that_is_not_an_id_is_server_state() -> None:
    finding = _only(
        "course_builder",
        _field('publishedUrl: str = ""'),
        (LESSON_JOB, LESSON_JOB
         + 'set_url = assign("setPublishedUrl", publishedUrl=output("publishedUrl"))\n'),
        ("publishing.to(published)", "publishing.to(published, on=set_url)"),
    )
    assert "'publishedUrl' (string)" in finding.message
    assert "is server state (rule server-state, data flow)" in finding.message
    assert "mirai.v1.CourseService/PublishCourse on xstate.done.actor.publishCourse" in (
        finding.message
    )
    assert "No server caching or persistence logic in XState" in finding.message
    assert "Fix: " in finding.message


def test_an_integer_from_an_rpc_response_is_server_state() -> None:
    count_poll = 'count_poll = assign("countPoll", polls=add(ctx("polls"), 1))'
    finding = _only(
        "generation",
        _field("progress: int = 0"),
        (count_poll, _more(count_poll, 'progress=output("progress")')),
    )
    assert "'progress' (integer)" in finding.message
    assert "mirai.v1.GenerationService/GetGenerationJob" in finding.message


def test_a_response_field_a_user_event_only_resets_is_still_server_state() -> None:
    drop = 'drop_payment = assign("dropPayment", paymentId="")'
    finding = _only(
        "checkout",
        _field('paymentStatus: str = ""'),
        (SET_PAYMENT, _more(SET_PAYMENT, 'paymentStatus=output("status")')),
        (drop, _more(drop, 'paymentStatus=""')),
    )
    assert "'paymentStatus' (string)" in finding.message
    assert "only reset to its default on CHECKOUT_CANCELLED" in finding.message


def test_a_field_the_user_edits_after_a_response_filled_it_is_form_data() -> None:
    assert _findings(
        "course_builder", (SET_COURSE, _more(SET_COURSE, 'title=output("title")'))
    ) == []


def test_a_child_flows_output_is_flow_data() -> None:
    outline = 'set_outline_job = assign("setOutlineJob", outlineJobId=output("jobId"))'
    assert _findings(
        "course_builder",
        _field('outlineOutcome: str = ""'),
        (outline, _more(outline, 'outlineOutcome=output("outcome")')),
    ) == []


def test_an_error_code_is_flow_data() -> None:
    set_error = 'set_error = assign("setError", error=ev("error.code"))'
    assert _findings(
        "checkout",
        _field("failureCode: str | None = None"),
        (set_error, _more(set_error, 'failureCode=ev("error.code")')),
    ) == []


# -- identifiers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flow", "name"),
    [
        ("course_builder", "courseId"),
        ("registration", "userId"),
        ("generation", "jobId"),
        ("checkout", "paymentId"),
    ],
)
def test_an_id_from_an_rpc_response_is_flow_data(flow: str, name: str) -> None:
    machine = load_machine(REPO / "machines" / f"{flow}.py")
    flow_of = field_flows(machine.chart)[name]
    assert flow_of.response_writes, f"{name} is not written from a response any more"
    field = next(f for f in machine.chart.context if f.name == name)
    assert load_taxonomy().classify(field, flow_of) is None


def test_a_new_id_from_an_rpc_response_is_flow_data() -> None:
    assert _findings(
        "checkout",
        _field('receiptId: str = ""'),
        (SET_PAYMENT, _more(SET_PAYMENT, 'receiptId=output("paymentId")')),
    ) == []


DRAFT = (SET_COURSE, _more(SET_COURSE, 'draft=output("courseId")'))


def test_a_response_string_the_flow_passes_on_as_an_id_is_an_id() -> None:
    assert _findings(
        "course_builder",
        _field('draft: str = ""'),
        DRAFT,
        ('input={"courseId": ctx("courseId")},', 'input={"courseId": ctx("draft")},'),
    ) == []


def test_the_same_response_string_kept_but_never_passed_on_is_server_state() -> None:
    finding = _only("course_builder", _field('draft: str = ""'), DRAFT)
    assert "'draft' (string)" in finding.message
    assert "rule server-state" in finding.message


# -- what flowcheck cannot see ----------------------------------------------------------


def test_a_custom_action_may_fill_a_list_so_it_is_not_called_a_catalog() -> None:
    assert _findings(
        "checkout",
        _field("availablePlans: list[str] = Field(default_factory=list)"),
        ("    track,\n)", "    track,\n    custom,\n)"),
        ('failure.payment_declined.enter.add(send_parent("PAYMENT_DECLINED"))',
         'failure.payment_declined.enter.add(send_parent("PAYMENT_DECLINED"))\n'
         '    paymentDetails.enter.add(custom("loadPlans"))'),
    ) == []


def _small_import(entry: list[str]) -> dict[str, Any]:
    return {
        "id": "picker",
        "initial": "picking",
        "context": {"options": []},
        "states": {
            "picking": {"entry": entry, "on": {"PICKED": "done"}},
            "done": {"type": "final"},
        },
    }


def test_an_imported_list_an_unknown_action_may_fill_is_not_called_a_catalog() -> None:
    chart, report = import_config(_small_import(["loadOptions"]))
    assert report.opaque_actions == ["loadOptions"]
    assert load_taxonomy().check(chart) == []


def test_an_imported_list_nothing_writes_is_a_catalog() -> None:
    chart, _ = import_config(_small_import([]))
    assert [v.rule.id for v in load_taxonomy().check(chart)] == ["server-collections"]


@pytest.mark.parametrize("flow", ["checkout", "course_builder", "generation", "registration"])
def test_an_exported_flow_imported_back_is_classified_like_the_flow(flow: str) -> None:
    chart, _ = import_config(REPO / "exports" / f"{flow}.json")
    original = load_machine(REPO / "machines" / f"{flow}.py").chart
    assert load_taxonomy().check(chart) == load_taxonomy().check(original) == []


# -- the chart model --------------------------------------------------------------------


def test_a_field_without_the_marker_serialises_as_before() -> None:
    chart = load_machine(REPO / "machines" / "checkout.py").chart
    assert all("fact" not in f for f in json.loads(chart.to_json())["context"])


def test_the_marker_survives_a_round_trip_through_json() -> None:
    field = DataField(name="isFree", type="boolean", fact=True)
    assert DataField.model_validate(json.loads(json.dumps(field.model_dump(mode="json")))) == field


# -- the data flow itself ---------------------------------------------------------------


def test_the_data_flow_names_the_user_events_that_write_a_field() -> None:
    chart = load_machine(REPO / "machines" / "course_builder.py").chart
    flow = field_flows(chart)["selectedSmeIds"]
    assert {w.step.event for w in flow.user_writes} == {"SME_SELECTED", "SME_DESELECTED"}
    assert not flow.response_writes
    assert "smeIds" in flow.passed_as()


def test_the_data_flow_ties_a_response_write_to_its_invoke() -> None:
    chart = load_machine(REPO / "machines" / "course_builder.py").chart
    (write,) = field_flows(chart)["courseId"].writes
    assert write.step.event == "xstate.done.actor.createCourse"
    assert write.step.invoke is not None and write.step.invoke.kind == "rpc"
    assert write.reads == ("event.output.courseId",)
