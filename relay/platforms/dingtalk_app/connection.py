"""relay's Stream connection to DingTalk, as a Link of the shared connection layer
(relay/connections/): the gateway call, and what each frame means. The layer keeps the
connection open (deadlines on every step, pings and the watchdog, the clock-jump check,
reconnects with backoff) and shows its health.

The connection is authenticated by the gateway call (AppKey and AppSecret), so relay needs no
public address: @-messages and card clicks come to it over a socket it opened itself. Frames are
handled by relay/platforms/dingtalk_app/inbound.py (stored, acked, then acted on by a worker).
Pings are the WebSocket's own, every PING_SECONDS (the dingtalk-stream SDK's keepalive can hang on
ws.ping() and go deaf; the layer's ping cannot block: writes time out, and no pong or frame
within two intervals closes the socket). A SYSTEM `disconnect` opens a new connection at once.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from relay import __version__, http
from relay.connections import Answer, ConnectError, Connection, Endpoint, http_call
from relay.platforms.dingtalk_app.inbound import EVENT_TYPES, act, answer_frame
from relay.platforms.dingtalk_app.openapi import DingTalkApp
from relay.platforms.dingtalk_app.stream import (GATEWAY_PATH, BadFrame, gateway_request,
                                                 read_frame, socket_url)
from relay.replies.event_worker import EventWorker

if TYPE_CHECKING:
    from relay.runtime import Runtime

UA = f"relay/{__version__} (DingTalk Stream)"
PING_SECONDS = 20.0  # DingTalk names no interval; the SDK's keepalive pings every 60 s
SETTINGS_HINT = ("check RELAY_DINGTALK_APP_KEY / RELAY_DINGTALK_APP_SECRET and that the robot is "
                 "in Stream mode")


def local_ip() -> str:
    """The address this host reaches the outside from (the gateway's `localIp`); "" if none.
    A UDP "connect" sends no packet."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            return str(probe.getsockname()[0])
    except OSError:
        return ""


class DingTalkStream:
    """The Link: DingTalk's side of the Stream connection; `connection` keeps it open."""

    platform = "dingtalk_app"

    def __init__(self, rt: Runtime, app: DingTalkApp, secret: str) -> None:
        self.rt, self.app, self._secret = rt, app, secret
        self.endpoint_url = app.base_url + GATEWAY_PATH
        self.session = http.http_session()
        self.worker = EventWorker(rt, act, EVENT_TYPES, "relay-dingtalk-events",
                                  platform=self.platform)
        self.connection = Connection(rt, self)

    def start(self) -> "DingTalkStream":
        self.worker.start()
        self.connection.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.connection.stop(timeout)
        self.worker.stop(timeout)

    # -- the Link ----------------------------------------------------------------------------
    def open(self, deadline: float) -> Endpoint:
        """The gateway call: the WebSocket URL with its ticket."""
        body = gateway_request(self.app.app_key, self._secret, UA, local_ip())
        resp = http_call(self.session, "POST", self.endpoint_url, deadline, json=body,
                         headers={"User-Agent": UA})
        try:
            answer = resp.json()
        except ValueError:
            raise ConnectError("endpoint", f"gateway: HTTP {resp.status_code}, not JSON") from None
        if resp.status_code != 200:
            words = answer if isinstance(answer, dict) else {}
            said = f"gateway: HTTP {resp.status_code} {words.get('code', '')}: " \
                   f"{words.get('message', '')}"
            if resp.status_code in (400, 401, 403):
                raise ConnectError("auth", f"{said} ({SETTINGS_HINT})")
            wait = resp.headers.get("Retry-After", "")
            raise ConnectError("endpoint", said, retry_after=float(wait) if wait.isdigit()
                               else None)
        try:
            return Endpoint(socket_url(answer), PING_SECONDS)
        except BadFrame as exc:
            raise ConnectError("endpoint", f"gateway: {exc}") from None

    def on_frame(self, raw: bytes | str) -> Answer:
        try:
            frame = read_frame(raw)
        except BadFrame as exc:
            return Answer(skipped=str(exc))
        answer = answer_frame(self.rt, frame)
        if answer.stored:
            self.worker.wake()
        return Answer(send=[answer.ack] if answer.ack is not None else [],
                      reconnect=answer.reconnect, received=answer.stored,
                      redelivered=answer.again)

    def ping_frame(self) -> None:
        return None  # WebSocket pings: DingTalk answers them
