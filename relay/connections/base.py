"""What the connection layer and a platform's side of a connection say to each other.

A platform writes a `Link` (the endpoint or gateway call, and what each frame means); the layer's
`Connection` (relay/connections/loop.py) does the rest: the socket dialled layer by layer with a
deadline on each step, pings and the liveness watchdog, the clock-jump check, reconnects with
backoff, health and metrics. Nothing here imports a platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

@dataclass(frozen=True)
class Endpoint:
    """What the endpoint / gateway call gave."""

    url: str  # the wss:// (or ws:// on a fake) URL to open
    ping_seconds: float  # the ping interval the server asks for
    # a random wait the server asks for before a reconnect (Feishu's ReconnectNonce), on top of
    # the layer's own backoff; 0: none
    reconnect_jitter: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()  # extra headers for the WebSocket handshake


@dataclass
class Answer:
    """What to do after one frame."""

    send: list[bytes | str] = field(default_factory=list)  # frames to write back (acks, responses)
    reconnect: bool = False  # the server asked for a new connection (disconnect topic …)
    endpoint: Endpoint | None = None  # new settings the server sent (e.g. Feishu's ClientConfig)
    received: bool = False  # a new event was stored (counted in relay_connection_events)
    redelivered: bool = False  # an event seen before came again (acked, not acted on twice)
    skipped: str = ""  # why the frame was skipped (malformed, unknown…): a short reason without
    # ids in it, logged once per connection and counted after that


class ConnectError(Exception):
    """A failed step of opening a connection: `layer` (dns, tcp, tls, endpoint, auth, websocket
    or subscription) and the platform's or the system's own words ("clientId or clientSecret
    wrong", "Connection refused", …).
    `retry_after`: the wait the server asked for (a "too many connections" refusal), if any."""

    def __init__(self, layer: str, words: str, retry_after: float | None = None) -> None:
        super().__init__(f"{layer}: {words}")
        self.layer, self.words, self.retry_after = layer, words, retry_after


class Link(Protocol):
    """One platform's side of a connection. Optional: `refusal(response) -> str`, the
    platform's words for a refused WebSocket handshake (websockets' Response: status_code,
    headers, body; e.g. Feishu's Handshake-Msg header); without it: the status and body."""

    platform: str  # "feishu" / "dingtalk_app": shown in /healthz and the metrics' labels
    # the endpoint call's URL: `relay check` dials its host layer by layer before calling it
    endpoint_url: str

    def open(self, deadline: float) -> Endpoint:
        """The endpoint / gateway HTTP call, done by time.monotonic() `deadline`; raises
        ConnectError (relay/connections/dial.py's `http_call` names the layer)."""
        ...

    def on_frame(self, raw: bytes | str) -> Answer:
        """One frame; never raises for a bad frame (returns Answer(skipped=…))."""
        ...

    def ping_frame(self) -> bytes | str | None:
        """An application ping to send every ping_seconds (Feishu's protobuf ping), or None:
        WebSocket pings only."""
        ...
