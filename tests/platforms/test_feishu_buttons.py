"""The app bot acts on issues: Claim / Resolve / Close / Reopen buttons on its card (the
`card.action.trigger` callback on /feishu/events) and `@bot /resolve <note>` in a card's thread.
Each reaches Guance's issue/{uuid}/modify once with the right statusType, with a comment naming
who acted; redelivered callbacks and double clicks act once; unsigned or foreign ones do not."""

from __future__ import annotations

import json
import time

import pytest

from relay.platforms.feishu.events import MAX_AGE_SECONDS
from relay.sandbox.feishu_app import click_event
from relay.store import events as event_store
from relay.web.app import create_app
from relay.platforms.feishu.state import feishu_state
from tests.appbot import (CHAT, ENGINEER, OTHER_CHAT, VTOKEN, send_card, signed_post, thread_reply,
                          wait_for)


@pytest.fixture
def rt(app_rt):
    return app_rt()


@pytest.fixture
def client(rt):
    return create_app(rt).test_client()


def msg_id(event: dict) -> str:
    return event["event"]["message"]["message_id"]


def statuses(guance, uuid: str) -> list:
    return [body.get("statusType") for issue, body in guance.modifications if issue == uuid]


def buttons(open_api, card_id: str) -> list[dict]:
    (card,) = [m for m in open_api.messages if m["message_id"] == card_id]
    rows = [e for e in card["content"]["elements"] if e.get("tag") == "action"]
    return [b for row in rows for b in row["actions"]]


def click(client, clock, card_id: str, value: dict, chat: str = CHAT, operator: str = ENGINEER,
          **kw):
    event = click_event(VTOKEN, chat, card_id, value, operator=operator)
    return event, signed_post(client, event, clock.now(), **kw)


def test_the_app_card_has_the_four_buttons(rt, open_api, guance, clock):
    issue, card_id = send_card(rt, guance, clock)
    assert [(b["text"]["content"], b["value"]) for b in buttons(open_api, card_id)] == [
        (label, {"relay_action": name, "issue": issue}) for label, name in
        [("Claim", "claim"), ("Resolve", "resolve"), ("Close", "close"), ("Reopen", "reopen")]]


@pytest.mark.parametrize("action, status, done", [("resolve", 20, "Resolved"),
                                                  ("reopen", 10, "Reopened"),
                                                  ("close", 20, "Closed")])
def test_a_click_acts_once_with_a_toast_and_an_answer_in_the_thread(rt, client, open_api, guance,
                                                                     clock, action, status, done):
    issue, card_id = send_card(rt, guance, clock)
    value = next(b["value"] for b in buttons(open_api, card_id)
                 if b["value"]["relay_action"] == action)
    event, resp = click(client, clock, card_id, value)
    assert resp.status_code == 200
    assert resp.get_json()["toast"]["type"] == "info"
    assert "working on it" in resp.get_json()["toast"]["content"]
    (answer,) = wait_for(lambda: open_api.texts_replying_to(card_id))
    assert answer.startswith(f"{done} {issue}")
    assert statuses(guance, issue) == [status]
    assert guance.comments(issue) == [f"{done} from Feishu by {ENGINEER}"]


def test_a_redelivered_callback_and_a_double_click_act_once(rt, client, open_api, guance, clock):
    issue, card_id = send_card(rt, guance, clock)
    value = {"relay_action": "resolve", "issue": issue}
    event, first = click(client, clock, card_id, value)
    for nonce in ("again-1", "again-2"):  # Feishu delivers the same callback again
        assert signed_post(client, event, clock.now(), nonce=nonce).status_code == 200
    _, second = click(client, clock, card_id, value)  # a second click: a new event_id
    assert "just clicked" in second.get_json()["toast"]["content"]
    wait_for(lambda: open_api.texts_replying_to(card_id))
    time.sleep(0.3)  # room for a wrong second action to show
    assert statuses(guance, issue) == [20]
    assert len(guance.comments(issue)) == 1
    clock.advance(120)  # later, a deliberate click acts again
    click(client, clock, card_id, {"relay_action": "reopen", "issue": issue})
    wait_for(lambda: statuses(guance, issue) == [20, 10])


def test_a_click_outside_the_allowlist_is_refused_politely(app_rt, open_api, guance, clock):
    rt = app_rt(feishu_allowed_users="ou_lead0001")
    client = create_app(rt).test_client()
    issue, card_id = send_card(rt, guance, clock)
    event, resp = click(client, clock, card_id, {"relay_action": "resolve", "issue": issue})
    assert resp.status_code == 200 and resp.get_json()["toast"]["type"] == "error"
    assert "not allowed" in resp.get_json()["toast"]["content"]
    _, other = click(client, clock, card_id, {"relay_action": "resolve", "issue": issue},
                     chat=OTHER_CHAT, operator="ou_lead0001")
    assert other.get_json()["toast"]["type"] == "error"
    assert event_store.get_event(rt.engine, event["header"]["event_id"]) is None
    assert guance.modifications == []


def test_an_unsigned_callback_is_refused(rt, client, open_api, guance, clock):
    issue, card_id = send_card(rt, guance, clock)
    event = click_event(VTOKEN, CHAT, card_id, {"relay_action": "resolve", "issue": issue})
    resp = client.post("/feishu/events", data=json.dumps(event),
                       headers={"Content-Type": "application/json"})
    assert resp.status_code == 400  # an Encrypt Key is set: plain bodies are refused
    _, forged = click(client, clock, card_id, {"relay_action": "resolve", "issue": issue},
                      ts=str(int(clock.now()) - MAX_AGE_SECONDS - 60))  # past the window
    assert forged.status_code == 401
    time.sleep(0.2)
    assert guance.modifications == []


def test_a_foreign_button_is_not_acted_on(rt, client, open_api, guance, clock):
    issue, card_id = send_card(rt, guance, clock)
    _, resp = click(client, clock, card_id, {"relay_action": "delete", "issue": issue})
    assert resp.get_json()["toast"]["type"] == "error"
    assert guance.modifications == []


# -- commands in the card's thread --------------------------------------------------------------

def test_resolve_in_the_thread_acts_with_the_note_as_comment(rt, client, open_api, guance, clock):
    issue, card_id = send_card(rt, guance, clock)
    event = thread_reply(open_api, "/resolve rolled back the release", root_id=card_id)
    signed_post(client, event, clock.now())
    (answer,) = wait_for(lambda: open_api.texts_replying_to(msg_id(event)))
    assert answer == f"Resolved {issue}: status is now Resolved."
    assert statuses(guance, issue) == [20]
    assert guance.comments(issue) == [f"Resolved from Feishu by {ENGINEER}\n\n"
                                      "rolled back the release"]


def test_claim_in_the_thread_says_guance_refused_working(rt, client, open_api, guance, clock):
    issue, card_id = send_card(rt, guance, clock)
    event = thread_reply(open_api, f"#{issue}#/认领", chat=CHAT)
    signed_post(client, event, clock.now())
    (answer,) = wait_for(lambda: open_api.texts_replying_to(msg_id(event)))
    assert "does not take the status Working" in answer
    assert guance.comments(issue) == [f"Claimed from Feishu by {ENGINEER}"]


def test_a_rate_limited_action_in_the_thread_is_not_retried(rt, client, open_api, guance, clock):
    issue, card_id = send_card(rt, guance, clock)
    guance.faults.append("ratelimit")
    event = thread_reply(open_api, "/resolve", root_id=card_id)
    signed_post(client, event, clock.now())
    (answer,) = wait_for(lambda: open_api.texts_replying_to(msg_id(event)))
    assert "busy" in answer
    clock.advance(3600)
    feishu_state(rt).worker.wake()
    time.sleep(0.3)
    assert guance.modifications == [] and guance.comments(issue) == []
    assert event_store.get_event(rt.engine, event["header"]["event_id"]).status == "failed"


def test_a_click_taken_up_again_after_a_crash_is_not_acted_on_twice(app_rt, open_api, guance,
                                                                     clock, monkeypatch):
    from relay.platforms.feishu.worker import EventWorker

    with monkeypatch.context() as patch:  # the worker claims the click, then the process dies
        patch.setattr(EventWorker, "start", lambda self: self)
        first = app_rt()
        issue, card_id = send_card(first, guance, clock)
        event, resp = click(create_app(first).test_client(), clock, card_id,
                            {"relay_action": "resolve", "issue": issue})
        row = event_store.get_event(first.engine, event["header"]["event_id"])
        assert event_store.claim_event(first.engine, row, int(clock.now()))
        first.close()
    clock.advance(event_store.STALE_CLAIM_SECONDS + 1)
    second = app_rt()
    create_app(second)  # starts the worker, which finds the stale claim
    (answer,) = wait_for(lambda: open_api.texts_replying_to(card_id))
    assert "interrupted" in answer
    assert guance.modifications == []


def test_claim_button_sets_working_where_guance_takes_it(rt, client, open_api, guance, clock):
    guance.status_types = (10, 15, 20, 25, 30)
    issue, card_id = send_card(rt, guance, clock)
    click(client, clock, card_id, {"relay_action": "claim", "issue": issue})
    (answer,) = wait_for(lambda: open_api.texts_replying_to(card_id))
    assert "status is now Working" in answer
    assert statuses(guance, issue) == [15]
    assert guance.comments(issue) == [f"Claimed from Feishu by {ENGINEER}"]


def test_mute_in_the_thread_holds_back_the_source(rt, client, open_api, guance, clock):
    from relay.store import mutes as mute_store

    issue, card_id = send_card(rt, guance, clock)
    event = thread_reply(open_api, "/静音 1小时", root_id=card_id)
    signed_post(client, event, clock.now())
    (answer,) = wait_for(lambda: open_api.texts_replying_to(msg_id(event)))
    assert answer.startswith("Muted monitor until")
    (active,) = mute_store.active(rt.engine, int(clock.now()))
    assert (active.resource, active.until - active.created_at) == ("monitor", 3600)
    assert guance.modifications == []


@pytest.mark.parametrize("language, labels", [("en", ["Claim", "Resolve", "Close", "Reopen"]),
                                              ("zh-CN", ["认领", "解决", "关闭", "重开"])])
def test_the_buttons_speak_the_language_on_an_updatable_card(app_rt, open_api, guance, clock,
                                                             language, labels):
    rt = app_rt(language=language)
    _, card_id = send_card(rt, guance, clock)
    assert [b["text"]["content"] for b in buttons(open_api, card_id)] == labels
    (card,) = [m for m in open_api.messages if m["message_id"] == card_id]
    assert card["content"]["config"]["update_multi"] is True  # follow-ups PATCH it, buttons kept
