"""Every chat platform's calls through relay.http: RELAY_CHAT_TIMEOUT (RELAY_FEISHU_TIMEOUT, its
old name, still read) is a deadline for the whole call on each of them, and a failure says why in
words, in the outbox's last_error and the log, never with the webhook's token."""

from __future__ import annotations

import logging
import time

import pytest
import responses

from relay.cli import main
from relay.connections import ConnectError
from relay.pipeline.deliver import deliver
from relay.platforms.dingtalk.robot import DingTalkSink
from relay.platforms.dingtalk_app.connection import DingTalkStream
from relay.platforms.dingtalk_app.openapi import TOKEN_PATH as DING_TOKEN_PATH
from relay.platforms.dingtalk_app.openapi import DingTalkApp
from relay.platforms.feishu.app import TOKEN_PATH as FEISHU_TOKEN_PATH
from relay.platforms.feishu.app import FeishuApp
from relay.platforms.feishu.card import load_card_template
from relay.platforms.feishu.webhook import BotWebhookSink, FlowWebhookSink
from relay.platforms.wecom.robot import WeComSink
from relay.config import Settings
from tests.helpers import EN, SlowPeer, free_port, outbox, payload
from tests.robots import TZ, new_issues

CONSOLE = "https://console.guance.com"
SECRET = "SECRETtoken0123456789"


def robots(base: str, timeout: float) -> dict:
    """Each webhook sink, at `base`, its token in the URL."""
    return {
        "Feishu flow": FlowWebhookSink(f"{base}/flow/api/trigger-webhook/{SECRET}", TZ, EN,
                                       timeout=timeout),
        "Feishu bot": BotWebhookSink(f"{base}/open-apis/bot/v2/hook/{SECRET}", TZ,
                                     load_card_template(None, "en"), CONSOLE, EN,
                                     timeout=timeout),
        "DingTalk": DingTalkSink(f"{base}/robot/send?access_token={SECRET}", TZ, CONSOLE, EN,
                                 timeout=timeout),
        "WeCom": WeComSink(f"{base}/cgi-bin/webhook/send?key={SECRET}", TZ, CONSOLE, EN,
                           timeout=timeout),
    }


def platform(name: str) -> str:
    return name.split()[0]


@pytest.mark.parametrize("at_once", [0, 17], ids=["status-line", "body"])
@pytest.mark.parametrize("name", ["Feishu flow", "Feishu bot", "DingTalk", "WeCom"])
def test_a_dripping_peer_is_cut_off_at_the_chat_deadline(name, at_once):
    """A byte every 0.2 s: a per-read timeout never trips, the whole call's deadline does."""
    peer = SlowPeer(b'HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n{"code": 0, "errcode": 0}   ',
                    at_once=at_once, every=0.2, lasts=8.0)
    started = time.monotonic()
    try:
        result = robots(peer.url, 1.0)[name].send(payload(), time.time())
    finally:
        peer.close()
    assert not result.ok and result.error == f"could not reach {platform(name)}: no answer in 1 s"
    assert time.monotonic() - started < 5 and peer.finished == 0


@pytest.mark.parametrize("name", ["Feishu flow", "Feishu bot", "DingTalk", "WeCom"])
@pytest.mark.parametrize("base, words", [
    (lambda: f"http://127.0.0.1:{free_port()}", "connection refused"),
    (lambda: "https://nonexistent.invalid", "DNS lookup failed for nonexistent.invalid"),
], ids=["closed-port", "no-such-host"])
def test_an_unreachable_robot_says_why(name, base, words):
    result = robots(base(), 2.0)[name].send(payload(), time.time())
    assert not result.ok and result.error == f"could not reach {platform(name)}: {words}"
    assert SECRET not in result.error


@pytest.fixture
def dripping_api():
    """An open platform whose token call answers (mocked) and whose every other call drips."""
    peer = SlowPeer(b'HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{"code": 0}         ',
                    every=0.2, lasts=8.0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.post(peer.url + FEISHU_TOKEN_PATH, json={"code": 0, "tenant_access_token": "t-1",
                                                     "expire": 7200})
        api.post(peer.url + DING_TOKEN_PATH, json={"accessToken": "a-1", "expireIn": 7200})
        api.add_passthru(peer.url)
        yield peer
    peer.close()


def test_the_feishu_im_api_is_cut_off_at_the_deadline(dripping_api, clock):
    app = FeishuApp(dripping_api.url, "cli_1", SECRET, clock, timeout=1.0)
    started = time.monotonic()
    result = app.send("oc_1", "text", {"text": "hi"})
    assert result.error == "could not reach Feishu: no answer in 1 s"
    assert time.monotonic() - started < 5


def test_the_dingtalk_openapi_is_cut_off_at_the_deadline(dripping_api, clock):
    app = DingTalkApp(dripping_api.url, "dingkey", SECRET, "dingkey", clock, timeout=1.0)
    started = time.monotonic()
    result = app.send_text("cid1", "hi")
    assert result.error == "could not reach DingTalk: no answer in 1 s"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("make, words", [
    (lambda url, clock: FeishuApp(url, "cli_1", SECRET, clock, timeout=2.0).token(),
     "tenant_access_token: could not reach Feishu: connection refused"),
    (lambda url, clock: DingTalkApp(url, "k", SECRET, "k", clock, timeout=2.0).token(),
     "accessToken: could not reach DingTalk: connection refused"),
], ids=["feishu", "dingtalk"])
def test_an_unreachable_token_endpoint_says_why(make, words, clock):
    with pytest.raises(Exception) as err:
        make(f"http://127.0.0.1:{free_port()}", clock)
    assert str(err.value) == words


def test_the_dingtalk_stream_gateway_call_says_why(make_runtime, clock):
    app = DingTalkApp(f"http://127.0.0.1:{free_port()}", "k", SECRET, "k", clock)
    stream = DingTalkStream(make_runtime(), app, SECRET)
    with pytest.raises(ConnectError) as err:  # the layer first (relay/connections/)
        stream.open(time.monotonic() + 10)
    assert str(err.value) == "tcp: 127.0.0.1: connection refused"


def test_the_failure_is_in_the_outbox_and_the_log_without_the_token(make_runtime, guance, clock,
                                                                    caplog):
    hook = f"http://127.0.0.1:{free_port()}/robot/send?access_token={SECRET}"
    rt = make_runtime(destinations={"ding": hook}, routes={"default": "ding"})
    caplog.set_level(logging.WARNING, logger="relay.delivery")
    new_issues(rt, guance, clock)
    [row] = outbox(rt)
    assert row.status == "pending"
    assert row.last_error == "could not reach DingTalk: connection refused"
    (line,) = [r.getMessage() for r in caplog.records if "failed (attempt 1)" in r.getMessage()]
    assert "could not reach DingTalk: connection refused" in line and SECRET not in line
    deliver(rt)  # not due yet: nothing changes
    assert outbox(rt)[0].attempts == 1


# -- the setting -------------------------------------------------------------------------------

@pytest.fixture
def every_kind(feishu, dingtalk, wecom):
    return dict(
        destinations={"bot": f"{feishu.url}/open-apis/bot/v2/hook/t1",
                      "ding": f"{dingtalk.url}/robot/send?access_token=t2",
                      "wx": f"{wecom.url}/cgi-bin/webhook/send?key=t3"},
        feishu_app_id="cli_1", feishu_app_secret="s", feishu_app_chats={"chat": "oc_1"},
        dingtalk_app_key="dk", dingtalk_app_secret="ds", dingtalk_app_groups={"grp": "cid1"},
        dingtalk_card_template="tpl")


def timeouts(rt) -> dict[str, float]:
    return {name: getattr(sink, "timeout", None) or sink.app.timeout
            for name, sink in rt.sinks.items()}


@pytest.mark.parametrize("given, expected", [
    ({}, 10.0),
    ({"chat_timeout": 3}, 3.0),
    ({"feishu_timeout": 4}, 4.0),  # the old name alone still applies
    ({"feishu_timeout": 4, "chat_timeout": 3}, 3.0),  # both: the new one wins
])
def test_one_chat_timeout_for_every_platform(make_runtime, every_kind, given, expected):
    rt = make_runtime(**every_kind, **given)
    assert timeouts(rt) == {name: expected for name in
                            ("default", "bot", "ding", "wx", "chat", "grp")}


def test_the_old_name_in_the_environment_applies_and_relay_config_says_it_is_deprecated(
        clean_env, capsys):
    clean_env.setenv("RELAY_FEISHU_TIMEOUT", "4")
    assert Settings().chat_timeout == 4.0
    assert main(["config"]) == 0
    lines = {line.split(" = ")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["RELAY_CHAT_TIMEOUT"] == \
        "RELAY_CHAT_TIMEOUT = 4.0  (env, as RELAY_FEISHU_TIMEOUT)"
    assert lines["RELAY_FEISHU_TIMEOUT"] == \
        "RELAY_FEISHU_TIMEOUT = 4.0  (env; deprecated: use RELAY_CHAT_TIMEOUT)"
    clean_env.setenv("RELAY_CHAT_TIMEOUT", "6")
    assert Settings().chat_timeout == 6.0
