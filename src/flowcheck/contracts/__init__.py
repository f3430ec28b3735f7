"""The proto contracts the flows call: services, methods and messages with file and line."""

from __future__ import annotations

from flowcheck.contracts.proto import (
    Contracts,
    Message,
    Method,
    ProtoEnum,
    ProtoField,
    load_contracts,
)

__all__ = [
    "Contracts",
    "Message",
    "Method",
    "ProtoEnum",
    "ProtoField",
    "load_contracts",
]
