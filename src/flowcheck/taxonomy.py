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

A field no pattern recognises is classified by its type and its data flow
(:mod:`flowcheck.dataflow`), in this order:

1. An **identifier** is flow data: a string (or list of strings) whose name ends in the
   camelCase word ``Id``, ``Ids``, ``Key`` or ``Keys`` (``courseId``, ``outlineJobId``,
   ``idempotencyKey``), or that the flow hands on whole under such a name, as an invoke's
   input or in an output (``input={"courseId": ctx("draft")}``). The rules list ids as flow
   data (``courseId`` comes from CreateCourse's response, a job id from the job's); an id is
   a reference the flow passes on, not a copy of what it refers to.
2. **Server state**: a field whose every write that carries a value is computed from an RPC's
   response (``event.output.*`` on the done event of an ``rpc`` invoke), so no user event
   ever sets it (resetting it to its default is not setting it), is a copy of Connect-Query's
   cache: rule ``server-state`` for a scalar, ``server-collections`` for a list,
   ``server-objects`` for an object. A child flow's output is flow data, and so is a field
   an error event writes too (``error``).
3. **A catalog**: a list the flow never writes (it only ever holds its default or the flow's
   input) is a server collection handed to the flow, e.g. a list of plans.
4. **A boolean** is a UI flag (rule ``ui-flags``): the flow's states say what a flow decides.
   One the flow hands on whole (an invoke's input, an output: a checkbox the server is told)
   is form data.

Custom actions are opaque and may write any field: 2 is not concluded when a custom action
may run on a user event's step, nor 3 when the chart has one at all.

A field is flow data whatever the rules say when ``allow`` lists it, or when the Context model
declares it a fact of the domain (``DataField.fact``)::

    isFree: bool = Field(False, json_schema_extra={"flowcheck": "domain-fact"})
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from flowcheck.chart.model import Chart, DataField, FieldType
from flowcheck.dataflow import FieldFlow, Write, field_flows
from flowcheck.errors import FlowcheckError

__all__ = [
    "DEFAULT_ALLOW",
    "DEFAULT_RULES",
    "Pattern",
    "Rule",
    "Taxonomy",
    "Violation",
    "is_identifier",
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
    """One kind of state that is not flow data: id, the reason (quoting the rules), patterns,
    and the fix a finding proposes."""

    id: str
    reason: str
    patterns: tuple[Pattern, ...]
    fix: str = "remove it from the context"

    def match(self, data: DataField) -> Pattern | None:
        return next((p for p in self.patterns if p.matches(data)), None)


@dataclass(frozen=True)
class Violation:
    """A context field that a rule classifies as not flow data.

    ``pattern`` is the name pattern that recognised it, None when its type or its data flow
    did; ``basis`` says which in words (``pattern 'is*Open'``, ``type boolean``, ``data
    flow``); ``flow`` is its data flow in words ("" when the chart was not given); ``reason``
    says why it is not flow data, quoting the architecture rules.
    """

    field: DataField
    rule: Rule
    pattern: Pattern | None = None
    basis: str = ""
    flow: str = ""
    reason: str = ""

    @property
    def fix(self) -> str:
        return self.rule.fix


@dataclass(frozen=True)
class Taxonomy:
    """The rules, in order (the first that matches a field reports it), and the allow list."""

    rules: tuple[Rule, ...]
    allow: tuple[Pattern, ...] = ()

    def classify(self, data: DataField, flow: FieldFlow | None = None) -> Violation | None:
        """The first rule ``data`` breaks, or None when it is flow data (or allowed).

        Name patterns come first, then the type and data-flow rules of the module docstring;
        without ``flow`` only the name and the type are looked at."""
        if data.fact or any(p.matches(data) for p in self.allow):
            return None
        words = _describe(flow) if flow is not None else ""
        for rule in self.rules:
            pattern = rule.match(data)
            if pattern is not None:
                return Violation(
                    field=data, rule=rule, pattern=pattern, basis=f"pattern {pattern.text!r}",
                    flow=words, reason=rule.reason,
                )
        if is_identifier(data, flow):
            return None
        if flow is not None:
            found = self._by_data_flow(data, flow, words)
            if found is not None:
                return found
        if data.type == "boolean" and not (flow is not None and flow.passed_as()):
            return Violation(
                field=data, rule=self._rule("ui-flags"), basis="type boolean", flow=words,
                reason=_BOOLEAN_REASON,
            )
        return None

    def violations(
        self, fields: Iterable[DataField], flows: Mapping[str, FieldFlow] | None = None
    ) -> list[Violation]:
        """The violations among ``fields``, each classified with its data flow in ``flows``."""
        found = (self.classify(f, (flows or {}).get(f.name)) for f in fields)
        return [v for v in found if v is not None]

    def check(self, chart: Chart) -> list[Violation]:
        """The violations among the context fields of ``chart``, data flow included."""
        return self.violations(chart.context, field_flows(chart))

    def _by_data_flow(self, data: DataField, flow: FieldFlow, words: str) -> Violation | None:
        if _server_state(flow):
            rule_id = {"string[]": "server-collections", "object[]": "server-collections",
                       "object": "server-objects"}.get(data.type, "server-state")
            rule = self._rule(rule_id)
            return Violation(field=data, rule=rule, basis="data flow", flow=words,
                             reason=rule.reason)
        if data.type in ("string[]", "object[]") and not flow.data_writes and not flow.opaque:
            rule = self._rule("server-collections")
            return Violation(field=data, rule=rule, basis="data flow", flow=words,
                             reason=_CATALOG_REASON)
        return None

    def _rule(self, rule_id: str) -> Rule:
        found = next((r for r in self.rules if r.id == rule_id), None)
        return found or next(r for r in DEFAULT_RULES if r.id == rule_id)


# ---------------------------------------------------------------------------------------
# Identifiers and server state, from the data flow

_ID_WORD = re.compile(r"(?:[a-z0-9](?:Id|ID|Ids|IDs|Key|Keys)|_(?:id|ids|key|keys))$")
_ID_ALONE = frozenset({"id", "ids", "key", "keys"})

# Steps a user event can trigger: its own transition, the eventless transitions and the
# entry, exit and state-done actions that follow it.
_USER_STEPS = frozenset({"user", "eventless", "entry", "exit", "state-done"})


def _id_name(name: str) -> bool:
    return name.lower() in _ID_ALONE or _ID_WORD.search(name) is not None


def is_identifier(data: DataField, flow: FieldFlow | None = None) -> bool:
    """Whether ``data`` is an id (see the module docstring): a string or list of strings named
    as an id, or handed on whole under an id's name (needs ``flow``)."""
    if data.type not in ("string", "string[]"):
        return False
    if _id_name(data.name):
        return True
    return flow is not None and any(_id_name(key) for key in flow.passed_as())


def _server_state(flow: FieldFlow) -> bool:
    """Every value written comes from an RPC response, and nothing unseen can set it on a
    user event's step."""
    carrying = flow.data_writes
    if not carrying or not all(w.from_response for w in carrying):
        return False
    return not any(o.step.origin in _USER_STEPS for o in flow.opaque)


def _describe(flow: FieldFlow) -> str:
    """The data flow of a field in words, for a finding."""
    data = flow.field
    if not flow.writes:
        return (
            "never written by the flow: it only ever holds what the flow starts with "
            "(its default or the flow's input)"
        )
    carrying = flow.data_writes
    resets = _events(w for w in flow.writes if w.resets(data))
    reset_note = f" (only reset to its default on {resets})" if resets else ""
    if not carrying:
        return f"never given a value by the flow{reset_note}"
    if all(w.from_response for w in carrying):
        user = "never by a user event" if not flow.user_writes else "never set by a user event"
        return f"written only from {_responses(carrying)}, {user}{reset_note}"
    parts: list[str] = []
    user_events = _events(w for w in carrying if w.step.origin == "user")
    if user_events:
        parts.append(f"by the user events {user_events}")
    responses = [w for w in carrying if w.from_response]
    if responses:
        parts.append(f"from {_responses(responses)}")
    others = _events(
        w for w in carrying if w.step.origin != "user" and not w.from_response
    )
    if others:
        parts.append(f"on {others}")
    return f"written {'; '.join(parts)}{reset_note}"


def _responses(writes: Iterable[Write]) -> str:
    seen: list[str] = []
    for w in writes:
        invoke = w.step.invoke
        text = f"the response of {invoke.src if invoke else '?'} on {w.step.describe()}"
        if text not in seen:
            seen.append(text)
    return _and(seen)


def _events(writes: Iterable[Write]) -> str:
    seen: list[str] = []
    for w in writes:
        text = w.step.describe()
        if text not in seen:
            seen.append(text)
    return _and(seen)


def _and(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


# ---------------------------------------------------------------------------------------
# The default rules (from the architecture rules' taxonomy)

_DEFAULTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
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
        "keep it in the UI store (Zustand); if it is a fact of the domain that the flow "
        "decides on, declare it in the Context model: "
        "Field(False, json_schema_extra={\"flowcheck\": \"domain-fact\"}) (or list it in "
        "[tool.flowcheck.taxonomy] allow)",
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
        "keep the ids in the context and read the list where it is shown with its "
        "Connect-Query query (useQuery); a list the flow decides on comes in as its input",
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
        "keep only the id in the context and read the object with its Connect-Query query",
    ),
    (
        "server-state",
        "server data lives in Connect-Query, not in the flow (architecture rules, Frontend "
        "State Architecture §4, Role Separation Summary: Connect-Query holds \"Server state "
        "fetched/persisted via protobuf RPCs\"; §1, XState rules: \"No server caching or "
        "persistence logic in XState\")",
        (),
        "read it where it is shown from Connect-Query (useQuery of the RPC that serves it; "
        "after a mutation, invalidate that query), or decide on the response in the done "
        "transition's guard (output(...)) instead of storing it; the context keeps only ids",
    ),
)

_BOOLEAN_REASON = (
    "a boolean in the context is a flag, and flags are UI state: UI flags live in Zustand, "
    "not in the flow (architecture rules, Frontend State Architecture §3: Zustand holds "
    "\"sidebar visibility, modal open/close, transient editor UI state\"; State Machine "
    "Guidelines (XState), Event-Driven Transitions: \"Use semantic events ... rather than "
    "setting boolean flags\")"
)

_CATALOG_REASON = (
    "a list the flow only reads is server data handed to it: server data lives in "
    "Connect-Query, not in the flow (architecture rules, Frontend State Architecture §2: "
    "Connect-Query handles \"fetching course data\" and \"caching\"; §1, XState rules: "
    "\"No server caching or persistence logic in XState\")"
)

DEFAULT_RULES: tuple[Rule, ...] = tuple(
    Rule(
        id=rule_id,
        reason=reason,
        patterns=tuple(Pattern.parse(p, f"default rule {rule_id}") for p in patterns),
        fix=fix,
    )
    for rule_id, reason, patterns, fix in _DEFAULTS
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
            rules[key] = Rule(
                id=rule.id, reason=rule.reason, patterns=rule.patterns + extra, fix=rule.fix
            )
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
