"""An action taken from chat updates the app-bot card for everyone (the same PATCH as a change
seen in Guance), and the tracker does not announce that change a second time."""

from __future__ import annotations

from relay.pipeline.deliver import deliver
from relay.sandbox.feishu import card_texts
from relay.sandbox.feishu_app import click_event
from relay.web.app import create_app
from tests.appbot import CHAT, ENGINEER, VTOKEN, signed_post, wait_for
from tests.follow import cycle, everywhere, relay_issue
from tests.platforms.test_dingtalk_reply import APP_SECRET, CONVERSATION, headers, mention, said
from tests.robots import DING_TOKEN

TITLE = "Disk full on db-1"
PEOPLE = {"acnt_eng01": {"name": "Eng One", "feishu": ENGINEER}}


def the_card(open_api) -> dict:
    (card,) = [m for m in open_api.in_chat(CHAT) if m["msg_type"] == "interactive"]
    return card


def click(rt, open_api, clock, issue: str, action: str) -> str:
    """Click a button of the app card; wait for the worker's answer in its thread."""
    card_id = the_card(open_api)["message_id"]
    event = click_event(VTOKEN, CHAT, card_id, {"relay_action": action, "issue": issue},
                        operator=ENGINEER)
    assert signed_post(create_app(rt).test_client(), event, clock.now()).status_code == 200
    (answer,) = wait_for(lambda: open_api.texts_replying_to(card_id))
    return card_id


def test_a_resolve_click_patches_the_card_once_and_no_line_follows(app_rt, open_api, guance,
                                                                   clock):
    rt = app_rt(mentions=PEOPLE)
    issue = relay_issue(rt, guance, clock, TITLE)
    clock.advance(5 * 60)
    card_id = click(rt, open_api, clock, issue, "resolve")
    deliver(rt)
    assert [m for m, _ in open_api.updates] == [card_id]
    texts = list(card_texts(open_api.card(card_id)))
    assert texts[0] == f"[Resolved] {TITLE}"
    assert open_api.card(card_id)["header"]["template"] == "green"
    assert "**Status:** Resolved" in texts[-1] and "**Changed by** Eng One" in texts[-1]
    for _ in range(3):  # the tracker sees Guance's Resolved: relay recorded it already
        cycle(rt, clock)
    assert len(open_api.updates) == 1
    (answer,) = open_api.texts_replying_to(card_id)
    assert answer.startswith(f"Resolved {issue}")


def test_a_claim_click_shows_the_new_manager_on_the_card(app_rt, open_api, guance, clock):
    rt = app_rt(mentions=PEOPLE)
    issue = relay_issue(rt, guance, clock, TITLE)
    card_id = click(rt, open_api, clock, issue, "claim")
    deliver(rt)
    status = list(card_texts(open_api.card(card_id)))[-1]
    assert f"**Owner:** <at id={ENGINEER}></at>" in status  # Working refused: status Open
    cycle(rt, clock)
    assert len(open_api.updates) == 1 and len(open_api.texts_replying_to(card_id)) == 1


def test_a_command_on_another_route_updates_the_app_card_and_tells_other_chats_once(
        app_rt, open_api, guance, clock, feishu, dingtalk, wecom):
    rt = everywhere(app_rt, feishu, dingtalk, wecom, dingtalk_app_secret=APP_SECRET,
                    dingtalk_conversations={CONVERSATION: "ding"})  # the group that got the card
    issue = relay_issue(rt, guance, clock, TITLE)
    resp = create_app(rt).test_client().post(
        "/dingtalk/reply", json=mention(f"#{issue}#/resolve"), headers=headers(clock))
    assert said(resp).startswith(f"Resolved {issue}")
    for _ in range(3):
        cycle(rt, clock)
    card_id = the_card(open_api)["message_id"]
    assert [m for m, _ in open_api.updates] == [card_id]
    assert list(card_texts(open_api.card(card_id)))[0] == f"[Resolved] {TITLE}"
    assert open_api.texts_replying_to(card_id) == []  # the card shows it; no thread line
    lines = [b["markdown"]["text"] for b in dingtalk.for_robot(DING_TOKEN)[1:]]
    assert len(lines) == 1 and lines[0].startswith("✅ Resolved")  # told once, not twice
