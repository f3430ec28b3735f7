"""Limits over a whole command: ``--max-seconds`` and ``--max-memory`` hold from the first
file read to the report written, whatever phase is slow or large.

:func:`watch` runs a command under a deadline and a memory limit, memory measured as the
process's resident set (``/proc/self/statm``; the peak from ``getrusage`` where there is no
``/proc``), never estimated. Limits work in two steps:

- **soft**: at the deadline, or at :data:`SOFT_MEMORY` of the memory limit, the phases
  that can stop early and still report (exploration, the property checks) see
  :func:`tripped` at their next checkpoint, stop, and their results are *bounded*;
- **hard**: at the deadline plus a grace period (:func:`grace`), or at the memory limit,
  a watchdog thread interrupts the main thread with :class:`LimitExceeded`; the command
  then prints one line naming the limit and exits 3. If the main thread does not answer
  within :data:`ANSWER_SECONDS`, the watchdog prints that line itself and ends the process
  with exit code 3. A main thread stuck inside one C call that holds the interpreter lock
  (no Python thread runs then) is ended by a last-resort timer of the interpreter itself
  (``faulthandler``), which prints where it was stuck and exits 1.

Outside :func:`watch` (the pytest plugin, the library API) nothing is limited here:
:func:`tripped` is None, and exploration keeps its own per-machine limits.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

SOFT_MEMORY = 0.8
"""The share of ``--max-memory`` at which exploration and the property checks stop."""
ANSWER_SECONDS = 5.0
"""How long the watchdog waits for the main thread to stop before ending the process."""
SAMPLE_SECONDS = 0.05
"""How often the watchdog measures."""
EXIT_LIMIT = 3
"""The exit code of a command stopped at a limit before it could report."""

Limit = Literal["time", "memory"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """The resident memory of this process now, in MB (10^6 bytes)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE / 1e6
    except (OSError, IndexError, ValueError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def grace(seconds: float) -> float:
    """How long past the deadline the phases that cannot stop early may take to finish
    (reading what exploration found, writing the report): a tenth of the limit, at least
    2 s and at most 60 s."""
    return min(max(2.0, seconds / 10), 60.0)


class LimitExceeded(BaseException):
    """The command reached a hard limit. A BaseException, so that no ``except Exception``
    on the way (a guard's, a library's) can swallow it."""


@dataclass
class Watch:
    """The limits of the running command and what the watchdog saw."""

    seconds: float | None
    memory_mb: float | None
    what: str
    started: float = field(default_factory=time.monotonic)
    hard: Limit | None = None
    peak_mb: float = 0.0

    @property
    def deadline(self) -> float | None:
        return None if self.seconds is None else self.started + self.seconds

    def message(self) -> str:
        elapsed = time.monotonic() - self.started
        if self.hard == "memory":
            what = (f"stopped at the memory limit (max-memory {self.memory_mb:g} MB): the "
                    f"process reached {self.peak_mb:.0f} MB resident")
        else:
            what = (f"stopped at the time limit (max-seconds {self.seconds:g}) after "
                    f"{elapsed:.1f} s")
        return (f"{self.what} {what}, before it could report: nothing is proved; raise the "
                "limit, or verify fewer or smaller machines")


_current: Watch | None = None


def current() -> Watch | None:
    return _current


def tripped() -> Limit | None:
    """The limit reached (soft), for a checkpoint to stop at; None while within limits or
    outside :func:`watch`. Cheap: one clock read and one small file read."""
    w = _current
    if w is None:
        return None
    deadline = w.deadline
    if deadline is not None and time.monotonic() >= deadline:
        return "time"
    if w.memory_mb is not None and rss_mb() >= w.memory_mb * SOFT_MEMORY:
        return "memory"
    return None


def remaining() -> float | None:
    """Seconds left before the soft deadline (None: no deadline)."""
    w = _current
    if w is None or w.deadline is None:
        return None
    return max(0.0, w.deadline - time.monotonic())


@contextlib.contextmanager
def watch(seconds: float | None, memory_mb: float | None,
          what: str = "the command") -> Iterator[Watch]:
    """Run the block under the limits (None: no such limit). Raises LimitExceeded in the
    block at a hard limit (see the module's docstring)."""
    global _current
    w = Watch(seconds, memory_mb, what)
    if _current is not None or (seconds is None and memory_mb is None):
        yield w  # nested, or nothing to watch: the outer watch (if any) holds
        return
    main = threading.current_thread() is threading.main_thread()
    done = threading.Event()
    previous = None
    if main:
        def stop(signum: int, frame: object) -> None:
            if w.hard is not None and not done.is_set():
                raise LimitExceeded(w.message())

        previous = signal.signal(signal.SIGALRM, stop)
    thread = threading.Thread(target=_sample, args=(w, done, main), daemon=True,
                              name="flowcheck-watchdog")
    armed = False
    if seconds is not None:
        # The last resort needs no Python thread, hence no interpreter lock. It writes to
        # the process's standard error (fd 2), whatever sys.stderr is now.
        with contextlib.suppress(OSError, ValueError):
            faulthandler.dump_traceback_later(seconds + grace(seconds) + ANSWER_SECONDS + 1,
                                              exit=True, file=2)
            armed = True
    _current = w
    thread.start()
    try:
        yield w
    finally:
        done.set()
        _current = None
        if armed:
            faulthandler.cancel_dump_traceback_later()
        thread.join()
        if main:
            signal.signal(signal.SIGALRM, previous or signal.SIG_DFL)


def _sample(w: Watch, done: threading.Event, main: bool) -> None:
    hard_deadline = None if w.seconds is None else w.started + w.seconds + grace(w.seconds)
    while not done.wait(SAMPLE_SECONDS):
        rss = rss_mb()
        w.peak_mb = max(w.peak_mb, rss)
        if w.memory_mb is not None and rss >= w.memory_mb:
            w.hard = "memory"
        elif hard_deadline is not None and time.monotonic() >= hard_deadline:
            w.hard = "time"
        else:
            continue
        if main:
            main_id = threading.main_thread().ident
            assert main_id is not None
            signal.pthread_kill(main_id, signal.SIGALRM)
        if done.wait(ANSWER_SECONDS):
            return
        # The main thread did not answer (inside a long C call): end the process here.
        os.write(2, f"error: {w.message()}\n".encode("utf-8", "replace"))
        os._exit(EXIT_LIMIT)
