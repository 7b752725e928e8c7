"""DingTalk answers once. An answer ready within the request is in the HTTP body only (DingTalk
shows the body in the group: posting it to the `sessionWebhook` as well showed it twice). A
later answer goes through the callback's `sessionWebhook`, DingTalk's documented way to reply:
while `sessionWebhookExpiredTime` has not passed, and only to DingTalk (https, a host under
dingtalk.com), never to a URL the (unsigned) body chose."""

from __future__ import annotations

import json

import pytest
import responses

from relay.platforms.dingtalk import reply
from relay.web.app import create_app
from relay.web.server import WebServer
from tests.appbot import wait_for
from tests.platforms.test_dingtalk_reply import APP_SECRET, headers, mention, said

REAL_SESSION = "https://oapi.dingtalk.com/robot/sendBySession?session=3dc9981636af125faaf7"


@pytest.fixture
def served_rt(make_runtime, dingtalk):
    """relay under waitress, allowed to answer the fake DingTalk (a local origin) too."""
    rt = make_runtime(dingtalk_app_secret=APP_SECRET, dingtalk_session_origins=dingtalk.url)
    server = WebServer(create_app(rt), "127.0.0.1", 0).start()
    yield f"{server.url}/dingtalk/reply"
    server.stop()


@pytest.fixture
def late(guance, monkeypatch):
    """The next Guance call answers only after relay has answered DingTalk's request."""
    monkeypatch.setattr(reply, "ANSWER_WAIT_SECONDS", 0.2)
    guance.faults.append("hold")

    def answered(resp) -> None:
        assert resp.status_code == 200 and (
            resp.get_json() if hasattr(resp, "get_json") else resp.json()) == {}
        guance.release.set()

    return answered


def with_session(body: dict, url: str, clock, minutes: float = 90) -> dict:
    return dict(body, sessionWebhook=url,
                sessionWebhookExpiredTime=int((clock.now() + minutes * 60) * 1000))


def test_an_answer_ready_in_time_is_in_the_body_only(served_rt, dingtalk, guance):
    uuid = guance.add_issue("disk full")
    resp = dingtalk.mention(served_rt, APP_SECRET, f"#{uuid}#restarted")
    assert guance.comments(uuid) == ["restarted"]
    assert said(resp).startswith(f"Posted as a comment on {uuid}")
    assert dingtalk.session_answers == []


def test_a_malformed_reply_is_answered_in_the_body_only(served_rt, dingtalk):
    assert said(dingtalk.mention(served_rt, APP_SECRET, "restarted the pod")).startswith(
        "Not posted: no '#'")
    assert dingtalk.session_answers == []


def test_a_later_answer_goes_to_the_session_webhook_once(served_rt, dingtalk, guance, late):
    uuid = guance.add_issue("disk full")
    late(dingtalk.mention(served_rt, APP_SECRET, f"#{uuid}#restarted"))
    ((_, answer),) = wait_for(lambda: dingtalk.session_answers)
    assert answer["text"]["content"].startswith(f"Posted as a comment on {uuid}")
    assert guance.comments(uuid) == ["restarted"]


def test_an_expired_session_webhook_is_not_used(served_rt, dingtalk, guance, late, caplog):
    uuid = guance.add_issue("disk full")
    late(dingtalk.mention(served_rt, APP_SECRET, f"#{uuid}#late", session_minutes=0))
    wait_for(lambda: any("not shown" in r.getMessage() for r in caplog.records))
    assert guance.comments(uuid) == ["late"] and dingtalk.session_answers == []


@pytest.mark.parametrize("url", [
    "http://oapi.dingtalk.com/robot/sendBySession?session=x",  # not https
    "https://oapi.dingtalk.com.evil.example/robot/sendBySession",
    "https://evil.example/robot/sendBySession?host=.dingtalk.com",
    "https://evildingtalk.com/robot/sendBySession",
    "https://oapi.dingtalk.com@evil.example/robot/sendBySession",
    "https://evil.example\\@oapi.dingtalk.com/robot/sendBySession",
    "https://oapi.dingtalk.com:8443/robot/sendBySession",
    "https://127.0.0.1/robot/sendBySession",
    "ftp://oapi.dingtalk.com/x",
])
def test_a_session_webhook_elsewhere_than_dingtalk_is_never_called(make_runtime, guance, clock,
                                                                   late, caplog, url):
    client = create_app(make_runtime(dingtalk_app_secret=APP_SECRET)).test_client()
    uuid = guance.add_issue("disk full")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as outside:
        outside.add_passthru(guance.url)
        late(client.post("/dingtalk/reply", headers=headers(clock),
                         json=with_session(mention(f"#{uuid}#hi"), url, clock)))
        wait_for(lambda: any("not shown" in r.getMessage() for r in caplog.records))
        assert [c.request.url for c in outside.calls] == []
    assert guance.comments(uuid) == ["hi"]


def test_dingtalks_own_session_host_is_answered(make_runtime, guance, clock, late):
    client = create_app(make_runtime(dingtalk_app_secret=APP_SECRET)).test_client()
    uuid = guance.add_issue("disk full")
    with responses.RequestsMock() as dingtalk_api:
        dingtalk_api.add_passthru(guance.url)
        dingtalk_api.post(REAL_SESSION, json={"errcode": 0, "errmsg": "ok"})
        late(client.post("/dingtalk/reply", headers=headers(clock),
                         json=with_session(mention(f"#{uuid}#hi"), REAL_SESSION, clock)))
        (call,) = wait_for(lambda: dingtalk_api.calls)
    assert call.request.headers["Content-Type"] == "application/json"
    answer = json.loads(call.request.body)
    assert answer["msgtype"] == "text"
    assert answer["text"]["content"].startswith(f"Posted as a comment on {uuid}")


def test_a_session_webhook_that_fails_is_one_log_line(make_runtime, guance, clock, late, caplog):
    client = create_app(make_runtime(dingtalk_app_secret=APP_SECRET)).test_client()
    uuid = guance.add_issue("disk full")
    with responses.RequestsMock() as dingtalk_api:
        dingtalk_api.add_passthru(guance.url)
        dingtalk_api.post(REAL_SESSION, json={"errcode": 300001, "errmsg": "session expired"})
        late(client.post("/dingtalk/reply", headers=headers(clock),
                         json=with_session(mention(f"#{uuid}#hi"), REAL_SESSION, clock)))
        (line,) = wait_for(lambda: [r for r in caplog.records
                                    if "sessionWebhook" in r.getMessage()])
    assert "300001" in line.getMessage() and "session=" not in line.getMessage()


def test_a_dingtalk_host_resolving_to_this_machine_is_not_called(make_runtime, guance, clock,
                                                                  late, caplog, monkeypatch):
    """DNS pointing an allowed name at a loopback (or private) address: relay checks the
    address it connected to, and sends nothing there."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def accept() -> None:
        conn, _ = listener.accept()
        with conn:
            received.append(conn.recv(65536))

    threading.Thread(target=accept, daemon=True).start()
    real, port = socket.getaddrinfo, listener.getsockname()[1]

    def lookup(host, *args, **kwargs):
        if host == "oapi.dingtalk.com":  # "resolves" to the listener
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    client = create_app(make_runtime(dingtalk_app_secret=APP_SECRET)).test_client()
    uuid = guance.add_issue("disk full")
    try:
        late(client.post("/dingtalk/reply", headers=headers(clock),
                         json=with_session(mention(f"#{uuid}#hi"), REAL_SESSION, clock)))
        (line,) = wait_for(lambda: [r.getMessage() for r in caplog.records
                                    if "sessionWebhook" in r.getMessage()])
        wait_for(lambda: received)
    finally:
        listener.close()
    assert line == ("DingTalk sessionWebhook: the answer did not go out (refused: "
                    "oapi.dingtalk.com is at 127.0.0.1, a loopback address)")
    assert received == [b""] and guance.comments(uuid) == ["hi"]
