"""Blocking network connections and file writes while a flow's own code runs.

A flow must be pure: it talks to the world only through invokes, which flowcheck
feeds as events. While the hypothesis campaign runs a machine, connecting a socket
or opening a file for writing raises :class:`BlockedIO` and is recorded, so that the
``pure`` property can report it with the events that caused it.
"""

from __future__ import annotations

import builtins
import io
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class BlockedIO(OSError):
    """Raised in place of a network connection or a file write during the campaign."""


@dataclass(frozen=True)
class IOAttempt:
    kind: str  # "network" or "file"
    detail: str


def _writes(mode: str) -> bool:
    return any(c in mode for c in "wax+")


@contextmanager
def blocked_io(attempts: list[IOAttempt]) -> Iterator[None]:
    """Within the block, record and refuse socket connections and file writes."""
    real_open = builtins.open
    real_io_open = io.open
    real_os_open = os.open
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create = socket.create_connection

    def refuse(kind: str, detail: str) -> BlockedIO:
        attempts.append(IOAttempt(kind, detail))
        return BlockedIO(f"flowcheck blocked a {kind} access during verification: {detail}")

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if _writes(mode):
            raise refuse("file", f"open({file!r}, {mode!r})")
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & _WRITE_FLAGS:
            raise refuse("file", f"os.open({path!r}) for writing")
        return real_os_open(path, flags, *args, **kwargs)

    def guarded_connect(self: socket.socket, address: Any) -> None:
        raise refuse("network", f"socket.connect({address!r})")

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        raise refuse("network", f"socket.connect_ex({address!r})")

    def guarded_create(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        raise refuse("network", f"socket.create_connection({address!r})")

    builtins.open = guarded_open
    io.open = guarded_open
    os.open = guarded_os_open
    socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign,assignment]
    socket.create_connection = guarded_create
    try:
        yield
    finally:
        builtins.open = real_open
        io.open = real_io_open
        os.open = real_os_open
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.create_connection = real_create
