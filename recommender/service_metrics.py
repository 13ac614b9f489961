"""Prometheus metrics of the API: request latency, recommendations, index size.

Each app has its own registry, so several apps in one process (as in tests) never
share counters.
"""

from __future__ import annotations

import time

from fastapi import Request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from indexer.knowledge_base import Stats
from recommender.recommendation import Recommendation

# Label for requests that matched no route, so unknown paths cannot grow the
# number of time series without bound.
UNMATCHED_ROUTE = "unmatched"
# Methods of RFC 9110 and PATCH keep their name as a label. Any other method
# string is counted as OTHER_METHOD, so clients cannot add series with made-up
# methods.
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)
OTHER_METHOD = "other"
# Status recorded for a request whose client disconnected before it was read,
# as nginx logs it. No response reaches that client.
CLIENT_CLOSED_REQUEST = 499
# Request latency buckets in seconds: recommendations take tens to hundreds of
# milliseconds on a CPU, and queued ones take seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ServiceMetrics:
    """The metrics of one app, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "incident_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.recommendations = Counter(
            "incident_recommendations",
            "Recommendations served for firing alerts.",
            registry=self.registry,
        )
        self.no_close_precedent = Counter(
            "incident_no_close_precedent",
            "Recommendations whose best match was below the threshold.",
            registry=self.registry,
        )
        self.replays = Counter(
            "incident_recommendation_replays",
            "Repeated alert deliveries answered from stored recommendations.",
            registry=self.registry,
        )
        self.feedback = Counter(
            "incident_feedback",
            "Verdicts stored on matches and suggestions.",
            ["verdict"],
            registry=self.registry,
        )
        self.records = Gauge(
            "incident_index_records",
            "Records in the knowledge base.",
            registry=self.registry,
        )
        self.vectors = Gauge(
            "incident_index_vectors",
            "Passage vectors in the in-memory index.",
            registry=self.registry,
        )
        self.data_version = Gauge(
            "incident_data_version",
            "Data version of the knowledge base the service answers from.",
            registry=self.registry,
        )
        self.ready = Gauge(
            "incident_ready",
            "1 when the model and index are loaded, 0 during start-up.",
            registry=self.registry,
        )
        self.database_damaged = Gauge(
            "incident_database_damaged",
            "1 once a request found a database file damaged, so the service stays "
            "unready until it is restarted.",
            registry=self.registry,
        )
        self.load_failed = Gauge(
            "incident_load_failed",
            "1 when loading the knowledge base failed, so the service stays "
            "unready until it is restarted.",
            registry=self.registry,
        )

    def observe_recommendation(self, recommendation: Recommendation) -> None:
        """Count one recommendation, and whether it had a close precedent."""
        self.recommendations.inc()
        if recommendation.no_close_precedent:
            self.no_close_precedent.inc()

    def render(
        self, stats: Stats | None, load_failed: bool = False, damaged: bool = False
    ) -> bytes:
        """Return the text exposition, with the index gauges set from stats.

        load_failed and damaged separate the two ways the service stays unready
        until a restart from a load still running.
        """
        self.ready.set(1 if stats is not None else 0)
        self.load_failed.set(1 if load_failed else 0)
        self.database_damaged.set(1 if damaged else 0)
        if stats is not None:
            self.records.set(stats.records)
            self.vectors.set(stats.vectors)
            self.data_version.set(stats.data_version)
        return generate_latest(self.registry)


def metrics_of(request: Request) -> ServiceMetrics:
    """Return the metrics of the app serving the request."""
    return request.app.state.metrics


class RequestMetricsMiddleware:
    """Time each request and record it under its route template, not its path.

    Written against ASGI, for the reason given in recommender/request_context.py.
    It is the outermost layer, so requests rejected early (413, 422) count too,
    and HEAD counts as HEAD.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 500
        # Read first: the HEAD layer inside turns HEAD into GET.
        method = scope["method"]
        method = method if method in STANDARD_METHODS else OTHER_METHOD

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except ClientDisconnect:
            status = CLIENT_CLOSED_REQUEST
            raise
        finally:
            template = route_template(scope)
            metrics: ServiceMetrics = scope["app"].state.metrics
            metrics.request_seconds.labels(method, template, str(status)).observe(
                time.perf_counter() - started
            )


def route_template(scope: Scope) -> str:
    """Return the path template of the route that handled a request.

    FastAPI puts only its API routes in scope["route"]. For plain Starlette
    routes, such as /docs and /openapi.json, the template is found by endpoint.
    """
    template = getattr(scope.get("route"), "path", None)
    if template:
        return str(template)
    endpoint = scope.get("endpoint")
    if endpoint is not None:
        for route in scope["app"].routes:
            if getattr(route, "endpoint", None) is endpoint:
                return str(route.path)
    return UNMATCHED_ROUTE
