"""Routing a channel to several destinations on different platforms, all configured in
RELAY_DESTINATIONS (a URL, or {"type", "url", "secret"}), and each bad entry stopping start-up
with an error that names it."""

from __future__ import annotations

import json

import pytest

from relay.cli import main
from relay.config import ConfigError, load_settings
from relay.pipeline.deliver import deliver
from tests.helpers import outbox
from tests.robots import DING_SECRET, DING_TOKEN, WECOM_KEY, ding_url, new_issues, wecom_url

FLOW_HOOK = "hook-ops-0123456789"
BOT_TOKEN = "feishu-bot-token-42424242"
BOT_SECRET = "feishu-bot-secret-abcdef"
APP_SECRET = "dingtalk-app-secret-0123456789"
DING = "https://oapi.dingtalk.com/robot/send?access_token=SECRETdingtoken77"
WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRETwecomkey88"


@pytest.fixture
def everywhere(guance, feishu, dingtalk, wecom) -> dict:
    """Settings sending channel "ops" to a Feishu flow, a signed Feishu bot, a signed DingTalk
    robot and a WeCom robot at once."""
    guance.add_channel("ops")
    feishu.bot_secrets[BOT_TOKEN] = BOT_SECRET
    dingtalk.secrets[DING_TOKEN] = DING_SECRET
    return dict(channels="ops", routes={"ops": ["flow", "bot", "ding", "wx"]}, destinations={
        "flow": f"{feishu.url}/flow/api/trigger-webhook/{FLOW_HOOK}",
        "bot": {"type": "feishu_bot", "url": f"{feishu.url}/open-apis/bot/v2/hook/{BOT_TOKEN}",
                "secret": BOT_SECRET},
        "ding": {"type": "dingtalk", "url": ding_url(dingtalk), "secret": DING_SECRET},
        "wx": wecom_url(wecom)})


def test_one_channel_gets_one_card_on_each_platform(make_runtime, everywhere, guance, feishu,
                                                    dingtalk, wecom, clock):
    rt = make_runtime(**everywhere)
    [uuid] = new_issues(rt, guance, clock, channels=["ops"])
    clock.advance(3600)
    deliver(rt)  # nothing more to send: each card went once
    [flow] = feishu.for_hook(FLOW_HOOK)
    [bot] = feishu.for_hook(BOT_TOKEN)
    [ding] = dingtalk.for_robot(DING_TOKEN)
    [wx] = wecom.for_robot(WECOM_KEY)
    assert flow["issue_uuid"] == uuid
    assert bot["msg_type"] == "interactive" and uuid in json.dumps(bot["card"])
    assert uuid in ding["markdown"]["text"] and uuid in wx["markdown"]["content"]
    assert sorted(r.destination for r in outbox(rt) if r.status == "sent") == [
        "bot", "ding", "flow", "wx"]


def test_each_platform_keeps_its_own_limit(make_runtime, everywhere, guance, feishu, dingtalk,
                                           wecom, clock):
    """25 issues at once: Feishu (100 a minute) takes all in the first minute, the robots (20 a
    minute) take 20 and the rest a minute later; nobody is refused."""
    rt = make_runtime(**everywhere, storm_threshold=100)
    new_issues(rt, guance, clock, *(f"node-{i:02d} down" for i in range(25)), channels=["ops"])
    assert len(feishu.for_hook(FLOW_HOOK)) == len(feishu.for_hook(BOT_TOKEN)) == 25
    assert len(dingtalk.received) == len(wecom.received) == 20
    clock.advance(60)
    deliver(rt)
    assert len(dingtalk.received) == len(wecom.received) == 25
    assert feishu.too_frequent == dingtalk.too_frequent == wecom.too_frequent == 0


def test_a_failing_robot_does_not_hold_up_the_others(make_runtime, everywhere, guance, feishu,
                                                     dingtalk, wecom, clock):
    dingtalk.secrets[DING_TOKEN] = "SECsomething-else"  # the robot's secret was changed
    rt = make_runtime(**everywhere)
    new_issues(rt, guance, clock, channels=["ops"])
    assert dingtalk.received == []
    assert len(feishu.received) == 2 and len(wecom.received) == 1
    [ding] = [r for r in outbox(rt) if r.destination == "ding"]
    assert ding.status == "pending" and "310000" in ding.last_error


def test_destinations_from_the_environment(clean_env):
    clean_env.setenv("RELAY_CHANNELS", "ops")
    clean_env.setenv("RELAY_DESTINATIONS", json.dumps({
        "ding": {"type": "dingtalk", "url": DING, "secret": DING_SECRET}, "wx": WECOM,
        "bot": f"https://open.feishu.cn/open-apis/bot/v2/hook/{BOT_TOKEN}"}))
    clean_env.setenv("RELAY_FEISHU_BOT_SECRETS", json.dumps({"bot": BOT_SECRET}))
    clean_env.setenv("RELAY_ROUTES", '{"ops": ["ding", "wx", "bot"]}')
    settings = load_settings(_env_file=None)
    table = settings.destination_table()
    assert {name: d.kind for name, d in table.items()} == {
        "ding": "dingtalk", "wx": "wecom", "bot": "feishu_bot"}
    assert table["bot"].secret.get_secret_value() == BOT_SECRET  # the existing setting still works
    assert settings.routing()["ops"] == ["ding", "wx", "bot"]


def test_every_secret_is_redacted(make_runtime):
    rt = make_runtime(dingtalk_app_secret=APP_SECRET, destinations={
        "ding": {"type": "dingtalk", "url": DING, "secret": DING_SECRET}, "wx": WECOM})
    for secret in (APP_SECRET, DING_SECRET, DING, "SECRETdingtoken77", WECOM,
                   "SECRETwecomkey88"):
        assert secret not in rt.redact(f"failed: {secret} (again {secret})")


# -- bad entries ---------------------------------------------------------------------------------

@pytest.mark.parametrize("entry,why", [
    ("https://oapi.dingtalk.com/robot/send", "no access_token="),
    ("https://oapi.dingtalk.com/robot/sendd?access_token=SECRETdingtoken77", "not a dingtalk URL"),
    ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "no key="),
    ("oapi.dingtalk.com/robot/send?access_token=SECRETdingtoken77", "webhook URL"),
    ({"type": "wecom", "url": WECOM, "secret": "SECRETsigning99"}, "takes no \"secret\""),
    ({"type": "slack", "url": "https://hooks.slack.com/x/SECRETslack"}, "unknown type 'slack'"),
    ({"type": "wecom", "url": DING}, "not a wecom URL"),
    ({"type": "feishu_flow", "url": DING}, "not a feishu_flow URL"),
    ({"type": "feishu_bot", "url": "https://www.feishu.cn/flow/api/trigger-webhook/SECRETx"},
     "not a feishu_bot URL"),
    ({"url": DING, "secrett": "SECRETsigning99"}, "unknown key(s) 'secrett'"),
    ({"type": "dingtalk"}, "needs \"url\""),
    ({"type": "dingtalk", "url": DING, "secret": ""}, "non-empty string"),
    (42, "URL string or an object"),
])
def test_each_bad_entry_is_a_clear_error(entry, why):
    destinations = {"fine": WECOM, "broken": entry}
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, destinations=destinations)
    message = str(caught.value)
    assert message.startswith("RELAY_DESTINATIONS: destination 'broken'") and why in message
    assert "SECRET" not in message  # neither the URL's token nor a secret


def test_bad_entry_stops_the_command_with_one_line(clean_env, capsys):
    clean_env.setenv("RELAY_DESTINATIONS", json.dumps(
        {"ding": {"type": "dingtalk", "url": DING, "secret": DING_SECRET, "sign": "x"}}))
    assert main(["migrate"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "RELAY_DESTINATIONS: destination 'ding': unknown key(s) 'sign'" in err
    assert DING_SECRET not in err and "SECRETdingtoken77" not in err
