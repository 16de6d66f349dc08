"""Prometheus metrics of one process (`GET /metrics`).

One registry per process, defined at import; with several uvicorn workers each process serves its
own numbers (scrape each, or run one worker per container).
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "live_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "live_http_request_seconds", "HTTP request duration by route", ["method", "route"],
    registry=REGISTRY,
)
# One counter for every limit at the doors (docs/security.md lists the `limit` values): a
# refusal is cheap to count and the first thing an operator looks for under attack.
LIMIT_REFUSALS = Counter(
    "live_limit_refusals_total", "Requests and connections refused or cut by a limit", ["limit"],
    registry=REGISTRY,
)
HTTP_CLIENT_GONE = Counter(
    "live_http_client_disconnects_total",
    "Requests whose client went away before the response (answered 499 in live_http_requests_total)",
    registry=REGISTRY,
)


def refused(limit: str) -> None:
    """Count one refusal by the named limit."""
    LIMIT_REFUSALS.labels(limit).inc()


def render() -> bytes:
    return generate_latest(REGISTRY)


class HttpMetrics:
    """Counts and times HTTP requests, labelled by route template (never the raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
            HTTP_SECONDS.labels(scope["method"], template).observe(time.perf_counter() - start)
