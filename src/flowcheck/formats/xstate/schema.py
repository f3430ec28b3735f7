"""The JSON Schema of the XState v5 configs flowcheck emits, generated from pydantic models.

XState publishes no schema for v5 configs; this one describes exactly the
subset flowcheck writes (explicit ids, ``#id`` targets, ``{"type", "params"}``
guards and actions, no ``cond``), and every export is validated against it
before it is written.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from flowcheck.errors import FlowcheckError

SCHEMA_FILE = "xstate-config.schema.json"

Target = Annotated[str, Field(pattern=r"^#[^#\s]+$")]
Name = Annotated[str, Field(min_length=1)]
Expression = dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionObject(_Strict):
    """A named action; ``track`` carries ``{event, properties, include}`` as params."""

    type: Name
    params: dict[str, Any] | SkipJsonSchema[None] = None


class GuardObject(_Strict):
    """A named guard; composite guards are named guards too (and/or/not are not JSON)."""

    type: Name
    params: dict[str, Any] | SkipJsonSchema[None] = None


class TransitionConfig(_Strict):
    """One transition; no ``target`` means targetless. ``cond`` (XState v4) is not allowed."""

    target: Target | list[Target] | SkipJsonSchema[None] = None
    guard: GuardObject | SkipJsonSchema[None] = None
    actions: list[ActionObject] | SkipJsonSchema[None] = None
    reenter: Literal[True] | SkipJsonSchema[None] = None


class InvokeConfig(_Strict):
    """An invoked actor with its explicit id; ``input`` maps fields to flowcheck expressions."""

    id: Name
    src: Name
    input: dict[str, Expression] | SkipJsonSchema[None] = None
    onDone: list[TransitionConfig] | SkipJsonSchema[None] = None
    onError: list[TransitionConfig] | SkipJsonSchema[None] = None


class StateNodeConfig(_Strict):
    id: Name
    type: Literal["final", "parallel", "history"] | SkipJsonSchema[None] = None
    history: Literal["deep"] | SkipJsonSchema[None] = None
    description: str | SkipJsonSchema[None] = None
    tags: list[Name] | SkipJsonSchema[None] = None
    initial: Name | SkipJsonSchema[None] = None
    entry: list[ActionObject] | SkipJsonSchema[None] = None
    exit: list[ActionObject] | SkipJsonSchema[None] = None
    invoke: list[InvokeConfig] | SkipJsonSchema[None] = None
    on: dict[str, list[TransitionConfig]] | SkipJsonSchema[None] = None
    after: dict[str, list[TransitionConfig]] | SkipJsonSchema[None] = None
    always: list[TransitionConfig] | SkipJsonSchema[None] = None
    onDone: list[TransitionConfig] | SkipJsonSchema[None] = None
    output: dict[str, Expression] | SkipJsonSchema[None] = None
    states: dict[str, StateNodeConfig] | SkipJsonSchema[None] = None


class MachineConfig(_Strict):
    """The root of an exported XState v5 machine config."""

    model_config = ConfigDict(
        extra="forbid",
        title="flowcheck XState v5 machine config",
    )

    id: Name
    description: str | SkipJsonSchema[None] = None
    initial: Name
    context: dict[str, Any]
    entry: list[ActionObject] | SkipJsonSchema[None] = None
    output: dict[str, Expression] | SkipJsonSchema[None] = Field(
        default=None,
        description="The machine's output once it is done: keys to flowcheck expressions "
        "over the context.",
    )
    states: dict[str, StateNodeConfig]


class SchemaError(FlowcheckError):
    """An export that does not match flowcheck's own config schema (a flowcheck bug)."""


@cache
def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :class:`MachineConfig`."""
    schema = _drop_null_defaults(MachineConfig.model_json_schema())
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _drop_null_defaults(node: Any) -> Any:
    """Optional keys are omitted from exports, never null: say nothing about a default."""
    if isinstance(node, dict):
        return {
            k: _drop_null_defaults(v)
            for k, v in node.items()
            if not (k == "default" and v is None)
        }
    if isinstance(node, list):
        return [_drop_null_defaults(v) for v in node]
    return node


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = config_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def validate_config(config: Any, where: str) -> None:
    """Raise SchemaError naming ``where`` and the JSON path if ``config`` breaks the schema."""
    errors = sorted(_validator().iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.absolute_path) or "(root)"
        raise SchemaError(
            f"{where}: the exported config breaks {SCHEMA_FILE} at {path}: {first.message}"
        )
