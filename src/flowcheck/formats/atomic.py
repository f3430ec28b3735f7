"""Atomic file writes: a reader never sees a half-written file.

Each file is written to a temporary file in its own directory and moved into
place with :func:`os.replace`, which is atomic on POSIX and Windows. Writing a
set of files is all-or-nothing: if any write fails, the files already replaced
get their previous contents back (or are removed if they did not exist).

SIGINT and SIGTERM are held back while files are replaced: a signal that
arrives mid-write makes the write (or the whole set) roll back to the previous
contents, and is delivered once the files are consistent again, so an
interrupted export never leaves a mix of old and new files or a temporary file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from flowcheck.errors import OutputError

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Interrupted(BaseException):
    """Raised inside a deferred section to roll back once a signal has arrived."""


@dataclass
class _Deferred:
    received: list[int] = field(default_factory=list)

    def check(self) -> None:
        if self.received:
            raise _Interrupted


_active: _Deferred | None = None


@contextlib.contextmanager
def _signals_deferred() -> Iterator[_Deferred]:
    """Hold SIGINT/SIGTERM until the block ends, then deliver the first one received.

    Nested sections share the outer one. Outside the main thread (where Python cannot
    install handlers) the block runs unprotected.
    """
    global _active
    if _active is not None:
        yield _active
        return
    if threading.current_thread() is not threading.main_thread():
        yield _Deferred()
        return
    state = _Deferred()

    def hold(signum: int, frame: FrameType | None) -> None:
        state.received.append(signum)

    previous: dict[signal.Signals, Any] = {}
    for sig in _SIGNALS:
        handler = signal.getsignal(sig)
        if handler is not signal.SIG_IGN:  # an ignored signal stays ignored
            previous[sig] = signal.signal(sig, hold)
    _active = state
    try:
        yield state
    except _Interrupted:
        pass  # rolled back; the signal is delivered below
    finally:
        _active = None
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
    if state.received:
        signal.raise_signal(state.received[0])


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step; raise OutputError naming the file.

    An interrupt during the write leaves the previous file in place."""
    with _signals_deferred() as deferred:
        _write_one(path, data, deferred)


def _write_one(path: Path, data: bytes, deferred: _Deferred) -> None:
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({_reason(exc, path)})") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _keep_mode(path, tmp)
        deferred.check()
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"{path}: cannot write ({_reason(exc, path)})") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _reason(exc: OSError, path: Path) -> str:
    """Why a write failed, with what to do about it."""
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            return f"{parent} is a file, not a directory; choose another output path"
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        return "it is a directory; give a file path"
    if isinstance(exc, PermissionError):
        return f"{exc.strerror}; check the permissions of {path.parent}"
    return f"{exc.strerror or exc}; check the path and the free space"


def _keep_mode(path: Path, tmp: str) -> None:
    """New files get the usual 0644 (mkstemp makes 0600); replaced files keep their mode."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


def write_all(files: Mapping[Path, bytes]) -> None:
    """Write every file or none: on failure or interrupt, restore the ones already written."""
    previous: dict[Path, bytes | None] = {}
    for path in files:
        try:
            previous[path] = path.read_bytes()
        except FileNotFoundError:
            previous[path] = None
        except IsADirectoryError as exc:
            raise OutputError(f"{path}: cannot write (it is a directory; move it away)") from exc
        except OSError as exc:
            raise OutputError(f"{path}: cannot read before replacing it ({_reason(exc, path)})") \
                from exc
    with _signals_deferred() as deferred:
        done: list[Path] = []
        try:
            for path, data in files.items():
                deferred.check()
                write_atomic(path, data)
                done.append(path)
            deferred.check()
        except BaseException:
            for path in reversed(done):
                old = previous[path]
                with contextlib.suppress(OSError, OutputError):
                    if old is None:
                        path.unlink()
                    else:
                        _write_one(path, old, _Deferred())
            raise
