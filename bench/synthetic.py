"""A family of synthetic flows shaped like the Mirai wizards, for benchmarks.

``synthetic_flow(steps, values, retries, parallel, history)`` builds a real
:class:`flowcheck.declare.Flow` subclass: ``steps`` form steps, each with a field
the user edits (``values`` example values, one of them empty), a guarded submit,
an RPC invoke saving the step, a failure state with RETRY and a retry counter
capped at ``retries``, BACK to the previous step, cancel from anywhere. With
``parallel`` a help panel region runs beside the wizard; with ``history`` the
wizard can be paused and resumed through a deep history state.

The configuration space grows like ``values ** steps``: steps 4..11 span about
10^3 to 10^6 configurations. The class is exportable and explorable like any flow.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, create_model
from statemachine import Event, HistoryState, State

from flowcheck.declare import (
    Flow,
    abandoned,
    add,
    assign,
    ctx,
    ev,
    failure,
    guard,
    invoking,
    lt,
    nonempty,
    on_done,
    on_error,
    rpc,
    step,
    success,
)


def synthetic_flow(
    steps: int = 6,
    values: int = 3,
    retries: int = 2,
    parallel: bool = False,
    history: bool = False,
    name: str | None = None,
    module: str = __name__,
) -> type[Flow]:
    """A Flow subclass with ``steps`` wizard steps (see the module docstring), named
    ``name`` (default ``Synthetic<steps>``) and declared in ``module`` (a flow module of a
    project calls it with its own ``__name__``)."""
    fields: dict[str, Any] = {f"field{i}": (str, "") for i in range(steps)}
    fields["retries"] = (int, 0)
    fields["error"] = (str | None, None)
    context = create_model("SyntheticContext", **fields)
    examples = [""] + [f"v{j}" for j in range(1, values)]
    payload = create_model(
        "FieldChanged", value=(str, Field(examples=examples))
    )

    wizard: dict[str, Any] = {}
    fails: dict[str, Any] = {}
    for i in range(steps):
        wizard[f"step{i}"] = step(f"Step {i}", initial=(i == 0))
        wizard[f"saving{i}"] = invoking(
            rpc(f"save{i}", "mirai.v1.CourseService/CreateCourse",
                input={"title": ctx(f"field{i}")}, outputs=[{"courseId": "c1"}],
                errors=["unavailable"]),
        )
        fails[f"networkError{i}"] = failure(f"Saving step {i} failed.", initial=(i == 0))
    if history:
        wizard["resume"] = HistoryState(type="deep")
    ns: dict[str, Any] = {}
    done = success("All steps saved.")
    cancelled = abandoned("Cancelled.")

    wizard_state = type("wizard", (State.Compound,), dict(wizard))
    failure_state = type("failure", (State.Compound,), dict(fails))
    paused = step("Paused") if history else None
    if parallel:
        help_closed = step("Help closed", initial=True)
        help_open = step("Help open")
        help_ns = {"helpClosed": help_closed, "helpOpen": help_open}
        help_state = type("helpPanel", (State.Compound,), help_ns)
        main_ns: dict[str, Any] = {"wizard": wizard_state, "failure": failure_state}
        if paused is not None:
            main_ns["paused"] = paused
        main_state = type("main", (State.Compound,), main_ns)
        ns["session"] = type(
            "session", (State.Parallel,), {"main": main_state, "helpPanel": help_state}
        )
        ns["session"]._initial = True
        help_state.helpClosed._initial = True
        main_state.wizard._initial = True
    else:
        ns["wizard"] = wizard_state
        ns["failure"] = failure_state
        if paused is not None:
            ns["paused"] = paused
        wizard_state._initial = True
    ns["done"] = done
    ns["cancelled"] = cancelled

    w = wizard_state
    f = failure_state
    bump = assign("countRetry", retries=add(ctx("retries"), 1), error=ev("error.code"))
    keep = assign("recordError", error=ev("error.code"))
    can_retry = guard("retriesLeft", lt(ctx("retries"), retries))
    clear = assign("clearError", error=None)
    payloads: dict[str, type[BaseModel]] = {}
    for i in range(steps):
        form = getattr(w, f"step{i}")
        saving = getattr(w, f"saving{i}")
        fail = getattr(f, f"networkError{i}")
        nxt = getattr(w, f"step{i + 1}") if i + 1 < steps else done
        payloads[f"FIELD_{i}_CHANGED"] = payload
        ns[f"FIELD_{i}_CHANGED"] = form.to(
            None, on=assign(f"setField{i}", **{f"field{i}": ev("value")})
        )
        ns[f"STEP_{i}_SUBMITTED"] = form.to(
            saving, cond=guard(f"field{i}Filled", nonempty(ctx(f"field{i}")))
        )
        ns[f"saved{i}"] = Event(saving.to(nxt, on=clear), id=on_done(f"save{i}"))
        ns[f"failed{i}"] = Event(
            saving.to(fail, cond=can_retry, on=bump) | saving.to(fail, on=keep),
            id=on_error(f"save{i}"),
        )
        ns[f"retry{i}"] = Event(fail.to(saving), id="RETRY")
        if i > 0:
            ns[f"back{i}"] = Event(form.to(getattr(w, f"step{i - 1}")), id="BACK")
    ns["WIZARD_CANCELLED"] = w.to(cancelled) | f.to(cancelled)
    if paused is not None:
        ns["WIZARD_PAUSED"] = w.to(paused)
        ns["WIZARD_RESUMED"] = paused.to(w.resume)
    if parallel:
        ns["HELP_OPENED"] = help_state.helpClosed.to(help_state.helpOpen)
        ns["HELP_CLOSED"] = help_state.helpOpen.to(help_state.helpClosed)
    ns["flow_id"] = name[:1].lower() + name[1:] if name else "synthetic"
    ns["Context"] = context
    ns["payloads"] = payloads
    ns["__module__"] = module
    ns["__doc__"] = f"Synthetic wizard: {steps} steps x {values} values."
    return type(Flow)(name or f"Synthetic{steps}", (Flow,), ns)  # type: ignore[no-any-return]
