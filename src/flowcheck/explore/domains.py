"""The environment's domains, derived from the flow's own expressions.

Everything the world outside a flow chooses (event payload fields, invoke outputs, the
Connect code of an invoke error, the flow's input) is a *source*. A flow can only tell two
values of a source apart through its expressions: a guard or an assign that compares the
value (or a value it flowed into, through assigns into the context) with a literal or
with another value, tests it for emptiness, counts it or does arithmetic on it. So the
values of a source fall into finitely many classes, and one value per class is enough for
exploration to cover every run the flow can distinguish:

- each literal the value is compared with (``eq``, ``ne``, ``in``, ``lt``...), and for a
  numeric comparison with ``n`` the boundaries ``n - 1``, ``n`` and ``n + 1``;
- empty and non-empty where it is tested (``nonempty``, ``count``), ``None`` when the
  field is nullable;
- one *fresh* value that equals none of the literals (two of them, or more, where values
  of the source are compared with each other or counted, so that "different" and "as many
  as the count asks" both happen);
- bounded by the field's type: a ``Literal``/enum or a ``bool`` is explored whole, and so
  are the 16 Connect codes of an invoke error, represented by the codes the flow compares
  with and one code for all the others.

Examples (``Field(examples=...)``, example invoke outputs, declared error codes) are kept as
seeds: they are the readable values counterexamples show, and they never shrink a domain.
Data flow is followed through assigns into the context, to a fixed point; what a value
flows into in another flow is the composition's business (see ``Environment``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flowcheck.chart.expr import Expr
from flowcheck.chart.model import (
    Action,
    Assign,
    Chart,
    DataField,
    FieldType,
    done_actor,
    error_actor,
)

CONNECT_CODES: tuple[str, ...] = (
    "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found",
    "already_exists", "permission_denied", "resource_exhausted", "failed_precondition",
    "aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss",
    "unauthenticated",
)
"""Every Connect error code: an RPC can fail with any of them, whatever its contract says."""

# The code that stands for "any code the flow does not compare with", when no declared code
# is free to play that part: Connect's catch-all first.
_OTHER_CODE_PREFERENCE = ("unknown", "internal", "unavailable", *CONNECT_CODES)

MAX_VALUES_PER_EVENT = 4096
"""Payload combinations (or outputs, or inputs) per event beyond which the environment is
cut, and exploration reported bounded by its ``environment`` limit, never proved."""

Source = tuple[str, ...]
"""("event", EVENT, field), ("output", INVOKE_ID, key), ("code", INVOKE_ID), ("input", field)."""


@dataclass(frozen=True)
class Domain:
    """The values exploration gives one source, and how many classes the flow tells apart."""

    name: str
    """How reports name the source: ``PAYMENT_METHOD_ENTERED.paymentMethodId``,
    ``confirmPayment.error.code``, ``generateOutline.output.outcome``, ``input.kind``."""
    values: tuple[Any, ...]
    classes: int
    of: str = ""
    """What the classes partition, when it is finite: ``16 Connect codes``."""


@dataclass
class Domains:
    """The environment of one chart: letters' payloads, per event; the inputs to start from."""

    payloads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    outputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    codes: dict[str, list[str]] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    fields: list[Domain] = field(default_factory=list)
    opaque: dict[str, list[str]] = field(default_factory=dict)
    """Guards without a body (imported charts), per event ("" for the ones evaluated in any
    step: eventless transitions and internal events): each letter carries every valuation
    of them in ``$guards``, so exploration takes them both ways."""
    compared_codes: dict[str, list[str]] = field(default_factory=dict)
    """Per invoke, the Connect codes the flow compares with (tells apart)."""
    assumed: list[str] = field(default_factory=list)
    """What the domains could not derive and took from examples: said as assumptions."""
    truncated: list[str] = field(default_factory=list)
    """Sources whose combinations were cut at MAX_VALUES_PER_EVENT (exploration is then
    bounded, not a proof)."""

    def valuations(self, event: str) -> list[dict[str, bool]]:
        """Every valuation of the opaque guards a step on ``event`` may evaluate ("" for
        the initial step): ``[{}]`` when there are none."""
        if not self.opaque:
            return [{}]
        names = _unique([*self.opaque.get(event, []), *self.opaque.get("", [])])
        names = names[:MAX_OPAQUE_GUARDS]
        return [dict(zip(names, bits, strict=True))
                for bits in itertools.product((False, True), repeat=len(names))]

    def opaque_names(self) -> list[str]:
        return _unique(n for names in self.opaque.values() for n in names)

    def stats(self) -> dict[str, int]:
        """Classes per source, for ``stats.domains`` in reports."""
        return {d.name: d.classes for d in self.fields}


@dataclass
class _Facts:
    """What the flow's expressions do with the values of one source."""

    literals: list[Any] = field(default_factory=list)
    emptiness: bool = False
    distinct: int = 1  # fresh values needed: compared with each other, or counted
    compared: bool = False
    stem: str | None = None
    """Shared by sources compared with each other, so that their fresh values can meet."""

    def add_literal(self, value: Any) -> None:
        if value not in self.literals:
            self.literals.append(value)


# -- data flow ------------------------------------------------------------------------------


def _action_sites(chart: Chart) -> Iterator[tuple[str | None, Action]]:
    """Every action with the event it runs on (None: entry/exit, any event)."""
    for a in chart.entry:
        yield None, a
    for s in chart.nodes():
        for a in (*s.entry, *s.exit):
            yield None, a
        for t in s.transitions:
            for a in t.actions:
                yield t.event, a


def _expr_sites(chart: Chart) -> Iterator[tuple[str | None, Expr]]:
    """Every expression the flow evaluates, with the event in effect (None: any event)."""
    for s in chart.nodes():
        for t in s.transitions:
            if t.guard is not None and t.guard.expr is not None:
                yield t.event, t.guard.expr
    for event, a in _action_sites(chart):
        if isinstance(a, Assign):
            for _, e in a.updates:
                yield event, e
    for _, e in chart.output:
        yield None, e


class _Flow:
    """Which sources each context field may hold, to a fixed point over the assigns."""

    def __init__(self, chart: Chart, event_sources: dict[str, set[Source]]) -> None:
        self.chart = chart
        self.by_event = event_sources  # event name -> its sources
        self.context: dict[str, set[Source]] = {f.name: set() for f in chart.context}
        for f in chart.input or ():
            self.context.setdefault(f.name, set()).add(("input", f.name))
        changed = True
        while changed:
            changed = False
            for event, a in _action_sites(chart):
                if not isinstance(a, Assign):
                    continue
                for name, e in a.updates:
                    found = self.sources(e, event)
                    known = self.context.setdefault(name, set())
                    if not found <= known:
                        known |= found
                        changed = True

    def ref_sources(self, path: str, event: str | None) -> set[Source]:
        head, _, rest = path.partition(".")
        if head == "context":
            return set(self.context.get(rest.split(".", 1)[0], set()))
        out: set[Source] = set()
        events = [event] if event is not None else list(self.by_event)
        for ev in events:
            for src in self.by_event.get(ev or "", set()):
                if _source_path(src) == rest or rest.startswith(_source_path(src) + "."):
                    out.add(src)
        return out

    def sources(self, e: Expr, event: str | None) -> set[Source]:
        out: set[Source] = set()
        for path in e.refs():
            out |= self.ref_sources(path, event)
        return out


def _source_path(src: Source) -> str:
    """The event path a source is read at (``output.status``, ``error.code``, ``planId``)."""
    if src[0] == "event":
        return src[2]
    if src[0] == "output":
        return f"output.{src[2]}"
    if src[0] == "code":
        return "error.code"
    return ""


def _literals(e: Expr) -> list[Any]:
    if e.op != "lit":
        return []
    if isinstance(e.value, tuple | list):
        return list(e.value)
    return [e.value]


def _observe(flow: _Flow, chart: Chart) -> dict[Source, _Facts]:
    """Walk every expression and note, per source, what tells its values apart."""
    facts: dict[Source, _Facts] = {}
    parent: dict[Source, Source] = {}

    def find(s: Source) -> Source:
        while parent.get(s, s) != s:
            s = parent[s]
        return s

    def union(a: set[Source], b: set[Source]) -> None:
        items = [find(s) for s in a | b]
        for s in items[1:]:
            if s != items[0]:
                parent[s] = items[0]

    def get(s: Source) -> _Facts:
        return facts.setdefault(s, _Facts())

    def walk(e: Expr, event: str | None) -> None:
        for a in e.args:
            walk(a, event)
        op = e.op
        if op in ("eq", "ne", "lt", "le", "gt", "ge", "in", "append", "remove"):
            left, right = e.args
            ls, rs = flow.sources(left, event), flow.sources(right, event)
            for srcs, other in ((ls, right), (rs, left)):
                for s in srcs:
                    get(s).compared = True
                    for v in _literals(other):
                        ordered = op in ("lt", "le", "gt", "ge")
                        for n in (_around(v) if ordered else (v,)):
                            get(s).add_literal(n)
            if ls and rs:
                union(ls, rs)
                for s in ls | rs:
                    get(s).distinct = max(get(s).distinct, 2)
        elif op in ("nonempty", "count"):
            for s in flow.sources(e.args[0], event):
                get(s).emptiness = True
        if op in ("ge", "gt", "le", "lt", "eq", "ne") and e.args[0].op == "count":
            counted = flow.sources(e.args[0].args[0], event)
            for v in _literals(e.args[1]):
                if isinstance(v, int) and not isinstance(v, bool):
                    for s in counted:
                        get(s).distinct = max(get(s).distinct, v + 1)

    for event, e in _expr_sites(chart):
        walk(e, event)
    # Sources compared with each other share their literals: a value of one can meet a
    # value of the other.
    groups: dict[Source, list[Source]] = {}
    for s in list(facts):
        groups.setdefault(find(s), []).append(s)
    for members in groups.values():
        shared = _Facts()
        for s in members:
            for v in facts[s].literals:
                shared.add_literal(v)
        for s in members:
            for v in shared.literals:
                facts[s].add_literal(v)
        if len(members) > 1:
            stem = min(m[-1].split(".")[-1] for m in members)
            for s in members:
                facts[s].stem = stem
                facts[s].distinct = max(facts[m].distinct for m in members)
    return facts


def _around(value: Any) -> tuple[Any, ...]:
    """The values an ordering comparison with ``value`` tells apart: below, at and above it.
    Integers: n-1, n, n+1; a fraction: the integers around it and itself; a string: the
    empty string (below any other), itself and itself extended (just above)."""
    if isinstance(value, bool):
        return (value,)
    if isinstance(value, int):
        return (value - 1, value, value + 1)
    if isinstance(value, float):
        low, high = math.floor(value), math.ceil(value)
        return (low - 1, low, value, high, high + 1)
    if isinstance(value, str):
        return ("", value, value + "a")
    return (value,)


# -- values of one source ---------------------------------------------------------------------


def _fresh(taken: Iterable[Any], stem: str, count: int) -> list[str]:
    """``count`` non-empty strings equal to none of ``taken``, readable in a counterexample."""
    used = {v for v in taken if isinstance(v, str)}
    out: list[str] = []
    n = 1
    while len(out) < count:
        candidate = f"{stem}_{n}" if stem else f"other_{n}"
        if candidate not in used:
            out.append(candidate)
            used.add(candidate)
        n += 1
    return out


def _unique(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _scalar_values(
    ftype: str, facts: _Facts | None, seeds: list[Any], enum: tuple[Any, ...], nullable: bool,
    stem: str,
) -> tuple[list[Any], int]:
    """The values of a scalar source, and how many classes they are."""
    facts = facts or _Facts()
    if enum:
        values = _unique([*seeds, *enum])
        values = [v for v in values if v in enum]
        classes = len(values)
    elif ftype == "boolean":
        values = _unique([*seeds, False, True])
        values = [v for v in values if isinstance(v, bool)]
        classes = 2
    elif ftype == "integer":
        ints = [v for v in facts.literals if isinstance(v, int) and not isinstance(v, bool)]
        values = _unique([*seeds, *ints])
        values = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        if not values:
            values = [0]
        classes = len(values)
    else:
        literals = [v for v in facts.literals if isinstance(v, str)]
        values = _unique([*seeds, *literals])
        values = [v for v in values if isinstance(v, str)]
        if facts.emptiness and "" not in values:
            values.append("")
        classes = len([v for v in _unique([*literals, *([""] if facts.emptiness else [])])])
        # Values that are neither a literal nor empty are one class; enough of them to be
        # told apart where the flow compares or counts values of this source.
        others = [v for v in values if v not in literals and v != ""]
        want = max(1, facts.distinct) if facts.compared or facts.emptiness else 1
        if len(others) < want:
            values += _fresh([*values, *literals], stem, want - len(others))
        classes += 1
    if nullable:
        if None not in values:
            values.append(None)
        classes += 1
    return values, classes


def _list_values(
    facts: _Facts | None, element: list[Any], seeds: list[Any],
) -> list[Any]:
    """Values of a ``list[str]`` source: empty, one of each element class, and as many
    distinct elements as a count compares with."""
    facts = facts or _Facts()
    values: list[Any] = list(seeds)
    for v in [(), *[(e,) for e in element]]:
        if v not in values:
            values.append(v)
    longest = tuple(_unique(element + _fresh(element, "item", facts.distinct)))
    for n in range(2, max(2, facts.distinct) + 1):
        v = longest[:n]
        if len(v) == n and v not in values:
            values.append(v)
    return values


def _field_values(src: Source, f: DataField, facts: dict[Source, _Facts], stem: str,
                  first_seeds: Iterable[Any] = (), assumed: list[str] | None = None,
                  name: str = "") -> tuple[list[Any], int]:
    assumed = assumed if assumed is not None else []
    seeds = _unique([*first_seeds, *f.examples])
    if not seeds and f.default is not None:
        seeds = [f.default]
    fx = facts.get(src)
    if fx is not None and fx.stem:
        stem = fx.stem
    if fx is not None and f.type == "integer":
        # The bounds of the type are boundaries too; values outside them never arrive.
        for bound in (f.minimum, f.maximum):
            if bound is not None:
                fx.add_literal(bound)
    if f.type == "string[]":
        element_src = fx or _Facts()
        literals = [v for v in element_src.literals if isinstance(v, str)]
        element = _unique([*literals, *_fresh(literals, stem, 1)])
        values = _list_values(fx, element, seeds)
        return values, len(values)
    if f.type in ("object", "object[]"):
        if fx is not None:
            assumed.append(f"{name} takes only its example values (an object: the classes "
                           "of its fields are not derived)")
        return seeds or [f.default], 1
    values, classes = _scalar_values(f.type, fx, seeds, f.enum, f.nullable, stem)
    if f.type == "string" and f.max_length is not None:
        stem = stem[: max(1, f.max_length - 2)]
    kept = [v for v in values if f.admits(v)]
    if len(kept) < len(values) and f.type == "string":
        # A fresh value too long for the type: a shorter one stands for its class.
        short = [v for v in _fresh(kept, stem[:1] or "x", 1) if f.admits(v)]
        if short and not any(v not in (fx.literals if fx else []) and v != "" for v in kept):
            kept += short
    return kept or values[:1], max(1, classes - (len(values) - len(kept)))


def _product(names: list[str], domains: list[list[Any]], base: dict[str, Any],
             seeds: list[dict[str, Any]], what: str, out: Domains) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = [dict(s) for s in seeds]
    total = 1
    for d in domains:
        total *= max(1, len(d))
    if total > MAX_VALUES_PER_EVENT:
        out.truncated.append(f"{what} ({total} combinations)")
    for values in itertools.islice(itertools.product(*domains), MAX_VALUES_PER_EVENT):
        item = {**base, **dict(zip(names, values, strict=True))}
        if item not in result:
            result.append(item)
    return result


# -- the whole environment -----------------------------------------------------------------------


def derive(
    chart: Chart,
    child_outputs: dict[str, tuple[dict[str, Any], ...]] | None = None,
    parent_inputs: Iterable[dict[str, Any]] = (),
) -> Domains:
    """The environment's domains for ``chart``. ``child_outputs`` (invoke id -> outputs)
    replaces the derived outputs of child flows the project knows; ``parent_inputs`` are
    inputs the project's parents pass, explored besides the input classes."""
    child_outputs = child_outputs or {}
    out = Domains()
    invokes = {inv.id: inv for _, inv in chart.invokes()}
    by_event: dict[str, set[Source]] = {}
    for spec in chart.events:
        by_event[spec.name] = {("event", spec.name, f.name) for f in spec.payload}
    output_keys: dict[str, set[str]] = {i: set() for i in invokes}
    for event, e in _expr_sites(chart):
        for path in e.refs():
            if not path.startswith("event.output."):
                continue
            key = path.split(".")[2]
            for inv_id in invokes:
                if event is None or event == done_actor(inv_id):
                    output_keys[inv_id].add(key)
    for inv_id, inv in invokes.items():
        for out_example in inv.outputs:
            output_keys[inv_id] |= set(out_example)
        by_event[done_actor(inv_id)] = {("output", inv_id, k) for k in output_keys[inv_id]}
        by_event[error_actor(inv_id)] = {("code", inv_id)}
    flow = _Flow(chart, by_event)
    facts = _observe(flow, chart)

    for spec in chart.events:
        names = [f.name for f in spec.payload]
        domains: list[list[Any]] = []
        for f in spec.payload:
            values, classes = _field_values(("event", spec.name, f.name), f, facts, f.name,
                                            assumed=out.assumed, name=f"{spec.name}.{f.name}")
            domains.append(values)
            out.fields.append(Domain(f"{spec.name}.{f.name}", tuple(values), classes))
        out.payloads[spec.name] = _product(names, domains, {}, [], spec.name, out)

    for inv_id, inv in invokes.items():
        known = child_outputs.get(inv_id)
        if known is not None:
            out.outputs[inv_id] = [dict(o) for o in known] or [{}]
            out.fields.append(Domain(f"{inv_id}.output", tuple(known), len(known),
                                     f"outputs the {inv.src} flow can end with"))
        else:
            out.outputs[inv_id] = _outputs(inv_id, inv.outputs, sorted(output_keys[inv_id]),
                                           facts, out)
        out.codes[inv_id] = _codes(inv_id, inv.error_codes, facts, out)

    _opaque_guards(chart, out)

    if chart.input is not None:
        defaults = {f.name: f.default for f in chart.context}
        names = [f.name for f in chart.input]
        domains = []
        for f in chart.input:
            seed = defaults.get(f.name)
            values, classes = _field_values(("input", f.name), f, facts, f.name,
                                            [] if seed is None else [seed],
                                            assumed=out.assumed, name=f"input.{f.name}")
            domains.append(values)
            out.fields.append(Domain(f"input.{f.name}", tuple(values), classes))
        out.inputs = _product(names, domains, {}, [], "input", out)
    for given in parent_inputs:
        if given not in out.inputs:
            out.inputs.append(dict(given))
    return out


MAX_OPAQUE_GUARDS = 6
"""Opaque guards one letter may see; 2**6 valuations each. More make exploration bounded."""


def _opaque_guards(chart: Chart, out: Domains) -> None:
    """Note the opaque guards each event's letters may see (``Domains.valuations``)."""
    user = {e.name for e in chart.events}
    anywhere: list[str] = []
    per_event: dict[str, list[str]] = {}
    for s in chart.nodes():
        for t in s.transitions:
            if t.guard is None or t.guard.expr is not None:
                continue
            event = t.event or ""
            # Eventless transitions and internal events (done states, raised events) are
            # selected inside whatever step reaches them: any letter may meet their guards.
            internal = not event or event.startswith("xstate.done.state.") or (
                event not in user and not event.startswith("xstate."))
            names = anywhere if internal else per_event.setdefault(event, [])
            if t.guard.key not in names:
                names.append(t.guard.key)
    out.opaque = {"": anywhere, **per_event} if anywhere or per_event else {}
    for event in ["", *per_event]:
        names = _unique([*per_event.get(event, []), *anywhere])
        if len(names) > MAX_OPAQUE_GUARDS:
            out.truncated.append(
                f"{event or 'every'} step's guards without a body ({len(names)})")


def _outputs(inv_id: str, examples: tuple[dict[str, Any], ...], keys: list[str],
             facts: dict[Source, _Facts], out: Domains) -> list[dict[str, Any]]:
    """Outputs of an invoke: the examples, and every combination of the classes of the keys
    the flow reads, each on top of the first example."""
    seeds = [dict(e) for e in examples] or [{}]
    base = seeds[0]
    read = [k for k in keys if ("output", inv_id, k) in facts]
    domains: list[list[Any]] = []
    for k in read:
        seen = _unique(e.get(k) for e in seeds if k in e)
        ftype: FieldType = "string"
        if seen and all(isinstance(v, int) and not isinstance(v, bool) for v in seen):
            ftype = "integer"
        elif seen and all(isinstance(v, bool) for v in seen):
            ftype = "boolean"
        elif any(isinstance(v, dict | list | tuple) for v in seen):
            ftype = "object"
        f = DataField(name=k, type=ftype, examples=tuple(seen))
        values, classes = _field_values(("output", inv_id, k), f, facts, k,
                                        assumed=out.assumed, name=f"{inv_id}.output.{k}")
        domains.append(values)
        out.fields.append(Domain(f"{inv_id}.output.{k}", tuple(values), classes))
    return _product(read, domains, base, seeds, f"{inv_id} outputs", out)


def _codes(inv_id: str, declared: tuple[str, ...], facts: dict[Source, _Facts],
           out: Domains) -> list[str]:
    """The Connect codes explored for an invoke error: the ones the flow compares with, the
    declared ones (seeds), and one code standing for every other."""
    fx = facts.get(("code", inv_id)) or _Facts()
    compared = [v for v in fx.literals if v in CONNECT_CODES]
    out.compared_codes[inv_id] = compared
    codes = _unique([*declared, *compared])
    if not all(c in codes for c in CONNECT_CODES):
        spare = [c for c in codes if c not in compared]
        if not spare:
            other = next(c for c in _OTHER_CODE_PREFERENCE if c not in codes)
            codes.append(other)
    classes = len(compared) + (1 if len(compared) < len(CONNECT_CODES) else 0)
    out.fields.append(Domain(f"{inv_id}.error.code", tuple(codes), classes,
                             f"{len(CONNECT_CODES)} Connect codes"))
    return codes


def stands_for(code: str, codes: list[str], compared: Iterable[str]) -> list[str]:
    """The Connect codes an explored ``code`` represents: itself, and when it is the
    representative of the codes the flow does not compare with, all of those."""
    told = set(compared)
    if code in told:
        return [code]
    return [c for c in CONNECT_CODES if c not in told and (c == code or c not in codes)]
