"""The metrics of the HTTP service: request count and latency, 429s, and the `/metrics` route."""

import time
from typing import Any

from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.plugins import InitPluginProtocol
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import RateLimited
from service.http.controllers.metrics import SCRAPE_DEPENDENCY, MetricsController
from service.metrics.scrape import Scrape
from service.metrics.series import (
    HTTP_REQUEST_SECONDS,
    HTTP_REQUESTS,
    RATE_LIMIT_REFUSALS,
    UNMATCHED_ROUTE,
)
from service.settings import Settings

# Where a request's start and status wait in its scope state until its answer is sent.
STARTED_KEY = "sparring_metrics_started"
STATUS_KEY = "sparring_metrics_status"
# Any other method a client sends is counted as "other": a label never holds what a client
# chose freely.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route(scope: Scope) -> str:
    # The template the router matched; a request it matched to nothing keeps its path out.
    return str(scope.get("path_template") or UNMATCHED_ROUTE)


def _method(scope: Scope) -> str:
    method = str(scope.get("method", ""))
    return method if method in METHODS else "other"


def _state(scope: Scope) -> dict[str, Any]:
    return scope.setdefault("state", {})


class RequestTiming(ASGIMiddleware):
    """Notes when a routed request reached the app; the answer is counted as it is sent
    (`count_answer`), since an error raised in a middleware is answered outside of this one."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        _state(scope)[STARTED_KEY] = time.perf_counter()
        await next_app(scope, receive, send)


async def count_answer(message: Message, scope: Scope) -> None:
    """A `before_send` hook: every answer of the app passes here, error answers included."""
    if scope["type"] != ScopeType.HTTP:
        return
    state = _state(scope)
    if message["type"] == "http.response.start":
        state[STATUS_KEY] = message["status"]
        return
    if message["type"] != "http.response.body" or message.get("more_body", False):
        return
    labels = {
        "method": _method(scope), "route": _route(scope), "status": str(state.get(STATUS_KEY)),
    }
    HTTP_REQUESTS.labels(**labels).inc()
    started = state.get(STARTED_KEY)
    # A request no route matched never reached the middleware: counted, not timed.
    if isinstance(started, float):
        HTTP_REQUEST_SECONDS.labels(**labels).observe(time.perf_counter() - started)


async def count_refusal(exception: BaseException, scope: Scope) -> None:
    """An `after_exception` hook: every 429 is a `RateLimited`, wherever it was raised (the
    request rate limit, the fair-share limits of prompts and live streams)."""
    if isinstance(exception, RateLimited):
        RATE_LIMIT_REFUSALS.labels(route=_route(scope)).inc()


class ServiceMetrics(InitPluginProtocol):
    """Counts every request of the app and serves `GET /metrics` to SPARRING_METRICS_ALLOW.

    Added after `AccessControl`, so its timing middleware is the outermost.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        scrape = Scrape(self.settings)

        def provide_scrape() -> Scrape:
            return scrape

        app_config.middleware.insert(0, RequestTiming())
        app_config.before_send.append(count_answer)
        app_config.after_exception.append(count_refusal)
        app_config.route_handlers.append(MetricsController)
        app_config.dependencies[SCRAPE_DEPENDENCY] = Provide(
            provide_scrape, sync_to_thread=False, use_cache=True
        )
        app_config.on_shutdown.append(scrape.close)
        return app_config
