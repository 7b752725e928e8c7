"""`POST /dingtalk/reply`: an @-mention of the DingTalk outgoing robot becomes a comment on the
Guance issue, and every signed request is answered with a DingTalk text message."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from relay.web.app import create_app
from relay.web.server import WebServer
from tests.helpers import assert_json_error

APP_SECRET = "dingtalk-app-secret-0123456789abcdef"
UNKNOWN_ISSUE = "issue_00000000000000000000000000dead"
CONVERSATION = "cidOpsGroup0001=="  # the group's conversationId in every callback here


def headers(clock, secret: str = APP_SECRET, skew_ms: int = 0) -> dict[str, str]:
    """What DingTalk sends: `timestamp` in ms and `sign` = base64(HMAC-SHA256(secret,
    timestamp + "\\n" + secret)), written out here from the documentation. Each call is a
    millisecond later: each message has its own pair, and relay takes a pair once."""
    clock.advance(0.001)
    timestamp = str(round(clock.now() * 1000) + skew_ms)
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return {"timestamp": timestamp, "sign": base64.b64encode(mac.digest()).decode()}


def mention(content: str) -> dict:
    return {"msgtype": "text", "text": {"content": content}, "senderNick": "Alice",
            "conversationType": "2", "conversationId": CONVERSATION,
            "chatbotUserId": "$:LWCP_v1:$robot"}


@pytest.fixture
def rt(make_runtime):
    return make_runtime(dingtalk_app_secret=APP_SECRET)


@pytest.fixture
def client(rt):
    return create_app(rt).test_client()


def said(resp) -> str:
    """The sentence DingTalk shows in the group (from a test client's or a real response)."""
    body = resp.get_json() if hasattr(resp, "get_json") else resp.json()
    assert resp.status_code == 200, body
    assert body["msgtype"] == "text"
    return body["text"]["content"]


def refused(resp, status: int = 401) -> str:
    return assert_json_error(resp, status)["error"]


# -- posted --------------------------------------------------------------------------------------

def test_mention_over_a_real_socket_becomes_a_comment(rt, guance, dingtalk, clock):
    uuid = guance.add_issue("disk full")
    clock.advance(3661)
    server = WebServer(create_app(rt), "127.0.0.1", 0).start()
    try:
        resp = dingtalk.mention(f"{server.url}/dingtalk/reply", APP_SECRET,
                                f" #{uuid}#restarted the pod, see #42")
    finally:
        server.stop()
    assert guance.comments(uuid) == ["restarted the pod, see #42"]
    assert resp.headers["Content-Type"].startswith("application/json")
    assert said(resp) == f"Posted as a comment on {uuid} (2026-01-01 09:01:01)."


def test_signature_written_from_the_docs_is_accepted(client, guance, clock):
    uuid = guance.add_issue("disk full")
    resp = client.post("/dingtalk/reply", headers=headers(clock),
                       json=mention(f"@relay ＃{uuid}＃看过了"))
    assert said(resp).startswith(f"Posted as a comment on {uuid}")
    assert guance.comments(uuid) == ["看过了"]


# -- refused: not from DingTalk ----------------------------------------------------------------------

def test_wrong_signature_is_refused_and_posts_nothing(client, guance, clock):
    uuid = guance.add_issue("disk full")
    resp = client.post("/dingtalk/reply", headers=headers(clock, secret="not-the-secret"),
                       json=mention(f"#{uuid}#hi"))
    assert "sign" in refused(resp) and guance.comments(uuid) == []
    assert APP_SECRET not in resp.get_data(as_text=True)


@pytest.mark.parametrize("skew_ms", [-3_600_001, 3_600_001])
def test_timestamp_outside_the_hour_is_refused(client, guance, clock, skew_ms):
    uuid = guance.add_issue("disk full")
    resp = client.post("/dingtalk/reply", headers=headers(clock, skew_ms=skew_ms),
                       json=mention(f"#{uuid}#hi"))
    assert "more than an hour" in refused(resp) and guance.comments(uuid) == []


def test_timestamp_within_the_hour_is_accepted(client, guance, clock):
    uuid = guance.add_issue("disk full")
    resp = client.post("/dingtalk/reply", headers=headers(clock, skew_ms=-3_599_000),
                       json=mention(f"#{uuid}#late but fine"))
    assert said(resp).startswith("Posted") and guance.comments(uuid) == ["late but fine"]


def test_missing_headers_are_refused(client):
    assert "header" in refused(client.post("/dingtalk/reply", json=mention("#x#y")))


def test_without_an_app_secret_the_route_is_off(make_runtime, clock):
    client = create_app(make_runtime()).test_client()
    resp = client.post("/dingtalk/reply", headers=headers(clock), json=mention("#x#y"))
    assert "RELAY_DINGTALK_APP_SECRET" in refused(resp, 403)


# -- answered in the group -----------------------------------------------------------------------

@pytest.mark.parametrize("text,why", [
    ("restarted the pod", "no '#'"),
    ("#issue_abc#", "not an issue UUID"),
    ("#issue_0123456789abcdef#", "comment text is empty"),
])
def test_malformed_text_gets_a_helpful_message(client, clock, text, why):
    sentence = said(client.post("/dingtalk/reply", headers=headers(clock), json=mention(text)))
    assert sentence.startswith("Not posted:") and why in sentence
    assert "#<issueUUID>#<your comment>" in sentence  # how to do it right


def test_unknown_issue_is_named(client, clock):
    sentence = said(client.post("/dingtalk/reply", headers=headers(clock),
                                json=mention(f"#{UNKNOWN_ISSUE}#hi")))
    assert sentence == (f"Not posted: there is no issue {UNKNOWN_ISSUE} in Guance; check the "
                        "UUID on the alert.")


def test_guance_busy_says_when_to_try_again(client, guance, clock):
    uuid = guance.add_issue("disk full")
    guance.faults.append("ratelimit")
    sentence = said(client.post("/dingtalk/reply", headers=headers(clock),
                                json=mention(f"#{uuid}#hi")))
    assert sentence.startswith("Not posted: Guance is busy") and "Try again in" in sentence
    assert guance.comments(uuid) == []


def test_guance_failure_says_nothing_was_posted(client, guance, clock):
    uuid = guance.add_issue("disk full")
    guance.faults.extend(["500"] * 5)
    sentence = said(client.post("/dingtalk/reply", headers=headers(clock),
                                json=mention(f"#{uuid}#hi")))
    assert sentence.startswith("Not posted: Guance did not take the comment")


def test_a_picture_gets_a_message_too(client, clock):
    body = {"msgtype": "picture", "content": {"downloadCode": "x"}, "senderNick": "Alice"}
    sentence = said(client.post("/dingtalk/reply", headers=headers(clock), json=body))
    assert "only text messages" in sentence and "#<issueUUID>#" in sentence


def test_dingtalk_replies_are_in_the_reply_log_and_counted_once(rt, client, guance, clock):
    from relay.store import replylog

    uuid = guance.add_issue("disk full")
    client.post("/dingtalk/reply", headers=headers(clock), json=mention(f"#{uuid}#on it"))
    client.post("/dingtalk/reply", headers=headers(clock), json=mention("no uuid here"))
    client.post("/dingtalk/reply", headers=headers(clock, secret="wrong"), json=mention("x"))
    rows = replylog.recent(rt.engine)
    assert [(r.http_status, r.issue_uuid, r.text) for r in rows] == [
        (400, None, "no uuid here"), (200, uuid, "on it")]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'relay_reply_requests_total{outcome="ok"} 1.0' in metrics
    assert 'relay_reply_requests_total{outcome="bad_request"} 1.0' in metrics
    assert 'relay_reply_requests_total{outcome="unauthorized"} 1.0' in metrics


def test_a_picture_counts_as_a_bad_request_and_a_route_that_is_off_not_at_all(make_runtime,
                                                                               clock):
    on = make_runtime(dingtalk_app_secret=APP_SECRET)
    client = create_app(on).test_client()
    client.post("/dingtalk/reply", headers=headers(clock),
                json={"msgtype": "picture", "content": {"downloadCode": "x"}})
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'relay_reply_requests_total{outcome="bad_request"} 1.0' in metrics
    assert 'relay_reply_requests_total{outcome="ok"}' not in metrics
    off = make_runtime(reply_token=None, dingtalk_app_secret="   ")
    client = create_app(off).test_client()
    assert client.post("/dingtalk/reply", headers=headers(clock, secret="   "),
                       json=mention("#x#y")).status_code == 403
    assert client.post("/feishu/reply", json={"content": "#x#y"}).status_code == 404
    assert "relay_reply_requests_total{" not in client.get("/metrics").get_data(as_text=True)
