"""Feishu redeliveries: Feishu pushes an unanswered event again after 15 s,
5 min, 1 h and 6 h. A signed event is accepted within that horizon (8 hours back), acted on once
however often it comes, and refused after it; a plain `url_verification` is answered while an
Encrypt Key is set. Feishu's own SDK (lark-oapi) is the independent party for both."""

from __future__ import annotations

import json
import time

import pytest
from lark_oapi.core.model import RawRequest
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

from relay.store import events as event_store
from relay.web.app import create_app
from tests.appbot import EKEY, VTOKEN, encrypt, sign, signed_post, thread_reply, wait_for
from tests.helpers import assert_json_error

HOUR = 3600


@pytest.fixture
def rt(app_rt):
    return app_rt()


@pytest.fixture
def client(rt):
    return create_app(rt).test_client()


def sdk_answer(body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    """What lark-oapi's event dispatcher answers to this request (same key and token)."""
    handler = (EventDispatcherHandler.builder(EKEY, VTOKEN)
               .register_p2_im_message_receive_v1(lambda data: None).build())
    req = RawRequest()
    req.uri, req.body = "/feishu/events", body
    req.headers = headers
    resp = handler.do(req)
    return resp.status_code, json.loads(resp.content)


def signed(event: dict, ts: int, nonce: str = "nonce-1") -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"encrypt": encrypt(EKEY, json.dumps(event))}).encode()
    return body, {"X-Lark-Request-Timestamp": str(ts), "X-Lark-Request-Nonce": nonce,
                  "X-Lark-Signature": sign(str(ts), nonce, EKEY, body)}


def test_a_retry_seven_hours_late_is_acted_on_once(client, rt, open_api, guance, clock):
    issue = guance.add_issue("cpu high")
    event = thread_reply(open_api, f"#{issue}#seen after the outage")
    first_push = int(clock.now())
    clock.advance(7 * HOUR + 5 * 60)  # relay was down; Feishu's last retry, original timestamp
    body, headers = signed(event, first_push)
    assert sdk_answer(body, headers) == (200, {"msg": "success"})  # the SDK takes it too
    resp = client.post("/feishu/events", data=body, headers=headers,
                       content_type="application/json")
    assert resp.status_code == 200 and resp.get_json() == {"msg": "success"}
    wait_for(lambda: guance.comments(issue))
    # the same event again (another retry, a replay with a fresh nonce): acknowledged, not acted on
    for nonce, ts in (("n2", first_push), ("n3", int(clock.now()))):
        body, headers = signed(event, ts, nonce)
        assert client.post("/feishu/events", data=body, headers=headers,
                           content_type="application/json").status_code == 200
    time.sleep(0.3)
    assert [c.split("\n")[0] for c in guance.comments(issue)] == ["seen after the outage"]


def test_a_replay_past_the_horizon_or_from_the_future_is_refused(client, rt, open_api, clock):
    for ts in (int(clock.now()) - 8 * HOUR - 1, int(clock.now()) + 301):
        event = thread_reply(open_api, "#issue_3f9a1c2b4d5e6f70#replayed")
        resp = signed_post(client, event, clock.now(), ts=str(ts))
        assert "8 hours" in assert_json_error(resp, 401)["error"]
        assert event_store.get_event(rt.engine, event["header"]["event_id"]) is None


def test_event_ids_are_kept_longer_than_the_horizon_whatever_prune_is_asked(client, rt,
                                                                           open_api, clock):
    event = thread_reply(open_api, "no uuid, so the worker finishes it at once")
    assert signed_post(client, event, clock.now()).status_code == 200
    event_id = event["header"]["event_id"]
    wait_for(lambda: event_store.get_event(rt.engine, event_id).status in ("done", "ignored"))
    clock.advance(8 * HOUR)
    now = int(clock.now())
    event_store.prune(rt.engine, before=now, replies_too=False, now=now)  # "forget everything"
    assert event_store.get_event(rt.engine, event_id) is not None  # a replay is still known
    clock.advance(HOUR + 1)
    event_store.prune(rt.engine, before=int(clock.now()), replies_too=False, now=int(clock.now()))
    assert event_store.get_event(rt.engine, event_id) is None  # past the horizon: forgotten


def test_plain_url_verification_is_answered_while_an_encrypt_key_is_set(client):
    plain = {"challenge": "ch-plain", "token": VTOKEN, "type": "url_verification"}
    body = json.dumps(plain).encode()
    assert sdk_answer(body, {}) == (200, {"challenge": "ch-plain"})
    resp = client.post("/feishu/events", data=body, content_type="application/json")
    assert resp.status_code == 200 and resp.get_json() == {"challenge": "ch-plain"}
    wrong = json.dumps(dict(plain, token="not-the-token")).encode()
    assert sdk_answer(wrong, {})[0] != 200  # the SDK refuses a wrong token (with a 500)
    resp = client.post("/feishu/events", data=wrong, content_type="application/json")
    assert "token" in assert_json_error(resp, 401)["error"]
