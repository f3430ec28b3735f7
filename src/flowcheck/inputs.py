"""Reading input files within limits: every file flowcheck reads from a user or from
outside (XState configs and manifests, scenario files, traces) comes through here.

A file is refused before it is read when it is not a regular file (a FIFO would block
forever, ``/dev/zero`` would fill the memory) or when it is larger than the input limit;
a document is refused when it nests deeper than the nesting limit; YAML is read with
the safe loader, and an alias bomb (a few lines whose aliases expand to billions of
nodes) is refused by counting the nodes the aliases expand to, not the lines.

The limits (:class:`InputLimits`) have documented defaults; ``flowcheck --max-input-mb
N`` and ``--max-input-nesting N`` raise them for one command, ``max-input-mb`` and
``max-input-nesting`` under ``[tool.flowcheck]`` for the project. Every refusal is an
:class:`~flowcheck.errors.InputError` that names the file, the limit and how to raise it.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flowcheck.errors import InputError

DEFAULT_MAX_INPUT_MB = 32
"""Largest input file read, in MiB: a 100,000-state machine takes about 10."""
DEFAULT_MAX_INPUT_NESTING = 200
"""Deepest nesting of lists and objects read (machines need a few levels)."""
MAX_YAML_NODES = 1_000_000
"""Most nodes a YAML document may expand to once its aliases are followed."""


@dataclass(frozen=True)
class InputLimits:
    max_mb: float = DEFAULT_MAX_INPUT_MB
    max_nesting: int = DEFAULT_MAX_INPUT_NESTING
    from_command_line: bool = False
    """Set by command-line options, which win over the project's settings."""

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1024 * 1024)


_limits = InputLimits()


def limits() -> InputLimits:
    """The limits in force."""
    return _limits


def configure(max_mb: float | None = None, max_nesting: int | None = None,
              from_command_line: bool = False) -> None:
    """Set the limits (None keeps a limit as it is). The project's settings do not override
    limits given on the command line."""
    global _limits
    if _limits.from_command_line and not from_command_line:
        return
    _limits = InputLimits(
        max_mb=max_mb if max_mb is not None else _limits.max_mb,
        max_nesting=max_nesting if max_nesting is not None else _limits.max_nesting,
        from_command_line=_limits.from_command_line or from_command_line,
    )


def reset() -> None:
    """Back to the defaults (tests, and a process that runs several commands)."""
    global _limits
    _limits = InputLimits()


_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def read_bytes(path: Path, what: str = "file") -> bytes:
    """The bytes of the regular file ``path``, at most the input limit; InputError naming
    ``path`` (a ``what``: "XState config", "scenario file") otherwise."""
    cap = _limits.max_bytes
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before we can refuse it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a directory, not a {what}") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise InputError(f"{path}: is {kind}, not a {what}; give the path of a file")
        if info.st_size > cap:
            raise InputError(_too_large(path, info.st_size, what))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(1 << 20, cap + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:  # the file grew while we read it, or lied about its size
                raise InputError(_too_large(path, size, what))
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)


def _too_large(path: Path, size: int, what: str) -> str:
    return (f"{path}: the {what} is larger than the input limit of {_limits.max_mb:g} MB "
            "(at least "
            f"{size / (1024 * 1024):.3g} MB); if it is meant to be this large, raise the limit "
            "with `flowcheck --max-input-mb N ...` or [tool.flowcheck] max-input-mb")


def read_text(path: Path, what: str = "file") -> str:
    """The file as UTF-8 text (a BOM is dropped), within the limits."""
    raw = read_bytes(path, what)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 (byte {exc.start}); save the {what} as UTF-8"
        ) from exc


def check_nesting(doc: Any, where: str) -> None:
    """InputError when ``doc`` nests lists and objects deeper than the limit (iterative:
    any depth is safe to check)."""
    if nesting(doc, _limits.max_nesting) > _limits.max_nesting:
        raise InputError(
            f"{where}: nested more than {_limits.max_nesting} levels deep; flatten it, or "
            "raise the limit with `flowcheck --max-input-nesting N ...` or [tool.flowcheck] "
            "max-input-nesting")


def nesting(doc: Any, stop_after: int | None = None) -> int:
    """How deeply ``doc`` nests lists and objects; counting stops past ``stop_after``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if stop_after is not None and deepest > stop_after:
            break
        stack.extend((c, depth + 1) for c in children)
    return deepest


def load_json(path: Path, what: str = "JSON file") -> Any:
    """A JSON document from ``path``, within the limits."""
    text = read_text(path, what)
    if not text.strip():
        raise InputError(f"{path}: the file is empty; expected a {what}")
    return parse_json(text, str(path), what)


def parse_json(text: str, where: str, what: str = "JSON document") -> Any:
    try:
        doc = json.loads(text)
    except RecursionError as exc:
        raise InputError(f"{where}: JSON nested too deeply to read; flatten it") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") \
            from exc
    check_nesting(doc, where)
    return doc


class _Loader(yaml.SafeLoader):
    """The safe loader (plain data only), counting what aliases expand to."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.expanded = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            anchor = event.anchor
            node = self.anchors.get(anchor)
            if node is not None:
                self.expanded += _size(node, MAX_YAML_NODES - self.expanded)
                if self.expanded > MAX_YAML_NODES:
                    raise _AliasBomb
        return super().compose_node(parent, index)


class _AliasBomb(Exception):
    pass


def _size(node: Any, budget: int) -> int:
    """The number of nodes under a YAML node, counting stops past ``budget``."""
    count = 0
    stack = [node]
    while stack:
        current = stack.pop()
        count += 1
        if count > budget:
            break
        value = current.value
        if isinstance(value, list):
            for item in value:
                stack.extend(item if isinstance(item, tuple) else (item,))
    return count


def parse_yaml(text: str, where: str) -> Any:
    """A YAML document (of which JSON is a subset), safely: plain data only, aliases
    expanding to at most :data:`MAX_YAML_NODES` nodes, nesting within the limit."""
    loader = _Loader(text)
    try:
        doc = loader.get_single_data()
    except _AliasBomb as exc:
        raise InputError(
            f"{where}: its aliases (*name) expand to more than {MAX_YAML_NODES:,} nodes; "
            "write the data out instead of repeating it through aliases") from exc
    except RecursionError as exc:
        raise InputError(f"{where}: YAML nested too deeply to read; flatten it") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}{at}: not valid YAML ({problem})") from exc
    finally:
        loader.dispose()
    check_nesting(doc, where)
    return doc


def load_yaml(path: Path, what: str = "YAML file") -> Any:
    """A YAML document from ``path``, within the limits (see :func:`parse_yaml`)."""
    return parse_yaml(read_text(path, what), str(path))
