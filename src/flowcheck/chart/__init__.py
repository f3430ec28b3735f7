"""The chart model: plain, frozen data, no behaviour."""

from flowcheck.chart.expr import Expr
from flowcheck.chart.model import (
    Action,
    Assign,
    Chart,
    Custom,
    DataField,
    EventSpec,
    Guard,
    Invoke,
    Raise,
    SendParent,
    State,
    Track,
    Transition,
)

__all__ = [
    "Action",
    "Assign",
    "Chart",
    "Custom",
    "DataField",
    "EventSpec",
    "Expr",
    "Guard",
    "Invoke",
    "Raise",
    "SendParent",
    "State",
    "Track",
    "Transition",
]
