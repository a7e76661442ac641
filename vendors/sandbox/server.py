"""One small HTTP server simulating every registered vendor, each under its own prefix.

    http://127.0.0.1:8765/<kind>/...    -> the sandbox app the registry names for <kind>
                                           (``vendors.registry``: one entry per vendor)

An account's ``base_url`` points at ``http://host:port/<kind>`` (plus the vendor's
own API root, the ``path`` of its client's ``demo`` set-up).

Control endpoints (JSON) for tests, demos and benchmarks:

    GET  /_sandbox/requests[?vendor=<kind>]   every request received, in order
    POST /_sandbox/reset                      forget state, log and faults
    POST /_sandbox/faults                     {"vendor": null|"<kind>", "latency_ms": 20,
                                               "error_500_rate": 0.1, "error_503_rate": 0, "error_429_rate": 0,
                                               "retry_after": 1, "slow_rate": 0, "slow_seconds": 30,
                                               "drop_rate": 0, "drop_after_rate": 0, "seed": 1}
    GET  /_sandbox/state[?vendor=<kind>]      each simulator's state summary
    POST /_sandbox/act?vendor=<kind>          {"action": "<name>", ...}: make the simulator do
                                              what its real counterpart does on its own (e.g.
                                              a dialler calling a lead: "call")

Faults are drawn from a seeded random generator per vendor, so a run is
repeatable. ``drop_rate`` closes the connection before the request is handled;
``drop_after_rate`` handles it (state changes!) and then drops the answer, the
case that tests idempotency.

A fault aimed at some requests only adds ``"path"`` (a regular expression searched
in the path after the vendor prefix), optionally ``"method"``, and ``"times"`` (how
many matching requests it hits; unlimited without it), e.g. the next GET of a page
of errors::

    {"vendor": "<kind>", "path": "/errors$", "method": "GET", "times": 1, "error_503_rate": 1}

Aimed faults are tried in the order they were set, before the vendor's general ones;
setting a vendor's general faults (``{"vendor": "<kind>"}`` alone clears them) drops
its aimed ones.
"""
from __future__ import annotations

import json
import logging
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from vendors import registry

log = logging.getLogger(__name__)

LOG_LIMIT = 200_000


@dataclass
class SandboxRequest:
    method: str
    path: str                      # after the vendor prefix, starting with "/"
    query: dict[str, list[str]]
    headers: dict[str, str]        # lower-case names
    body: bytes

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class SandboxResponse:
    status: int
    body: Any = None               # dict/list -> JSON; str -> text; None -> empty
    headers: dict[str, str] = field(default_factory=dict)


class VendorSim:
    """Base of one vendor's simulator (its sandbox app, named by its registry entry).
    Subclasses keep state in attributes and implement ``handle``; ``reset`` must forget
    everything. The sandbox serves it at ``/<prefix>``, the vendor's kind."""

    prefix = ""
    # the demo: a simulator whose vendor calls leads records a call of its own on each lead this
    # many seconds after it arrived (``vendor_sandbox --calls-after``); None: only when told (act)
    calls_after: float | None = None

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:  # pragma: no cover - overridden
        pass

    def handle(self, request: SandboxRequest) -> SandboxResponse:  # pragma: no cover
        raise NotImplementedError

    def state(self) -> dict:
        return {}

    def act(self, action: str, params: dict) -> SandboxResponse:
        """A control action (``POST /_sandbox/act``); simulators that offer some override this."""
        return SandboxResponse(404, {"message": f"{self.prefix or 'this simulator'} has no action {action!r}"})


@dataclass
class Faults:
    latency_ms: float = 0
    error_500_rate: float = 0
    error_503_rate: float = 0
    error_429_rate: float = 0
    retry_after: float = 1
    slow_rate: float = 0
    slow_seconds: float = 30
    drop_rate: float = 0
    drop_after_rate: float = 0
    seed: int = 1


@dataclass
class AimedFault:
    """Faults for the requests of one vendor whose path matches, ``times`` times (None: always)."""

    vendor: str | None
    path: re.Pattern
    method: str | None
    times: int | None
    faults: Faults

    def takes(self, prefix: str, request: "SandboxRequest") -> bool:
        if self.times == 0 or (self.vendor and self.vendor != prefix):
            return False
        if self.method and self.method != request.method or not self.path.search(request.path):
            return False
        if self.times is not None:
            self.times -= 1
        return True


class Sandbox:
    def __init__(self, latency_ms: float = 0, calls_after: float | None = None):
        self.calls_after = calls_after
        self.sims: dict[str, VendorSim] = {}
        self.mount_registered()
        self.default_latency = latency_ms
        self.log: list[dict] = []
        self.log_lock = threading.Lock()
        self.reset()

    def mount_registered(self) -> None:
        """Serve each registered vendor's sandbox app at ``/<kind>``, and only those: a vendor
        registered or unregistered after start is (un)mounted on the next request."""
        registered = registry.vendors()
        if registered.keys() == self.sims.keys():
            return
        sims = {}
        for kind, vendor in registered.items():
            sims[kind] = self.sims.get(kind) or vendor.sandbox_class()
            sims[kind].prefix = kind
            sims[kind].calls_after = self.calls_after
        self.sims = sims  # replaced whole: request threads may be iterating the old one

    def reset(self) -> None:
        for sim in self.sims.values():
            with sim.lock:
                sim.reset()
        with self.log_lock:
            self.log.clear()
        self.faults: dict[str | None, Faults] = {None: Faults(latency_ms=self.default_latency)}
        self.aimed: list[AimedFault] = []
        self.rngs: dict[str, random.Random] = {}

    def set_faults(self, config: dict) -> None:
        config = dict(config)
        vendor = config.pop("vendor", None)
        path, method, times = config.pop("path", None), config.pop("method", None), config.pop("times", None)
        known = set(Faults.__dataclass_fields__)
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        if path is not None:
            with self.log_lock:
                self.aimed.append(AimedFault(vendor, re.compile(path), method and method.upper(), times,
                                             Faults(**config)))
            return
        self.faults[vendor] = Faults(**config)
        with self.log_lock:
            self.aimed = [a for a in self.aimed if vendor and a.vendor != vendor]
        for prefix in ([vendor] if vendor else list(self.sims)):
            self.rngs.pop(prefix, None)

    def faults_for(self, prefix: str, request: "SandboxRequest | None" = None) -> tuple[Faults, random.Random]:
        faults = None
        if request is not None and self.aimed:
            with self.log_lock:
                faults = next((a.faults for a in self.aimed if a.takes(prefix, request)), None)
        faults = faults or self.faults.get(prefix) or self.faults[None]
        rng = self.rngs.get(prefix)
        if rng is None:
            rng = self.rngs[prefix] = random.Random(f"{faults.seed}:{prefix}")
        return faults, rng

    def record(self, prefix: str, request: SandboxRequest, status: int | None, outcome: str = "") -> None:
        try:
            body: Any = json.loads(request.body) if request.body else None
        except ValueError:
            body = request.body.decode("utf-8", "replace")
        entry = {
            "vendor": prefix, "method": request.method, "path": request.path, "query": request.query,
            "headers": request.headers, "body": body, "status": status, "outcome": outcome, "at": time.time(),
        }
        with self.log_lock:
            if len(self.log) < LOG_LIMIT:
                self.log.append(entry)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body are separate writes: without TCP_NODELAY, Nagle + delayed ACK
    # add ~40 ms to every keep-alive request
    disable_nagle_algorithm = True
    server: "SandboxServer"

    def log_message(self, format, *args):  # quiet: the request log is the record
        pass

    def _dispatch(self):
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        segments = parts.path.split("/", 2)
        prefix = segments[1] if len(segments) > 1 else ""
        rest = "/" + (segments[2] if len(segments) > 2 else "")
        request = SandboxRequest(
            method=self.command, path=rest, query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()}, body=body,
        )
        sandbox.mount_registered()
        if prefix == "_sandbox":
            return self._control(request)
        sim = sandbox.sims.get(prefix)
        if sim is None:
            return self._send(SandboxResponse(404, {"message": f"no simulator at /{prefix}"}))
        faults, rng = sandbox.faults_for(prefix, request)
        with sim.lock:
            roll = [rng.random() for _ in range(6)]
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if roll[0] < faults.drop_rate:
            sandbox.record(prefix, request, None, "dropped before handling")
            return self._drop()
        if roll[1] < faults.slow_rate:
            time.sleep(faults.slow_seconds)
        for rate, status in ((faults.error_500_rate, 500), (faults.error_503_rate, 503), (faults.error_429_rate, 429)):
            if roll[2] < rate:
                sandbox.record(prefix, request, status, "fault injected")
                headers = {"Retry-After": str(int(faults.retry_after))} if status != 500 else {}
                return self._send(SandboxResponse(status, {"message": "injected fault"}, headers))
            roll[2] -= rate
        try:
            with sim.lock:
                response = sim.handle(request)
        except Exception as exc:  # a simulator bug must show as a 500, not hang the client
            log.exception("sandbox %s crashed", prefix)
            response = SandboxResponse(500, {"message": f"sandbox error: {exc}"})
        if roll[3] < faults.drop_after_rate:
            sandbox.record(prefix, request, response.status, "handled, answer dropped")
            return self._drop()
        sandbox.record(prefix, request, response.status)
        self._send(response)

    def _control(self, request: SandboxRequest):
        sandbox = self.server.sandbox
        action = request.path.strip("/")
        vendor = request.arg("vendor")
        if action == "requests" and request.method == "GET":
            with sandbox.log_lock:
                entries = [e for e in sandbox.log if not vendor or e["vendor"] == vendor]
            return self._send(SandboxResponse(200, entries))
        if action == "reset" and request.method == "POST":
            sandbox.reset()
            return self._send(SandboxResponse(200, {"reset": True}))
        if action == "faults" and request.method == "POST":
            try:
                sandbox.set_faults(request.json())
            except (ValueError, TypeError) as exc:
                return self._send(SandboxResponse(400, {"message": str(exc)}))
            return self._send(SandboxResponse(200, {"ok": True}))
        if action == "act" and request.method == "POST":
            sim = sandbox.sims.get(vendor or "")
            if sim is None:
                return self._send(SandboxResponse(404, {"message": f"no simulator {vendor!r}"}))
            try:
                params = dict(request.json())
            except (ValueError, TypeError) as exc:
                return self._send(SandboxResponse(400, {"message": str(exc)}))
            with sim.lock:
                return self._send(sim.act(str(params.pop("action", "")), params))
        if action == "state" and request.method == "GET":
            state = {}
            for prefix, sim in sandbox.sims.items():
                if not vendor or vendor == prefix:
                    with sim.lock:
                        state[prefix] = sim.state()
            return self._send(SandboxResponse(200, state))
        return self._send(SandboxResponse(404, {"message": "unknown sandbox control"}))

    def _send(self, response: SandboxResponse):
        if response.body is None:
            payload = b""
        elif isinstance(response.body, (dict, list)):
            payload = json.dumps(response.body).encode()
            response.headers.setdefault("Content-Type", "application/json")
        else:
            payload = str(response.body).encode()
            response.headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, sandbox: Sandbox):
        super().__init__(address, _Handler)
        self.sandbox = sandbox

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def start_in_thread(host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0) -> SandboxServer:
    """Start a sandbox in a background thread (tests); ``port=0`` picks a free port."""
    server = SandboxServer((host, port), Sandbox(latency_ms=latency_ms))
    thread = threading.Thread(target=server.serve_forever, name="vendor-sandbox", daemon=True)
    thread.start()
    return server
