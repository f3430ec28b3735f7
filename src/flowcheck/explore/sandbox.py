"""Refusing I/O while a flow's own Python code runs, through CPython's audit hooks.

A flow must be pure: it talks to the world only through invokes, which flowcheck feeds
as events. While the hypothesis campaign or the coverage run executes a machine, every
attempt to reach outside the process (open a file for writing, delete or rename one,
connect or bind a socket, resolve a host name, start a process, open a database, load a
native library, open a browser) is recorded as an :class:`IOAttempt` and refused with
:class:`BlockedIO`, so that the ``pure`` property can report it with the events that
caused it.

The hook (:func:`sys.addaudithook`) sees what the runtime does, whichever module or
alias the code calls it through; monkeypatching ``open`` or ``socket`` only saw the names
it replaced. Hooks cannot be removed, so one is installed per process, on first use,
and acts only while :func:`blocked_io` is armed in the current context (a context
variable): other threads, and the rest of the process, are not affected.

What audit hooks cannot see: writes through a file or socket that was already open
before the block (``sys.stdout``, a logger's file), code that starts a thread and does
its I/O there (the thread does not inherit the armed context; CPython 3.13 audits
``_thread.start_new_thread``, which is then refused too), and native code that calls
the operating system directly.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import FrameType
from typing import Any


class BlockedIO(OSError):
    """Raised in place of an I/O operation while :func:`blocked_io` is armed."""


@dataclass(frozen=True)
class IOAttempt:
    """One refused operation: ``kind`` is ``network``, ``file``, ``process``, ``database``
    or ``native``; ``detail`` the call as the flow's code made it, e.g.
    ``subprocess.Popen(['ls'])``."""

    kind: str
    detail: str


@contextmanager
def blocked_io(attempts: list[IOAttempt]) -> Iterator[None]:
    """Within the block, record every I/O attempt in ``attempts`` and refuse it.

    Reading files stays allowed (imports, pydantic, hypothesis read their own files), and
    so does the import system writing its bytecode cache (files in ``__pycache__``)."""
    _install()
    token = _armed.set(attempts)
    try:
        yield
    finally:
        _armed.reset(token)


# -- the hook ---------------------------------------------------------------------------------

_armed: ContextVar[list[IOAttempt] | None] = ContextVar("flowcheck_blocked_io", default=None)
_installed = False
_install_lock = threading.Lock()

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_FLAG_NAMES = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL", "O_APPEND", "O_TRUNC")

# audit event -> (kind, the positions of the arguments worth showing). Names and arguments
# are those of CPython's audit events table (library/audit_events.html).
_EVENTS: dict[str, tuple[str, tuple[int, ...]]] = {
    # network
    "socket.connect": ("network", (1,)),  # connect and connect_ex: (self, address)
    "socket.bind": ("network", (1,)),
    "socket.sendto": ("network", (1,)),
    "socket.sendmsg": ("network", (1,)),
    "socket.getaddrinfo": ("network", (0, 1)),  # (host, port, family, type, protocol)
    "socket.gethostbyname": ("network", (0,)),
    "socket.gethostbyaddr": ("network", (0,)),
    "socket.getnameinfo": ("network", (0,)),
    "socket.sethostname": ("network", (0,)),
    "http.client.connect": ("network", (1, 2)),  # (self, host, port)
    "http.client.send": ("network", ()),
    "urllib.Request": ("network", (0,)),  # (fullurl, data, headers, method)
    "ftplib.connect": ("network", (1, 2)),
    "smtplib.connect": ("network", (1, 2)),
    "poplib.connect": ("network", (1, 2)),
    "imaplib.open": ("network", (1, 2)),
    "nntplib.connect": ("network", (1, 2)),
    "telnetlib.Telnet.open": ("network", (1, 2)),
    # processes
    "subprocess.Popen": ("process", (1,)),  # (executable, args, cwd, env)
    "os.system": ("process", (0,)),
    "os.exec": ("process", (0, 1)),  # (path, args, env)
    "os.posix_spawn": ("process", (0, 1)),  # (path, argv, env)
    "os.spawn": ("process", (1, 2)),  # (mode, path, args, env)
    "os.startfile": ("process", (0,)),
    "os.fork": ("process", ()),
    "os.forkpty": ("process", ()),
    "os.kill": ("process", (0, 1)),
    "os.killpg": ("process", (0, 1)),
    "signal.pthread_kill": ("process", (0, 1)),
    "pty.spawn": ("process", (0,)),
    "webbrowser.open": ("process", (0,)),
    "_thread.start_new_thread": ("process", (0,)),
    # databases and native code
    "sqlite3.connect": ("database", (0,)),
    "ctypes.dlopen": ("native", (0,)),
    # the file system, beyond opening for writing
    "os.remove": ("file", (0,)),  # os.remove and os.unlink
    "os.rename": ("file", (0, 1)),  # os.rename and os.replace
    "os.mkdir": ("file", (0,)),
    "os.rmdir": ("file", (0,)),
    "os.truncate": ("file", (0,)),
    "os.chmod": ("file", (0,)),
    "os.chown": ("file", (0,)),
    "os.link": ("file", (0, 1)),
    "os.symlink": ("file", (0, 1)),
    "os.utime": ("file", (0,)),
    "os.setxattr": ("file", (0, 1)),
    "os.removexattr": ("file", (0, 1)),
    "shutil.rmtree": ("file", (0,)),
    "shutil.copyfile": ("file", (0, 1)),
    "shutil.copymode": ("file", (0, 1)),
    "shutil.copystat": ("file", (0, 1)),
    "shutil.copytree": ("file", (0, 1)),
    "shutil.move": ("file", (0, 1)),
    "shutil.chown": ("file", (0,)),
    "shutil.make_archive": ("file", (0,)),
    "shutil.unpack_archive": ("file", (0, 1)),
    "tempfile.mkstemp": ("file", (0,)),
    "tempfile.mkdtemp": ("file", (0,)),
}
# What the import system does to write a bytecode cache: mkdir, open, replace, remove.
_PATH_EVENTS = {"open", "os.mkdir", "os.rename", "os.remove"}


def _install() -> None:
    global _installed
    if _installed:
        return
    with _install_lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True


def _hook(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audited operation of the process, forever: return fast.
    if event != "open" and event not in _EVENTS:
        return
    attempts = _armed.get()
    if attempts is None:
        return
    refused = _refusal(event, args)
    if refused is None:
        return
    token = _armed.set(None)  # whatever recording does is not the flow's I/O
    try:
        attempts.append(refused)
    finally:
        _armed.reset(token)
    raise BlockedIO(f"flowcheck refused {refused.detail}: a flow reaches the outside world "
                    "through invokes only, never from its own Python code")


def _refusal(event: str, args: tuple[Any, ...]) -> IOAttempt | None:
    """What to record for ``event``, or None when it is allowed."""
    if event in _PATH_EVENTS and _bytecode_cache(event, args):
        return None
    if event == "open":
        path, mode, flags = (*args, None, None, None)[:3]
        if not isinstance(flags, int) or not flags & _WRITE_FLAGS:
            return None  # reading
        if isinstance(path, int):
            return None  # wrapping a descriptor: opening it was audited (or predates the block)
        if isinstance(mode, str):
            return IOAttempt("file", f"open({_show(path)}, {mode!r})")
        return IOAttempt("file", f"os.open({_show(path)}, {_flag_names(flags)})")
    kind, shown = _EVENTS[event]
    described = _described_by_caller(event)
    if described is not None:
        return IOAttempt(kind, described)
    return IOAttempt(kind, f"{event}({', '.join(_show(args[i]) for i in shown if i < len(args))})")


def _bytecode_cache(event: str, args: tuple[Any, ...]) -> bool:
    """The import system writing ``__pycache__`` (a first import while the block is armed)."""
    paths = args[:2] if event == "os.rename" else args[:1]
    if not paths:
        return False
    for path in paths:
        if not isinstance(path, str | bytes | os.PathLike):
            return False
        text = os.fsdecode(path)
        if "__pycache__" not in (os.path.basename(text), os.path.basename(os.path.dirname(text))):
            return False
    return True


def _flag_names(flags: int) -> str:
    names = [n for n in _FLAG_NAMES if getattr(os, n, 0) and flags & getattr(os, n)]
    return "|".join(names) or str(flags)


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    elif isinstance(value, os.PathLike):
        value = os.fspath(value)
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _create_connection_address(frame: FrameType) -> str | None:
    address = frame.f_locals.get("address")
    return f"socket.create_connection({_show(address)})"


# Library functions whose own audit events (a host lookup, then a connect) say less than
# the call the flow's code made: name that call instead.
_CALLERS: dict[Any, Callable[[FrameType], str | None]] = {
    socket.create_connection.__code__: _create_connection_address,
}


def _described_by_caller(event: str) -> str | None:
    if not event.startswith("socket."):
        return None
    frame = sys._getframe(2)
    for _ in range(8):
        if frame is None:
            return None
        describe = _CALLERS.get(frame.f_code)
        if describe is not None:
            return describe(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return None
