"""Helpers for the tests of cards that follow the issue: one runtime whose `default` channel goes
to every kind of destination (Feishu flow, custom bot, app-bot chat, DingTalk, WeCom), and what
each platform showed."""

from __future__ import annotations

from relay.pipeline.deliver import deliver
from relay.pipeline.track_issues import track_issues
from relay.pipeline.poll import poll
from tests.appbot import CHAT
from tests.helpers import carded_issue
from tests.robots import DING_TOKEN, WECOM_KEY, ding_url, wecom_url

FLOW, BOT = "hook-default", "bot-token-0123456789"


def everywhere(app_rt, feishu, dingtalk, wecom, **overrides):
    values = dict(destinations={"bot": f"{feishu.url}/open-apis/bot/v2/hook/{BOT}",
                                "ding": ding_url(dingtalk), "wecom": wecom_url(wecom)},
                  routes={"default": ["default", "bot", "ding", "wecom", "ops-chat"]})
    values.update(overrides)
    return app_rt(**values)


def relay_issue(rt, guance, clock, title="Payment API error rate above 5%", **kw) -> str:
    """An issue carded to every destination; returns its uuid."""
    return carded_issue(rt, guance, clock, title, **kw)


def cycle(rt, clock=None, seconds: int = 60) -> None:
    """One minute of the crontab: poll_issues, track_issues, deliver."""
    if clock is not None:
        clock.advance(seconds)
    poll(rt)
    track_issues(rt)
    deliver(rt)


def follow_ups(feishu, dingtalk, wecom, open_api) -> dict[str, list]:
    """What each platform showed after the cards: state-change messages only."""
    flow = [p for p in feishu.for_hook(FLOW) if p.get("event") == "status"]
    bot = [b["content"]["text"] for b in feishu.for_hook(BOT) if b.get("msg_type") == "text"]
    ding = [b["markdown"]["text"] for b in dingtalk.for_robot(DING_TOKEN)
            if not b["markdown"]["text"].startswith("### ")]
    wc = [b["markdown"]["content"] for b in wecom.for_robot(WECOM_KEY)
          if not b["markdown"]["content"].startswith("**")]
    cards = [m for m in open_api.in_chat(CHAT) if m["msg_type"] == "interactive"]
    thread = [t for c in cards for t in open_api.texts_replying_to(c["message_id"])]
    return {"flow": [(p["status"], p["line"]) for p in flow], "bot": bot, "dingtalk": ding,
            "wecom": wc, "app_thread": thread, "app_updates": [u for _, u in open_api.updates]}
