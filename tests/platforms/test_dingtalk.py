"""The DingTalk custom robot sink: signing, the markdown message, its 20-a-minute limit and its
error codes, against the fake DingTalk robot."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

import requests

from relay.platforms.dingtalk.robot import DingTalkSink, markdown
from tests.helpers import EN, outbox, payload
from tests.robots import DING_SECRET, DING_TOKEN, TZ, deliver_each_minute, ding_url, new_issues


def signed(dingtalk, secret=DING_SECRET) -> dict:
    return {"type": "dingtalk", "url": ding_url(dingtalk), "secret": secret}


# -- signing -----------------------------------------------------------------------------------

def test_signed_url_follows_the_documented_algorithm():
    now = 1_767_225_600.123
    timestamp = "1767225600123"  # milliseconds
    string_to_sign = timestamp + "\n" + DING_SECRET
    digest = hmac.new(DING_SECRET.encode("utf-8"), string_to_sign.encode("utf-8"),
                      hashlib.sha256).digest()
    expected = urllib.parse.quote_plus(base64.b64encode(digest))
    url = "https://oapi.dingtalk.com/robot/send?access_token=tok"
    sink = DingTalkSink(url, TZ, "https://console.guance.com", EN, DING_SECRET)
    assert sink.signed_url(now) == f"{url}&timestamp={timestamp}&sign={expected}"
    assert DingTalkSink(url, TZ, "https://console.guance.com", EN).signed_url(now) == url


def test_signed_message_is_accepted_end_to_end(make_runtime, guance, dingtalk, clock):
    dingtalk.secrets[DING_TOKEN] = DING_SECRET
    rt = make_runtime(destinations={"ding": signed(dingtalk)}, routes={"default": "ding"})
    [uuid] = new_issues(rt, guance, clock)
    [body] = dingtalk.for_robot(DING_TOKEN)
    assert body["msgtype"] == "markdown" and uuid in body["markdown"]["text"]
    assert [(r.status, r.last_error) for r in outbox(rt)] == [("sent", None)]


def test_wrong_secret_is_a_clear_error_and_no_fast_retry(make_runtime, guance, dingtalk, clock):
    dingtalk.secrets[DING_TOKEN] = DING_SECRET
    rt = make_runtime(destinations={"ding": signed(dingtalk, "SECnot-the-right-one")},
                      routes={"default": "ding"})
    new_issues(rt, guance, clock)
    deliver_each_minute(rt, clock, 5)
    [row] = outbox(rt)
    assert dingtalk.received == []
    assert row.status == "pending" and row.attempts == 1  # not retried within 10 minutes
    assert "310000" in row.last_error and "security settings" in row.last_error
    assert "SECnot-the-right-one" not in row.last_error and DING_TOKEN not in row.last_error


def test_stale_or_unsigned_requests_are_refused_by_the_fake(dingtalk, clock):
    dingtalk.secrets[DING_TOKEN] = DING_SECRET
    message = {"msgtype": "text", "text": {"content": "hi"}}
    sink = DingTalkSink(ding_url(dingtalk), TZ, "", EN, DING_SECRET)
    stale = sink.signed_url(clock.now() - 3601)
    for url in (ding_url(dingtalk), stale):
        assert requests.post(url, json=message, timeout=5).json()["errcode"] == 310000
    assert requests.post(sink.signed_url(clock.now()), json=message,
                         timeout=5).json()["errcode"] == 0


# -- the message -------------------------------------------------------------------------------

def test_markdown_shows_the_issue_with_link_and_reply_hint():
    body = markdown(payload(), TZ, "https://cn4-console.guance.com", EN)
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "[P1] Disk full on db-1"
    text = body["markdown"]["text"]
    for shown in ("### [P1] Disk full on db-1", "disk-mon", "2026-01-01 08:00:00", "ops",
                  "/var at 99%", "https://cn4-console.guance.com/exception/issue?issueUUID="
                  "issue_abc12345", "@bot #issue_abc12345#your comment"):
        assert shown in text


def test_very_long_message_is_cut_with_a_marker():
    message = "数据库连接超时 " * 10_000
    text = markdown(payload(message=message), TZ, "", EN)["markdown"]["text"]
    assert len(text.encode("utf-8")) <= 20_000
    assert "… (truncated, " in text and "@bot #issue_abc12345#" in text


# -- limits and error codes ----------------------------------------------------------------------

def test_25_issues_all_arrive_once_within_20_a_minute(make_runtime, guance, dingtalk, clock):
    dingtalk.secrets[DING_TOKEN] = DING_SECRET
    rt = make_runtime(destinations={"ding": signed(dingtalk)}, routes={"default": "ding"},
                      storm_threshold=100)
    made = new_issues(rt, guance, clock, *(f"node-{i:02d} down" for i in range(25)))
    assert len(dingtalk.received) == 20  # the first minute's share
    deliver_each_minute(rt, clock, 2)
    texts = [b["markdown"]["text"] for b in dingtalk.for_robot(DING_TOKEN)]
    assert sorted(u for u in made for t in texts if u in t) == sorted(made)  # each exactly once
    assert len(texts) == 25 and dingtalk.too_frequent == 0
    assert all(r.status == "sent" and r.attempts == 1 for r in outbox(rt))


def test_send_too_fast_answer_backs_off_ten_minutes_then_delivers(make_runtime, guance,
                                                                  dingtalk, clock):
    rt = make_runtime(destinations={"ding": ding_url(dingtalk)}, routes={"default": "ding"})
    dingtalk.faults.append("130101")
    [uuid] = new_issues(rt, guance, clock)
    [row] = outbox(rt)
    assert row.status == "pending" and "130101" in row.last_error
    deliver_each_minute(rt, clock, 9)  # DingTalk throttles for 10 minutes: relay stays away
    assert outbox(rt)[0].attempts == 1 and dingtalk.received == []
    deliver_each_minute(rt, clock, 2)
    [body] = dingtalk.for_robot(DING_TOKEN)
    assert uuid in body["markdown"]["text"] and outbox(rt)[0].status == "sent"


def test_http_200_with_an_unknown_errcode_is_a_failure(make_runtime, guance, dingtalk, clock):
    rt = make_runtime(destinations={"ding": ding_url(dingtalk)}, routes={"default": "ding"})
    dingtalk.faults.append("400102")
    new_issues(rt, guance, clock)
    [row] = outbox(rt)
    assert row.status == "pending" and "DingTalk errcode 400102" in row.last_error
    deliver_each_minute(rt, clock, 60)
    assert outbox(rt)[0].status == "sent" and len(dingtalk.received) == 1


def test_a_throttled_robot_refuses_for_ten_minutes(dingtalk, clock):
    """The fake behaves like DingTalk: the 21st message in a minute throttles the robot."""
    message = {"msgtype": "text", "text": {"content": "hi"}}
    codes = [requests.post(ding_url(dingtalk), json=message, timeout=5).json()["errcode"]
             for _ in range(21)]
    assert codes == [0] * 20 + [130101]
    clock.advance(300)
    assert requests.post(ding_url(dingtalk), json=message, timeout=5).json()["errcode"] == 130101
    clock.advance(301)
    assert requests.post(ding_url(dingtalk), json=message, timeout=5).json()["errcode"] == 0
