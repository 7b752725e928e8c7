"""What /healthz and /metrics show of the long connections: each one's platform, state, since
when, the last frame's age, reconnects in the last hour and the last error; a connection down
for more than a few minutes is a 503; the events received, acted on and redelivered counted."""

from __future__ import annotations

import relay.connections.loop as loop
from relay.platforms.dingtalk_app.stream import BOT_MESSAGE_TOPIC
from relay.sandbox.dingtalk_app import bot_message, wait_until
from tests.connections.conftest import GROUP, serving
from tests.web.test_health import samples


def health(app):
    resp = app.test_client().get("/healthz")
    return resp.status_code, resp.get_json()


def test_healthz_shows_the_connection_and_turns_503_when_down_for_long(make_dt, ding,
                                                                       monkeypatch):
    rt = make_dt()
    app = serving(rt, ding)
    conn = rt.connections[0]
    assert wait_until(lambda: conn.state == "connected")
    ping = ding.system("ping", {"opaque": "1"})
    assert ding.wait_acked(ping)
    status, body = health(app)
    shown = body["connections"]["dingtalk_app"]
    assert status == 200 and body["status"] == "ok"
    assert shown["platform"] == "dingtalk_app" and shown["state"] == "connected"
    assert shown["connected_since"].endswith("+00:00") and shown["ok"] is True
    assert 0 <= shown["seconds_since_frame"] < 30
    assert shown["reconnects_last_hour"] == 0 and shown["last_error"] is None

    monkeypatch.setattr(loop, "DOWN_SECONDS", 1.0)  # "a few minutes", shortened
    ding.app_secret = "rotated"  # the gateway refuses relay's secret from now on
    ding.drop()
    assert wait_until(lambda: conn.down_seconds() > 1.0 and "HTTP 401" in conn.last_error, 30)
    status, body = health(app)
    shown = body["connections"]["dingtalk_app"]
    assert status == 503 and body["status"] == "unhealthy" and shown["ok"] is False
    assert shown["state"] in ("connecting", "reconnecting") and shown["connected_since"] is None
    assert shown["reconnects_last_hour"] >= 1
    assert "auth: gateway: HTTP 401" in shown["last_error"]


def test_metrics_count_received_acted_redelivered_and_reconnects(make_dt, ding, guance):
    rt = make_dt()
    app = serving(rt, ding)
    conn = rt.connections[0]
    issue = guance.add_issue("Disk full on db-1")
    message = ding.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, f"#{issue}#looking",
                                                       ding.app_key))
    assert wait_until(lambda: ding.texts_in(GROUP))  # acted on: the answer is in the group
    ding.push_again(message)
    assert ding.wait_acked(message, 2)

    def metric(name, **labels):
        text = app.test_client().get("/metrics").get_data(as_text=True)
        return samples(text).get((name, tuple(sorted(labels.items()))))

    events = "relay_connection_events_total"
    assert wait_until(lambda: metric(events, platform="dingtalk_app", event="acted") == 1)
    assert metric(events, platform="dingtalk_app", event="received") == 1
    assert metric(events, platform="dingtalk_app", event="redelivered") == 1
    assert metric("relay_connection_up", platform="dingtalk_app") == 1
    assert 0 <= metric("relay_connection_seconds_since_frame", platform="dingtalk_app") < 30
    ding.drop()
    assert ding.wait_connected(2)
    assert wait_until(lambda: conn.state == "connected")
    assert metric("relay_connection_reconnects_total", platform="dingtalk_app") == 1
    assert metric("relay_connection_up", platform="dingtalk_app") == 1
    assert len(guance.comments(issue)) == 1
