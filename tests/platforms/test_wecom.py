"""The WeCom group robot sink: the markdown message and its 4096-byte limit, the 20-a-minute
limit and WeCom's error codes, against the fake WeCom robot."""

from __future__ import annotations

import pytest
import requests

from relay.platforms.wecom.robot import markdown
from tests.helpers import EN, outbox, payload
from tests.robots import TZ, WECOM_KEY, deliver_each_minute, new_issues, wecom_url


def content(**kw) -> str:
    body = markdown(payload(**kw), TZ, "https://cn4-console.guance.com", EN)
    assert body["msgtype"] == "markdown"
    return body["markdown"]["content"]


# -- the message -------------------------------------------------------------------------------

def test_markdown_shows_the_issue_with_its_link():
    text = content()
    for shown in ("[P1]</font> Disk full on db-1", "disk-mon", "2026-01-01 08:00:00", "ops",
                  "/var at 99%", "(https://cn4-console.guance.com/exception/issue?issueUUID="
                  "issue_abc12345)"):
        assert shown in text


@pytest.mark.parametrize("level,colour", [("P0", "warning"), ("P1", "warning"),
                                          ("P2", "comment"), ("Unknown", "comment")])
def test_level_colour(level, colour):
    assert f'<font color="{colour}">[{level}]</font>' in content(level=level)


@pytest.mark.parametrize("unit", ["x", "数据库", "🔥"])
def test_long_message_is_cut_to_4096_bytes_with_a_marker(unit):
    message = unit * 5000
    text = content(message=message)
    assert len(text.encode("utf-8")) <= 4096
    kept = text.split("\n\n")[1]
    kept, marker = kept.rsplit("\n… (truncated, ", 1)
    assert message.startswith(kept) and len(kept.encode("utf-8")) > 3000
    assert marker == f"{len(message) - len(kept)} more characters)"
    assert "issueUUID=issue_abc12345" in text  # the link survives the cut


def test_short_message_is_not_cut():
    assert "truncated" not in content(message="一切正常")


def test_long_issue_arrives_end_to_end(make_runtime, guance, wecom, clock):
    rt = make_runtime(destinations={"wx": wecom_url(wecom)}, routes={"default": "wx"})
    [uuid] = new_issues(rt, guance, clock, message="连接超时 " * 2000)
    [body] = wecom.for_robot(WECOM_KEY)
    assert uuid in body["markdown"]["content"] and "(truncated, " in body["markdown"]["content"]
    assert [r.status for r in outbox(rt)] == ["sent"]


# -- limits and error codes ----------------------------------------------------------------------

def test_25_issues_all_arrive_once_within_20_a_minute(make_runtime, guance, wecom, clock):
    rt = make_runtime(destinations={"wx": wecom_url(wecom)}, routes={"default": "wx"},
                      storm_threshold=100)
    made = new_issues(rt, guance, clock, *(f"node-{i:02d} down" for i in range(25)))
    assert len(wecom.received) == 20
    deliver_each_minute(rt, clock, 2)
    texts = [b["markdown"]["content"] for b in wecom.for_robot(WECOM_KEY)]
    assert sorted(u for u in made for t in texts if u in t) == sorted(made)
    assert len(texts) == 25 and wecom.too_frequent == 0
    assert all(r.status == "sent" and r.attempts == 1 for r in outbox(rt))


def test_freq_out_of_limit_backs_off_then_delivers(make_runtime, guance, wecom, clock):
    rt = make_runtime(destinations={"wx": wecom_url(wecom)}, routes={"default": "wx"})
    wecom.faults.append("45009")
    [uuid] = new_issues(rt, guance, clock)
    [row] = outbox(rt)
    assert row.status == "pending" and "WeCom errcode 45009" in row.last_error
    deliver_each_minute(rt, clock, 1)
    [body] = wecom.for_robot(WECOM_KEY)
    assert uuid in body["markdown"]["content"]
    [row] = outbox(rt)
    assert row.status == "sent" and row.attempts == 2


def test_wrong_key_is_a_clear_error_without_the_key(make_runtime, guance, wecom, clock):
    wecom.keys = {WECOM_KEY}
    rt = make_runtime(destinations={"wx": wecom_url(wecom, "not-the-key-42")},
                      routes={"default": "wx"})
    new_issues(rt, guance, clock)
    [row] = outbox(rt)
    assert row.status == "pending" and "93000" in row.last_error
    assert "RELAY_DESTINATIONS" in row.last_error and "not-the-key-42" not in row.last_error


def test_the_fake_enforces_20_a_minute_and_4096_bytes(wecom, clock):
    ok = {"msgtype": "markdown", "markdown": {"content": "hi"}}
    codes = [requests.post(wecom_url(wecom), json=ok, timeout=5).json()["errcode"]
             for _ in range(21)]
    assert codes == [0] * 20 + [45009]
    clock.advance(61)
    big = {"msgtype": "markdown", "markdown": {"content": "x" * 4097}}
    assert requests.post(wecom_url(wecom), json=big, timeout=5).json()["errcode"] == 40058
    assert requests.post(wecom_url(wecom), json=ok, timeout=5).json()["errcode"] == 0
