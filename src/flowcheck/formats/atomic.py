"""Atomic file writes: a reader never sees a half-written file, nor a mixed set of files.

One file (a report) is written by :func:`write_atomic`: a temporary file in its own
directory, flushed to disk, then moved into place with :func:`os.replace`, which is
atomic on POSIX and Windows.

A set of files (an export, diagrams) is written as one transaction in the directory that
holds them (:func:`transaction`, :func:`write_all`), journalled so that a crash at any
instant (SIGKILL, an OOM kill, a power cut) leaves a state the next run completes:

1. the directory is locked (``flock`` on the directory itself, released by the kernel
   when the process dies): a second writer waits for the first, then fails clearly;
2. what an earlier run left is recovered (below);
3. every new file is staged in ``<dir>/.flowcheck-txn/files/`` and flushed to disk;
4. the journal ``<dir>/.flowcheck-txn/commit`` (the files to install) is written
   atomically: the one instant at which the set switches from old to new;
5. each staged file is moved over its target, then the journal and the staging
   directory are deleted.

Recovery: a staging directory without a journal is a transaction that never committed;
it is deleted and the old set, never touched, stands (rolled back). A journal is a
committed transaction: the staged files still there are moved into place (rolled
forward). Either way the temporary files of interrupted single-file writes are removed.

SIGINT and SIGTERM are held back while a set is written: one that arrives before the
commit rolls the transaction back, one after it lets the transaction finish; it is
delivered once the files are consistent again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from flowcheck.errors import OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: sets are written unlocked
    fcntl = None  # type: ignore[assignment]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)

STAGING = ".flowcheck-txn"
"""The staging directory a transaction keeps inside the directory it writes."""
JOURNAL = "commit"
"""The journal in the staging directory: present once the transaction committed."""
LOCK_WAIT = 60.0
"""Seconds a writer waits for another one to finish with the directory."""
_LEFTOVER = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
"""The temporary files of :func:`write_atomic` (``.<name>.<random>.tmp``)."""


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


# -- one file --------------------------------------------------------------------------------


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


def _mode_for(path: Path) -> int:
    """New files get the usual 0644 (under the umask); replaced files keep their mode."""
    try:
        return path.stat().st_mode & 0o777
    except (FileNotFoundError, NotADirectoryError):
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _keep_mode(path: Path, tmp: str) -> None:
    os.chmod(tmp, _mode_for(path))


# -- a set of files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recovery:
    """What a transaction found left over from an interrupted one, and did about it."""

    directory: Path
    action: Literal["rolled forward", "rolled back", "cleaned"]
    """``rolled forward``: a committed set was completed; ``rolled back``: an uncommitted
    one was discarded (the files before it stand); ``cleaned``: only temporary files."""
    files: int
    """Files moved into place (rolled forward) or discarded (rolled back)."""
    leftovers: int
    """Temporary files of interrupted single-file writes removed."""

    def describe(self) -> str:
        """One sentence for the user."""
        if self.action == "rolled forward":
            what = (f"an interrupted write was found and completed ({self.files} file(s) "
                    "moved into place)")
        elif self.action == "rolled back":
            what = (f"an interrupted write was found and undone ({self.files} staged "
                    "file(s) discarded; the files before it stand)")
        else:
            what = "temporary files of an interrupted write were found"
        extra = f", {self.leftovers} temporary file(s) removed" if self.leftovers else ""
        return f"{self.directory}: {what}{extra}"


@dataclass
class Transaction:
    """A locked directory: :meth:`write` replaces a set of its files all at once."""

    root: Path
    recovered: Recovery | None = None

    def write(self, files: Mapping[Path, bytes]) -> None:
        """Stage ``files`` (paths inside :attr:`root`), commit, install: all or none."""
        if not files:
            return
        names = {path: _relative(path, self.root) for path in files}
        for path in files:
            if path.is_dir():
                raise OutputError(f"{path}: cannot write (it is a directory; move it away)")
        staging = self.root / STAGING
        with _signals_deferred() as deferred:
            try:
                _make_dir(staging / "files")
                for path, data in files.items():
                    deferred.check()
                    try:
                        _stage(staging / "files" / names[path], data, _mode_for(path))
                    except OSError as exc:
                        raise OutputError(f"{path}: cannot write ({_reason(exc, path)})") \
                            from exc
                _fsync_dir(staging / "files")
                deferred.check()
                try:
                    _write_journal(staging, sorted(names.values()))
                except OSError as exc:
                    raise OutputError(f"{self.root}: cannot write ({_reason(exc, self.root)})") \
                        from exc
            except BaseException:
                with contextlib.suppress(OSError):
                    shutil.rmtree(staging)
                raise
            # Committed: from here on the set is the new one, whatever happens.
            try:
                _roll_forward(self.root, staging)
            except OSError as exc:
                raise OutputError(
                    f"{self.root}: the new files were committed but could not all be moved "
                    f"into place ({exc.strerror or exc}); the next `flowcheck export` (or "
                    "`--check`) completes the write"
                ) from exc


@contextlib.contextmanager
def transaction(root: Path, wait: float = LOCK_WAIT, create: bool = True) -> Iterator[Transaction]:
    """Lock ``root`` (waiting up to ``wait`` seconds for another writer), recover what an
    interrupted write left there, and yield the transaction. With ``create`` False, a
    missing directory is left missing (there is nothing to recover in it)."""
    if not root.is_dir():
        if not create:
            yield Transaction(root)
            return
        _make_dir(root)
    with _locked(root, wait):
        yield Transaction(root, recover(root))


def write_all(files: Mapping[Path, bytes], wait: float = LOCK_WAIT) -> Recovery | None:
    """Write every file or none, as one transaction in the directory holding them all."""
    if not files:
        return None
    root = Path(os.path.commonpath([str(p.parent) for p in files]))
    with transaction(root, wait) as txn:
        txn.write(files)
    return txn.recovered


def recover(root: Path) -> Recovery | None:
    """Complete or undo an interrupted transaction in ``root`` and remove temporary files;
    what was done (None: nothing to do). The caller holds the lock."""
    staging = root / STAGING
    action: Literal["rolled forward", "rolled back", "cleaned"] = "cleaned"
    files = 0
    if staging.is_dir():
        if (staging / JOURNAL).is_file():
            action = "rolled forward"
            try:
                files = _roll_forward(root, staging)
            except OSError as exc:
                raise OutputError(
                    f"{root}: cannot complete an interrupted write ({exc.strerror or exc}); "
                    "check the permissions and the free space, then run again") from exc
        else:
            action = "rolled back"
            files = sum(1 for p in (staging / "files").rglob("*") if p.is_file()) \
                if (staging / "files").is_dir() else 0
            _remove_tree(staging)
    elif staging.exists():
        _remove_file(staging)
        action = "rolled back"
    leftovers = 0
    for path in root.iterdir():
        if _LEFTOVER.match(path.name) and path.is_file():
            _remove_file(path)
            leftovers += 1
    if action == "cleaned" and not leftovers:
        return None
    return Recovery(root, action, files, leftovers)


def _roll_forward(root: Path, staging: Path) -> int:
    """Move every staged file the journal lists into place (those not moved yet), then
    delete the journal and the staging directory. Safe to repeat after a crash."""
    names = _read_journal(staging)
    moved = 0
    touched: set[Path] = set()
    for name in names:
        staged = staging / "files" / name
        if staged.is_file():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
            touched.add(target.parent)
            moved += 1
    for directory in touched:
        _fsync_dir(directory)
    # The journal goes first: without it, what is left of the staging directory is
    # discarded, and every file is already in place.
    os.unlink(staging / JOURNAL)
    _fsync_dir(staging)
    shutil.rmtree(staging)
    return moved


def _write_journal(staging: Path, names: list[str]) -> None:
    data = json.dumps({"install": names}, indent=1).encode("utf-8")
    tmp = staging / f"{JOURNAL}.tmp"
    _stage(tmp, data, 0o644)
    os.replace(tmp, staging / JOURNAL)
    _fsync_dir(staging)


def _read_journal(staging: Path) -> list[str]:
    try:
        data = json.loads((staging / JOURNAL).read_text(encoding="utf-8"))
        names = data["install"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("install is not a list of names")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputError(
            f"{staging / JOURNAL}: the journal of an interrupted write cannot be read ({exc}); "
            f"delete {staging} and write the files again"
        ) from exc
    for name in names:
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise OutputError(f"{staging / JOURNAL}: names a file outside {staging.parent}; "
                              f"delete {staging} and write the files again")
    return names


def _stage(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` (a new file) and flush it to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, mode)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError as exc:
        raise OutputError(f"{path}: not inside {root}, the directory being written") from exc


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({_reason(exc, path)})") from exc


def _fsync_dir(path: Path) -> None:
    """Flush a directory's entries (renames) to disk; not possible everywhere (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_tree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot remove what an interrupted write left "
                          f"({exc.strerror or exc}); delete it by hand") from exc


def _remove_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise OutputError(f"{path}: cannot remove what an interrupted write left "
                          f"({exc.strerror or exc}); delete it by hand") from exc


@contextlib.contextmanager
def _locked(root: Path, wait: float) -> Iterator[None]:
    """Hold an exclusive lock on the directory ``root`` itself (no lock file is left
    behind; the kernel drops the lock when the process ends, however it ends)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        fd = os.open(root, os.O_RDONLY)
    except OSError as exc:
        raise OutputError(f"{root}: cannot be locked for writing ({exc.strerror or exc})") \
            from exc
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OutputError(
                        f"{root}: another flowcheck process is writing here (waited "
                        f"{wait:g} s for it); run again once it has finished"
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)
