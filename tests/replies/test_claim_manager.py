"""A claim makes the operator the issue's manager when RELAY_MENTIONS maps their chat identity
to a Guance account UUID, an email or a team UUID, as `extend.manager` takes them (the Claim
button, `/claim` in the card's thread or on DingTalk); an operator not known, or known by a key of
another kind, claims as before (and the latter is told why)."""

from __future__ import annotations

import pytest

from relay.sandbox.feishu_app import click_event
from relay.web.app import create_app
from tests.appbot import CHAT, ENGINEER, VTOKEN, send_card, signed_post, wait_for
from tests.platforms.test_dingtalk_reply import APP_SECRET, CONVERSATION, headers, mention, said
from tests.robots import new_issues


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


@pytest.mark.parametrize("person", ["eng@example.com", "group_oncall01"])
def test_an_operator_mapped_by_email_or_team_becomes_manager(app_rt, open_api, guance, clock,
                                                             person):
    """Guance's modify takes emails and team (group_) UUIDs in extend.manager too (issue 22.17:
    only acnt_ keys were sent before, an email was told it could not be)."""
    rt = app_rt(mentions={person: {"feishu": ENGINEER}})
    guance.status_types = (10, 15, 20, 25, 30)
    issue, answer = click_claim(rt, open_api, guance, clock)
    assert managers(guance, issue) == [[person]]
    assert guance.issue(issue)["extend"]["manager"] == [person]
    assert "RELAY_MENTIONS knows you" not in answer


def test_an_operator_mapped_by_another_kind_of_key_is_told_why(app_rt, open_api, guance, clock):
    rt = app_rt(mentions={"eng-one": {"feishu": ENGINEER}})
    guance.status_types = (10, 15, 20, 25, 30)
    issue, answer = click_claim(rt, open_api, guance, clock)
    assert managers(guance, issue) == [None]  # status Working only
    assert "status is now Working" in answer
    assert "RELAY_MENTIONS knows you as eng-one" in answer and "an email" in answer


def test_claim_on_dingtalk_by_a_mapped_staff_id(make_runtime, guance, clock):
    rt = make_runtime(dingtalk_app_secret=APP_SECRET,
                      dingtalk_conversations={CONVERSATION: "default"},
                      mentions={"acnt_ding01": {"dingtalk": "staff01"}})
    [uuid] = new_issues(rt, guance, clock, "disk full")
    body = dict(mention(f"#{uuid}#/claim"), senderStaffId="staff01")
    resp = create_app(rt).test_client().post("/dingtalk/reply", json=body, headers=headers(clock))
    assert "you are its manager now" in said(resp)
    assert guance.issue(uuid)["extend"]["manager"] == ["acnt_ding01"]
