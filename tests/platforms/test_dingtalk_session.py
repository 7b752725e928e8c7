"""DingTalk answers through the callback's `sessionWebhook`, DingTalk's
documented way to reply: while `sessionWebhookExpiredTime` has not passed, and only to DingTalk
(https, a host under dingtalk.com), never to a URL the (unsigned) body chose. The answer stays in
the HTTP response body as well."""

from __future__ import annotations

import pytest
import responses

from relay.web.app import create_app
from relay.web.server import WebServer
from tests.platforms.test_dingtalk_reply import APP_SECRET, headers, mention, said

REAL_SESSION = "https://oapi.dingtalk.com/robot/sendBySession?session=3dc9981636af125faaf7"


@pytest.fixture
def served_rt(make_runtime, dingtalk):
    """relay under waitress, allowed to answer the fake DingTalk (a local origin) too."""
    rt = make_runtime(dingtalk_app_secret=APP_SECRET, dingtalk_session_origins=dingtalk.url)
    server = WebServer(create_app(rt), "127.0.0.1", 0).start()
    yield f"{server.url}/dingtalk/reply"
    server.stop()


def with_session(body: dict, url: str, clock, minutes: float = 90) -> dict:
    return dict(body, sessionWebhook=url,
                sessionWebhookExpiredTime=int((clock.now() + minutes * 60) * 1000))


def test_the_answer_goes_to_the_session_webhook_and_in_the_body(served_rt, dingtalk, guance):
    uuid = guance.add_issue("disk full")
    resp = dingtalk.mention(served_rt, APP_SECRET, f"#{uuid}#restarted")
    assert guance.comments(uuid) == ["restarted"]
    sentence = said(resp)
    assert sentence.startswith(f"Posted as a comment on {uuid}")
    assert [body for _, body in dingtalk.session_answers] == [
        {"msgtype": "text", "text": {"content": sentence}}]


def test_an_expired_session_webhook_is_not_used(served_rt, dingtalk, guance):
    uuid = guance.add_issue("disk full")
    resp = dingtalk.mention(served_rt, APP_SECRET, f"#{uuid}#late", session_minutes=0)
    assert said(resp).startswith("Posted") and dingtalk.session_answers == []


def test_a_malformed_reply_is_answered_in_the_session_too(served_rt, dingtalk):
    said(dingtalk.mention(served_rt, APP_SECRET, "restarted the pod"))
    ((_, answer),) = dingtalk.session_answers
    assert answer["text"]["content"].startswith("Not posted: no '#'")


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
                                                                   url):
    client = create_app(make_runtime(dingtalk_app_secret=APP_SECRET)).test_client()
    uuid = guance.add_issue("disk full")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as outside:
        outside.add_passthru(guance.url)
        resp = client.post("/dingtalk/reply", headers=headers(clock),
                           json=with_session(mention(f"#{uuid}#hi"), url, clock))
        assert said(resp).startswith("Posted")
        assert [c.request.url for c in outside.calls] == []


def test_dingtalks_own_session_host_is_answered(make_runtime, guance, clock):
    client = create_app(make_runtime(dingtalk_app_secret=APP_SECRET)).test_client()
    uuid = guance.add_issue("disk full")
    with responses.RequestsMock() as dingtalk_api:
        dingtalk_api.add_passthru(guance.url)
        dingtalk_api.post(REAL_SESSION, json={"errcode": 0, "errmsg": "ok"})
        resp = client.post("/dingtalk/reply", headers=headers(clock),
                           json=with_session(mention(f"#{uuid}#hi"), REAL_SESSION, clock))
        (call,) = dingtalk_api.calls
    assert call.request.headers["Content-Type"] == "application/json"
    assert responses.matchers.json_params_matcher(
        {"msgtype": "text", "text": {"content": said(resp)}})(call.request)[0]


def test_a_session_webhook_that_fails_still_leaves_the_body_answer(make_runtime, guance, clock,
                                                                  caplog):
    client = create_app(make_runtime(dingtalk_app_secret=APP_SECRET)).test_client()
    uuid = guance.add_issue("disk full")
    with responses.RequestsMock() as dingtalk_api:
        dingtalk_api.add_passthru(guance.url)
        dingtalk_api.post(REAL_SESSION, json={"errcode": 300001, "errmsg": "session expired"})
        resp = client.post("/dingtalk/reply", headers=headers(clock),
                           json=with_session(mention(f"#{uuid}#hi"), REAL_SESSION, clock))
    assert said(resp).startswith("Posted")
    (line,) = [r for r in caplog.records if "sessionWebhook" in r.getMessage()]
    assert "300001" in line.getMessage() and "session=" not in line.getMessage()
