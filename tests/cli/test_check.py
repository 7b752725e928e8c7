"""`relay check` and `relay send-test` against the sandbox fakes: a good setup, a wrong API key,
a wrong signing secret, a chat the app bot is not in, an unknown channel or destination."""

from __future__ import annotations

import pytest

from relay.cli import main
from relay.clock import Clock
from relay.sandbox.feishu import FakeFeishu
from relay.sandbox.feishu_app import FakeFeishuApp
from relay.sandbox.guance import FakeGuance
from relay.sandbox.robots import FakeDingTalk, robot_url
from tests.helpers import served

API_KEY = "check-api-key-0123456789"
BOT_SECRET = "bot-signing-secret-0123456789"
DING_SECRET = "SECdingcheck0123456789abcdef"
CHAT = "oc_checkchat0000000000000001"


# the fakes on the real clock: signatures carry the real time
@pytest.fixture
def real_guance():
    yield from served(FakeGuance(api_key=API_KEY, clock=Clock()))


@pytest.fixture
def real_feishu():
    yield from served(FakeFeishu(clock=Clock()))


@pytest.fixture
def real_ding():
    yield from served(FakeDingTalk(clock=Clock()))


@pytest.fixture
def real_app():
    yield from served(FakeFeishuApp(clock=Clock()))


@pytest.fixture
def setup(clean_env, tmp_path, real_guance, real_feishu, real_ding, real_app):
    """A complete configuration in relay.toml: channel ops → a signed custom bot, a signed
    DingTalk robot and an app-bot chat."""
    real_guance.add_channel("ops")
    real_feishu.bot_secrets["opsbot01"] = BOT_SECRET
    real_ding.secrets["opsding01"] = DING_SECRET
    real_app.chats = {CHAT}
    ding = robot_url(real_ding.url, "dingtalk", "opsding01")
    (tmp_path / "relay.toml").write_text(f"""\
guance_base_url = "{real_guance.url}"
guance_api_key = "{API_KEY}"
channels = "ops"
database_url = "sqlite:///{tmp_path}/relay.db"
feishu_app_id = "{real_app.app_id}"
feishu_app_secret = "{real_app.app_secret}"
feishu_open_base_url = "{real_app.url}"

[destinations]
ops-bot = {{ url = "{real_feishu.url}/open-apis/bot/v2/hook/opsbot01", secret = "{BOT_SECRET}" }}
ops-ding = {{ url = "{ding}", secret = "{DING_SECRET}" }}

[feishu_app_chats]
ops-chat = "{CHAT}"

[routes]
ops = ["ops-bot", "ops-ding", "ops-chat"]
""", encoding="utf-8")
    (tmp_path / "relay.toml").chmod(0o600)  # it holds secrets: readable by its owner only
    return clean_env


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    for secret in (API_KEY, BOT_SECRET, DING_SECRET, "opsbot01", "opsding01"):
        assert secret not in out + err
    return code, out, err


def test_check_reports_a_good_setup(setup, capsys, real_guance):
    code, out, err = run(capsys, "check")
    assert (code, err) == (0, ""), err
    assert f"guance: {real_guance.url} accepted the key; 2 channel(s)" in out
    assert "channel 'ops': chan_" in out and "→ ops-bot, ops-ding, ops-chat" in out
    assert "budget: 1 of 20 calls used in the last minute" in out and "not paused" in out
    assert "destination 'ops-bot': feishu_bot at 127.0.0.1, signed; channels: ops" in out
    assert "destination 'ops-ding': dingtalk at 127.0.0.1, signed; channels: ops" in out
    assert f"destination 'ops-chat': feishu_app chat {CHAT}; channels: ops" in out
    assert out.rstrip().endswith("check: OK (relay send-test NAME sends a test card to one "
                                 "destination)")
    assert [path for _, path in real_guance.calls] == ["/api/v1/channel/quick_list"]  # one call


def test_check_names_a_refused_api_key(setup, capsys, real_guance):
    real_guance.api_key = "another-key-entirely-000"
    code, out, err = run(capsys, "check")
    assert code == 1
    assert err.splitlines() == [
        f"problem: Guance {real_guance.url} refused RELAY_GUANCE_API_KEY (HTTP 403 "
        "ft.InvalidAPIKey): is it this site's key, and not revoked?"]


def test_check_names_a_channel_missing_from_the_workspace(setup, capsys):
    setup.setenv("RELAY_ROUTES", '{"ops": "ops-bot", "paymnets": "ops-bot"}')
    code, out, err = run(capsys, "check")
    assert code == 1
    assert err.splitlines() == ["problem: channel 'paymnets' is not in this Guance workspace "
                                "(check RELAY_CHANNELS / RELAY_ROUTES; names are matched exactly)"]
    assert "check: 1 problem(s)" in out


def test_check_stops_at_a_bad_setting_with_one_line(setup, capsys):
    setup.setenv("RELAY_ROUTES", '{"ops": ["nowhere"]}')
    code, out, err = run(capsys, "check")
    assert code == 2 and out == ""
    assert err.splitlines() == ["relay: RELAY_ROUTES: channel 'ops' names destination "
                                "'nowhere', which is not in RELAY_DESTINATIONS, "
                                "RELAY_FEISHU_APP_CHATS or RELAY_DINGTALK_APP_GROUPS"]


@pytest.mark.parametrize("name, kind", [("ops-bot", "feishu_bot"), ("ops-ding", "dingtalk"),
                                        ("ops-chat", "feishu_app")])
def test_send_test_sends_one_marked_card_and_prints_the_answer(
        setup, capsys, name, kind, real_feishu, real_ding, real_app):
    code, out, err = run(capsys, "send-test", name)
    assert (code, err) == (0, ""), err
    answer = "errcode 0: ok" if kind == "dingtalk" else "code 0: success"
    assert out.strip() == f"send-test: {name!r} ({kind}) took the test card: HTTP 200, {answer}"
    received = {"feishu_bot": [str(b) for _, b in real_feishu.received],
                "dingtalk": [str(b) for _, b in real_ding.received],
                "feishu_app": [str(m["content"]) for m in real_app.messages]}[kind]
    assert len(received) == 1 and "[relay send-test] test card, not an alert" in received[0]


def test_send_test_reports_a_wrong_signing_secret(setup, capsys, real_feishu, real_ding):
    real_feishu.bot_secrets["opsbot01"] = "the-secret-feishu-really-has"
    real_ding.secrets["opsding01"] = "SECthesecretdingtalkreallyhas"
    code, out, err = run(capsys, "send-test", "ops-bot")
    assert code == 1 and out == ""
    assert err.startswith("send-test: 'ops-bot' (feishu_bot) refused the test card: HTTP 200, "
                          "code 19021: sign match fail"), err
    code, out, err = run(capsys, "send-test", "ops-ding")
    assert code == 1
    assert err.startswith("send-test: 'ops-ding' (dingtalk) refused the test card: HTTP 200, "
                          "errcode 310000: sign not match"), err
    assert real_feishu.received == [] and real_ding.received == []


def test_send_test_reports_a_chat_the_bot_is_not_in(setup, capsys, real_app):
    real_app.chats = {"oc_someotherchat000000000000"}
    code, out, err = run(capsys, "send-test", "ops-chat")
    assert code == 1
    assert err.startswith("send-test: 'ops-chat' (feishu_app) refused the test card: HTTP 400, "
                          "code 230002: Bot/User can NOT be out of the chat."), err


def test_send_test_reports_a_wrong_app_secret(setup, capsys, real_app):
    real_app.app_secret = "rotated-app-secret-000"
    code, out, err = run(capsys, "send-test", "ops-chat")
    assert code == 1
    assert "code 10014: app secret invalid" in err, err


def test_send_test_names_an_unknown_destination(setup, capsys):
    code, out, err = run(capsys, "send-test", "ops-bott")
    assert code == 2
    assert err.splitlines() == ["relay: send-test: no destination 'ops-bott' (known: ops-bot, "
                                "ops-chat, ops-ding; RELAY_FEISHU_WEBHOOK_URL is 'default')"]


def test_check_warns_of_a_card_template_in_json_2(setup, capsys, tmp_path):
    template = tmp_path / "card.json"
    template.write_text('{"schema": "2.0", "header": {"title": {"tag": "plain_text", '
                        '"content": "$title"}}, "body": {"elements": [{"tag": "markdown", '
                        '"content": "$message"}]}}', encoding="utf-8")
    setup.setenv("RELAY_FEISHU_CARD_TEMPLATE", str(template))
    code, out, err = run(capsys, "check")
    assert code == 0  # it works, without buttons: a warning, not a problem
    assert err.splitlines() == [
        'warning: RELAY_FEISHU_CARD_TEMPLATE is a card in JSON 2.0 ("schema": "2.0"): relay adds '
        "its buttons (Claim, Resolve, …) and signed action links only to JSON 1.0 cards, so these "
        "cards go out without them; write the template in JSON 1.0 "
        "(docs/platforms/feishu-cards.md)"]


def test_check_warns_of_a_config_file_with_secrets_every_user_may_read(setup, capsys, tmp_path):
    (tmp_path / "relay.toml").chmod(0o644)
    code, out, err = run(capsys, "check")
    assert code == 0  # it works: a warning, not a problem
    assert err.splitlines() == [
        "warning: relay.toml holds secrets (destinations, feishu_app_secret, guance_api_key) "
        "and every user of this machine may read it: chmod 600 relay.toml"]
