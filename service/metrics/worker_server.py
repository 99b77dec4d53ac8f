"""`sparring worker`'s own `/metrics`: a small threaded HTTP server beside its event loop.

prometheus_client's WSGI app renders the page; around it, only `GET /metrics` from an address
in SPARRING_METRICS_ALLOW gets an answer (404 for anything else, as on the HTTP service). The
worker is not behind a proxy, so the peer address is the client.
"""

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from service.metrics.scrape import Scrape
from service.settings import Settings

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
StartResponse = Callable[..., Any]


class _Server(ThreadingMixIn, WSGIServer):
    # A scrape that hangs never keeps the worker from exiting.
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not worth a line each in the worker's log."""


class WorkerMetricsServer:
    """Serves the worker's scrape until `stop`; `port` is the one bound (SPARRING_WORKER_
    METRICS_PORT, or a free one when that is 0)."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.scrape = Scrape(settings)
        page = make_wsgi_app(self.scrape.registry)

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            if environ.get("PATH_INFO") != METRICS_PATH or not self.scrape.allows(
                environ.get("REMOTE_ADDR")
            ):
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"Not Found"]
            return page(environ, start_response)

        server_class = _Server6 if ":" in settings.host else _Server
        self.server = make_server(
            settings.host, port, app, server_class=server_class, handler_class=_QuietHandler
        )
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="worker-metrics", daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        log.info("Worker metrics served on port %d at %s.", self.port, METRICS_PATH)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.scrape.close()


def start_worker_metrics(settings: Settings) -> WorkerMetricsServer | None:
    """The worker's metrics server, started, when SPARRING_WORKER_METRICS_PORT is set."""
    if settings.worker_metrics_port is None:
        return None
    server = WorkerMetricsServer(settings, settings.worker_metrics_port)
    server.start()
    return server
