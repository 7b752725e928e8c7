"""A reminder @-mentions the people a card of the issue would: the channel's people for the
issue's level (RELAY_LEVEL_MENTIONS) and its managers, on the Feishu app bot and DingTalk."""

from __future__ import annotations

from relay.pipeline.deliver import deliver
from relay.pipeline.remind import remind
from relay.sandbox.feishu import card_texts
from tests.appbot import CHAT
from tests.follow import everywhere, relay_issue
from tests.robots import DING_TOKEN

PEOPLE = {"oncall@example.com": {"name": "On-call", "feishu": "ou_oncall0001",
                                 "dingtalk": "dt_oncall"}}
LEVELS = {"default": {"P0": ["oncall@example.com"]}}


def test_a_reminder_mentions_the_level_s_people(app_rt, feishu, dingtalk, wecom, guance,
                                                clock, open_api):
    rt = everywhere(app_rt, feishu, dingtalk, wecom, mentions=PEOPLE, level_mentions=LEVELS,
                    reminders={"P0": 10}, reminder_max=1)
    relay_issue(rt, guance, clock, "Checkout down", level="system_level_0")
    clock.advance(10 * 60)
    assert remind(rt).queued == 5
    deliver(rt)
    app = [m["content"] for m in open_api.in_chat(CHAT) if m["msg_type"] == "interactive"]
    assert len(app) == 2
    assert "⏰" in app[1]["header"]["title"]["content"]
    assert "<at id=ou_oncall0001></at>" in list(card_texts(app[1]))[-1]
    ding = dingtalk.for_robot(DING_TOKEN)
    assert len(ding) == 2 and "⏰" in ding[1]["markdown"]["text"]
    assert ding[1]["at"]["atUserIds"] == ["dt_oncall"]


def test_a_reminder_does_not_mention_a_manager_guance_no_longer_has(app_rt, feishu, dingtalk,
                                                                   wecom, guance, clock,
                                                                   open_api):
    """The card named Li Lei as manager; Guance dropped him since: the reminder (sent because
    nobody manages the issue now) names the level's people only."""
    people = dict(PEOPLE, acnt_lilei={"name": "Li Lei", "feishu": "ou_lilei000",
                                      "dingtalk": "13800000000"})
    rt = everywhere(app_rt, feishu, dingtalk, wecom, mentions=people, level_mentions=LEVELS,
                    reminders={"P0": 10}, reminder_max=1)
    uuid = relay_issue(rt, guance, clock, "Checkout down", level="system_level_0",
                       managers=["acnt_lilei"])
    guance.issue(uuid)["extend"]["manager"] = []
    clock.advance(10 * 60)
    assert remind(rt).queued == 5
    deliver(rt)
    app = [m["content"] for m in open_api.in_chat(CHAT) if m["msg_type"] == "interactive"]
    assert "<at id=ou_lilei000></at>" in "".join(card_texts(app[0]))  # the card named him
    assert list(card_texts(app[1]))[-1] == "**Attention:** <at id=ou_oncall0001></at>"
    ding = dingtalk.for_robot(DING_TOKEN)
    assert ding[1]["at"]["atMobiles"] == [] and ding[1]["at"]["atUserIds"] == ["dt_oncall"]
