"""``Flow``: the python-statemachine base class every Mirai flow derives from."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel
from statemachine import State, StateChart

from flowcheck.chart.expr import Expr
from flowcheck.chart.model import ABANDONED, FAILURE, SUCCESS, Track
from flowcheck.declare.dsl import OPAQUE_OUTCOMES, STATE_META, emit


class TelemetryPolicy(BaseModel):
    """Chart-wide telemetry: which analytics events fire on state entry and exit and at the
    edges of the flow. The reader writes them into the chart as ordinary ``track`` actions."""

    entered: str | None = "STATE_ENTERED"
    exited: str | None = "STATE_EXITED"
    started: str | None = "FLOW_STARTED"
    completed: str | None = "FLOW_COMPLETED"
    failed: str | None = "FLOW_FAILED"
    abandoned: str | None = "FLOW_ABANDONED"

    def on_start(self, flow_id: str) -> list[Track]:
        if not self.started:
            return []
        return [Track(event=self.started, properties=(("flow", flow_id),))]

    def on_entry(
        self, flow_id: str, state_id: str, tags: list[str], final: bool = False
    ) -> list[Track]:
        """Telemetry on entering a state. The flow ends once: FLOW_COMPLETED and
        FLOW_ABANDONED fire on final states only (a non-final state tagged abandoned, such
        as a cancelling step, is on its way out); FLOW_FAILED on every failure state."""
        out: list[Track] = []
        props = (("flow", flow_id), ("state", state_id))
        if self.entered:
            out.append(Track(event=self.entered, properties=props))
        edge = {SUCCESS: self.completed, FAILURE: self.failed, ABANDONED: self.abandoned}
        for tag_name, event in edge.items():
            if tag_name in tags and event and (final or tag_name == FAILURE):
                out.append(Track(event=event, properties=props))
        return out

    def on_exit(self, flow_id: str, state_id: str) -> list[Track]:
        if not self.exited:
            return []
        return [Track(event=self.exited, properties=(("flow", flow_id), ("state", state_id)))]


class EmptyContext(BaseModel):
    """The context of a flow that carries no data."""


class NoInput(BaseModel):
    """The input of a flow that is started without one."""


def _without_initial(states: list[State]) -> list[State]:
    """Compound states among ``states`` and their descendants with no child marked initial."""
    out: list[State] = []
    for s in states:
        children = list(s.states)
        if children and not s.parallel and not any(c._initial for c in children):
            out.append(s)
        out.extend(_without_initial(children))
    return out


def state_tags(state: State) -> list[str]:
    meta = getattr(state, STATE_META, None)
    return list(meta["tags"]) if meta else []


class Flow(StateChart):  # type: ignore[type-arg]
    """Base class of a flowcheck flow.

    Subclasses declare states and transitions the python-statemachine way, plus:

    - ``flow_id``: the XState machine id (``courseBuilder``);
    - ``Context``: a pydantic model of the flow's data (the XState context);
    - ``Input``: a pydantic model of what the flow is started with (the XState ``input``):
      each field names a context field it sets. Exploration starts from every input class
      (and from every input the project's parents pass). ``NoInput`` for a flow that is
      started without one; left out, the flow is explored from its defaults only, and
      reports say so;
    - ``payloads``: event name -> pydantic payload model, its fields annotated with
      ``Field(examples=[...])``: the values exploration tries;
    - ``telemetry``: the chart-wide :class:`TelemetryPolicy`;
    - ``output``: the machine's output when it reaches a top-level final state, as
      ``{"jobId": ctx("jobId")}`` (context fields only): what a parent that runs this flow
      as a child receives in its ``xstate.done.actor.<id>`` event.

    flowcheck does its own structural checks (with counterexamples), so the library's
    class-creation checks are off, and exceptions propagate instead of becoming
    ``error.execution`` events, so that a failing guard is never silently swallowed.
    """

    validate_disconnected_states = False
    validate_trap_states = False
    validate_final_reachability = False
    catch_errors_as_events = False

    flow_id: ClassVar[str] = ""
    Context: ClassVar[type[BaseModel]] = EmptyContext
    payloads: ClassVar[dict[str, type[BaseModel]]] = {}
    Input: ClassVar[type[BaseModel] | None] = None
    telemetry_policy: ClassVar[TelemetryPolicy] = TelemetryPolicy()
    output: ClassVar[dict[str, Expr]] = {}
    _flowcheck_root_without_initial: ClassVar[bool] = False
    _flowcheck_without_initial: ClassVar[tuple[State, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # python-statemachine makes the first child initial when none is marked, XState enters
        # no child at all: note what the author left unmarked before the library fills it in.
        tops = [v for v in vars(cls).values() if isinstance(v, State)]
        cls._flowcheck_root_without_initial = bool(tops) and not any(
            s._initial or s.parallel for s in tops
        )
        cls._flowcheck_without_initial = tuple(_without_initial(tops))
        super().__init_subclass__(**kwargs)

    def __init__(self, context: BaseModel | None = None, **kwargs: Any) -> None:
        self.context: BaseModel = context if context is not None else type(self).Context()
        self.telemetry: list[tuple[str, dict[str, Any]]] = []
        self.flowcheck_log: list[Any] = []
        self.sent_to_parent: list[str] = []
        self.flowcheck_outcomes: dict[str, Any] = {}
        self.flowcheck_evaluations = 0
        self._flowcheck_started = False
        super().__init__(**kwargs)

    def prepare_event(self, event: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Keep the outcomes of opaque guards (``guard(name, opaque=True)``) the event being
        processed carries in ``"$guards"``: they hold for its whole step, eventless
        transitions and raised events included, as in the Stepper (python-statemachine calls
        an eventless transition's guard without the event)."""
        if event is not None:
            self.flowcheck_outcomes = dict(kwargs.get(OPAQUE_OUTCOMES) or {})
            self.flowcheck_evaluations = 0
            self.flowcheck_fired: dict[str, Any] = {}
        return {}

    def on_enter_state(self, state: State | None = None, **_: Any) -> None:
        if state is None:
            return
        policy = type(self).telemetry_policy
        if not self._flowcheck_started:
            self._flowcheck_started = True
            for decl in policy.on_start(type(self).flow_id):
                emit(self, decl)
        for decl in policy.on_entry(
            type(self).flow_id, state.id, state_tags(state), final=bool(state.final)
        ):
            emit(self, decl)

    def on_exit_state(self, state: State | None = None, **_: Any) -> None:
        if state is None:
            return
        for decl in type(self).telemetry_policy.on_exit(type(self).flow_id, state.id):
            emit(self, decl)
