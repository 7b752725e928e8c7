"""`POST /feishu/events`: challenge, decryption, signature, replay window, token, dedupe, and a
reply in an alert card's thread becoming a Guance comment with the bot's answer in the thread."""

from __future__ import annotations

import base64
import json
import time

import pytest

from relay.platforms.feishu.events import decrypt, signature
from relay.platforms.feishu.worker import EventWorker
from relay.store import events as event_store
from relay.store import replylog
from relay.web.app import create_app
from relay.web.server import WebServer
from relay.platforms.feishu.state import feishu_state
from tests.appbot import (CHAT, EKEY, ENGINEER, OTHER_CHAT, VTOKEN, encrypt, send_card, sign,
                          signed_post, thread_reply, wait_for)
from tests.helpers import assert_json_error


@pytest.fixture
def rt(app_rt):
    return app_rt()


@pytest.fixture
def client(rt):
    return create_app(rt).test_client()


def json_error(resp, status) -> str:
    return assert_json_error(resp, status)["error"]


# -- the documented algorithms ------------------------------------------------------------------

def test_decrypt_undoes_the_documented_encryption():
    plain = json.dumps({"challenge": "c-1", "token": VTOKEN, "type": "url_verification",
                        "text": "中文 and padding edge" * 3})
    fixed_iv = bytes(range(16))
    vector = encrypt(EKEY, plain, iv=fixed_iv)
    assert base64.b64decode(vector)[:16] == fixed_iv  # the IV travels in front
    assert decrypt(EKEY, vector) == plain
    assert decrypt(EKEY, encrypt(EKEY, "x" * 16)) == "x" * 16  # a full block of padding


def test_signature_is_the_documented_hash():
    body = b'{"encrypt":"abc"}'
    assert signature("1700000000", "n0nce", EKEY, body) == sign("1700000000", "n0nce", EKEY, body)
    assert len(signature("1", "2", "3", b"")) == 64  # lowercase hex SHA-256


# -- url_verification ---------------------------------------------------------------------------

def test_plain_challenge_is_echoed(app_rt):
    client = create_app(app_rt(feishu_encrypt_key=None)).test_client()
    resp = client.post("/feishu/events", json={"challenge": "ch-123", "token": VTOKEN,
                                               "type": "url_verification"})
    assert resp.status_code == 200 and resp.get_json() == {"challenge": "ch-123"}


def test_encrypted_challenge_is_decrypted_and_echoed(client):
    inner = json.dumps({"challenge": "ch-enc", "token": VTOKEN, "type": "url_verification"})
    resp = client.post("/feishu/events", json={"encrypt": encrypt(EKEY, inner)})
    assert resp.status_code == 200 and resp.get_json() == {"challenge": "ch-enc"}


@pytest.mark.parametrize("token", ["wrong", VTOKEN + "x", "", None])
def test_challenge_with_a_bad_token_is_401_json(client, token):
    inner = json.dumps({"challenge": "c", "token": token, "type": "url_verification"})
    resp = client.post("/feishu/events", json={"encrypt": encrypt(EKEY, inner)})
    assert "token" in json_error(resp, 401)
    assert VTOKEN not in resp.get_data(as_text=True)


def test_event_with_a_bad_token_is_401_and_not_stored(client, open_api, rt, clock):
    event = thread_reply(open_api, "#issue_3f9a1c2b4d5e6f70#hi")
    event["header"]["token"] = "not-the-token"
    json_error(signed_post(client, event, clock.now()), 401)
    assert event_store.get_event(rt.engine, event["header"]["event_id"]) is None


@pytest.mark.parametrize("body, status", [
    (b"not json", 400), (b"[1, 2]", 400), (b'{"encrypt": "%%%"}', 400),
    (b'{"encrypt": "' + base64.b64encode(b"0" * 48) + b'"}', 400),  # not decryptable
])
def test_malformed_bodies_are_4xx_json(client, body, status):
    json_error(client.post("/feishu/events", data=body, content_type="application/json"), status)


def test_a_wrong_encrypt_key_is_told_apart(client):
    inner = json.dumps({"challenge": "c", "token": VTOKEN, "type": "url_verification"})
    resp = client.post("/feishu/events", json={"encrypt": encrypt("another-key", inner)})
    assert "RELAY_FEISHU_ENCRYPT_KEY" in json_error(resp, 400)


def test_plain_body_when_an_encrypt_key_is_set_is_400(client, open_api):
    json_error(client.post("/feishu/events", json=thread_reply(open_api, "hi")), 400)


def test_without_the_app_bot_configured_the_endpoint_is_404_json(make_runtime):
    client = create_app(make_runtime()).test_client()
    assert "RELAY_FEISHU_VERIFICATION_TOKEN" in json_error(
        client.post("/feishu/events", json={"type": "url_verification"}), 404)


# -- signature and replay -----------------------------------------------------------------------

def test_wrong_or_missing_signature_is_401(client, open_api, clock, rt):
    event = thread_reply(open_api, "#issue_3f9a1c2b4d5e6f70#hi")
    body = json.dumps({"encrypt": encrypt(EKEY, json.dumps(event))}).encode()
    ts = str(int(clock.now()))
    for headers in ({}, {"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": "n",
                         "X-Lark-Signature": sign(ts, "n", "other-key", body)},
                    {"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": "n",
                     "X-Lark-Signature": sign(ts, "n2", EKEY, body)}):
        resp = client.post("/feishu/events", data=body, headers=headers,
                           content_type="application/json")
        assert "X-Lark" in json_error(resp, 401)
    assert event_store.get_event(rt.engine, event["header"]["event_id"]) is None


def test_replayed_event_nine_hours_old_is_rejected(client, open_api, guance, clock, rt):
    issue = guance.add_issue("cpu high")
    old = thread_reply(open_api, f"#{issue}#replayed")
    resp = signed_post(client, old, clock.now(), ts=str(int(clock.now()) - 9 * 3600))
    assert "8 hours" in json_error(resp, 401)
    ahead = thread_reply(open_api, f"#{issue}#from the future")
    json_error(signed_post(client, ahead, clock.now(), ts=str(int(clock.now()) + 360)), 401)
    fresh = thread_reply(open_api, f"#{issue}#a retry an hour later is fine")
    assert signed_post(client, fresh, clock.now(), ts=str(int(clock.now()) - 3600)).status_code \
        == 200
    wait_for(lambda: guance.comments(issue))
    time.sleep(0.2)
    assert [c.split("\n")[0] for c in guance.comments(issue)] == ["a retry an hour later is fine"]


# -- acting on messages -------------------------------------------------------------------------

@pytest.mark.parametrize("link", ["root_id", "parent_id"])
def test_reply_to_an_alert_card_becomes_a_comment_without_the_uuid(rt, client, open_api,
                                                                   guance, clock, link):
    issue, card_id = send_card(rt, guance, clock)
    assert card_id and card_id.startswith("om_")
    event = thread_reply(open_api, "restarted the pod, see #42", **{link: card_id})
    resp = signed_post(client, event, clock.now())
    assert resp.status_code == 200 and resp.get_json() == {"msg": "success"}
    user_message = event["event"]["message"]["message_id"]
    answers = wait_for(lambda: open_api.texts_replying_to(user_message))
    (comment,) = guance.comments(issue)
    assert comment.startswith("restarted the pod, see #42")
    assert "@_user_1" not in comment  # the bot's mention placeholder is gone
    assert ENGINEER in comment  # who wrote it
    assert answers == [f"Comment posted on Guance issue {issue}."]
    stored = wait_for(lambda: (row := event_store.get_event(rt.engine, event["header"]["event_id"]))
                      .status == "done" and row)
    assert VTOKEN not in json.dumps(stored.body)  # the token is a secret: not kept
    (logged,) = replylog.recent(rt.engine)  # the delivery log page lists the comment
    assert (logged.http_status, logged.issue_uuid, logged.text) == (200, issue, comment)


def test_hash_uuid_text_works_in_any_allowed_chat(app_rt, open_api, guance, clock):
    rt = app_rt(feishu_allowed_chats=f"{CHAT},{OTHER_CHAT}")
    client = create_app(rt).test_client()
    issue = guance.add_issue("cpu high")
    event = thread_reply(open_api, f"#{issue}#looking", chat=OTHER_CHAT)
    assert signed_post(client, event, clock.now()).status_code == 200
    wait_for(lambda: guance.comments(issue))
    assert guance.comments(issue)[0].startswith("looking\n")


def test_duplicate_event_id_is_acted_on_once(rt, client, open_api, guance, clock):
    issue, card_id = send_card(rt, guance, clock)
    event = thread_reply(open_api, "on it", root_id=card_id)
    for nonce in ("first", "redelivery-1", "redelivery-2"):
        assert signed_post(client, event, clock.now(), nonce=nonce).status_code == 200
    user_message = event["event"]["message"]["message_id"]
    wait_for(lambda: open_api.texts_replying_to(user_message))
    time.sleep(0.3)  # give a second (wrong) action time to show
    assert len(guance.comments(issue)) == 1
    assert len(open_api.texts_replying_to(user_message)) == 1


def test_a_chat_not_on_the_allowlist_gets_a_polite_refusal(rt, client, open_api, guance, clock):
    issue = guance.add_issue("cpu high")
    event = thread_reply(open_api, f"#{issue}#let me in", chat=OTHER_CHAT)
    signed_post(client, event, clock.now())
    (answer,) = wait_for(lambda: open_api.texts_replying_to(event["event"]["message"]["message_id"]))
    assert answer.startswith("Sorry") and OTHER_CHAT in answer
    assert guance.comments(issue) == [] and guance.calls == []


def test_a_user_not_on_the_user_allowlist_is_refused(app_rt, open_api, guance, clock):
    rt = app_rt(feishu_allowed_users="ou_lead0001")
    client = create_app(rt).test_client()
    issue = guance.add_issue("cpu high")
    refused = thread_reply(open_api, f"#{issue}#me too")
    signed_post(client, refused, clock.now())
    wait_for(lambda: open_api.texts_replying_to(refused["event"]["message"]["message_id"]))
    allowed = thread_reply(open_api, f"#{issue}#lead here", sender="ou_lead0001")
    signed_post(client, allowed, clock.now())
    wait_for(lambda: guance.comments(issue))
    assert [c.split("\n")[0] for c in guance.comments(issue)] == ["lead here"]


def test_unknown_issue_and_unknown_card_are_explained(rt, client, open_api, guance, clock):
    unknown = thread_reply(open_api, "#issue_00000000000000000000000000dead#hi")
    stray = thread_reply(open_api, "what is this about?", root_id="om_not_a_card")
    for event in (unknown, stray):
        signed_post(client, event, clock.now())
    (a1,) = wait_for(lambda: open_api.texts_replying_to(unknown["event"]["message"]["message_id"]))
    (a2,) = wait_for(lambda: open_api.texts_replying_to(stray["event"]["message"]["message_id"]))
    assert "no issue issue_00000000000000000000000000dead" in a1
    assert "which issue" in a2 and "#<issueUUID>#" in a2


def test_a_message_that_does_not_mention_the_bot_is_left_alone(rt, client, open_api, guance,
                                                                 clock):
    issue, card_id = send_card(rt, guance, clock)
    event = thread_reply(open_api, "talking to a colleague", root_id=card_id, mention=False)
    event["event"]["message"]["mentions"] = [
        {"key": "@_user_1", "id": {"open_id": "ou_colleague"}, "name": "Bo"}]
    signed_post(client, event, clock.now())
    wait_for(lambda: event_store.get_event(rt.engine, event["header"]["event_id"]).status
             == "ignored")
    assert guance.comments(issue) == [] and open_api.replies_to(
        event["event"]["message"]["message_id"]) == []


def test_guance_down_is_retried_then_the_bot_says_so(rt, client, open_api, guance, clock):
    issue = guance.add_issue("cpu high")
    guance.faults.extend(["500"] * 4)
    event = thread_reply(open_api, f"#{issue}#will it land?")
    signed_post(client, event, clock.now())
    event_id = event["header"]["event_id"]
    for attempt in range(1, 4):  # retried with back-off, silently
        wait_for(lambda: (event_store.get_event(rt.engine, event_id).attempts == attempt
                          and event_store.get_event(rt.engine, event_id).status == "pending"))
        clock.advance(15 * 2 ** (attempt - 1))
        feishu_state(rt).worker.wake()
    (answer,) = wait_for(lambda: open_api.texts_replying_to(event["event"]["message"]["message_id"]))
    assert "Guance is not answering" in answer
    assert guance.comments(issue) == []


# -- deadlines and crashes ----------------------------------------------------------------------

def test_slow_guance_still_gets_a_fast_answer_over_a_real_socket(rt, open_api, guance, clock):
    issue, card_id = send_card(rt, guance, clock)
    guance.timeout_seconds = 5.0
    guance.faults.append("timeout")  # the next Guance call takes 5 s
    server = WebServer(create_app(rt), "127.0.0.1", 0).start()
    try:
        event = thread_reply(open_api, "slow but sure", root_id=card_id)
        started = time.monotonic()
        resp = signed_post(f"{server.url}/feishu/events", event, clock.now())
        elapsed = time.monotonic() - started
        assert resp.status_code == 200 and resp.json() == {"msg": "success"}
        assert elapsed < 1.0, elapsed
        assert guance.comments(issue) == []
        wait_for(lambda: guance.comments(issue), timeout=12)
        assert guance.comments(issue)[0].startswith("slow but sure")
    finally:
        server.stop()


def test_an_event_acknowledged_before_a_crash_is_acted_on_after_restart(app_rt, open_api, guance,
                                                                        clock, monkeypatch):
    issue = guance.add_issue("cpu high")
    with monkeypatch.context() as patch:  # the process dies right after answering 200
        patch.setattr(EventWorker, "start", lambda self: self)
        first = app_rt()
        event = thread_reply(open_api, f"#{issue}#survives a crash")
        assert signed_post(create_app(first).test_client(), event, clock.now()).status_code == 200
        first.close()
    assert guance.comments(issue) == []
    second = app_rt()  # the restarted process, same database
    create_app(second)
    wait_for(lambda: guance.comments(issue))
    assert guance.comments(issue)[0].startswith("survives a crash")
    wait_for(lambda: open_api.texts_replying_to(event["event"]["message"]["message_id"]))


def test_thread_reply_dedupe_and_notification_on_postgres(app_rt, postgres_url, open_api, guance,
                                                          clock):
    from relay.pipeline.notify_replies import notify_replies

    rt = app_rt(database_url=postgres_url)
    issue, card_id = send_card(rt, guance, clock)
    client = create_app(rt).test_client()
    notify_replies(rt)
    event = thread_reply(open_api, "on postgres", root_id=card_id)
    for nonce in ("a", "b"):
        assert signed_post(client, event, clock.now(), nonce=nonce).status_code == 200
    wait_for(lambda: open_api.texts_replying_to(event["event"]["message"]["message_id"]))
    guance.add_reply(issue, "noted", author="Eve")
    clock.advance(300)
    notify_replies(rt)
    assert len(guance.comments(issue)) == 2  # relay's one comment, and Eve's
    assert open_api.texts_replying_to(card_id) == ["💬 Eve replied in Guance: noted"]


def test_mentions_become_names_and_the_bots_disappears():
    from relay.platforms.feishu.worker import read_message
    from relay.sandbox.feishu_app import message_event

    event = message_event(VTOKEN, CHAT, "@_user_10 please check with @_user_2", root_id="om_1",
                          mention_bot="ou_bot")
    event["event"]["message"]["mentions"] += [
        {"key": "@_user_2", "id": {"open_id": "ou_bo"}, "name": "Bo"},
        {"key": "@_user_10", "id": {"open_id": "ou_ann"}, "name": "Ann"}]
    message = read_message(event, "ou_bot")
    assert message.mentions_bot and message.text == "@Ann please check with @Bo"
    assert not read_message(event, "ou_someone_else").mentions_bot


def test_an_event_a_crashed_worker_held_is_taken_up_again(app_rt, open_api, guance, clock):
    issue = guance.add_issue("cpu high")
    rt = app_rt()
    event = thread_reply(open_api, f"#{issue}#half done")
    assert event_store.accept_event(rt.engine, event["header"]["event_id"],
                                   "im.message.receive_v1", event, int(clock.now()))
    (row,) = event_store.due_events(rt.engine, int(clock.now()))
    assert event_store.claim_event(rt.engine, row, int(clock.now()))  # then the process died
    create_app(rt)
    time.sleep(0.3)
    assert guance.comments(issue) == []  # a live worker elsewhere may still be on it
    clock.advance(event_store.STALE_CLAIM_SECONDS + 1)
    feishu_state(rt).worker.wake()
    wait_for(lambda: guance.comments(issue))
    assert guance.comments(issue)[0].startswith("half done")


def test_a_comment_guance_took_but_did_not_answer_for_is_not_posted_again(app_rt, open_api,
                                                                          guance, clock):
    rt = app_rt(guance_timeout=0.3)
    guance.timeout_seconds = 0.8  # Guance stores the comment, but answers too late
    client = create_app(rt).test_client()
    issue = guance.add_issue("cpu high")
    guance.faults.append("timeout")
    event = thread_reply(open_api, f"#{issue}#only once please")
    signed_post(client, event, clock.now())
    (answer,) = wait_for(lambda: open_api.texts_replying_to(event["event"]["message"]["message_id"]))
    assert "look at the issue before sending it again" in answer
    wait_for(lambda: guance.comments(issue))  # Guance took it after all
    for _ in range(3):  # no retry comes later
        clock.advance(60)
        feishu_state(rt).worker.wake()
    time.sleep(1.0)
    assert len(guance.comments(issue)) == 1
