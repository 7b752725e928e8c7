"""The long-connection layer over real sockets on 127.0.0.1: a dropped connection is back within
5 s, a half-open one (the peer keeps the socket but answers nothing) is replaced within three
ping intervals, a wall-clock jump reconnects at once, a gateway call that hangs does not stop the
reconnects, and bad frames are logged once and skipped. Waits are on conditions, with generous
timeouts; the bounds asserted are the product's promises, with their margin stated."""

from __future__ import annotations

import logging
import threading
import time

import relay.connections.loop as loop
import relay.platforms.dingtalk_app.connection as dt_connection
from relay.platforms.dingtalk_app.stream import BOT_MESSAGE_TOPIC
from relay.sandbox.dingtalk_app import bot_message, wait_until
from relay.web.app import create_app
from tests.connections.conftest import GROUP, serving


def issue_in(guance) -> str:
    return guance.add_issue("Disk full on db-1")


def test_a_dropped_connection_is_back_within_5_seconds(make_dt, ding, guance):
    rt = make_dt()
    serving(rt, ding)
    conn = rt.connections[0]
    dropped = time.monotonic()
    ding.drop()
    assert ding.wait_connected(2, timeout=30)
    back = time.monotonic() - dropped  # at most a 2 s jitter + one gateway call and handshake
    assert back < 5.0, back
    assert wait_until(lambda: conn.health()["state"] == "connected")  # relay's side of it
    health = conn.health()
    assert health["reconnects_last_hour"] == 1
    assert health["last_error"] == "closed by the server: close code 1011: server going away"
    issue = issue_in(guance)
    ding.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, f"#{issue}#after the drop", ding.app_key))
    assert wait_until(lambda: guance.comments(issue))


def test_a_half_open_connection_is_deaf_for_at_most_three_ping_intervals(
        make_dt, ding, proxy, guance, monkeypatch, caplog):
    ping = 3.0  # short for the test; the watchdog closes at 2 intervals, the jitter is ≤ 0.5
    monkeypatch.setattr(dt_connection, "PING_SECONDS", ping)
    rt = make_dt()
    serving(rt, ding)
    conn = rt.connections[0]
    assert wait_until(lambda: conn.health()["seconds_since_frame"] is not None, 30)  # a pong
    assert proxy.half_open() == 1
    frozen = time.monotonic()
    assert ding.wait_connected(2, timeout=60)
    deaf = time.monotonic() - frozen
    assert deaf <= 3 * ping, deaf
    assert any("no frame or pong" in r.getMessage() for r in caplog.records)
    issue = issue_in(guance)
    ding.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, f"#{issue}#after half-open", ding.app_key))
    assert wait_until(lambda: guance.comments(issue))


def test_a_wall_clock_jump_reconnects_at_once(make_dt, ding, caplog):
    rt = make_dt()
    serving(rt, ding)
    conn = rt.connections[0]
    jumped = time.monotonic()
    conn.wall = lambda: time.time() + 3600  # resumed after an hour asleep
    assert ding.wait_connected(2, timeout=30)
    assert time.monotonic() - jumped < 5.0  # the watchdog alone would take 40 s (ping 20 s)
    assert any("wall clock jumped" in r.getMessage() for r in caplog.records)
    assert wait_until(lambda: conn.health()["state"] == "connected")


def test_a_hung_gateway_call_does_not_stop_the_reconnects(make_dt, ding, monkeypatch):
    monkeypatch.setattr(loop, "OPEN_SECONDS", 1.0)
    release = threading.Event()
    real_open = dt_connection.DingTalkStream.open
    hung = []

    def open_once_hung(self, deadline):
        if not hung:  # the first call hangs past every timeout (lark-oapi's 3-day deafness)
            hung.append(1)
            release.wait(60)
        return real_open(self, deadline)

    monkeypatch.setattr(dt_connection.DingTalkStream, "open", open_once_hung)
    rt = make_dt()
    try:
        serving(rt, ding)  # the second call, made after the first was given up
        conn = rt.connections[0]
        assert conn.reconnects >= 1 and ding.open_connections()
    finally:
        release.set()


def test_bad_frames_are_logged_once_and_skipped(make_dt, ding, guance, caplog):
    caplog.set_level(logging.DEBUG, "relay.connections")
    rt = make_dt()
    serving(rt, ding)
    for _ in range(3):
        ding.open_connections()[-1].send("not json {")
    ding.open_connections()[-1].send("x" * (2 << 20))  # over the 1 MiB a frame may be
    issue = issue_in(guance)
    ding.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, f"#{issue}#still here", ding.app_key))
    assert wait_until(lambda: guance.comments(issue))
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
              and "skipped" in r.getMessage()]
    assert sum("not JSON" in m for m in warned) == 1 and sum("over" in m for m in warned) == 1
    assert len(ding.connections) == 1  # the same connection throughout
    skipped = rt.metrics.connection_events.labels("dingtalk_app", "skipped")._value.get()
    assert skipped == 4


def test_a_refused_gateway_call_is_named_in_the_platforms_words(make_dt, ding):
    rt = make_dt(dingtalk_app_secret="wrong-secret")
    create_app(rt)
    conn = rt.connections[0]
    assert wait_until(lambda: conn.last_error is not None, 30)
    assert conn.last_error.startswith("auth: gateway: HTTP 401 InvalidAuthentication")
    assert "wrong-secret" not in conn.last_error and conn.health()["state"] != "connected"


def test_a_refusal_naming_a_wait_is_waited_out(make_dt, ding):
    ding.gateway_busy = 1  # "too many connections": 429 with Retry-After: 2
    rt = make_dt()
    serving(rt, ding)
    conn = rt.connections[0]
    first, second = ding.gateway_calls[:2]
    assert second - first >= 2.0  # not before the wait the server named (backoff alone: ≤ 0.5 s)
    assert conn.last_error.startswith("endpoint: gateway: HTTP 429 Throttling: too many")
