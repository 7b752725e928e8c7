"""The app-bot sink: cards through the IM API, the cached tenant_access_token, limits, settings."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from relay.config import ConfigError, Settings
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.platforms.feishu.app import FeishuApp
from relay.store import outbox as store
from tests.appbot import CHAT, send_card


def test_card_goes_through_the_im_api_and_its_message_id_is_stored(app_rt, open_api, guance,
                                                                   clock):
    rt = app_rt()
    issue, card_id = send_card(rt, guance, clock, title="Payment API 5xx")
    (message,) = open_api.in_chat(CHAT)
    assert message["msg_type"] == "interactive"
    card = message["content"]  # the fake parsed the JSON string relay sent
    assert card["header"]["title"]["content"] == "[P2] Payment API 5xx"
    assert issue in str(card)
    assert card_id == message["message_id"]
    with rt.engine.connect() as conn:
        assert conn.execute(select(store.Delivery.status, store.Delivery.message_id)).all() == [
            ("sent", card_id)]


def test_app_chats_and_webhooks_can_share_a_route(app_rt, open_api, feishu, guance, clock):
    rt = app_rt(routes={"default": ["ops-chat", "default"]})
    poll(rt)
    clock.advance(30)
    guance.add_issue("both places")
    clock.advance(30)
    poll(rt)
    assert deliver(rt).sent == 2
    assert len(open_api.in_chat(CHAT)) == 1 and len(feishu.for_hook("hook-default")) == 1


def test_token_is_cached_and_refreshed_ten_minutes_before_expiry(app_rt, open_api, guance, clock):
    rt = app_rt()
    app = rt.feishu_app
    token = app.token()
    clock.advance(7200 - 601)
    assert app.token() == token and open_api.token_requests == 1
    clock.advance(2)  # now less than ten minutes are left
    fresh = app.token()
    assert fresh != token and open_api.token_requests == 2


def test_an_expired_token_is_replaced_before_a_card_goes_out(app_rt, open_api, guance, clock):
    rt = app_rt()
    poll(rt)
    rt.feishu_app.token()
    clock.advance(7300)  # the cached token has expired on Feishu's side
    clock.advance(30)
    guance.add_issue("after two hours")
    clock.advance(30)
    poll(rt)
    assert deliver(rt).sent == 1
    assert open_api.token_requests == 2 and len(open_api.in_chat(CHAT)) == 1


def test_a_token_feishu_forgot_is_fetched_again_once(app_rt, open_api, clock):
    rt = app_rt()
    rt.feishu_app.token()
    open_api._tokens.clear()  # e.g. the app secret was reset: Feishu answers 99991663
    result = rt.feishu_app.send(CHAT, "text", {"text": "hello"})
    assert result.ok and result.message_id
    assert open_api.token_requests == 2


def test_eight_threads_needing_a_token_cause_one_refresh(open_api, clock):
    app = FeishuApp(open_api.url, open_api.app_id, open_api.app_secret, clock)
    open_api.token_delay = 0.3
    barrier = threading.Barrier(8)
    tokens = []

    def need_token():
        barrier.wait()
        tokens.append(app.token())

    threads = [threading.Thread(target=need_token) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert open_api.token_requests == 1


def test_wrong_app_secret_shows_on_the_pending_delivery(app_rt, open_api, guance, clock):
    rt = app_rt(feishu_app_secret="wrong-secret-123")
    poll(rt)
    clock.advance(30)
    guance.add_issue("cannot send")
    clock.advance(30)
    poll(rt)
    assert deliver(rt).failed == 1
    with rt.engine.connect() as conn:
        status, error = conn.execute(select(store.Delivery.status, store.Delivery.last_error)).one()
    assert status == "pending" and "RELAY_FEISHU_APP_SECRET" in error
    assert "wrong-secret-123" not in error


def test_rate_limit_answer_holds_the_chat_and_the_card_goes_later(app_rt, open_api, guance,
                                                                 clock):
    rt = app_rt()
    poll(rt)
    clock.advance(30)
    guance.add_issue("limited")
    clock.advance(30)
    poll(rt)
    open_api.faults.append("ratelimit")
    assert deliver(rt).failed == 1
    with rt.engine.connect() as conn:
        assert "99991400" in conn.scalar(select(store.Delivery.last_error))
    assert deliver(rt).sent == 0  # still backing off
    clock.advance(5)
    assert deliver(rt).sent == 1 and len(open_api.in_chat(CHAT)) == 1


# -- settings -----------------------------------------------------------------------------------

def test_app_chats_need_the_app_id_and_secret(app_rt):
    with pytest.raises(ConfigError, match="RELAY_FEISHU_APP_ID"):
        app_rt(feishu_app_id=None)
    with pytest.raises(ConfigError, match="RELAY_FEISHU_APP_SECRET"):
        app_rt(feishu_app_secret=None)


def test_an_app_chat_name_that_is_also_a_webhook_is_refused(app_rt):
    with pytest.raises(ConfigError, match="RELAY_FEISHU_APP_CHATS: 'default'"):
        app_rt(feishu_app_chats={"default": CHAT}, routes={"default": ["default"]})


def test_app_chats_must_be_chat_ids_and_routes_must_name_them():
    from relay.config import load_settings

    with pytest.raises(ConfigError, match="RELAY_FEISHU_APP_CHATS: .*oc_"):
        load_settings(_env_file=None, feishu_app_chats={"ops": "https://example.com/hook"})
    settings = Settings(_env_file=None, feishu_app_chats={"ops": CHAT},
                        routes={"default": ["ops"], "payments": ["opz"]})
    with pytest.raises(ConfigError, match="RELAY_FEISHU_APP_CHATS"):
        settings.routing()


def test_app_secrets_are_redacted():
    settings = Settings(_env_file=None, feishu_app_secret="app-secret-1234",
                        feishu_verification_token="verif-5678", feishu_encrypt_key="enc-key-9012")
    assert {"app-secret-1234", "verif-5678", "enc-key-9012"} <= set(settings.secrets())
