"""The per-process HTTP endpoint: /healthz (loop alive), /readyz (assigned, not stopping), /metrics, and
a service's own pages (the monitor's `/`). /readyz says 503 and why while a dependency is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["HealthServer", "HealthState"]


class HealthState:
    """What the endpoints report; the runner updates it."""

    def __init__(self, liveness_timeout_s: float = 60.0) -> None:
        self.liveness_timeout_s = liveness_timeout_s
        self.last_beat = time.monotonic()
        self.ready = False
        self.detail = "starting"
        self.outage: str | None = None  # what the service waits for now, if anything

    @property
    def ready_now(self) -> bool:
        """Ready, and waiting for no dependency."""
        return self.ready and self.outage is None

    def beat(self) -> None:
        """The loop is alive."""
        self.last_beat = time.monotonic()

    @property
    def alive(self) -> bool:
        """True while the loop has beaten recently."""
        return time.monotonic() - self.last_beat < self.liveness_timeout_s


class HealthServer:
    """A small threaded HTTP server; port 0 picks a free one (see `.port`)."""

    def __init__(
        self,
        state: HealthState,
        registry: CollectorRegistry,
        host: str,
        port: int,
        pages: Callable[[str], tuple[str, bytes] | None] | None = None,
    ) -> None:
        self.state, self.registry, self.pages = state, registry, pages
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.respond(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def respond(self, request: BaseHTTPRequestHandler) -> None:
        """Serve one GET."""
        path = request.path.split("?")[0]
        if path == "/metrics":
            code, ctype, body = 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        elif path == "/healthz":
            ok = self.state.alive
            code, ctype, body = (200 if ok else 503), "text/plain", (b"ok" if ok else b"stalled")
        elif path == "/readyz":
            ok, detail = self.state.ready_now, self.state.outage or self.state.detail
            code, ctype, body = (200 if ok else 503), "text/plain", detail.encode()
        elif self.pages is not None and (page := self._page(path)) is not None:
            code, (ctype, body) = 200, page
        else:
            code, ctype, body = 404, "text/plain", b"not found: try /healthz, /readyz, /metrics"
        request.send_response(code)
        request.send_header("Content-Type", ctype)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _page(self, path: str) -> tuple[str, bytes] | None:
        assert self.pages is not None
        try:
            return self.pages(path)
        except Exception as exc:  # a page must never take the health endpoint down
            return "text/plain", f"page error: {exc}".encode()

    def start(self) -> HealthServer:
        """Serve in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()
