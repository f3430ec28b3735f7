"""Hand-written trace lines for the trace tests: one NDJSON line of the format the generated
``track`` sink writes (see docs/traces.md), from a short notation."""

from __future__ import annotations

import json
from typing import Any


def trace_line(session: str, flow: str, item: Any, timestamp_ms: int) -> str:
    """One line: ``"start"`` (FLOW_STARTED), ``"+state"`` (entered), ``"-state"`` (exited),
    ``"EVENT:state"`` (a flow event of a state) or ``(event, properties)``."""
    if item == "start":
        event, props = "FLOW_STARTED", {"flow": flow}
    elif isinstance(item, tuple):
        event, props = item
    elif item[0] in "+-":
        event = "STATE_ENTERED" if item[0] == "+" else "STATE_EXITED"
        props = {"flow": flow, "state": item[1:]}
    else:
        event, state = item.split(":")
        props = {"flow": flow, "state": state}
    return json.dumps({"session": session, "flow": flow, "event": event,
                       "properties": props, "timestamp": timestamp_ms})
