"""The Feishu custom bot sink: signing, the card, its template, and the fake's checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
import requests
from sqlalchemy import select

from relay.config import ConfigError, Settings
from relay.pipeline.deliver import deliver
from relay.platforms.feishu.card import load_card_template
from relay.platforms.feishu.webhook import BotWebhookSink, bot_sign
from relay.store import outbox as store
from tests.helpers import EN, carded_issue, payload

TOKEN = "bot-token-0123456789"
SECRET = "bot-signing-secret-abc"


def bot_url(feishu, token: str = TOKEN) -> str:
    return f"{feishu.url}/open-apis/bot/v2/hook/{token}"


def new_issue(rt, guance, clock, title="Disk full on db-1", **kw) -> str:
    """Start watching, add one issue, poll it into the outbox and deliver."""
    return carded_issue(rt, guance, clock, title, **kw)


def rows(rt):
    with rt.engine.connect() as conn:
        return conn.execute(select(store.Delivery.status, store.Delivery.last_error)).all()


def texts(card) -> str:
    """Every `content` string in the card, one per line: what the reader sees."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("content"), str):
                found.append(node["content"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return "\n".join(found)


def sink(secret=None, console="https://console.guance.com") -> BotWebhookSink:
    settings = Settings(_env_file=None)
    return BotWebhookSink("http://127.0.0.1:9/open-apis/bot/v2/hook/x", settings.tz,
                          load_card_template(None, "en"), console, EN, secret)


# -- signing -----------------------------------------------------------------------------------

def test_sign_follows_the_documented_algorithm():
    timestamp = 1_767_225_600
    key = (str(timestamp) + "\n" + SECRET).encode("utf-8")
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert bot_sign(timestamp, SECRET) == expected
    body = json.loads(sink(SECRET).body(payload(), timestamp))
    assert body["timestamp"] == str(timestamp) and body["sign"] == expected
    assert body["msg_type"] == "interactive" and isinstance(body["card"], dict)


def test_signed_card_is_accepted_end_to_end(make_runtime, guance, feishu, clock):
    feishu.bot_secrets[TOKEN] = SECRET
    rt = make_runtime(feishu_webhook_url=bot_url(feishu), feishu_bot_secrets={"default": SECRET})
    uuid = new_issue(rt, guance, clock)
    [body] = feishu.for_hook(TOKEN)
    assert body["timestamp"] == str(int(clock.now()))
    assert uuid in texts(body["card"])
    assert rows(rt) == [("sent", None)]


def test_wrong_secret_leaves_the_row_pending_with_feishus_error(make_runtime, guance, feishu,
                                                                 clock):
    feishu.bot_secrets[TOKEN] = SECRET
    rt = make_runtime(feishu_webhook_url=bot_url(feishu),
                      feishu_bot_secrets={"default": "not-the-right-secret"})
    new_issue(rt, guance, clock)
    assert feishu.received == []
    [(status, error)] = rows(rt)
    assert status == "pending" and "19021" in error
    assert "not-the-right-secret" not in error and TOKEN not in error


def test_without_a_secret_nothing_is_signed(make_runtime, guance, feishu, clock):
    rt = make_runtime(feishu_webhook_url=bot_url(feishu))
    new_issue(rt, guance, clock)
    [body] = feishu.for_hook(TOKEN)
    assert "sign" not in body and "timestamp" not in body


def test_fake_refuses_stale_timestamps_and_missing_cards(feishu, clock):
    feishu.bot_secrets[TOKEN] = SECRET
    old = int(clock.now()) - 3601
    stale = {"msg_type": "interactive", "card": {"elements": []}, "timestamp": str(old),
             "sign": bot_sign(old, SECRET)}
    assert requests.post(bot_url(feishu), json=stale, timeout=5).json()["code"] == 19021
    assert requests.post(bot_url(feishu), json={"msg_type": "interactive"},
                         timeout=5).json()["code"] == 9499
    assert feishu.received == []


def test_bot_faults_are_retried(make_runtime, guance, feishu, clock):
    rt = make_runtime(feishu_webhook_url=bot_url(feishu))
    feishu.faults.append("500")
    new_issue(rt, guance, clock)
    assert rows(rt)[0][0] == "pending" and "HTTP 500" in rows(rt)[0][1]
    clock.advance(3600)
    deliver(rt)
    assert rows(rt)[0][0] == "sent" and len(feishu.for_hook(TOKEN)) == 1


# -- which sink --------------------------------------------------------------------------------

def test_url_chooses_card_or_flow_params(make_runtime, guance, feishu, clock):
    rt = make_runtime(
        destinations={"bot": bot_url(feishu),
                      "flow": f"{feishu.url}/flow/api/trigger-webhook/flowhook"},
        routes={"default": ["bot", "flow"]})
    uuid = new_issue(rt, guance, clock)
    [card] = feishu.for_hook(TOKEN)
    [params] = feishu.for_hook("flowhook")
    assert card["msg_type"] == "interactive" and uuid in texts(card["card"])
    assert params["issue_uuid"] == uuid and "card" not in params


def test_secret_for_a_non_bot_destination_fails_start_up(make_runtime):
    with pytest.raises(ConfigError, match="RELAY_FEISHU_BOT_SECRETS.*'typo'"):
        make_runtime(feishu_bot_secrets={"typo": SECRET})
    with pytest.raises(ConfigError, match="RELAY_FEISHU_BOT_SECRETS.*'default'"):
        make_runtime(feishu_bot_secrets={"default": SECRET})  # default is a flow here


def test_bot_secret_is_redacted(make_runtime, feishu):
    rt = make_runtime(feishu_webhook_url=bot_url(feishu), feishu_bot_secrets={"default": SECRET})
    assert SECRET not in rt.redact(f"oops {SECRET}")


# -- the card ----------------------------------------------------------------------------------

@pytest.mark.parametrize("level,colour", [("P0", "red"), ("P1", "orange"), ("P2", "yellow"),
                                          ("Unknown", "grey"), ("lvl_custom01", "grey")])
def test_header_colour_follows_level(level, colour):
    card = json.loads(sink().body(payload(level=level), 0))["card"]
    assert card["header"]["template"] == colour
    assert level in card["header"]["title"]["content"]


def test_card_shows_the_issue_with_link_and_reply_hint(make_runtime, guance, feishu, clock):
    rt = make_runtime(feishu_webhook_url=bot_url(feishu),
                      guance_console_url="https://cn4-console.guance.com/")
    uuid = new_issue(rt, guance, clock, title="Disk full on db-1", level=1, resource="disk-mon",
                     message="/var at **99%**")
    card = feishu.for_hook(TOKEN)[0]["card"]
    shown = texts(card)
    assert card["header"]["template"] == "orange"
    assert "Disk full on db-1" in card["header"]["title"]["content"]
    assert "disk-mon" in shown and "/var at **99%**" in shown
    assert "2026-01-01 08:00:30" in shown  # clock start + 30 s, in Asia/Shanghai
    assert f"https://cn4-console.guance.com/exception/issue?issueUUID={uuid}" in shown
    assert f"@bot #{uuid}#your comment" in shown


def test_console_url_with_uuid_placeholder_is_the_whole_link():
    card = json.loads(sink(console="https://g.example/t/{uuid}/view").body(payload(uuid="issue_abc123"), 0))["card"]
    assert "https://g.example/t/issue_abc123/view" in texts(card)


@pytest.mark.parametrize("unit", ["x", "数据库", '"\\\n'])
def test_long_message_is_cut_to_fit_20_kb(unit):
    message = (unit * 100_000)[:100_000]
    body = sink(SECRET).body(payload(message=message), 1_767_225_600)
    assert len(body) <= 20_000
    shown = json.loads(body)["card"]["elements"][2]["text"]["content"]
    kept, marker = shown.rsplit("\n… (truncated, ", 1)
    assert message.startswith(kept) and len(kept) > 1_000
    assert marker == f"{len(message) - len(kept)} more characters)"


def test_cjk_issue_arrives_intact_and_short_message_is_not_cut(make_runtime, guance, feishu,
                                                               clock):
    rt = make_runtime(feishu_webhook_url=bot_url(feishu))
    new_issue(rt, guance, clock, title="支付接口错误率过高", message="数据库连接超时 " * 20_000)
    new_issue(rt, guance, clock, title="短消息", message="一切正常")
    long_card, short_card = (b["card"] for b in feishu.for_hook(TOKEN))
    assert "支付接口错误率过高" in long_card["header"]["title"]["content"]
    assert "数据库连接超时" in texts(long_card) and "(truncated, " in texts(long_card)
    assert "一切正常" in texts(short_card) and "truncated" not in texts(short_card)
    assert [s for s, _ in rows(rt)] == ["sent", "sent"]


# -- the template ------------------------------------------------------------------------------

def test_user_template_is_used_end_to_end(make_runtime, guance, feishu, clock, tmp_path):
    path = tmp_path / "card.json"
    path.write_text(json.dumps({
        "header": {"template": "$colour",
                   "title": {"tag": "plain_text", "content": "ALERT $title"}},
        "elements": [{"tag": "div", "text": {"tag": "lark_md",
                                             "content": "$message (costs $$5) in ${channel}"}}]}),
        encoding="utf-8")
    rt = make_runtime(feishu_webhook_url=bot_url(feishu), feishu_card_template=path)
    title = 'a "quoted" \\ back\\slash 标题'
    new_issue(rt, guance, clock, title=title, level=0, message="line1\nline2")
    assert feishu.for_hook(TOKEN)[0]["card"] == {
        "header": {"template": "red", "title": {"tag": "plain_text", "content": f"ALERT {title}"}},
        "elements": [{"tag": "div", "text": {"tag": "lark_md",
                                             "content": "line1\nline2 (costs $5) in default"}}]}


@pytest.mark.parametrize("text,why", [
    ('{"title": $title}', "not valid JSON"),
    ('{"title": "$severity"}', r"\$severity"),
    ('{"price": "$5"}', r"\$\$"),
    ('["$title"]', "JSON object"),
])
def test_broken_template_fails_start_up(make_runtime, tmp_path, text, why):
    path = tmp_path / "card.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"RELAY_FEISHU_CARD_TEMPLATE.*{why}"):
        make_runtime(feishu_card_template=path)


def test_missing_template_file_fails_start_up(make_runtime, tmp_path):
    with pytest.raises(ConfigError, match="RELAY_FEISHU_CARD_TEMPLATE: cannot read"):
        make_runtime(feishu_card_template=tmp_path / "nope.json")
