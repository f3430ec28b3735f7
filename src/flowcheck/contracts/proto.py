"""Load the ``.proto`` contracts under a root: services, methods, messages, enums, with lines.

The contracts are compiled with ``protoc`` as bundled by ``grpcio-tools`` (run as
``python -m grpc_tools.protoc --include_source_info --descriptor_set_out=...``) and the
resulting ``FileDescriptorSet`` is read with ``protobuf``. This is the real compiler, so
what loads here is what ``buf``/``protoc`` accept (imports, types and names are resolved),
the line numbers come from ``SourceCodeInfo``, and it installs from PyPI as a wheel and runs
offline. The ``buf`` binary from npm would need Node at run time; ``proto-schema-parser`` is
a parser only (no import or type resolution).

Paths: a file is reported relative to the proto root's parent, so with the root
``<repo>/proto`` the file ``<repo>/proto/mirai/v1/course_service.proto`` is
``proto/mirai/v1/course_service.proto``. Lines are 1-based.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from google.protobuf.descriptor_pb2 import (
    DescriptorProto,
    EnumDescriptorProto,
    FieldDescriptorProto,
    FileDescriptorProto,
    FileDescriptorSet,
    SourceCodeInfo,
)

from flowcheck.errors import FlowcheckError

__all__ = [
    "Contracts",
    "Message",
    "Method",
    "ProtoEnum",
    "ProtoField",
    "clear_cache",
    "load_contracts",
]

_COMPILE_TIMEOUT_S = 120

# FileDescriptorProto / DescriptorProto / ServiceDescriptorProto field numbers, as used in
# SourceCodeInfo.Location.path.
_FILE_MESSAGE = 4
_FILE_ENUM = 5
_FILE_SERVICE = 6
_MESSAGE_FIELD = 2
_MESSAGE_NESTED = 3
_MESSAGE_ENUM = 4
_SERVICE_METHOD = 2

_F = FieldDescriptorProto
_SCALARS: Mapping[int, str] = MappingProxyType(
    {
        _F.TYPE_DOUBLE: "double",
        _F.TYPE_FLOAT: "float",
        _F.TYPE_INT64: "int64",
        _F.TYPE_UINT64: "uint64",
        _F.TYPE_INT32: "int32",
        _F.TYPE_FIXED64: "fixed64",
        _F.TYPE_FIXED32: "fixed32",
        _F.TYPE_BOOL: "bool",
        _F.TYPE_STRING: "string",
        _F.TYPE_BYTES: "bytes",
        _F.TYPE_UINT32: "uint32",
        _F.TYPE_SFIXED32: "sfixed32",
        _F.TYPE_SFIXED64: "sfixed64",
        _F.TYPE_SINT32: "sint32",
        _F.TYPE_SINT64: "sint64",
    }
)

# protoc's error format: 'mirai/v1/x.proto:12:3: Expected ";".' or 'x.proto: File not found.'
_ERROR_LINE = re.compile(
    r"^(?P<path>[^:\s][^:]*\.proto):(?:(?P<line>\d+):(?P<column>\d+):)?\s*(?P<message>.*)$"
)


@dataclass(frozen=True, slots=True)
class ProtoField:
    """One field of a message.

    ``type`` is a scalar name (``"string"``, ``"int64"``, ``"bool"``, ...) or
    ``"enum:<full name>"`` / ``"message:<full name>"``. A map field is a repeated
    ``message:`` of its synthetic ``...Entry`` message.
    """

    name: str
    json_name: str
    type: str
    repeated: bool
    line: int


@dataclass(frozen=True, slots=True)
class Message:
    """A message type; ``fields`` is keyed by JSON name (``desiredOutcome``), in proto order."""

    full_name: str
    file: str
    line: int
    fields: Mapping[str, ProtoField] = field(hash=False)

    @property
    def name(self) -> str:
        return self.full_name.rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class ProtoEnum:
    """An enum type and its value names, in proto order."""

    full_name: str
    file: str
    line: int
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Method:
    """An RPC; ``service`` is the service's full name, e.g. ``mirai.v1.CourseService``."""

    service: str
    name: str
    file: str
    line: int
    input_type: Message
    output_type: Message

    @property
    def full_name(self) -> str:
        """``mirai.v1.CourseService/CreateCourse``."""
        return f"{self.service}/{self.name}"


@dataclass(frozen=True, slots=True)
class Contracts:
    """Everything the ``.proto`` files under ``root`` declare."""

    root: Path
    methods: Mapping[str, Method] = field(hash=False)
    messages: Mapping[str, Message] = field(hash=False)
    enums: Mapping[str, ProtoEnum] = field(hash=False)

    def method(self, full_name: str) -> Method | None:
        """The method ``mirai.v1.CourseService/CreateCourse`` (a leading ``/`` is allowed)."""
        return self.methods.get(full_name.removeprefix("/"))

    def message(self, full_name: str) -> Message | None:
        """The message ``mirai.v1.User`` (a leading ``.`` is allowed)."""
        return self.messages.get(full_name.removeprefix("."))

    def enum(self, full_name: str) -> ProtoEnum | None:
        """The enum ``mirai.v1.JobStatus`` (a leading ``.`` is allowed)."""
        return self.enums.get(full_name.removeprefix("."))


# ---------------------------------------------------------------------------------------
# Loading and caching

_CacheKey = tuple[tuple[str, int, int], ...]
_cache: dict[Path, tuple[_CacheKey, Contracts]] = {}
_cache_lock = threading.Lock()


def load_contracts(root: Path) -> Contracts:
    """Compile every ``.proto`` under ``root`` and return what they declare.

    Cached per process: a second call for the same root returns the same object unless a
    ``.proto`` file was added, removed or changed (by mtime or size).

    Raises:
        FlowcheckError: ``root`` is missing or holds no ``.proto`` file, or a file does not
            compile (the message names the file and repeats the compiler's first error).
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise FlowcheckError(f"proto root not found: {root}")
    files = _proto_files(root)
    if not files:
        raise FlowcheckError(f"no .proto files under {root}")
    key = _cache_key(root, files)
    with _cache_lock:
        cached = _cache.get(root)
        if cached is not None and cached[0] == key:
            return cached[1]
    contracts = _build(root, files, _compile(root, files))
    with _cache_lock:
        _cache[root] = (key, contracts)
    return contracts


def clear_cache() -> None:
    """Forget every compiled root."""
    with _cache_lock:
        _cache.clear()


def _proto_files(root: Path) -> list[str]:
    """The ``.proto`` files under ``root``, as sorted POSIX paths relative to it."""
    found: list[str] = []
    for path in root.rglob("*.proto"):
        rel = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            found.append(rel.as_posix())
    return sorted(found)


def _cache_key(root: Path, files: Sequence[str]) -> _CacheKey:
    entries: list[tuple[str, int, int]] = []
    for rel in files:
        try:
            st = (root / rel).stat()
        except OSError as exc:
            raise FlowcheckError(f"cannot read {_display(root, rel)}: {exc.strerror}") from exc
        entries.append((rel, st.st_mtime_ns, st.st_size))
    return tuple(entries)


def _display(root: Path, rel: str) -> str:
    """``rel`` (relative to the root) as a path relative to the root's parent."""
    return PurePosixPath(root.name, rel).as_posix()


# ---------------------------------------------------------------------------------------
# Compiling with protoc (grpcio-tools)


def _compile(root: Path, files: Sequence[str]) -> FileDescriptorSet:
    if importlib.util.find_spec("grpc_tools") is None:
        raise FlowcheckError("cannot compile .proto files: the grpcio-tools package is missing")
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory(prefix="flowcheck-proto-") as tmp:
        out = Path(tmp) / "contracts.binpb"
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "--proto_path=.",
            f"--proto_path={well_known}",
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *files,
        ]
        try:
            done = subprocess.run(
                command,
                cwd=root,
                capture_output=True,
                text=True,
                timeout=_COMPILE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise FlowcheckError(
                f"protoc took longer than {_COMPILE_TIMEOUT_S}s on {root}"
            ) from exc
        except OSError as exc:
            raise FlowcheckError(f"cannot run protoc: {exc}") from exc
        if done.returncode != 0 or not out.is_file():
            raise FlowcheckError(_compile_error(root, files, done.stderr))
        return FileDescriptorSet.FromString(out.read_bytes())


def _compile_error(root: Path, files: Sequence[str], stderr: str) -> str:
    """One line: protoc's first error, preferring one in a file under the root.

    The file is shown relative to the root's parent, e.g.
    ``proto does not compile: proto/mirai/v1/x.proto:12:3: Expected ";".``
    """
    errors = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip() and not line.strip().lower().startswith("warning")
    ]
    if not errors:
        return f"protoc failed on {root} without a message"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    ours = set(files)
    parsed = [(line, _ERROR_LINE.match(line)) for line in errors]
    chosen = next(
        (
            (line, match)
            for line, match in parsed
            if match is not None and match["path"].removeprefix("./") in ours
        ),
        parsed[0],
    )
    line, match = chosen
    if match is None:
        return f"proto does not compile under {root}: {line}{more}"
    path = match["path"].removeprefix("./")
    where = _display(root, path) if path in ours else path
    if match["line"] is not None:
        where = f"{where}:{match['line']}:{match['column']}"
    return f"proto does not compile: {where}: {match['message']}{more}"


# ---------------------------------------------------------------------------------------
# From descriptors to the model


def _build(root: Path, files: Sequence[str], fds: FileDescriptorSet) -> Contracts:
    ours = set(files)
    messages: dict[str, Message] = {}
    enums: dict[str, ProtoEnum] = {}
    methods: dict[str, Method] = {}

    for proto in fds.file:
        shown = _display(root, proto.name) if proto.name in ours else proto.name
        lines = _line_index(proto.source_code_info)
        prefix = f"{proto.package}." if proto.package else ""
        for i, message in enumerate(proto.message_type):
            _add_message(message, prefix, (_FILE_MESSAGE, i), shown, lines, messages, enums)
        for i, enum in enumerate(proto.enum_type):
            _add_enum(enum, prefix, (_FILE_ENUM, i), shown, lines, enums)

    for proto in fds.file:
        _add_methods(proto, root, ours, messages, methods)

    return Contracts(
        root=root,
        methods=MappingProxyType(methods),
        messages=MappingProxyType(messages),
        enums=MappingProxyType(enums),
    )


def _line_index(info: SourceCodeInfo) -> dict[tuple[int, ...], int]:
    """Location path -> 1-based line of the element's start."""
    index: dict[tuple[int, ...], int] = {}
    for location in info.location:
        if location.span:
            index.setdefault(tuple(location.path), location.span[0] + 1)
    return index


def _add_message(
    message: DescriptorProto,
    prefix: str,
    path: tuple[int, ...],
    file: str,
    lines: Mapping[tuple[int, ...], int],
    messages: dict[str, Message],
    enums: dict[str, ProtoEnum],
) -> None:
    full_name = prefix + message.name
    fields: dict[str, ProtoField] = {}
    for i, fd in enumerate(message.field):
        json_name = fd.json_name if fd.HasField("json_name") else _camel(fd.name)
        fields[json_name] = ProtoField(
            name=fd.name,
            json_name=json_name,
            type=_field_type(fd),
            repeated=fd.label == FieldDescriptorProto.LABEL_REPEATED,
            line=lines.get((*path, _MESSAGE_FIELD, i), 0),
        )
    messages[full_name] = Message(
        full_name=full_name,
        file=file,
        line=lines.get(path, 0),
        fields=MappingProxyType(fields),
    )
    for i, nested in enumerate(message.nested_type):
        _add_message(
            nested, f"{full_name}.", (*path, _MESSAGE_NESTED, i), file, lines, messages, enums
        )
    for i, enum in enumerate(message.enum_type):
        _add_enum(enum, f"{full_name}.", (*path, _MESSAGE_ENUM, i), file, lines, enums)


def _add_enum(
    enum: EnumDescriptorProto,
    prefix: str,
    path: tuple[int, ...],
    file: str,
    lines: Mapping[tuple[int, ...], int],
    enums: dict[str, ProtoEnum],
) -> None:
    full_name = prefix + enum.name
    enums[full_name] = ProtoEnum(
        full_name=full_name,
        file=file,
        line=lines.get(path, 0),
        values=tuple(value.name for value in enum.value),
    )


def _add_methods(
    proto: FileDescriptorProto,
    root: Path,
    ours: set[str],
    messages: Mapping[str, Message],
    methods: dict[str, Method],
) -> None:
    shown = _display(root, proto.name) if proto.name in ours else proto.name
    lines = _line_index(proto.source_code_info)
    prefix = f"{proto.package}." if proto.package else ""
    for si, service in enumerate(proto.service):
        service_name = prefix + service.name
        for mi, rpc in enumerate(service.method):
            method = Method(
                service=service_name,
                name=rpc.name,
                file=shown,
                line=lines.get((_FILE_SERVICE, si, _SERVICE_METHOD, mi), 0),
                input_type=_resolve(messages, rpc.input_type, shown),
                output_type=_resolve(messages, rpc.output_type, shown),
            )
            methods[method.full_name] = method


def _resolve(messages: Mapping[str, Message], type_name: str, file: str) -> Message:
    message = messages.get(type_name.removeprefix("."))
    if message is None:  # protoc resolved it, so this means a descriptor set we do not read
        raise FlowcheckError(f"{file}: message type {type_name} not found in the compiled set")
    return message


def _field_type(fd: FieldDescriptorProto) -> str:
    if fd.type in (FieldDescriptorProto.TYPE_MESSAGE, FieldDescriptorProto.TYPE_GROUP):
        return "message:" + fd.type_name.removeprefix(".")
    if fd.type == FieldDescriptorProto.TYPE_ENUM:
        return "enum:" + fd.type_name.removeprefix(".")
    return _SCALARS.get(fd.type, f"type{fd.type}")


def _camel(name: str) -> str:
    """protoc's JSON name: drop underscores, upper-case the letter after each."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
