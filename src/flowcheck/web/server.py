"""The simulator's HTTP server: the standard library's HTTP handler and a JSON API.

Routes (all JSON unless said otherwise). Errors are ``{"error": "..."}``: 400 for bad
input (an unknown machine, session or event included, a body that is not JSON), 403 for a
request from another site, 404 for an unknown route, 408 for a request that does not
arrive in time, 410 for a session the simulator closed, 411 for a body without a length,
413 for a body over :data:`MAX_BODY`, 415 for a POST that is not JSON, 503 when Graphviz
cannot draw the diagram or the server is saturated.

    GET  /                                  the page (static/index.html)
    GET  /static/<file>                     the page's script and style sheet
    GET  /api/machines                      the machines, their states, events and invokes
    GET  /api/machines/<name>/diagram.svg   the diagram, states tagged with data-state
    POST /api/session   {machine, steps?}   open a session (replaying a shared link's steps)
    GET  /api/session/<id>                  the session's view
    POST /api/session/<id>/send  {event, payload, actor?, expect?}
    POST /api/session/<id>/check {event, payload, actor?}   would it change anything? why not
    POST /api/session/<id>/undo
    POST /api/session/<id>/reset
    GET  /api/session/<id>/scenario.yaml?name=N   the session as a scenario file (download)
    POST /api/session/<id>/scenario {name, file, overwrite?}   save it into scenarios/
    GET  /api/scenarios                     the project's scenario files
    GET  /api/scenarios/<file>              one of them, parsed
    POST /api/counterexamples  {report}     the counterexamples of a verify JSON report
    GET  /api/traces                        the trace given with --traces: runs per flow
                                            (counts by outcome, a bounded list), label weights
    POST /api/traces/play  {run}            open a session as a listed run started, with the
                                            run's explained steps beside its real lines

Every request must name this server in its ``Host`` (its loopback address or
``localhost``, with its port): a page of another site whose name was rebound to 127.0.0.1
(DNS rebinding) names its own host, and is refused. A browser's ``Origin`` and
``Sec-Fetch-Site`` must say the request comes from the simulator's own page (following a
link to the page itself is allowed, so shared links open). Every POST carries a JSON body
(``Content-Type: application/json``), which another site's page cannot send without a
CORS preflight that this server never grants.

Connections are answered one request each. An accepted connection waits, holding no
thread, until its request starts to arrive (one thread watches all of them and closes
those silent for :attr:`ServerLimits.idle_seconds`); then one of a fixed pool of workers
reads it, with one deadline for the whole request, and answers.
"""

from __future__ import annotations

import contextlib
import errno
import io
import ipaddress
import json
import queue
import selectors
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flowcheck.errors import FlowcheckError
from flowcheck.formats.diagram import GraphvizMissingError
from flowcheck.web.simulator import SessionClosedError, Simulator
from flowcheck.web.svg import render_svg

MAX_BODY = 5 * 1024 * 1024
"""Largest request body accepted: a verify report of many machines fits easily."""

MAX_NESTING = 64
"""Deepest nesting of arrays and objects in a body (a verify report nests about 8)."""

_NO_GRAPHVIZ = (
    "Graphviz's `dot` is not installed, so the diagram cannot be drawn: install Graphviz "
    "(apt-get install graphviz, brew install graphviz) and restart flowcheck serve; "
    "everything else works without it"
)

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".yaml": "application/yaml; charset=utf-8",
}

_JSON = "application/json"


@dataclass(frozen=True)
class ServerLimits:
    """Time and concurrency bounds of one server."""

    workers: int = 8
    """Requests handled at once. They share the interpreter lock, so more would not go
    faster; enough that one slow diagram leaves the page responsive."""
    ready: int = 256
    """Connections whose request has started, waiting for a worker; more get a 503."""
    idle: int = 256
    """Connections that have sent nothing yet; past this the longest silent is closed."""
    backlog: int = 256
    """The listen queue: connections the kernel holds until they are accepted."""
    idle_seconds: float = 10.0
    """A connection that sends nothing for this long is closed."""
    request_seconds: float = 10.0
    """A request (line, headers and body) must arrive whole within this once it starts."""
    write_seconds: float = 10.0
    """An answer must be taken by the client within this."""
    max_body: int = MAX_BODY


class AddressError(FlowcheckError):
    """An address the simulator will not listen on, or a port outside 0-65535."""


class _Refusal(Exception):
    """A request answered with ``status`` and ``message`` before it reaches the simulator."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_address(host: str, port: int, allow_remote: bool = False) -> None:
    """Refuse a port outside 0-65535, and a non-loopback ``host`` unless ``allow_remote``:
    the simulator has no login, and it writes scenario files."""
    if not 0 <= port <= 65535:
        raise AddressError(f"port {port}: a port is 0 to 65535 (0 picks a free one)")
    if not allow_remote and not is_loopback(host):
        raise AddressError(
            f"{host} is not a loopback address, and the simulator has no login and writes "
            "scenario files: keep --host 127.0.0.1 (or localhost), or pass --allow-remote "
            "to serve other machines on purpose"
        )


class SimulatorServer(HTTPServer):
    """Serves one :class:`Simulator`; diagrams are drawn once per machine.

    ``allow_remote`` accepts a non-loopback address to listen on and any address (never a
    name other than the one listened on) in ``Host``. ``on_error`` receives a line for each
    request that failed inside the server (a bug), which is also answered with a 500.
    """

    def __init__(
        self, address: tuple[str, int], simulator: Simulator, *, allow_remote: bool = False,
        limits: ServerLimits | None = None, on_error: Callable[[str], None] | None = None,
    ) -> None:
        host, port = address
        check_address(host, port, allow_remote)
        self.limits = limits or ServerLimits()
        self.request_queue_size = self.limits.backlog
        if ":" in host.strip("[]"):
            self.address_family = socket.AF_INET6
        super().__init__((host.strip("[]"), port), _Handler)
        self.simulator = simulator
        self.allow_remote = allow_remote
        self.on_error = on_error
        self._names = {"localhost"}
        if not _is_address(host):
            self._names.add(host.lower())
        self._svgs: dict[str, str] = {}
        self._svg_lock = threading.Lock()
        self._ready: queue.Queue[tuple[socket.socket, Any] | None] = queue.Queue(
            self.limits.ready)
        self._waiting: _WaitingRoom | None = None
        self._threads: list[threading.Thread] = []
        self._started = threading.Lock()

    @property
    def host(self) -> str:
        host = self.server_address[0]
        return host if isinstance(host, str) else host.decode()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/"

    def diagram(self, name: str) -> str:
        chart = self.simulator.chart(name)
        with self._svg_lock:
            if name not in self._svgs:
                self._svgs[name] = render_svg(chart)
            return self._svgs[name]

    def accepts_host(self, value: str) -> bool:
        """Whether a ``Host`` header names this server: its address or a name it was
        started with (``localhost``) and its port; with ``allow_remote``, any address."""
        if not value or any(c in value for c in "@/\\?# \t"):
            return False
        parts = urlsplit(f"//{value}")
        try:
            port = parts.port
        except ValueError:
            return False
        name = (parts.hostname or "").lower()
        if (port if port is not None else 80) != self.port:
            return False
        if name in self._names:
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False  # a name can be rebound to this address by anyone who owns it
        return self.allow_remote or address == ipaddress.ip_address(self.host)

    # -- connections ---------------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._start()
        try:
            super().serve_forever(poll_interval)
        finally:
            self._stop()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Park the accepted connection until its request starts arriving."""
        self._start()
        assert self._waiting is not None
        self._waiting.park(request, client_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE) and self._waiting is not None:
                self._waiting.shed()  # close the longest silent connection
                time.sleep(0.05)
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is no error; anything else is reported in one line."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) or exc is None:
            return
        self.report(f"{type(exc).__name__}: {exc}")

    def report(self, line: str) -> None:
        if self.on_error is not None:
            self.on_error(line)

    def server_close(self) -> None:
        self._stop()
        super().server_close()

    def _hand_over(self, request: socket.socket, client_address: Any) -> None:
        """Hand a connection whose request has started to a worker; 503 when all are busy
        and the queue is full."""
        try:
            self._ready.put_nowait((request, client_address))
        except queue.Full:
            self._busy(request)

    def _busy(self, request: socket.socket) -> None:
        body = json.dumps({"error": "the simulator is busy: try again in a moment"}).encode()
        try:
            request.settimeout(1.0)
            request.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                b"Retry-After: 1\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        except OSError:
            pass
        self.shutdown_request(request)

    def _work(self) -> None:
        while True:
            item = self._ready.get()
            if item is None:
                return
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def _start(self) -> None:
        with self._started:
            if self._threads:
                return
            self._waiting = _WaitingRoom(self)
            self._threads = [threading.Thread(target=self._waiting.run, daemon=True,
                                              name="flowcheck-serve-waiting")]
            self._threads += [threading.Thread(target=self._work, daemon=True,
                                               name=f"flowcheck-serve-{n}")
                              for n in range(self.limits.workers)]
            for thread in self._threads:
                thread.start()

    def _stop(self) -> None:
        with self._started:
            threads, self._threads = self._threads, []
            waiting, self._waiting = self._waiting, None
        if waiting is None:
            return
        waiting.stop()
        for _ in threads[1:]:
            self._ready.put(None)
        for thread in threads:
            thread.join(timeout=2.0)  # a worker still writing to a slow client is a daemon
        waiting.release()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class _WaitingRoom:
    """Accepted connections that have sent nothing yet, watched by one thread: a silent
    connection holds a file descriptor, never a worker, and is closed after
    ``idle_seconds`` (or sooner, oldest first, when more than ``limits.idle`` wait)."""

    def __init__(self, server: SimulatorServer) -> None:
        self._server = server
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._new: queue.SimpleQueue[tuple[socket.socket, Any]] = queue.SimpleQueue()
        self._parked: OrderedDict[socket.socket, tuple[float, Any]] = OrderedDict()
        self._stopping = False
        self._shed = False

    def park(self, request: socket.socket, client_address: Any) -> None:
        self._new.put((request, client_address))
        self._wake()

    def shed(self) -> None:
        """Close the longest silent connection soon (file descriptors ran out)."""
        self._shed = True
        self._wake()

    def stop(self) -> None:
        self._stopping = True
        self._wake()

    def run(self) -> None:
        limits = self._server.limits
        while not self._stopping:
            events = self._selector.select(timeout=min(1.0, limits.idle_seconds / 4))
            for key, _ in events:
                if key.fileobj is self._wake_r:
                    self._drain_wake()
                    continue
                request = key.fileobj
                assert isinstance(request, socket.socket)
                self._selector.unregister(request)
                _, client_address = self._parked.pop(request)
                self._server._hand_over(request, client_address)
            now = time.monotonic()
            while True:
                try:
                    request, client_address = self._new.get_nowait()
                except queue.Empty:
                    break
                self._parked[request] = (now, client_address)
                self._selector.register(request, selectors.EVENT_READ)
            if self._shed and self._parked:
                self._close(next(iter(self._parked)))
            self._shed = False
            while len(self._parked) > limits.idle:
                self._close(next(iter(self._parked)))
            for request, (since, _) in list(self._parked.items()):
                if now - since < limits.idle_seconds:
                    break  # parked in order: the rest came later
                self._close(request)
        self.close_all()

    def release(self) -> None:
        """Close what is left, and the selector (after :meth:`run` has returned)."""
        self.close_all()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def close_all(self) -> None:
        for request in list(self._parked):
            self._close(request)
        while True:
            try:
                request, _ = self._new.get_nowait()
            except queue.Empty:
                break
            self._server.shutdown_request(request)

    def _close(self, request: socket.socket) -> None:
        self._parked.pop(request, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(request)
        self._server.shutdown_request(request)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full: it is awake anyway
            self._wake_w.send(b"\0")

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass


class _Deadline(io.RawIOBase):
    """The reading side of a connection with one deadline for the whole request: a client
    trickling a byte at a time cannot hold a worker past it."""

    def __init__(self, connection: socket.socket, seconds: float) -> None:
        self._connection = connection
        self._end = time.monotonic() + seconds
        self.seconds = seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the request did not arrive within {self.seconds:g} s")
        self._connection.settimeout(left)
        return self._connection.recv_into(buffer)


def static_file(name: str) -> bytes | None:
    """A file of the page, or None. Only plain names inside static/ are served."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    path = resources.files("flowcheck.web").joinpath("static", name)
    return path.read_bytes() if path.is_file() else None


_Reply = tuple[HTTPStatus, str, bytes]


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "flowcheck"

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self._deadline = _Deadline(self.connection, self.server.limits.request_seconds)
        self.rfile = io.BufferedReader(self._deadline)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the command prints the URL; request logs would bury it."""

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it (curl asks first)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > self.server.limits.max_body:
            self._reply(self._too_large(length))
            self.close_connection = True
            return False
        return super().handle_expect_100()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        try:
            reply = self._answer(method)
        except _Refusal as exc:
            reply = _json({"error": str(exc)}, exc.status)
        except SessionClosedError as exc:
            reply = _json({"error": str(exc), "session": exc.sid, "machine": exc.machine,
                           "closed": exc.reason}, HTTPStatus.GONE)
        except GraphvizMissingError:
            reply = _json({"error": _NO_GRAPHVIZ}, HTTPStatus.SERVICE_UNAVAILABLE)
        except FlowcheckError as exc:
            reply = _json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
        except Exception as exc:  # a bug: answer, report, and keep serving
            self.server.report(f"{self.command} {self.path[:200]}: {type(exc).__name__}: {exc}")
            reply = _json({"error": f"internal error ({type(exc).__name__}): the simulator "
                                    "keeps running; please report the steps that led here"},
                          HTTPStatus.INTERNAL_SERVER_ERROR)
        self._reply(reply)

    def _answer(self, method: str) -> _Reply:
        self._same_origin(method)
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        self._query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if method == "GET":
            return self._get(parts)
        return self._post(parts, self._body())

    def _same_origin(self, method: str) -> None:
        """Refuse a request that does not name this server, or that a page of another
        site made the browser send."""
        host = self.headers.get("Host") or ""
        if not self.server.accepts_host(host):
            raise _Refusal(
                HTTPStatus.FORBIDDEN,
                f"this simulator answers only at {self.server.url} or "
                f"http://localhost:{self.server.port}/, not at {host[:100]!r}: a site whose "
                "name points at this address (DNS rebinding) is refused",
            )
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower() != f"http://{host}".lower():
            raise _Refusal(
                HTTPStatus.FORBIDDEN,
                f"requests from another site's page are refused (Origin {origin[:100]!r}); "
                f"open the simulator at {self.server.url}",
            )
        site = self.headers.get("Sec-Fetch-Site")
        navigating = method == "GET" and self.headers.get("Sec-Fetch-Mode") == "navigate"
        if site in ("cross-site", "same-site") and not navigating:
            raise _Refusal(
                HTTPStatus.FORBIDDEN,
                f"requests from another site's page are refused (Sec-Fetch-Site {site}); "
                f"open the simulator at {self.server.url}",
            )

    def _get(self, parts: list[str]) -> _Reply:
        sim = self.server.simulator
        match parts:
            case []:
                return self._static("index.html")
            case ["static", name]:
                return self._static(name)
            case ["api", "machines"]:
                return _json({"machines": sim.machines()})
            case ["api", "machines", name, "diagram.svg"]:
                return HTTPStatus.OK, _CONTENT_TYPES[".svg"], self.server.diagram(name).encode()
            case ["api", "session", sid]:
                return _json(sim.view(sid))
            case ["api", "session", sid, "scenario.yaml"]:
                name = self._query.get("name") or "saved session"
                text = sim.scenario_text(sid, name, self._query.get("file", ""))
                return HTTPStatus.OK, _CONTENT_TYPES[".yaml"], text.encode()
            case ["api", "scenarios"]:
                return _json({"scenarios": sim.scenario_files()})
            case ["api", "scenarios", file]:
                return _json(sim.scenario_file(file))
            case ["api", "traces"]:
                return _json(sim.trace_runs())
        return self._not_found()

    def _post(self, parts: list[str], body: dict[str, Any]) -> _Reply:
        sim = self.server.simulator
        match parts:
            case ["api", "session"]:
                return _json(sim.open(str(body.get("machine", "")), body.get("steps")))
            case ["api", "session", sid, "send"]:
                return _json(sim.send(sid, body.get("event", ""), body.get("payload"),
                                      body.get("actor"), body.get("expect")))
            case ["api", "session", sid, "check"]:
                return _json(sim.check(sid, str(body.get("event", "")),
                                       body.get("payload") or {}, body.get("actor")))
            case ["api", "session", sid, "scenario"]:
                return _json(sim.save_scenario(sid, str(body.get("name") or ""),
                                               body.get("file"), bool(body.get("overwrite"))))
            case ["api", "session", sid, "undo"]:
                return _json(sim.undo(sid))
            case ["api", "session", sid, "reset"]:
                return _json(sim.reset(sid))
            case ["api", "counterexamples"]:
                report = body.get("report")
                if isinstance(report, str):
                    report = _loads(report, "the report")
                return _json({"counterexamples": sim.counterexamples(report)})
            case ["api", "traces", "play"]:
                return _json(sim.play_trace(body.get("run")))
        return self._not_found()

    def _body(self) -> dict[str, Any]:
        """The POST's JSON object. Anything else is refused before it is parsed: another
        content type (415), no length (411), too long (413), too slow (408)."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != _JSON:
            raise _Refusal(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"a POST must carry JSON (Content-Type: {_JSON}), not "
                f"{content_type or 'no content type'!r}",
            )
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise _Refusal(HTTPStatus.LENGTH_REQUIRED,
                           "send the body with a Content-Length (chunked bodies are refused)")
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not declared.isdigit():
            self.close_connection = True
            raise _Refusal(HTTPStatus.BAD_REQUEST,
                           f"Content-Length {declared[:40]!r} is not a number of bytes")
        length = int(declared)
        if length > self.server.limits.max_body:
            self._drain(length)
            raise _Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, self._too_large_message(length))
        try:
            raw = self.rfile.read(length) if length else b"{}"
        except TimeoutError:
            self.close_connection = True
            raise _Refusal(HTTPStatus.REQUEST_TIMEOUT, "the request did not arrive within "
                           f"{self.server.limits.request_seconds:g} s: send it again") from None
        if len(raw) < length:
            raise _Refusal(HTTPStatus.BAD_REQUEST,
                           f"the body ended after {len(raw)} of its {length} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Refusal(HTTPStatus.BAD_REQUEST,
                           f"the request body is not UTF-8 (byte {exc.start})") from None
        data = _loads(text, "the request body")
        if not isinstance(data, dict):
            raise _Refusal(HTTPStatus.BAD_REQUEST, "the request body must be a JSON object")
        return data

    def _too_large(self, length: int) -> _Reply:
        return _json({"error": self._too_large_message(length)},
                     HTTPStatus.REQUEST_ENTITY_TOO_LARGE)

    def _too_large_message(self, length: int) -> str:
        limit = self.server.limits.max_body
        return (f"the request body is {length:,} bytes; the simulator accepts at most "
                f"{limit:,} ({limit / 2**20:g} MB)")

    def _drain(self, length: int) -> None:
        """Read and drop what the client is sending (up to a bound), so that it reads the
        413 rather than a reset connection."""
        self.close_connection = True
        left = min(length, 4 * self.server.limits.max_body)
        try:
            while left > 0:
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        except (OSError, ValueError):
            pass

    def _static(self, name: str) -> _Reply:
        data = static_file(name)
        if data is None:
            return self._not_found()
        suffix = name[name.rfind("."):]
        return HTTPStatus.OK, _CONTENT_TYPES.get(suffix, "application/octet-stream"), data

    def _not_found(self) -> _Reply:
        return _json({"error": f"no such resource: {self.command} {self.path[:200]}"},
                     HTTPStatus.NOT_FOUND)

    def _reply(self, reply: _Reply) -> None:
        status, content_type, data = reply
        try:
            self.connection.settimeout(self.server.limits.write_seconds)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Content-Security-Policy", "frame-ancestors 'none'")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client went away; nobody to tell


def _json(data: Any, status: HTTPStatus = HTTPStatus.OK) -> _Reply:
    return status, _JSON, json.dumps(data).encode()


def _loads(text: str, what: str) -> Any:
    nested = _Refusal(HTTPStatus.BAD_REQUEST,
                      f"{what} nests arrays and objects deeper than {MAX_NESTING} levels")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Refusal(
            HTTPStatus.BAD_REQUEST,
            f"{what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
        ) from None
    except RecursionError:
        raise nested from None
    if not _nesting_within(data, MAX_NESTING):
        raise nested
    return data


def _nesting_within(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def make_server(
    simulator: Simulator, host: str = "127.0.0.1", port: int = 0, *, allow_remote: bool = False,
    limits: ServerLimits | None = None, on_error: Callable[[str], None] | None = None,
) -> SimulatorServer:
    """Bind the simulator to ``host:port`` (port 0: a free one); call ``serve_forever``.
    A non-loopback ``host`` needs ``allow_remote``."""
    return SimulatorServer((host, port), simulator, allow_remote=allow_remote, limits=limits,
                           on_error=on_error)
