"""Atomic file writes: a reader never sees a half-written file.

Each file is written to a temporary file in its own directory and moved into
place with :func:`os.replace`, which is atomic on POSIX and Windows. Writing a
set of files is all-or-nothing: if any write fails, the files already replaced
get their previous contents back (or are removed if they did not exist).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from flowcheck.errors import OutputError


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step; raise OutputError naming the file."""
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc}); check the directory") \
            from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _keep_mode(path, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc}); check permissions") \
            from exc


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
    """Write every file or none: on failure, restore the ones already written."""
    previous: dict[Path, bytes | None] = {}
    for path in files:
        try:
            previous[path] = path.read_bytes()
        except FileNotFoundError:
            previous[path] = None
        except OSError as exc:
            raise OutputError(f"{path}: cannot read before replacing it ({exc.strerror})") \
                from exc
    done: list[Path] = []
    try:
        for path, data in files.items():
            write_atomic(path, data)
            done.append(path)
    except BaseException:
        for path in reversed(done):
            old = previous[path]
            with contextlib.suppress(OSError, OutputError):
                if old is None:
                    path.unlink()
                else:
                    write_atomic(path, old)
        raise
