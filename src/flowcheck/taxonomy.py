"""The state taxonomy as data: which context fields are not flow data, and why.

The platform splits state three ways (architecture rules, Frontend State Architecture):
flow data (ids, form input, job ids, error) in XState, server data in Connect-Query, UI
flags in Zustand. A :class:`Rule` names one kind of state that does not belong in a flow's
context, the reason quoted from those rules, and the field patterns that recognise it.

A pattern is a field name with ``*`` wildcards, optionally followed by ``:<type>`` to match
only fields of that type (``is*ing:boolean``, ``*:object[]``). Matching ignores the case of
the first letter, and a literal part followed by ``*`` must end where a camelCase word ends:
``show*`` matches ``showPreview`` but not ``showroom``, ``is*Open`` matches
``isSidebarOpen``.

Projects extend the defaults in ``pyproject.toml``::

    [tool.flowcheck.taxonomy]
    ui-flags = ["*Toast*"]            # more patterns for a built-in rule
    server-collections = ["catalog"]
    server-objects = ["organization:object"]
    allow = ["isFree"]                # flow data whatever the rules say

    [tool.flowcheck.taxonomy.editor-state]   # a rule of the project's own
    reason = "editor state lives in the editor store"
    patterns = ["cursor*", "selection*"]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from flowcheck.chart.model import DataField, FieldType
from flowcheck.errors import FlowcheckError

__all__ = [
    "DEFAULT_ALLOW",
    "DEFAULT_RULES",
    "Pattern",
    "Rule",
    "Taxonomy",
    "Violation",
    "load_taxonomy",
]

_TYPES: frozenset[str] = frozenset(get_args(FieldType))
_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_NAME = re.compile(r"^[A-Za-z_*][A-Za-z0-9_*]*$")


@dataclass(frozen=True)
class Pattern:
    """A field-name pattern with an optional type; see the module docstring."""

    text: str
    name: str
    type: str | None
    regex: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, where: str) -> Pattern:
        name, sep, ftype = text.partition(":")
        name = name.strip() or "*"
        ftype = ftype.strip()
        if not _NAME.match(name):
            raise FlowcheckError(
                f"{where}: pattern {text!r} is not a field name with * wildcards "
                "(e.g. 'is*Open' or 'is*ing:boolean')"
            )
        if sep and ftype not in _TYPES:
            known = ", ".join(sorted(_TYPES))
            raise FlowcheckError(
                f"{where}: pattern {text!r} names type {ftype!r}; use one of {known}"
            )
        return cls(text=text, name=name, type=ftype if sep else None, regex=_compile(name))

    def matches(self, data: DataField) -> bool:
        if self.type is not None and data.type != self.type:
            return False
        return self.regex.match(_cap(data.name)) is not None


def _cap(name: str) -> str:
    return name[:1].upper() + name[1:]


def _compile(name: str) -> re.Pattern[str]:
    parts = _cap(name).split("*")
    out = []
    for i, part in enumerate(parts):
        out.append(re.escape(part))
        if i < len(parts) - 1:
            if part:  # a literal before a wildcard ends at a camelCase word boundary
                out.append(r"(?=[A-Z0-9_]|$)")
            out.append(".*")
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class Rule:
    """One kind of state that is not flow data: id, the reason (quoting the rules), patterns."""

    id: str
    reason: str
    patterns: tuple[Pattern, ...]

    def match(self, data: DataField) -> Pattern | None:
        return next((p for p in self.patterns if p.matches(data)), None)


@dataclass(frozen=True)
class Violation:
    """A context field that a rule classifies as not flow data."""

    field: DataField
    rule: Rule
    pattern: Pattern


@dataclass(frozen=True)
class Taxonomy:
    """The rules, in order (the first that matches a field reports it), and the allow list."""

    rules: tuple[Rule, ...]
    allow: tuple[Pattern, ...] = ()

    def classify(self, data: DataField) -> Violation | None:
        """The first rule ``data`` breaks, or None when it is flow data (or allowed)."""
        if any(p.matches(data) for p in self.allow):
            return None
        for rule in self.rules:
            pattern = rule.match(data)
            if pattern is not None:
                return Violation(field=data, rule=rule, pattern=pattern)
        return None

    def violations(self, fields: Iterable[DataField]) -> list[Violation]:
        found = (self.classify(f) for f in fields)
        return [v for v in found if v is not None]


# ---------------------------------------------------------------------------------------
# The default rules (from the architecture rules' taxonomy)

_DEFAULTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "ui-flags",
        "UI flags live in Zustand, not in the flow (architecture rules, Frontend State "
        "Architecture §3: Zustand holds activeBlockId, isDirty, isSaving, sidebar visibility, "
        "modal open/close, transient editor UI state)",
        (
            "activeBlockId",
            "isDirty",
            "isSaving",
            "is*Open",
            "*Open:boolean",
            "*Visible",
            "*Visibility",
            "show*",
            "hide*",
            "sidebar*",
            "*Sidebar*",
            "modal*",
            "*Modal*",
            "drawer*",
            "*Expanded",
            "*Collapsed",
            "*Hovered",
            "*Focused",
            "is*ing:boolean",
        ),
    ),
    (
        "server-collections",
        "server data lives in Connect-Query, not in the flow: keep the ids in the context "
        "and read the list with a query (architecture rules, Frontend State Architecture §1: "
        "\"No server caching or persistence logic in XState\"; §2: Connect-Query handles "
        "fetching and caching)",
        (
            "smes",
            "audiences",
            "courses",
            "lessons",
            "plans",
            "users",
            "*List",
            "*:object[]",
        ),
    ),
    (
        "server-objects",
        "course metadata and other server objects are Connect-Query's cache, not flow data: "
        "keep only the id (courseId, userId) in the context (architecture rules, Frontend State "
        "Architecture §2: Connect-Query is the \"database cache\"; State Management Taxonomy: "
        "Auth is Connect-Query's whoAmI)",
        (
            "course",
            "courseData",
            "courseMetadata",
            "user",
            "currentUser",
            "profile",
            "userProfile",
            "whoAmI",
            "*:object",
        ),
    ),
)

DEFAULT_RULES: tuple[Rule, ...] = tuple(
    Rule(
        id=rule_id,
        reason=reason,
        patterns=tuple(Pattern.parse(p, f"default rule {rule_id}") for p in patterns),
    )
    for rule_id, reason, patterns in _DEFAULTS
)

# Lists of ids are flow data (selectedSmeIds, selectedAudienceIds).
DEFAULT_ALLOW: tuple[Pattern, ...] = (Pattern.parse("*Ids", "default allow list"),)


# ---------------------------------------------------------------------------------------
# Loading [tool.flowcheck.taxonomy]

_WHERE = "[tool.flowcheck.taxonomy] in pyproject.toml"


def load_taxonomy(config: Mapping[str, Any] | None = None) -> Taxonomy:
    """The default taxonomy extended by ``config`` (the ``[tool.flowcheck.taxonomy]`` table).

    A key naming a built-in rule adds patterns to it; ``allow`` adds patterns that are flow
    data whatever the rules say; any other key is a rule of the project's own, a table with
    ``reason`` and ``patterns``.

    Raises:
        FlowcheckError: a value of the wrong shape or a pattern that cannot be read.
    """
    rules = {rule.id: rule for rule in DEFAULT_RULES}
    allow = list(DEFAULT_ALLOW)
    for key, value in (config or {}).items():
        where = f"{_WHERE}, key {key!r}"
        if key == "allow":
            allow.extend(Pattern.parse(p, where) for p in _strings(value, where))
        elif key in rules and not isinstance(value, Mapping):
            extra = tuple(Pattern.parse(p, where) for p in _strings(value, where))
            rule = rules[key]
            rules[key] = Rule(id=rule.id, reason=rule.reason, patterns=rule.patterns + extra)
        elif isinstance(value, Mapping):
            rules[key] = _own_rule(key, value, where)
        else:
            known = ", ".join([*rules, "allow"])
            raise FlowcheckError(
                f"{where}: unknown key; extend one of {known} with a list of patterns, or "
                "declare a rule of your own as a table with reason and patterns"
            )
    return Taxonomy(rules=tuple(rules.values()), allow=tuple(allow))


def _own_rule(key: str, value: Mapping[str, Any], where: str) -> Rule:
    if not _ID.match(key):
        raise FlowcheckError(f"{where}: a rule id is lower-case words joined by '-'")
    unknown = sorted(set(value) - {"reason", "patterns"})
    if unknown:
        raise FlowcheckError(
            f"{where}: unknown field(s) {', '.join(unknown)}; use reason and patterns"
        )
    reason = value.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise FlowcheckError(f"{where}: give the rule a reason (a string saying why)")
    patterns = tuple(Pattern.parse(p, where) for p in _strings(value.get("patterns"), where))
    if not patterns:
        raise FlowcheckError(f"{where}: give the rule at least one pattern")
    return Rule(id=key, reason=reason.strip(), patterns=patterns)


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FlowcheckError(f"{where}: expected a list of field-name patterns (strings)")
    return list(value)
