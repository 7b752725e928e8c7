"""One destinations table: every destination is one entry with a `type` and that type's fields,
in relay.toml (`[destinations.NAME]`) or RELAY_DESTINATIONS; an `.env` written for the previous
release (RELAY_FEISHU_WEBHOOK_URL, RELAY_DESTINATIONS of URLs or {"type", "url", "secret"},
RELAY_FEISHU_BOT_SECRETS, RELAY_FEISHU_APP_CHATS, RELAY_DINGTALK_APP_GROUPS) starts and delivers
exactly as the new form does, and `relay config` shows what it became."""

from __future__ import annotations

import json

import pytest

from relay.cli import main
from relay.config import ConfigError, load_settings
from relay.runtime import Runtime
from relay.sandbox.dingtalk_app import FakeDingTalkApp
from relay.sandbox.feishu_app import FakeFeishuApp
from tests.helpers import served
from tests.robots import DING_SECRET, DING_TOKEN, WECOM_KEY, ding_url, new_issues, wecom_url

FLOW_HOOK = "hook-default-0123456789"
BOT_TOKEN = "feishu-bot-token-42424242"
BOT_SECRET = "feishu-bot-secret-abcdef"
CHAT = "oc_opschat00000000000000000001"
GROUP = "cidOpsGroup0000000001=="
TEMPLATE = "relay-alert.schema"
EVERY = ["default", "bot", "ding", "wx", "ops-chat", "ops-dt"]


@pytest.fixture
def open_api(clock):
    yield from served(FakeFeishuApp(clock=clock))


@pytest.fixture
def dt_app(clock):
    yield from served(FakeDingTalkApp(clock=clock))


@pytest.fixture
def fakes(guance, feishu, dingtalk, wecom, open_api, dt_app):
    guance.add_channel("ops")
    feishu.bot_secrets[BOT_TOKEN] = BOT_SECRET
    dingtalk.secrets[DING_TOKEN] = DING_SECRET
    return {"guance": guance, "feishu": feishu, "dingtalk": dingtalk, "wecom": wecom,
            "open_api": open_api, "dt_app": dt_app}


def common(f, tmp_path) -> dict[str, str]:
    """The settings both forms share: Guance, the apps' credentials, the route to all six."""
    return {"RELAY_GUANCE_BASE_URL": f["guance"].url, "RELAY_GUANCE_API_KEY": f["guance"].api_key,
            "RELAY_DATABASE_URL": f"sqlite:///{tmp_path}/relay.db", "RELAY_CHANNELS": "ops",
            "RELAY_ROUTES": json.dumps({"ops": EVERY}),
            "RELAY_FEISHU_APP_ID": f["open_api"].app_id,
            "RELAY_FEISHU_APP_SECRET": f["open_api"].app_secret,
            "RELAY_FEISHU_OPEN_BASE_URL": f["open_api"].url,
            "RELAY_DINGTALK_APP_KEY": f["dt_app"].app_key,
            "RELAY_DINGTALK_APP_SECRET": f["dt_app"].app_secret,
            "RELAY_DINGTALK_OPEN_BASE_URL": f["dt_app"].url,
            "RELAY_DINGTALK_CARD_TEMPLATE": TEMPLATE}


def older_env(f, tmp_path) -> str:
    """An .env of the previous release: every older way of saying where a card goes."""
    values = common(f, tmp_path) | {
        "RELAY_FEISHU_WEBHOOK_URL": f"{f['feishu'].url}/flow/api/trigger-webhook/{FLOW_HOOK}",
        "RELAY_DESTINATIONS": json.dumps({
            "bot": f"{f['feishu'].url}/open-apis/bot/v2/hook/{BOT_TOKEN}",
            "ding": {"type": "dingtalk", "url": ding_url(f["dingtalk"]), "secret": DING_SECRET},
            "wx": wecom_url(f["wecom"])}),
        "RELAY_FEISHU_BOT_SECRETS": json.dumps({"bot": BOT_SECRET}),
        "RELAY_FEISHU_APP_CHATS": json.dumps({"ops-chat": CHAT}),
        "RELAY_DINGTALK_APP_GROUPS": json.dumps({"ops-dt": GROUP})}
    return "".join(f"{name}='{value}'\n" for name, value in values.items())


def one_table(f, tmp_path) -> tuple[str, str]:
    """The same destinations as one table in relay.toml; the rest in .env."""
    toml = f"""\
[destinations.default]
type = "feishu_flow"
url = "{f['feishu'].url}/flow/api/trigger-webhook/{FLOW_HOOK}"

[destinations.bot]
type = "feishu_bot"
url = "{f['feishu'].url}/open-apis/bot/v2/hook/{BOT_TOKEN}"
secret = "{BOT_SECRET}"

[destinations.ding]
type = "dingtalk"
url = "{ding_url(f['dingtalk'])}"
secret = "{DING_SECRET}"

[destinations.wx]
type = "wecom"
url = "{wecom_url(f['wecom'])}"

[destinations.ops-chat]
type = "feishu_app"
chat_id = "{CHAT}"

[destinations.ops-dt]
type = "dingtalk_app"
open_conversation_id = "{GROUP}"
"""
    env = "".join(f"{name}='{value}'\n" for name, value in common(f, tmp_path).items())
    return toml, env


def delivered(f) -> dict[str, int]:
    """Cards each destination's fake took."""
    return {"default": len(f["feishu"].for_hook(FLOW_HOOK)),
            "bot": len(f["feishu"].for_hook(BOT_TOKEN)),
            "ding": len(f["dingtalk"].for_robot(DING_TOKEN)),
            "wx": len(f["wecom"].for_robot(WECOM_KEY)),
            "ops-chat": len(f["open_api"].in_chat(CHAT)),
            "ops-dt": len(f["dt_app"].cards_in(GROUP))}


@pytest.mark.parametrize("form", ["older .env", "one table in relay.toml"])
def test_either_form_starts_and_delivers_one_card_to_each_destination(
        clean_env, tmp_path, fakes, clock, form):
    if form == "older .env":
        (tmp_path / ".env").write_text(older_env(fakes, tmp_path), encoding="utf-8")
    else:
        toml, env = one_table(fakes, tmp_path)
        (tmp_path / "relay.toml").write_text(toml, encoding="utf-8")
        (tmp_path / ".env").write_text(env, encoding="utf-8")
    settings = load_settings()
    assert {name: d.kind for name, d in settings.destination_table().items()} == {
        "default": "feishu_flow", "bot": "feishu_bot", "ding": "dingtalk", "wx": "wecom",
        "ops-chat": "feishu_app", "ops-dt": "dingtalk_app"}
    assert settings.routing() == {"ops": EVERY}
    rt = Runtime(settings, clock=clock)
    try:
        new_issues(rt, fakes["guance"], clock, channels=["ops"])
        assert delivered(fakes) == dict.fromkeys(EVERY, 1)
        [bot] = fakes["feishu"].for_hook(BOT_TOKEN)  # signed with the secret: the fake checked
        assert bot["msg_type"] == "interactive"
    finally:
        rt.close()


def test_relay_config_shows_what_the_older_settings_became_and_the_new_form_once(
        clean_env, tmp_path, fakes, capsys):
    (tmp_path / ".env").write_text(older_env(fakes, tmp_path), encoding="utf-8")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    table = {line.split(" = ")[0]: line for line in out.splitlines()
             if line.startswith("destination ")}
    assert table == {
        "destination default": 'destination default = {"type": "feishu_flow", "url": "***"}  '
                               "(from RELAY_FEISHU_WEBHOOK_URL)",
        "destination bot": 'destination bot = {"type": "feishu_bot", "url": "***", '
                           '"secret": "***"}  (from RELAY_FEISHU_BOT_SECRETS)',
        "destination ding": 'destination ding = {"type": "dingtalk", "url": "***", '
                            '"secret": "***"}',
        "destination wx": 'destination wx = {"type": "wecom", "url": "***"}',
        "destination ops-chat": f'destination ops-chat = {{"type": "feishu_app", "chat_id": '
                                f'"{CHAT}"}}  (from RELAY_FEISHU_APP_CHATS)',
        "destination ops-dt": f'destination ops-dt = {{"type": "dingtalk_app", '
                              f'"open_conversation_id": "{GROUP}"}}  (from '
                              "RELAY_DINGTALK_APP_GROUPS)"}
    notes = [line for line in out.splitlines() if "[destinations.NAME]" in line]
    assert notes == ["# RELAY_DINGTALK_APP_GROUPS, RELAY_FEISHU_APP_CHATS, "
                     "RELAY_FEISHU_BOT_SECRETS, RELAY_FEISHU_WEBHOOK_URL still work; one "
                     "[destinations.NAME] table in relay.toml (or RELAY_DESTINATIONS), each entry "
                     'with its "type", can say the same: docs/configuration.md#destinations']
    for secret in (BOT_SECRET, DING_SECRET, BOT_TOKEN, FLOW_HOOK, WECOM_KEY):
        assert secret not in out


def test_the_one_table_needs_no_note(clean_env, tmp_path, fakes, capsys):
    toml, env = one_table(fakes, tmp_path)
    (tmp_path / "relay.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "relay.toml").chmod(0o600)
    (tmp_path / ".env").write_text(env, encoding="utf-8")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "[destinations.NAME]" not in out and "(from RELAY_" not in out
    assert f'destination ops-dt = {{"type": "dingtalk_app", "open_conversation_id": "{GROUP}"}}' \
        in out.splitlines()


def test_app_chats_in_relay_destinations_json(clean_env):
    clean_env.setenv("RELAY_DESTINATIONS", json.dumps({
        "ops-chat": {"type": "feishu_app", "chat_id": CHAT},
        "ops-dt": {"type": "dingtalk_app", "open_conversation_id": GROUP}}))
    settings = load_settings(_env_file=None)
    assert settings.chats("feishu_app") == {"ops-chat": CHAT}
    assert settings.chats("dingtalk_app") == {"ops-dt": GROUP}
    assert settings.app_chats() == {"ops-chat": CHAT, "ops-dt": GROUP}


@pytest.mark.parametrize("entry,why", [
    ({"type": "feishu_app"}, "\"chat_id\" must be a Feishu chat_id (oc_…)"),
    ({"type": "feishu_app", "chat_id": "chat-1"}, "\"chat_id\" must be a Feishu chat_id (oc_…)"),
    ({"type": "dingtalk_app", "open_conversation_id": "cid with space"},
     "must be a group's openConversationId (cid…)"),
    ({"type": "feishu_app", "chat_id": CHAT, "url": "https://x.example/SECRETx"},
     "a feishu_app destination takes no 'url' (it takes: type, chat_id)"),
    ({"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=SECRETx",
      "chat_id": CHAT}, "a webhook destination takes no 'chat_id'"),
    ({"chat_id": CHAT}, "needs \"type\""),
])
def test_a_bad_app_entry_is_a_clear_error(entry, why):
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, destinations={"broken": entry})
    message = str(caught.value)
    assert message.startswith("RELAY_DESTINATIONS: destination 'broken'") and why in message
    assert "SECRET" not in message


def test_a_name_in_the_table_and_an_older_setting_is_refused(clean_env):
    settings = load_settings(_env_file=None, feishu_app_chats={"ops": CHAT},
                             destinations={"ops": {"type": "dingtalk_app",
                                                   "open_conversation_id": GROUP}})
    with pytest.raises(ConfigError, match=r"^RELAY_FEISHU_APP_CHATS: 'ops' is also another "
                                          "destination"):
        settings.routing()
