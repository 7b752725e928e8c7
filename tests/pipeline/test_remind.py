"""Reminders when nobody claims an issue: one card again to the issue's destinations at its
level's time, not before, not twice, and not once someone claimed it (in chat or in Guance)."""

from __future__ import annotations

import pytest

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.pipeline.remind import remind
from relay.web.app import create_app
from tests.helpers import REPLY_TOKEN, cards


@pytest.fixture
def rt(make_runtime):
    return make_runtime(reminders={"P0": 10}, reminder_max=1)


def relayed(rt, guance, clock, level="system_level_0") -> str:
    poll(rt)
    clock.advance(30)
    uuid = guance.add_issue("Payment API down", level=level, message="5xx 40%")
    poll(rt)
    deliver(rt)
    return uuid


def reminders(feishu) -> list[dict]:
    return [c for c in cards(feishu) if c["title"].startswith("⏰")]


def test_one_reminder_at_its_time_and_not_again(rt, guance, feishu, clock):
    uuid = relayed(rt, guance, clock)
    clock.advance(5 * 60)
    assert remind(rt).queued == 0
    clock.advance(5 * 60)
    assert remind(rt).queued == 1
    deliver(rt)
    (card,) = reminders(feishu)
    assert card["issue_uuid"] == uuid
    assert card["title"] == "⏰ Unclaimed for 10 min: Payment API down"
    for _ in range(3):
        clock.advance(10 * 60)
        remind(rt)
        deliver(rt)
    assert len(reminders(feishu)) == 1  # at most RELAY_REMINDER_MAX


def test_at_most_the_configured_number_each_after_its_time(make_runtime, guance, feishu, clock):
    rt = make_runtime(reminders={"P0": 10}, reminder_max=2)
    relayed(rt, guance, clock)
    titles = []
    for _ in range(6):
        clock.advance(5 * 60)
        remind(rt)
        deliver(rt)
        titles.append(len(reminders(feishu)))
    assert titles == [0, 1, 1, 2, 2, 2]
    assert reminders(feishu)[1]["title"].startswith("⏰ Unclaimed for 20 min")


def test_no_reminder_after_a_claim_in_chat(rt, guance, feishu, clock):
    uuid = relayed(rt, guance, clock)
    resp = create_app(rt).test_client().post(
        "/feishu/reply", json={"content": f"#{uuid}#/claim"},
        headers={"Authorization": f"Bearer {REPLY_TOKEN}"})
    assert resp.status_code == 200  # Guance refused Working: only relay knows of the claim
    clock.advance(15 * 60)
    assert remind(rt).queued == 0
    deliver(rt)
    assert reminders(feishu) == []


def test_no_reminder_when_guance_shows_it_handled(rt, guance, feishu, clock):
    uuid = relayed(rt, guance, clock)
    other = relayed(rt, guance, clock)
    guance.issue(uuid)["statusType"] = 20  # resolved in Guance's console
    guance.issue(other)["extend"]["manager"] = ["acnt_bob"]  # someone made responsible
    clock.advance(15 * 60)
    assert remind(rt).queued == 0
    assert reminders(feishu) == []


def test_levels_without_a_reminder_and_no_setting_cost_nothing(make_runtime, guance, feishu,
                                                               clock):
    rt = make_runtime(reminders={"P0": 10})
    relayed(rt, guance, clock, level="system_level_2")
    clock.advance(60 * 60)
    calls = len(guance.calls)
    assert remind(rt).checked == 0 and len(guance.calls) == calls
    off = make_runtime(database_url=rt.settings.database_url)
    assert remind(off).checked == 0


def test_a_reminder_in_an_app_chat_is_a_new_message_whose_thread_acts(app_rt, open_api, guance,
                                                                      clock):
    from tests.appbot import CHAT, send_card, signed_post, thread_reply, wait_for

    rt = app_rt(reminders={"P2": 10})
    issue, card_id = send_card(rt, guance, clock)
    clock.advance(10 * 60)
    remind(rt)
    deliver(rt)
    first, again = open_api.in_chat(CHAT)
    assert first["message_id"] == card_id and again["message_id"] != card_id
    assert "⏰ Unclaimed for 10 min" in again["content"]["header"]["title"]["content"]
    event = thread_reply(open_api, "/resolve", root_id=again["message_id"])
    signed_post(create_app(rt).test_client(), event, clock.now())
    wait_for(lambda: guance.issue(issue)["statusType"] == 20)


def test_36_unclaimed_issues_are_one_digest_per_chat_and_not_a_call_each(make_runtime, guance,
                                                                        feishu, clock):
    """Issue 22.13: 36 unclaimed P2 issues gave one chat 100 reminders in 20 minutes, each
    costing a Guance call. Now each chat gets one reminder digest a run, checked in one call."""
    rt = make_runtime(reminders={"P2": 10}, reminder_max=2, storm_threshold=100)
    poll(rt)
    clock.advance(60)
    made = [guance.add_issue(f"disk full on node-{n:02d}", created_at=clock.now() - 36 + n)
            for n in range(36)]
    guance.issue(made[0])["statusType"] = 20  # one of them resolved in Guance meanwhile
    poll(rt)
    deliver(rt)
    before = len(cards(feishu))
    calls = []
    for _ in range(10):  # 20 minutes of `*/2 * * * * remind`
        clock.advance(120)
        seen = len(guance.calls)
        remind(rt)
        calls.append(len(guance.calls) - seen)
        deliver(rt)
    sent = cards(feishu)[before:]
    assert [c["title"] for c in sent] == ["⏰ 35 issues unclaimed"] * 2  # at 10 and 20 min
    lines = sent[0]["message"].split("\n")
    assert lines[0] == f"- [P2] ⏰ Unclaimed for 10 min: disk full on node-01 ({made[1]})"
    assert lines[10:] == ["… and 25 more"]
    assert sent[1]["message"].startswith("- [P2] ⏰ Unclaimed for 20 min")
    assert max(calls) <= 2  # the channel list (cached) and one page of open issues


def test_a_digested_reminder_is_not_sent_again(make_runtime, guance, feishu, clock):
    rt = make_runtime(reminders={"P0": 10}, reminder_max=1)
    relayed(rt, guance, clock)
    relayed(rt, guance, clock)
    clock.advance(10 * 60)
    assert remind(rt).queued == 2  # both issues, in one digest
    deliver(rt)
    assert [c["title"] for c in reminders(feishu)] == ["⏰ 2 issues unclaimed"]
    clock.advance(10 * 60)
    assert remind(rt).queued == 0
