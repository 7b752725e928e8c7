"""Prometheus metrics of one relay process, served at GET /metrics.

Each Runtime has its own registry (not prometheus-client's global one), so two runtimes in one
test process never add to each other's counts. Counters count events of this process; sum them
over replicas in Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# issue creation → the platform accepted the card, in seconds: from a prompt card to a day-long outage
LATENCY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter("relay_polls", "Channel polls by outcome (ok, failed, waiting)",
                             ["outcome"], registry=r)
        self.issues_seen = Counter("relay_issues_seen", "Issues read from Guance", registry=r)
        self.issues_malformed = Counter("relay_issues_malformed", "Issues Guance listed that "
                                        "relay could not read (skipped)", registry=r)
        self.deliveries = Counter("relay_deliveries", "Delivery attempts by outcome "
                                  "(sent, failed, dead)", ["outcome"], registry=r)
        self.retries = Counter("relay_delivery_retries",
                               "Sends that were a retry of an earlier failed try", registry=r)
        self.latency = Histogram("relay_delivery_latency_seconds",
                                 "Issue creation in Guance to the chat platform accepting the card",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.replies = Counter("relay_reply_requests", "Reply endpoint requests by outcome "
                               "(ok, bad_request, unauthorized, not_found, guance_error, busy, "
                               "error)", ["outcome"], registry=r)
        self.replies_unlogged = Counter(
            "relay_replies_unlogged", "Refused replies (malformed, too long, no budget) counted "
            "but not kept in the reply log: more than 3 from one sender in 10 minutes", registry=r)
        self.actions = Counter("relay_issue_actions", "Issue actions from chat (claim, resolve, "
                               "close, reopen) by action, route and outcome", ["action", "route",
                                                                               "outcome"],
                               registry=r)

        # the long connections (relay/connections/): events by platform and what became of them
        self.connection_events = Counter(
            "relay_connection_events", "Events over the long connections by platform: received "
            "(new, stored), redelivered (seen before: acked, not acted on again), acted (the "
            "worker finished it), skipped (a frame that could not be read)",
            ["platform", "event"], registry=r)
        self._up = Gauge("relay_connection_up", "1 while the platform's long connection is "
                         "open", ["platform"], registry=r)

    def connection_up(self, platform: str, up: bool) -> None:
        self._up.labels(platform).set(1 if up else 0)

    def watch_connections(self, connections: Callable[[], Iterable[Any]]) -> None:
        """Reconnects and the age of the last frame, read from each Connection when scraped."""
        self.registry.register(_ConnectionCollector(connections))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


REPLY_OUTCOMES = {200: "ok", 400: "bad_request", 401: "unauthorized", 404: "not_found",
                  413: "bad_request", 502: "guance_error", 503: "busy",
                  504: "guance_error"}


def reply_outcome(status: int) -> str:
    return REPLY_OUTCOMES.get(status, "error")


def metrics_blueprint(metrics: Metrics):
    """`GET /metrics` in Prometheus' text format."""
    from flask import Blueprint, Response

    bp = Blueprint("metrics", __name__)

    @bp.get("/metrics")
    def exposition():
        return Response(metrics.exposition(), content_type=CONTENT_TYPE)

    return bp


class _ConnectionCollector:
    def __init__(self, connections: Callable[[], Iterable[Any]]) -> None:
        self.connections = connections

    def describe(self) -> list:
        return []  # families known only when scraped: no checks at registration

    def collect(self):
        reconnects = CounterMetricFamily("relay_connection_reconnects", "New connections "
                                         "opened after the first (drops, watchdog, clock "
                                         "jumps, server requests)", labels=["platform"])
        since = GaugeMetricFamily("relay_connection_seconds_since_frame", "Seconds since the "
                                  "last frame or pong on the long connection", labels=["platform"])
        for conn in self.connections():
            health = conn.health()
            reconnects.add_metric([conn.platform], conn.reconnects)
            if health["seconds_since_frame"] is not None:
                since.add_metric([conn.platform], health["seconds_since_frame"])
        yield reconnects
        yield since
