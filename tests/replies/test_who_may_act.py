"""Who may act from where (issue 22.3, 22.4): an action is taken only on an issue whose card went
to the chat it comes from, and only by the people listed where the admin lists them; a refused
action says why and names the setting, in RELAY_LANGUAGE. Comments keep their rules. The Feishu
flow names no chat: its sender is said to be self-declared, and its actions can be switched off."""

from __future__ import annotations

from relay.incidents.chats import destinations_of
from relay.pipeline.deliver import deliver
from relay.sandbox.feishu_app import click_event
from relay.web.app import create_app
from tests.appbot import CHAT, ENGINEER, OTHER_CHAT, VTOKEN, send_card, signed_post
from tests.appbot import thread_reply, wait_for
from tests.helpers import REPLY_TOKEN, cards
from tests.platforms.test_dingtalk_reply import APP_SECRET, CONVERSATION, headers, mention, said
from tests.robots import DING_TOKEN, ding_url, new_issues


def ding(rt, clock, text: str, **fields):
    body = dict(mention(text), **fields)
    return create_app(rt).test_client().post("/dingtalk/reply", json=body, headers=headers(clock))


def flow(rt, text: str, sender: str | None = None):
    body = {"content": text} if sender is None else {"content": text, "sender": sender}
    return create_app(rt).test_client().post(
        "/feishu/reply", json=body, headers={"Authorization": f"Bearer {REPLY_TOKEN}"})


# -- the DingTalk outgoing robot ------------------------------------------------------------------

def test_a_dingtalk_group_nobody_mapped_cannot_act_but_still_comments(make_runtime, guance,
                                                                      clock):
    rt = make_runtime(dingtalk_app_secret=APP_SECRET)
    [issue] = new_issues(rt, guance, clock)
    answer = said(ding(rt, clock, f"#{issue}#/close"))
    assert answer.startswith("Not done") and "RELAY_DINGTALK_CONVERSATIONS" in answer
    assert CONVERSATION in answer
    assert guance.modifications == [] and guance.comments(issue) == []
    assert said(ding(rt, clock, f"#{issue}#looking into it")).startswith("Posted")  # as before
    assert guance.comments(issue) == ["looking into it"]


def test_a_dingtalk_group_acts_only_on_issues_carded_to_its_destinations(make_runtime, guance,
                                                                         clock, dingtalk):
    guance.add_channel("payments")
    rt = make_runtime(dingtalk_app_secret=APP_SECRET,
                      destinations={"ops-ding": ding_url(dingtalk)},
                      routes={"default": ["default"], "payments": ["ops-ding"]},
                      channels="default,payments",
                      dingtalk_conversations={CONVERSATION: "ops-ding"})
    [ours] = new_issues(rt, guance, clock, "Payments 5xx", channels=["payments"])
    [theirs] = new_issues(rt, guance, clock, "HR portal down")  # carded to `default` only
    assert [ours in b["markdown"]["text"] for b in dingtalk.for_robot(DING_TOKEN)] == [True]
    refused = said(ding(rt, clock, f"#{theirs}#/resolve"))
    assert refused.startswith("Not done") and "was not sent to this chat" in refused
    assert "ops-ding" in refused and "RELAY_DINGTALK_CONVERSATIONS" in refused
    assert said(ding(rt, clock, f"#{ours}#/resolve")).startswith(f"Resolved {ours}")
    assert [uuid for uuid, _ in guance.modifications] == [ours]


def test_only_the_listed_dingtalk_people_may_act(make_runtime, guance, clock):
    rt = make_runtime(dingtalk_app_secret=APP_SECRET, dingtalk_allowed_users="lead01",
                      dingtalk_conversations={CONVERSATION: ["default"]})
    [issue] = new_issues(rt, guance, clock)
    refused = said(ding(rt, clock, f"#{issue}#/resolve", senderStaffId="staff01"))
    assert "RELAY_DINGTALK_ALLOWED_USERS" in refused and guance.modifications == []
    assert said(ding(rt, clock, f"#{issue}#/resolve", senderStaffId="lead01")).startswith(
        "Resolved")


def test_a_refusal_speaks_the_chat_language(make_runtime, guance, clock):
    rt = make_runtime(dingtalk_app_secret=APP_SECRET, language="zh-CN")
    [issue] = new_issues(rt, guance, clock)
    refused = said(ding(rt, clock, f"#{issue}#/解决"))
    assert refused.startswith("未执行") and "RELAY_DINGTALK_CONVERSATIONS" in refused


# -- the Feishu app bot -------------------------------------------------------------------------

def test_an_allowed_feishu_chat_cannot_act_on_another_teams_issue(app_rt, open_api, guance,
                                                                  clock):
    """Both chats are relay's (RELAY_FEISHU_APP_CHATS), the card went to CHAT only: the other
    chat may comment on the issue, not change it, by command or by a click it forged."""
    rt = app_rt(feishu_app_chats={"ops-chat": CHAT, "hr-chat": OTHER_CHAT})
    client = create_app(rt).test_client()
    issue, card_id = send_card(rt, guance, clock)
    event = thread_reply(open_api, f"#{issue}#/resolve", chat=OTHER_CHAT)
    signed_post(client, event, clock.now())
    (answer,) = wait_for(lambda: open_api.texts_replying_to(event["event"]["message"]
                                                            ["message_id"]))
    assert answer.startswith("Not done") and "RELAY_FEISHU_APP_CHATS" in answer
    assert "hr-chat" in answer
    forged = click_event(VTOKEN, OTHER_CHAT, card_id, {"relay_action": "close", "issue": issue},
                         operator=ENGINEER)
    signed_post(client, forged, clock.now())
    (refused,) = wait_for(lambda: open_api.texts_replying_to(card_id))
    assert "RELAY_FEISHU_APP_CHATS" in refused
    assert guance.modifications == [] and guance.comments(issue) == []
    assert destinations_of(rt, "feishu_app", OTHER_CHAT) == frozenset({"hr-chat"})
    assert destinations_of(rt, "feishu_app", None) == frozenset()


# -- the Feishu flow ----------------------------------------------------------------------------

def test_the_flow_says_its_sender_is_self_declared_also_in_the_follow_ups(make_runtime, guance,
                                                                          feishu, clock):
    rt = make_runtime()
    [issue] = new_issues(rt, guance, clock)
    resp = flow(rt, f"#{issue}#/resolve", sender="The CEO")
    assert resp.status_code == 200
    assert "self-declared" in resp.get_json()["senderNote"]
    assert "The CEO" in resp.get_json()["senderNote"]
    deliver(rt)
    [line] = [p["line"] for p in cards(feishu) if p.get("event") == "status"]
    assert "The CEO (as the Feishu flow says, not checked)" in line


def test_the_admin_can_switch_flow_actions_off(make_runtime, guance, clock):
    rt = make_runtime(feishu_flow_actions=False)
    [issue] = new_issues(rt, guance, clock)
    resp = flow(rt, f"#{issue}#/resolve")
    assert resp.status_code == 403 and "RELAY_FEISHU_FLOW_ACTIONS" in resp.get_json()["said"]
    assert guance.modifications == []
    assert flow(rt, f"#{issue}#on it").status_code == 200  # a comment still goes through
    assert guance.comments(issue) == ["on it"]
