"""The simulator's HTTP server: the standard library's ThreadingHTTPServer and a JSON API.

Routes (all JSON unless said otherwise). Errors are ``{"error": "..."}``: 400 for bad
input (an unknown machine, session or event included), 404 for an unknown route, 503
when Graphviz cannot draw the diagram.

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

Saving a scenario writes a file, so that request must come from the page itself: a JSON
body, an ``Origin`` (when the browser sends one) that is the server's own, and a ``Host``
that is an address or ``localhost`` (a name could be another site rebound to this one).
"""

from __future__ import annotations

import ipaddress
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flowcheck.errors import FlowcheckError
from flowcheck.formats.diagram import GraphvizMissingError
from flowcheck.web.simulator import Simulator
from flowcheck.web.svg import render_svg

MAX_BODY = 5 * 1024 * 1024
"""Largest request body accepted: a verify report of many machines fits easily."""

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


class ForbiddenError(FlowcheckError):
    """A request the server refuses whatever its content (a write from another site)."""


class SimulatorServer(ThreadingHTTPServer):
    """Serves one :class:`Simulator`; diagrams are drawn once per machine."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        super().__init__(address, _Handler)
        self.simulator = simulator
        self._svgs: dict[str, str] = {}
        self._svg_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = host if isinstance(host, str) else host.decode()
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{port}/"

    def diagram(self, name: str) -> str:
        chart = self.simulator.chart(name)
        with self._svg_lock:
            if name not in self._svgs:
                self._svgs[name] = render_svg(chart)
            return self._svgs[name]


def make_server(simulator: Simulator, host: str = "127.0.0.1", port: int = 0) -> SimulatorServer:
    """Bind the simulator to ``host:port`` (port 0: a free one); call ``serve_forever``."""
    return SimulatorServer((host, port), simulator)


def static_file(name: str) -> bytes | None:
    """A file of the page, or None. Only plain names inside static/ are served."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    path = resources.files("flowcheck.web").joinpath("static", name)
    return path.read_bytes() if path.is_file() else None


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "flowcheck"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the command prints the URL; request logs would bury it."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        self._query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if method == "GET":
                self._get(parts)
            else:
                self._post(parts, self._body())
        except GraphvizMissingError:
            self._json({"error": _NO_GRAPHVIZ}, HTTPStatus.SERVICE_UNAVAILABLE)
        except ForbiddenError as exc:
            self._json({"error": str(exc)}, HTTPStatus.FORBIDDEN)
        except FlowcheckError as exc:
            self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)

    def _get(self, parts: list[str]) -> None:
        sim = self.server.simulator
        match parts:
            case []:
                self._static("index.html")
            case ["static", name]:
                self._static(name)
            case ["api", "machines"]:
                self._json({"machines": sim.machines()})
            case ["api", "machines", name, "diagram.svg"]:
                self._send(self.server.diagram(name).encode(), _CONTENT_TYPES[".svg"])
            case ["api", "session", sid]:
                self._json(sim.view(sid))
            case ["api", "session", sid, "scenario.yaml"]:
                name = self._query.get("name") or "saved session"
                text = sim.scenario_text(sid, name, self._query.get("file", ""))
                self._send(text.encode(), _CONTENT_TYPES[".yaml"])
            case ["api", "scenarios"]:
                self._json({"scenarios": sim.scenario_files()})
            case ["api", "scenarios", file]:
                self._json(sim.scenario_file(file))
            case _:
                self._not_found()

    def _post(self, parts: list[str], body: dict[str, Any]) -> None:
        sim = self.server.simulator
        match parts:
            case ["api", "session"]:
                self._json(sim.open(str(body.get("machine", "")), body.get("steps")))
            case ["api", "session", sid, "send"]:
                self._json(sim.send(sid, body.get("event", ""), body.get("payload"),
                                    body.get("actor"), body.get("expect")))
            case ["api", "session", sid, "check"]:
                self._json(sim.check(sid, str(body.get("event", "")), body.get("payload") or {},
                                     body.get("actor")))
            case ["api", "session", sid, "scenario"]:
                self._own_page_only()
                self._json(sim.save_scenario(sid, str(body.get("name") or ""),
                                             body.get("file"), bool(body.get("overwrite"))))
            case ["api", "session", sid, "undo"]:
                self._json(sim.undo(sid))
            case ["api", "session", sid, "reset"]:
                self._json(sim.reset(sid))
            case ["api", "counterexamples"]:
                report = body.get("report")
                if isinstance(report, str):
                    report = _loads(report, "the report")
                self._json({"counterexamples": sim.counterexamples(report)})
            case _:
                self._not_found()

    def _own_page_only(self) -> None:
        """Refuse a write that another site could have made the browser send."""
        host = self.headers.get("Host") or ""
        name = urlsplit(f"//{host}").hostname or ""
        try:
            ipaddress.ip_address(name)
            literal = True
        except ValueError:
            literal = name == "localhost"
        origin = self.headers.get("Origin")
        json_body = (self.headers.get("Content-Type") or "").startswith("application/json")
        if not literal or not json_body or (origin is not None and origin != f"http://{host}"):
            raise ForbiddenError(
                "saving a scenario is only accepted from the simulator's own page "
                "(opened at its address or localhost)"
            )

    def _body(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            raise FlowcheckError(f"request body must be 0 to {MAX_BODY} bytes")
        raw = self.rfile.read(length) if length else b"{}"
        data = _loads(raw.decode("utf-8", errors="replace"), "the request body")
        if not isinstance(data, dict):
            raise FlowcheckError("the request body must be a JSON object")
        return data

    def _static(self, name: str) -> None:
        data = static_file(name)
        if data is None:
            self._not_found()
            return
        suffix = name[name.rfind("."):]
        self._send(data, _CONTENT_TYPES.get(suffix, "application/octet-stream"))

    def _not_found(self) -> None:
        self._json({"error": f"no such resource: {self.command} {self.path}"},
                   HTTPStatus.NOT_FOUND)

    def _json(self, data: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(json.dumps(data).encode(), "application/json", status)

    def _send(self, data: bytes, content_type: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)


def _loads(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlowcheckError(
            f"{what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from exc
