"""The context-taxonomy property and the taxonomy rules it applies.

Each mutant in tests/fixtures/taxonomy_*.py holds one field that is not flow data; a
``# mutation`` comment marks its line.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from flowcheck.chart.model import DataField
from flowcheck.errors import FlowcheckError
from flowcheck.project import Settings, find_settings, load_machine, machine_files
from flowcheck.properties import context_taxonomy
from flowcheck.properties.base import Finding, Subject
from flowcheck.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
SETTINGS = find_settings(REPO)


def _findings(path: Path, settings: Settings = SETTINGS) -> list[Finding]:
    machine = load_machine(path)
    subject = Subject(
        chart=machine.chart, settings=settings, source=machine.path, machine_class=machine.cls
    )
    return context_taxonomy.check(subject)


def _only(fixture: str, taxonomy: dict[str, Any] | None = None) -> Finding:
    settings = replace(SETTINGS, taxonomy=taxonomy or {})
    findings = _findings(FIXTURES / f"{fixture}.py", settings)
    assert len(findings) == 1, [f.message for f in findings]
    assert findings[0].property == "context-taxonomy"
    return findings[0]


def _mutation_line(fixture: str) -> int:
    lines = (FIXTURES / f"{fixture}.py").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if "# mutation" in line)


def _rule(name: str, type_: str = "string", config: dict[str, Any] | None = None) -> str | None:
    violation = load_taxonomy(config).classify(DataField(name=name, type=type_))
    return violation.rule.id if violation else None


@pytest.mark.parametrize("path", machine_files(SETTINGS), ids=lambda p: p.stem)
def test_the_shipped_flows_hold_flow_data_only(path: Path) -> None:
    assert [f.message for f in _findings(path)] == []


def test_a_sidebar_flag_is_a_ui_flag_at_its_line() -> None:
    finding = _only("taxonomy_sidebar_flag")
    assert finding.file == "tests/fixtures/taxonomy_sidebar_flag.py"
    assert finding.line == _mutation_line("taxonomy_sidebar_flag")
    assert "'isSidebarOpen'" in finding.message
    assert "UI flags live in Zustand" in finding.message
    assert "Frontend State Architecture §3" in finding.message


def test_a_list_of_sme_objects_is_a_server_collection_at_its_line() -> None:
    finding = _only("taxonomy_sme_objects")
    assert finding.file == "tests/fixtures/taxonomy_sme_objects.py"
    assert finding.line == _mutation_line("taxonomy_sme_objects")
    assert "'smes' (object[])" in finding.message
    assert "rule server-collections" in finding.message
    assert "Connect-Query" in finding.message


def test_a_course_object_is_a_mirror_of_server_data_at_its_line() -> None:
    finding = _only("taxonomy_course_object")
    assert finding.line == _mutation_line("taxonomy_course_object")
    assert "'course' (object | null)" in finding.message
    assert "rule server-objects" in finding.message


def test_the_allow_list_in_the_settings_accepts_a_field() -> None:
    settings = replace(SETTINGS, taxonomy={"allow": ["isSidebarOpen"]})
    assert _findings(FIXTURES / "taxonomy_sidebar_flag.py", settings) == []


def test_a_rule_of_the_projects_own_classifies_with_its_reason() -> None:
    own = {"editor-state": {"reason": "editor state lives in the editor store",
                            "patterns": ["cursor*"]}}
    violation = load_taxonomy(own).classify(DataField(name="cursorPosition", type="integer"))
    assert violation is not None
    assert violation.rule.id == "editor-state"
    assert violation.rule.reason == "editor state lives in the editor store"


@pytest.mark.parametrize(
    ("name", "type_", "rule"),
    [
        ("isSidebarOpen", "boolean", "ui-flags"),
        ("activeBlockId", "string", "ui-flags"),
        ("isDirty", "boolean", "ui-flags"),
        ("isLoading", "boolean", "ui-flags"),
        ("showPreview", "boolean", "ui-flags"),
        ("modalStep", "string", "ui-flags"),
        ("audiences", "string[]", "server-collections"),
        ("courseList", "string[]", "server-collections"),
        ("blocks", "object[]", "server-collections"),
        ("user", "object", "server-objects"),
        ("courseData", "string", "server-objects"),
    ],
)
def test_the_default_rules_classify_ui_and_server_state(name: str, type_: str, rule: str) -> None:
    assert _rule(name, type_) == rule


@pytest.mark.parametrize(
    ("name", "type_"),
    [
        ("courseId", "string"),
        ("selectedSmeIds", "string[]"),
        ("outlineJobId", "string"),
        ("error", "string"),
        ("showroom", "string"),
        ("polls", "integer"),
    ],
)
def test_flow_data_is_not_classified(name: str, type_: str) -> None:
    assert _rule(name, type_) is None


def test_a_built_in_rule_is_extended_from_the_settings() -> None:
    assert _rule("uploadToast") is None
    assert _rule("uploadToast", config={"ui-flags": ["*Toast*"]}) == "ui-flags"


def test_a_typed_pattern_matches_that_type_only() -> None:
    assert _rule("isSubmitting", "boolean") == "ui-flags"
    assert _rule("isSubmitting", "string") is None


@pytest.mark.parametrize(
    "config",
    [
        {"ui-flags": "isOpen"},
        {"ui-flags": ["is Open"]},
        {"ui-flags": ["isOpen:list"]},
        {"uiflags": ["isOpen"]},
        {"editor": {"patterns": ["cursor*"]}},
    ],
)
def test_a_malformed_taxonomy_table_is_an_input_error(config: dict[str, Any]) -> None:
    with pytest.raises(FlowcheckError, match=r"\[tool.flowcheck.taxonomy\]"):
        load_taxonomy(config)
