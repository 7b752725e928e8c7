"""RELAY_LANGUAGE: the two catalogues hold the same messages, and every card, digest and bot
answer reads as the language says (zh-CN by default), on every platform and reply route."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import relay
from relay.config import load_settings
from relay.errors import ConfigError
from relay.i18n import CATALOGUES, LANGUAGES, placeholders, text_for
from relay.pipeline.notify_replies import notify_replies
from relay.platforms.feishu.card import default_card_template, load_card_template
from relay.platforms.render import CARD_PLACEHOLDERS
from relay.store.outbox import LISTED_STATUSES
from relay.web.app import create_app
from relay.web.ui import cookie_value
from tests.appbot import CHAT, OTHER_CHAT, send_card, signed_post, thread_reply, wait_for
from tests.helpers import REPLY_TOKEN, cards
from tests.robots import DING_TOKEN, WECOM_KEY, ding_url, new_issues, wecom_url

SOURCE = Path(relay.__file__).parent
CJK = re.compile(r"[\u4e00-\u9fff]")
AUTH = {"Authorization": f"Bearer {REPLY_TOKEN}"}


# -- the catalogues ------------------------------------------------------------------------------

def test_both_catalogues_hold_the_same_keys_with_the_same_placeholders():
    en, zh = CATALOGUES["en"], CATALOGUES["zh-CN"]
    assert sorted(set(en) - set(zh)) == [], "in en only"
    assert sorted(set(zh) - set(en)) == [], "in zh-CN only"
    differ = {k: (placeholders(en[k]), placeholders(zh[k])) for k in en
              if placeholders(en[k]) != placeholders(zh[k])}
    assert differ == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_renders(language):
    text = text_for(language)
    for key, message in CATALOGUES[language].items():
        rendered = text(key, **{name: f"<{name}>" for name in placeholders(message)})
        assert rendered.strip() and "{" not in rendered.replace('{"content"', ""), key


def test_chinese_messages_are_chinese_and_english_ones_are_not():
    """A message copied over untranslated is caught (names, codes and units may stay)."""
    same = {"chart.p90", "page.issue"}  # words both languages write alike
    untranslated = [k for k in CATALOGUES["en"]
                    if k not in same and CATALOGUES["en"][k] == CATALOGUES["zh-CN"][k]
                    and re.search(r"[A-Za-z]{3,}", CATALOGUES["en"][k])]
    assert untranslated == []
    assert not [k for k, m in CATALOGUES["en"].items() if CJK.search(m)]


def keys_used_in_code() -> set[str]:
    """Every literal catalogue key the code and templates name: t("…"), text("…"),
    rt.text("…"), field("…", …) and ReplyParseError("…")."""
    pattern = re.compile(r"""(?:\bt|text|field|ReplyParseError|ReplyTooLong)\(\s*["']"""
                         r"""([a-z_0-9]+\.[a-z_0-9]+)["']""")
    found = set()
    for path in list(SOURCE.rglob("*.py")) + list(SOURCE.rglob("*.html")):
        found |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_key_the_code_names_is_in_the_catalogues():
    used = keys_used_in_code()
    assert len(used) > 60  # the scan sees the code
    dynamic = {f"status.{s}" for s in LISTED_STATUSES} | {
        f"page.{k}_{part}" for k in ("off", "token", "bad_status", "long_channel")
        for part in ("title", "text")} | {
        f"platform.{name}" for name in ("feishu", "dingtalk", "wecom")}  # Text.platform
    assert sorted((used | dynamic) - set(CATALOGUES["en"])) == []


def test_feishu_card_templates_exist_per_language_with_the_same_placeholders():
    names = {}
    for language in LANGUAGES:
        raw = default_card_template(language).read_text(encoding="utf-8")
        names[language] = set(re.findall(r"\$(\w+)", raw))
        assert names[language] <= set(CARD_PLACEHOLDERS)
        load_card_template(None, language)  # renders a sample: valid
    assert names["zh-CN"] == names["en"]
    assert not CJK.search(default_card_template("en").read_text(encoding="utf-8"))
    zh = default_card_template("zh-CN").read_text(encoding="utf-8")
    assert "在观测云中查看" in zh and "Open in Guance" not in zh


# -- settings --------------------------------------------------------------------------------------

def test_language_is_chinese_by_default_and_a_wrong_value_names_the_setting(clean_env):
    assert load_settings(_env_file=None).language == "zh-CN"
    clean_env.setenv("RELAY_LANGUAGE", "en")
    assert load_settings(_env_file=None).language == "en"
    clean_env.setenv("RELAY_LANGUAGE", "fr")
    with pytest.raises(ConfigError, match="^RELAY_LANGUAGE: .*zh-CN.*en"):
        load_settings(_env_file=None)


def test_a_custom_card_template_replaces_the_packaged_one_in_either_language(
        make_runtime, guance, feishu, clock, tmp_path):
    path = tmp_path / "card.json"
    path.write_text(json.dumps({"header": {"title": {"tag": "plain_text",
                                                     "content": "自定义 $level $title"}}}))
    bot = f"{feishu.url}/open-apis/bot/v2/hook/hook-default"
    rt = make_runtime(language="zh-CN", feishu_webhook_url=bot, feishu_card_template=path)
    new_issues(rt, guance, clock, "磁盘满", level="system_level_3")
    assert cards(feishu)[0]["card"]["header"]["title"]["content"] == "自定义 未知 磁盘满"


# -- every platform's card, in both languages ----------------------------------------------------

SHOWN = {  # what a reader sees of one issue with the level Guance calls 未知 / Unknown
    "en": {"flow_level": "Unknown",
           "bot": ["[Unknown] Disk full", "**Level:** Unknown", "**Source:** ",
                   "[Open in Guance](", "Reply with: @bot #"],
           "dingtalk": ["### [Unknown] Disk full", "**Level**: Unknown · **Source**: ",
                        "**Created**: ", "[Open in Guance](", "Reply: @bot #"],
           "wecom": ["[Unknown]</font> Disk full", "> Source: ", "> Channel: default",
                     "[Open in Guance]("]},
    "zh-CN": {"flow_level": "未知",
              "bot": ["[未知] Disk full", "**级别：** 未知", "**来源：** ", "[在观测云中查看](",
                      "回复方式：@机器人 #"],
              "dingtalk": ["### [未知] Disk full", "**级别**：未知 · **来源**：", "**创建时间**：",
                           "[在观测云中查看](", "回复：@机器人 #"],
              "wecom": ["[未知]</font> Disk full", "> 来源：", "> 频道：default",
                        "[在观测云中查看]("]},
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_cards_on_every_platform_speak_the_language(language, make_runtime, guance, feishu,
                                                    dingtalk, wecom, clock):
    bot = f"{feishu.url}/open-apis/bot/v2/hook/bot-hook"
    rt = make_runtime(language=language, destinations={
        "bot": bot, "ding": ding_url(dingtalk), "wx": wecom_url(wecom)},
        routes={"default": ["default", "bot", "ding", "wx"]})
    [uuid] = new_issues(rt, guance, clock, "Disk full", level="system_level_3")
    shown = SHOWN[language]
    [flow] = cards(feishu)
    assert flow["level"] == shown["flow_level"] and flow["issue_uuid"] == uuid
    [card] = cards(feishu, "bot-hook")
    bot_text = json.dumps(card["card"], ensure_ascii=False)
    [ding] = dingtalk.for_robot(DING_TOKEN)
    [wx] = wecom.for_robot(WECOM_KEY)
    for platform, text in (("bot", bot_text), ("dingtalk", ding["markdown"]["text"]),
                           ("wecom", wx["markdown"]["content"])):
        for part in shown[platform]:
            assert part in text, (platform, part, text)
        if language == "zh-CN":
            assert not re.search(r"Level|Source|Created|Open in|Reply", text), platform


@pytest.mark.parametrize("language, marker", [("en", "… (truncated, "),
                                              ("zh-CN", "…（已截断，还有 ")])
def test_a_cut_message_says_so_in_the_language(language, marker, make_runtime, guance, wecom,
                                               clock):
    rt = make_runtime(language=language, destinations={"wx": wecom_url(wecom)},
                      routes={"default": "wx"})
    new_issues(rt, guance, clock, message="连接超时 " * 2000)
    [body] = wecom.for_robot(WECOM_KEY)
    assert marker in body["markdown"]["content"]
    assert len(body["markdown"]["content"].encode("utf-8")) <= 4096


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_app_bot_card_speaks_the_language(language, app_rt, open_api, guance, clock):
    rt = app_rt(language=language)
    send_card(rt, guance, clock)
    [card] = open_api.in_chat(CHAT)
    label = {"en": "**Level:**", "zh-CN": "**级别：**"}[language]
    assert label in json.dumps(card["content"], ensure_ascii=False)


@pytest.mark.parametrize("language, title, first, more", [
    ("en", "Storm: 11 new issues in default", "11 new issues: P0 ×1, P2 ×9, Unknown ×1",
     "… and 6 more"),
    ("zh-CN", "告警风暴：default 有 11 个新 Issue", "11 个新 Issue：P0 ×1, P2 ×9, 未知 ×1",
     "…… 另有 6 个")])
def test_the_storm_digest_speaks_the_language(language, title, first, more, make_runtime, guance,
                                              feishu, clock):
    rt = make_runtime(language=language)
    levels = ["system_level_0", "system_level_3"] + ["system_level_2"] * 9
    from relay.pipeline.deliver import deliver
    from relay.pipeline.poll import poll
    poll(rt)
    clock.advance(30)
    for i, level in enumerate(levels):
        guance.add_issue(f"node-{i} down", level=level)
    clock.advance(30)
    poll(rt)
    deliver(rt)
    [digest] = cards(feishu)
    lines = digest["message"].split("\n")
    assert (digest["title"], lines[0], lines[-1]) == (title, first, more)
    assert digest["source"] == {"en": "relay digest", "zh-CN": "relay 汇总"}[language]
    assert digest["level"] == "P0"


# -- every reply route's answers, in both languages ---------------------------------------------

FEISHU_REPLY = {
    "en": {"malformed": "missing the '#' between the issue UUID and the text",
           "hint": "send '@bot #<issueUUID>#<your comment>'", "unknown": "no such issue in Guance",
           "token": "missing or wrong token", "large": "request body is larger than 262144 bytes"},
    "zh-CN": {"malformed": "Issue UUID 和评论之间缺少“#”", "hint": "请发送“@机器人 #<issueUUID>#<你的评论>”",
              "unknown": "观测云中没有这个 Issue", "token": "令牌缺失或错误",
              "large": "请求体超过 262144 字节"},
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_feishu_reply_answers_in_the_language(language, make_runtime, guance):
    client = create_app(make_runtime(language=language)).test_client()
    want = FEISHU_REPLY[language]
    bad = client.post("/feishu/reply", headers=AUTH, json={"content": "#issue_abcdefgh12 oops"})
    assert bad.status_code == 400
    assert bad.get_json()["error"] == want["malformed"]
    assert bad.get_json()["hint"].startswith(want["hint"])
    unknown = client.post("/feishu/reply", headers=AUTH,
                          json={"content": "#issue_00000000000000000000000000dead#hi"})
    assert (unknown.status_code, unknown.get_json()["error"]) == (404, want["unknown"])
    refused = client.post("/feishu/reply", json={"content": "#x#y"})
    assert (refused.status_code, refused.get_json()["error"]) == (401, want["token"])
    large = client.post("/feishu/reply", headers=AUTH, data="x" * 300_000)
    assert (large.status_code, large.get_json()["error"]) == (413, want["large"])
    ok = client.post("/feishu/reply", headers=AUTH,
                     json={"content": f"#{guance.add_issue('t')}#重启了"})
    assert ok.status_code == 200 and set(ok.get_json()) == {"issueUUID", "time"}  # JSON keys stay


DINGTALK = {
    "en": ["Posted as a comment on {uuid} (", "Not posted: missing the '#'",
           "Not posted: there is no issue issue_00000000000000000000000000dead in Guance",
           "Not posted: relay reads only text messages. Send '@bot"],
    "zh-CN": ["已作为评论发到 {uuid}（", "未发出：Issue UUID 和评论之间缺少“#”。请发送",
              "未发出：观测云中没有 Issue issue_00000000000000000000000000dead，请核对",
              "未发出：relay 只读取文本消息。请发送“@机器人"],
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_dingtalk_answers_in_the_language(language, make_runtime, guance, clock):
    from tests.platforms.test_dingtalk_reply import APP_SECRET, headers, mention, said

    client = create_app(make_runtime(language=language,
                                     dingtalk_app_secret=APP_SECRET)).test_client()
    uuid = guance.add_issue("disk full")

    def answer(body: dict) -> str:
        return said(client.post("/dingtalk/reply", json=body, headers=headers(clock)))

    posted, malformed, unknown, not_text = DINGTALK[language]
    assert answer(mention(f"#{uuid}#扩容完成")).startswith(posted.format(uuid=uuid))
    assert answer(mention(f"#{uuid} 扩容完成")).startswith(malformed)
    assert answer(mention("#issue_00000000000000000000000000dead#hi")).startswith(unknown)
    assert answer({"msgtype": "picture"}).startswith(not_text)


APP_BOT = {
    "en": ("Comment posted on Guance issue {issue}.", "— ou_engineer0001 (via Feishu)",
           "Not posted: I don't know which issue you mean.",
           "Sorry, I can only post comments to Guance", "💬 Alice replied in Guance: 收到"),
    "zh-CN": ("评论已发到观测云 Issue {issue}。", "— ou_engineer0001（来自飞书）",
              "未发出：我不知道你指的是哪个 Issue。", "抱歉，我只能从管理员允许的群",
              "💬 Alice 在观测云回复：收到"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_app_bot_answers_and_notes_in_the_language(language, app_rt, open_api, guance,
                                                       clock):
    rt = app_rt(language=language)
    client = create_app(rt).test_client()
    posted, signature, which, refused, note = APP_BOT[language]
    issue, card_id = send_card(rt, guance, clock)

    def answer(event: dict) -> str:
        assert signed_post(client, event, clock.now()).status_code == 200
        (said,) = wait_for(lambda: open_api.texts_replying_to(
            event["event"]["message"]["message_id"]))
        return said

    assert answer(thread_reply(open_api, "重启了", root_id=card_id)) == posted.format(issue=issue)
    assert guance.comments(issue)[0].endswith(signature)
    assert answer(thread_reply(open_api, "hello")).startswith(which)
    assert answer(thread_reply(open_api, "hi", chat=OTHER_CHAT)).startswith(refused)
    notify_replies(rt)  # the first check remembers what is there
    clock.advance(300)
    guance.add_reply(issue, "收到", author="Alice")
    notify_replies(rt)
    assert open_api.texts_replying_to(card_id)[-1] == note


# -- the delivery log page -----------------------------------------------------------------------

@pytest.mark.parametrize("language, off, heading, dead", [
    ("en", "The delivery log page is off", "Delivery log", "dead"),
    ("zh-CN", "投递日志页面未开启", "投递日志", "已放弃")])
def test_the_page_speaks_the_language(language, off, heading, dead, make_runtime):
    page = create_app(make_runtime(language=language)).test_client().get("/")
    assert page.status_code == 404 and off in page.get_data(as_text=True)
    rt = make_runtime(language=language, ui_token="ui-token-0123456789abcdef")
    client = create_app(rt).test_client()
    client.set_cookie("relay_ui", cookie_value("ui-token-0123456789abcdef"))
    html = client.get("/?status=dead").get_data(as_text=True)
    assert f'<html lang="{language}">' in html and f"<h1>{heading}</h1>" in html
    assert f'<option value="dead" selected>{dead}</option>' in html  # the value stays machine's


# -- custom levels ---------------------------------------------------------------------------------

@pytest.mark.parametrize("language", LANGUAGES)
def test_a_custom_level_shows_its_own_name_asked_once_per_ten_minutes(language, make_runtime,
                                                                      guance, feishu, clock):
    severe = guance.add_level("S1 严重")
    rt = make_runtime(language=language)
    new_issues(rt, guance, clock, "db down", level=severe)
    clock.advance(60)
    guance.add_issue("db still down", level=severe)
    clock.advance(30)
    from relay.pipeline.deliver import deliver
    from relay.pipeline.poll import poll
    poll(rt)
    deliver(rt)
    assert [c["level"] for c in cards(feishu)] == ["S1 严重", "S1 严重"]
    asked = [path for _, path in guance.calls if path == "/api/v1/issue-level/list"]
    assert len(asked) == 1  # cached, like the channel list


def test_without_the_level_list_the_card_shows_the_level_uuid(make_runtime, guance, feishu,
                                                              clock):
    rt = make_runtime()
    from relay.pipeline.poll import poll
    poll(rt)
    clock.advance(30)
    guance.add_issue("odd", level="issl_0123456789")  # a level the list does not have
    guance.faults.extend(["no fault", "500"])  # the issue list answers, the level list fails
    clock.advance(30)
    new = poll(rt)
    from relay.pipeline.deliver import deliver
    deliver(rt)
    assert [c["level"] for c in cards(feishu)] == ["issl_0123456789"], new
