"""A claim makes the operator the issue's manager when RELAY_MENTIONS maps their chat identity
to a Guance account UUID (the Claim button, `/claim` in the card's thread or on DingTalk); an
operator known only by email, or not at all, claims as before (and an email is told why)."""

from __future__ import annotations

from relay.sandbox.feishu_app import click_event
from relay.web.app import create_app
from tests.appbot import CHAT, ENGINEER, VTOKEN, send_card, signed_post, wait_for
from tests.platforms.test_dingtalk_reply import APP_SECRET, headers, mention, said


def managers(guance, uuid: str) -> list:
    return [body["extend"].get("manager") for issue, body in guance.modifications
            if issue == uuid]


def click_claim(rt, open_api, guance, clock):
    issue, card_id = send_card(rt, guance, clock)
    event = click_event(VTOKEN, CHAT, card_id, {"relay_action": "claim", "issue": issue},
                        operator=ENGINEER)
    assert signed_post(create_app(rt).test_client(), event, clock.now()).status_code == 200
    (answer,) = wait_for(lambda: open_api.texts_replying_to(card_id))
    return issue, answer


def test_the_claim_button_makes_a_mapped_operator_manager(app_rt, open_api, guance, clock):
    rt = app_rt(mentions={"acnt_eng01": {"name": "Eng", "feishu": ENGINEER}})
    issue, answer = click_claim(rt, open_api, guance, clock)
    assert managers(guance, issue) == [["acnt_eng01"]]  # Working refused: the manager still set
    assert guance.issue(issue)["extend"]["manager"] == ["acnt_eng01"]
    assert "you are its manager now" in answer


def test_an_unmapped_operator_claims_as_before(app_rt, open_api, guance, clock):
    rt = app_rt(mentions={"acnt_other": {"feishu": "ou_someoneelse"}})
    issue, answer = click_claim(rt, open_api, guance, clock)
    assert guance.modifications == []
    assert "recorded as a comment only" in answer and "RELAY_MENTIONS" not in answer


def test_an_operator_mapped_by_email_is_told_why_they_are_not_manager(app_rt, open_api, guance,
                                                                      clock):
    rt = app_rt(mentions={"eng@example.com": {"feishu": ENGINEER}})
    guance.status_types = (10, 15, 20, 25, 30)
    issue, answer = click_claim(rt, open_api, guance, clock)
    assert managers(guance, issue) == [None]  # status Working only
    assert "status is now Working" in answer
    assert "RELAY_MENTIONS knows you as eng@example.com" in answer


def test_claim_on_dingtalk_by_a_mapped_staff_id(make_runtime, guance, clock):
    rt = make_runtime(dingtalk_app_secret=APP_SECRET,
                      mentions={"acnt_ding01": {"dingtalk": "staff01"}})
    uuid = guance.add_issue("disk full")
    body = dict(mention(f"#{uuid}#/claim"), senderStaffId="staff01")
    resp = create_app(rt).test_client().post("/dingtalk/reply", json=body, headers=headers(clock))
    assert "you are its manager now" in said(resp)
    assert guance.issue(uuid)["extend"]["manager"] == ["acnt_ding01"]
