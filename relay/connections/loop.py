"""`Connection`: one platform's long connection, kept open by a thread of its own.

What it guarantees (docs/connections.md):
* every step has a deadline: the endpoint call (run in a thread that is given up at the deadline,
  so even a call that ignores its own timeout cannot stop the reconnects), DNS, TCP, TLS and the
  WebSocket handshake (relay/connections/dial.py);
* liveness: a ping every `ping_seconds` (the Link's application ping, else a WebSocket ping); no
  frame and no pong for twice that → the socket is closed and a new one opened, also when the
  peer vanished and the socket still looks open (half-open);
* the wall clock against the monotonic one: a jump (a laptop or VM resumed from sleep, a clock
  stepped) → a new connection at once, the old one is likely dead;
* reconnects after a random wait (full jitter) that doubles with each connection that failed or
  did not stay up STABLE_SECONDS (or STABLE_PINGS ping intervals, if fewer), capped at
  BACKOFF_CAP; the first wait is at most a quarter of a ping interval (up to BACKOFF_FIRST), so a
  half-open connection is replaced within three intervals; the server's own wishes on top (a
  disconnect notice: at once; a "too many connections" refusal: at least the wait it names);
* a frame the Link cannot read is logged once per reason and skipped; a Link that raises is
  logged, the frame skipped, the connection kept.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection

from relay import __version__
from relay.connections.base import Answer, ConnectError, Endpoint, Link
from relay.connections.dial import abort, dial

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.connections")

UA = f"relay/{__version__}"
OPEN_SECONDS = 10.0  # the endpoint call; then DNS + TCP + TLS + the WebSocket handshake
BACKOFF_FIRST, BACKOFF_CAP = 1.0, 60.0
# a connection that stayed up this long (or this many ping intervals, if fewer) resets the backoff
STABLE_SECONDS, STABLE_PINGS = 60.0, 3
MIN_PING_SECONDS = 0.5  # a server asking for pings more often than this gets them this often
DEAF_PINGS = 2.0  # no frame and no pong for this many ping intervals: the connection is dead
JUMP_SECONDS = 10.0  # the wall clock moved this much against the monotonic one: reconnect
DOWN_SECONDS = 180.0  # down longer than this: /healthz says unhealthy
HOUR = 3600.0
CONNECTING, CONNECTED, WAITING, STOPPED = "connecting", "connected", "reconnecting", "stopped"


class Connection:
    """Runs one Link in a thread; `health()` is what /healthz and /metrics show of it."""

    def __init__(self, rt: Runtime, link: Link) -> None:
        self.rt, self.link = rt, link
        self.platform = link.platform
        self.wall: Callable[[], float] = time.time  # replaced in tests to jump the clock
        self._stop = threading.Event()
        self._ws: ClientConnection | None = None
        self._thread = threading.Thread(target=self._run, name=f"relay-{link.platform}-conn",
                                        daemon=True)
        self.state = CONNECTING
        self.connected_since: float | None = None  # wall clock, for people
        self._connected_at: float | None = None  # monotonic
        self._down_since = time.monotonic()
        self._last_frame: float | None = None
        self._reconnects: deque[float] = deque()
        self.reconnects = 0  # since start (the metrics' counter)
        self.last_error: str | None = None  # kept once connected again: why it reconnected
        self.last_error_at: float | None = None  # wall clock
        self._logged: set[str] = set()  # skip reasons logged on this connection

    # -- life ------------------------------------------------------------------------------
    def start(self) -> "Connection":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            abort(ws)
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.state = STOPPED

    # -- what it shows ---------------------------------------------------------------------
    def down_seconds(self) -> float:
        return 0.0 if self.state == CONNECTED else time.monotonic() - self._down_since

    def health(self) -> dict[str, Any]:
        now = time.monotonic()
        self._forget_old(now)
        since = self.connected_since
        return {
            "platform": self.platform, "state": self.state,
            "connected_since": None if since is None else datetime.fromtimestamp(
                since, timezone.utc).isoformat(timespec="seconds"),
            "seconds_since_frame": None if self._last_frame is None else round(
                now - self._last_frame, 1),
            "reconnects_last_hour": len(self._reconnects),
            "last_error": self.last_error,
            "last_error_at": None if self.last_error_at is None else datetime.fromtimestamp(
                self.last_error_at, timezone.utc).isoformat(timespec="seconds"),
            "down_seconds": round(self.down_seconds(), 1),
            "ok": self.state == CONNECTED or self.down_seconds() <= DOWN_SECONDS}

    def _forget_old(self, now: float) -> None:
        while self._reconnects and self._reconnects[0] < now - HOUR:
            self._reconnects.popleft()

    # -- the loop --------------------------------------------------------------------------
    def _run(self) -> None:
        failures, ping_seconds, jitter = 0, 20.0, 0.0
        while not self._stop.is_set():
            self.state, asked, retry_after = CONNECTING, False, 0.0
            try:
                endpoint = self._open()
                ping_seconds = max(endpoint.ping_seconds, MIN_PING_SECONDS)
                jitter = endpoint.reconnect_jitter
                asked = self._keep(endpoint)
            except ConnectError as exc:
                self._failed(f"{exc.layer}: {exc.words}")
                retry_after = exc.retry_after or 0.0
            except (WebSocketException, OSError) as exc:
                self._failed(f"websocket: {type(exc).__name__}: {exc}")
            except Exception as exc:  # never let the connection die with its thread
                log.exception("%s connection: unexpected error", self.platform)
                self._failed(f"{type(exc).__name__}: {exc}")
            stable = (self._connected_at is not None and time.monotonic() - self._connected_at
                      >= min(STABLE_SECONDS, STABLE_PINGS * ping_seconds))
            self._went_down()
            if self._stop.is_set():
                break
            failures = 0 if stable or asked else failures + 1
            first = min(BACKOFF_FIRST, ping_seconds / 4)  # a reconnect fits in a ping interval
            wait = 0.0 if asked else random.uniform(0, min(BACKOFF_CAP, first * 2 ** failures))
            wait = max(wait + random.uniform(0, jitter), min(retry_after, BACKOFF_CAP))
            self.state = WAITING
            self._reconnects.append(time.monotonic())
            self._forget_old(time.monotonic())
            self.reconnects += 1
            self._stop.wait(wait)
        self.state = STOPPED

    def _failed(self, words: str) -> None:
        self.last_error, self.last_error_at = self.rt.redact(words), self.wall()
        log.warning("%s connection: %s", self.platform, self.last_error)

    def _went_down(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            abort(ws)
        if self._connected_at is not None:
            self._down_since = time.monotonic()
        self.connected_since = self._connected_at = None
        self.rt.metrics.connection_up(self.platform, False)

    def _open(self) -> Endpoint:
        """The Link's endpoint call, in a thread given up at the deadline (a call that hangs
        past its own timeout must not stop the reconnects for good)."""
        deadline = time.monotonic() + OPEN_SECONDS
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["endpoint"] = self.link.open(deadline)
            except BaseException as exc:  # handed to the connection's thread
                box["error"] = exc

        thread = threading.Thread(target=call, name=f"relay-{self.platform}-open", daemon=True)
        thread.start()
        thread.join(OPEN_SECONDS + 1.0)
        if thread.is_alive():
            raise ConnectError("endpoint", f"no answer within {OPEN_SECONDS:.0f} s")
        if "error" in box:
            raise box["error"]
        return box["endpoint"]

    def _keep(self, endpoint: Endpoint) -> bool:
        """One connection, until it ends; True when the server asked for a new one."""
        refusal = getattr(self.link, "refusal", None)
        ws = dial(endpoint.url, time.monotonic() + OPEN_SECONDS, headers=endpoint.headers,
                  user_agent=UA, write_seconds=max(endpoint.ping_seconds, MIN_PING_SECONDS),
                  refusal=refusal)
        self._ws = ws
        if self._stop.is_set():
            return False
        now = time.monotonic()
        self.state, self.connected_since, self._connected_at = CONNECTED, self.wall(), now
        self._logged = set()
        self.rt.metrics.connection_up(self.platform, True)
        log.info("%s connection: connected", self.platform)
        ping = max(endpoint.ping_seconds, MIN_PING_SECONDS)
        alive, next_ping, pong, pinged = now, now + ping, None, now
        offset = self.wall() - now
        while not self._stop.is_set():
            now = time.monotonic()
            if abs(self.wall() - now - offset) > JUMP_SECONDS:
                self._failed("the wall clock jumped (resumed from sleep?): a new connection")
                return False
            if pong is not None and pong.is_set():  # the pong's own time, not when seen
                alive = self._last_frame = max(alive, pinged + ws.latency)
                pong = None
            if now - alive > DEAF_PINGS * ping:
                self._failed(f"no frame or pong for {now - alive:.1f} s "
                             f"(ping every {ping:g} s): closed, opening a new connection")
                return False
            if now >= next_ping:
                frame = self.link.ping_frame()
                if frame is not None:
                    ws.send(frame)
                elif pong is None:
                    pong, pinged = ws.ping(), now
                next_ping = now + ping
            wait = min(next_ping, alive + DEAF_PINGS * ping) - now
            try:
                raw = ws.recv(timeout=max(0.01, min(wait, ping / 4, 1.0)))
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                if not self._stop.is_set():
                    self._failed(f"closed by the server: {closing_words(exc)}")
                return False
            alive = self._last_frame = time.monotonic()
            answer = self._answer(raw)
            for out in answer.send:
                ws.send(out)
            if answer.endpoint is not None:
                ping = max(answer.endpoint.ping_seconds, MIN_PING_SECONDS)
            if answer.reconnect:
                log.info("%s connection: the server asked for a new connection", self.platform)
                try:
                    ws.close()
                except (WebSocketException, OSError):
                    pass
                return True
        return False

    def _answer(self, raw: bytes | str) -> Answer:
        """The Link's answer to one frame; a Link that raises skips the frame, nothing more."""
        try:
            answer = self.link.on_frame(raw)
        except Exception as exc:
            answer = Answer(skipped=f"the frame could not be handled ({type(exc).__name__})")
            if answer.skipped not in self._logged:
                log.exception("%s connection: %s", self.platform, answer.skipped)
                self._logged.add(answer.skipped)
        metrics = self.rt.metrics
        if answer.received:
            metrics.connection_events.labels(self.platform, "received").inc()
        if answer.redelivered:
            metrics.connection_events.labels(self.platform, "redelivered").inc()
        if answer.skipped:
            metrics.connection_events.labels(self.platform, "skipped").inc()
            if answer.skipped not in self._logged:
                self._logged.add(answer.skipped)
                log.warning("%s connection: %s; skipped (logged once per connection, counted in "
                            "relay_connection_events)", self.platform, answer.skipped)
        return answer


def closing_words(exc: ConnectionClosed) -> str:
    """The close code and reason the server gave, or that it gave none."""
    if exc.rcvd is None:
        return "no close frame (the connection was cut)"
    return f"close code {exc.rcvd.code}" + (f": {exc.rcvd.reason}" if exc.rcvd.reason else "")
