"""relay's Stream connection to DingTalk: the gateway call, the WebSocket, every frame answered.

The connection is authenticated by the gateway call (AppKey and AppSecret), so relay needs no
public address: @-messages and card clicks come to it over a socket it opened itself. Frames are
handled by relay/platforms/dingtalk_app/inbound.py (stored, acked, then acted on by a worker).
Every step has a deadline (the gateway call, the WebSocket opening); a WebSocket ping goes out
every PING_SECONDS and a connection whose pong is not back within PING_SECONDS is closed (the
dingtalk-stream SDK's keepalive can hang on ws.ping() and go deaf; here the ping is the
WebSocket library's own, with its own deadline). A SYSTEM `disconnect` or a dropped connection
opens a new one, after a random wait (full jitter) that doubles up to about a minute and starts
again from a second once a connection has stayed up a minute.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from typing import TYPE_CHECKING

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from relay import __version__, http
from relay.platforms.dingtalk_app.inbound import EVENT_TYPES, act, answer_frame
from relay.platforms.dingtalk_app.openapi import DingTalkApp
from relay.platforms.dingtalk_app.stream import (GATEWAY_PATH, MAX_FRAME_BYTES, BadFrame,
                                                 gateway_request, read_frame, socket_url)
from relay.replies.event_worker import EventWorker

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.dingtalk_stream")

UA = f"relay/{__version__} (DingTalk Stream)"
OPEN_SECONDS = 10.0  # the gateway call, and the WebSocket's TCP + TLS + handshake
PING_SECONDS = 20.0  # a WebSocket ping this often; no pong within as long: the socket is dead
BACKOFF_FIRST, BACKOFF_CAP, STABLE_SECONDS = 1.0, 60.0, 60.0


class StreamError(Exception):
    """The gateway refused or did not answer: the message is DingTalk's own words."""


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
    def __init__(self, rt: Runtime, app: DingTalkApp, secret: str) -> None:
        self.rt, self.app, self._secret = rt, app, secret
        self.worker = EventWorker(rt, act, EVENT_TYPES, "relay-dingtalk-events")
        self._stop = threading.Event()
        self._socket: ClientConnection | None = None
        self.thread = threading.Thread(target=self._run, name="relay-dingtalk-stream",
                                       daemon=True)
        # what /healthz can tell about it
        self.state = "starting"
        self.connected_since: float | None = None
        self.last_frame_at: float | None = None
        self.reconnects = 0
        self.last_error = ""

    # -- the protocol ------------------------------------------------------------------------
    def open_url(self) -> str:
        """The gateway call: the WebSocket URL with its ticket."""
        body = gateway_request(self.app.app_key, self._secret, UA, local_ip())
        try:
            resp = http.call(self.app.session, "POST", self.app.base_url + GATEWAY_PATH,
                             json=body, timeout=OPEN_SECONDS)
            answer = resp.json()
        except http.CallFailed as exc:
            raise StreamError(f"gateway: could not reach DingTalk: {exc}") from None
        except ValueError:
            raise StreamError(f"gateway: HTTP {resp.status_code}, not JSON") from None
        if resp.status_code != 200:
            words = answer if isinstance(answer, dict) else {}
            raise StreamError(f"gateway: HTTP {resp.status_code} {words.get('code', '')}: "
                              f"{words.get('message', '')} (check RELAY_DINGTALK_APP_KEY / "
                              "RELAY_DINGTALK_APP_SECRET and that the robot is in Stream mode)")
        try:
            return socket_url(answer)
        except BadFrame as exc:
            raise StreamError(f"gateway: {exc}") from None

    def on_text(self, raw: str | bytes) -> tuple[str | None, bool]:
        """One frame: (the ack to send or None, whether to open a new connection)."""
        self.last_frame_at = time.time()
        try:
            frame = read_frame(raw)
        except BadFrame as exc:
            log.warning("DingTalk Stream: %s; skipped", exc)
            return None, False
        answer = answer_frame(self.rt, frame)
        if answer.stored:
            self.worker.wake()
        return answer.ack, answer.reconnect

    # -- the connection ----------------------------------------------------------------------
    def start(self) -> "DingTalkStream":
        self.worker.start()
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        sock = self._socket
        if sock is not None:
            sock.close()
        if self.thread.is_alive():
            self.thread.join(timeout)
        self.worker.stop(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            opened, asked = time.monotonic(), False
            try:
                asked = self._connection()
            except (StreamError, WebSocketException, OSError, TimeoutError) as exc:
                self.last_error = self.rt.redact(str(exc) or type(exc).__name__)
                log.warning("DingTalk Stream: %s", self.last_error)
            except Exception:  # never let the connection die with the thread
                log.exception("DingTalk Stream: unexpected error")
            self._socket, self.connected_since = None, None
            if self._stop.is_set():
                break
            self.state, self.reconnects = "reconnecting", self.reconnects + 1
            # asked to by the server, or after a stable while: at once; else after a wait
            failures = 0 if asked or time.monotonic() - opened >= STABLE_SECONDS else failures + 1
            if failures:
                self._stop.wait(random.uniform(0, min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** failures)))
        self.state = "stopped"

    def _connection(self) -> bool:
        """One connection, until it ends; True when the server asked for a new one."""
        url = self.open_url()
        with connect(url, open_timeout=OPEN_SECONDS, ping_interval=PING_SECONDS,
                     ping_timeout=PING_SECONDS, max_size=MAX_FRAME_BYTES, proxy=None,
                     user_agent_header=UA) as sock:
            self._socket = sock
            self.state, self.connected_since = "connected", time.time()
            log.info("DingTalk Stream: connected")
            for raw in sock:
                reply, reconnect = self.on_text(raw)
                if reply is not None:
                    sock.send(reply)
                if reconnect:
                    return True
        return False
