"""Text from outside never becomes markup or an @-all (issue 22, items 1 and 2): every text source
(Guance's title, message, source, manager and updater names, comments and commenter names; chat
names: the Feishu flow's `sender`, DingTalk's `senderNick`, a signed link's `name`) through every
platform's sink (Feishu flow, custom bot, app bot with its PATCH and thread, DingTalk robot,
DingTalk app card, WeCom), asserted on what the fake peer received: no mention or link of the
text's own is live, the text still reads as it came, and relay's own mentions still ping."""

from __future__ import annotations

import html
import json
import re

import pytest

from relay.pipeline.deliver import deliver
from relay.incidents.changes import record_action
from relay.pipeline.notify_replies import notify_replies
from relay.payloads import (DigestStatus, IssueCard, MuteSummary, Reminder, ReminderDigest,
                            StatusChange, StormDigest)
from relay.platforms.dingtalk_app.card import out_track_id
from relay.platforms.feishu.card import default_card_template
from relay.sandbox.dingtalk_app import FakeDingTalkApp
from relay.web.app import create_app
from tests.appbot import CHAT, signed_post, thread_reply, wait_for
from tests.follow import BOT, FLOW, cycle, relay_issue
from tests.helpers import REPLY_TOKEN, served
from tests.platforms.test_dingtalk_reply import CONVERSATION, headers, mention
from tests.robots import DING_TOKEN, WECOM_KEY, ding_url, wecom_url

ZW = "\u200b"
HOSTILE = ('Disk full <at id=all></at> <at user_id="all">所有人</at> <@all> @所有人 @all '
           '[点我](http://evil)')
NORMAL = "CPU < 5% & 磁盘 > 90% 🔥 a&b <x>"
TITLE = f"{HOSTILE} | {NORMAL}"
# what would ping or link in each platform's dialect, if it arrived as written
LIVE = {"feishu": ("<at id=all>", '<at user_id="all">', "](http://evil)"),
        "dingtalk": ("@所有人", "@all", "](http://evil)", "<at id=all>"),
        "wecom": ("<@all>", "<at id=all>", "](http://evil)")}
PLATFORM_OF = {"flow": "feishu", "bot": "feishu", "app": "feishu", "ding": "dingtalk",
               "dt_app": "dingtalk", "wecom": "wecom"}
# relay's own mapping: Li Lei is @-mentioned on every P1 card of every channel
PEOPLE = {"acnt_lilei": {"name": "Li Lei", "feishu": "ou_lilei", "dingtalk": "13800000001",
                         "wecom": "lilei"}}
GROUP, TEMPLATE = "cidOpsGroup0000000001==", "relay-alert.schema"
APP_SECRET = "dingtalk-app-secret-0123456789abcdef"
PUBLIC, LINK_SECRET = "https://relay.example.com", "action-link-secret-0123456789abcdef0123"


@pytest.fixture
def dt_app(clock):
    yield from served(FakeDingTalkApp(app_secret=APP_SECRET, clock=clock))


@pytest.fixture
def template(tmp_path):
    """The packaged card, restyled as a user may: the title in a header (plain_text) and again in
    lark_md, the channel in a markdown element."""
    card = json.loads(default_card_template("en").read_text(encoding="utf-8"))
    card["elements"] += [{"tag": "div", "text": {"tag": "lark_md", "content": "**$title**"}},
                         {"tag": "markdown", "content": "Channel: $channel"}]
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    return path


@pytest.fixture
def rt(app_rt, feishu, dingtalk, wecom, dt_app, template):
    """The `default` channel to every kind of destination; Li Lei mentioned on P1 cards."""
    return app_rt(feishu_card_template=template,
        destinations={"bot": f"{feishu.url}/open-apis/bot/v2/hook/{BOT}",
                      "ding": ding_url(dingtalk), "wecom": wecom_url(wecom)},
        routes={"default": ["default", "bot", "ding", "wecom", "ops-chat", "ops-dt"]},
        dingtalk_app_key=dt_app.app_key, dingtalk_app_secret=APP_SECRET,
        dingtalk_app_groups={"ops-dt": GROUP}, dingtalk_card_template=TEMPLATE,
        dingtalk_open_base_url=dt_app.url, mentions=PEOPLE,
        dingtalk_conversations={CONVERSATION: "ding"},  # the outgoing robot's group: `ding`
        level_mentions={"*": {"P1": ["acnt_lilei"]}}, public_url=PUBLIC,
        action_link_secret=LINK_SECRET)


# -- what each peer received: raw (as the platform parses it), shown (as the reader sees it) --

def card_parts(card) -> tuple[list[str], list[str]]:
    """A Feishu card's (lark_md and markdown contents, plain_text contents)."""
    markup, plain = [], []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("content"), str):
                (plain if node.get("tag") == "plain_text" else markup).append(node["content"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return markup, plain


def received(feishu, dingtalk, wecom, open_api, dt_app) -> dict[str, tuple[list[str], str]]:
    """Per destination: (the texts as they arrived, where markup counts; the text the reader
    sees). Feishu's plain_text (a card header) shows as written and reads no markup."""
    got = {}
    flow = [v for p in feishu.for_hook(FLOW) for k, v in p.items()
            if k in ("title", "message", "source", "level", "changed_by", "line")]
    got["flow"] = (flow, "\n".join(flow).replace(ZW, ""))
    for name, bodies in (("bot", [b.get("card") or b["content"] for b in feishu.for_hook(BOT)]),
                         ("app", [m["content"] for m in open_api.in_chat(CHAT)]
                          + [card for _, card in open_api.updates]
                          + [{"text": t} for m in open_api.in_chat(CHAT)
                             for t in open_api.texts_replying_to(m["message_id"])])):
        markup, shown = [], []
        for body in bodies:
            if "text" in body and isinstance(body["text"], str):  # a text message
                markup.append(body["text"])
                shown.append(body["text"].replace(ZW, ""))
                continue
            md, plain = card_parts(body)
            markup += md
            shown += [html.unescape(c) for c in md] + plain
        got[name] = (markup, "\n".join(shown))
    ding = [t for b in dingtalk.for_robot(DING_TOKEN) for t in (b["markdown"]["title"],
                                                                 b["markdown"]["text"])]
    got["ding"] = (ding, "\n".join(ding).replace(ZW, ""))
    wc = [b["markdown"]["content"] for b in wecom.for_robot(WECOM_KEY)]
    got["wecom"] = (wc, "\n".join(wc).replace(ZW, ""))
    dt = ([v for c in dt_app.cards_in(GROUP) for v in c["params"].values()]
          + [v for _, params in dt_app.updates for v in params.values()]
          + dt_app.texts_in(GROUP))
    got["dt_app"] = (dt, "\n".join(dt).replace(ZW, ""))
    return got


def assert_inert(got, text: str, where=tuple(PLATFORM_OF)) -> None:
    """`text` reads as it came at every destination of `where`, and none of its mentions or
    links arrived live anywhere."""
    for name, (raw, shown) in got.items():
        for piece in LIVE[PLATFORM_OF[name]]:
            live = [r for r in raw if piece in r]
            assert not live, f"{name}: {piece!r} arrived live in {live[0]!r}"
        if name in where:
            assert text in shown, f"{name} does not read {text!r}: {shown!r}"


def assert_relay_mentions_ping(got, dingtalk, wecom) -> None:
    """Li Lei, of relay's own mapping, is still @-mentioned on each platform's card."""
    assert any("<at id=ou_lilei></at>" in r for r in got["bot"][0])
    assert any("<at id=ou_lilei></at>" in r for r in got["app"][0])
    cards = [b for b in dingtalk.for_robot(DING_TOKEN) if b["markdown"]["text"].startswith("###")]
    assert cards and all(b["at"] == {"atMobiles": ["13800000001"], "atUserIds": [],
                                     "isAtAll": False} for b in cards)
    assert all("@13800000001" in b["markdown"]["text"] for b in cards)
    assert any("<@lilei>" in b["markdown"]["content"] for b in wecom.for_robot(WECOM_KEY))


def send_everywhere(rt, payload, now) -> dict[str, str | None]:
    """The payload through every destination's sink; the message ids they answered."""
    ids = {}
    for name, sink in rt.sinks.items():
        result = sink.send(payload, now)
        assert result.ok, (name, result.error)
        ids[name] = result.message_id
    return ids


# -- Guance's texts on every kind of card -------------------------------------------------------

CARD = dict(uuid="issue_0123456789abcdef0123456789abcdef", level="P1", source="disk-mon",
            message="/var at 99%", create_at=1_767_225_600, channel="default")
LINES = f"- [P1] {TITLE} (issue_0123456789abcdef0123456789abcdef)"
PAYLOADS = {
    "title": (IssueCard(**dict(CARD, title=TITLE)), tuple(PLATFORM_OF)),
    "message": (IssueCard(**dict(CARD, title="Disk full", message=f"line 1\n{TITLE}")),
                tuple(PLATFORM_OF)),
    "source": (IssueCard(**dict(CARD, title="Disk full", source=TITLE)), tuple(PLATFORM_OF)),
    # an unmapped manager is named beside the mentions (the flow and the DingTalk card show none)
    "manager name": (IssueCard(**dict(CARD, title="Disk full", managers=[
        {"uuid": "acnt_evil", "name": TITLE}])), ("bot", "app", "ding", "wecom")),
    "reminder": (Reminder(**dict(CARD, title=f"⏰ 30 min unclaimed: {TITLE}", reminder=1)),
                 tuple(PLATFORM_OF)),
    "storm digest": (StormDigest(**dict(CARD, uuid="digest_x_1", title="Alert storm",
                                        message=LINES)), tuple(PLATFORM_OF)),
    "reminder digest": (ReminderDigest(**dict(CARD, uuid="reminders_1", title="2 unclaimed",
                                              message=LINES)), tuple(PLATFORM_OF)),
    "mute summary": (MuteSummary(**dict(CARD, uuid="mute_1", level="Unknown",
                                        title=f"🔕 The mute of {TITLE} ended", message=LINES)),
                     tuple(PLATFORM_OF)),
}


@pytest.mark.parametrize("source,platform", [(source, name) for source, (_, shown_on)
                                             in PAYLOADS.items() for name in shown_on])
def test_guance_text_arrives_inert(source, platform, rt, clock, feishu, dingtalk, wecom,
                                   open_api, dt_app):
    payload, _ = PAYLOADS[source]
    send_everywhere(rt, payload, clock.now())
    got = received(feishu, dingtalk, wecom, open_api, dt_app)
    assert_inert({platform: got[platform]}, TITLE)
    if payload.level == "P1" and isinstance(payload, IssueCard):
        assert_relay_mentions_ping(got, dingtalk, wecom)


@pytest.mark.parametrize("platform", PLATFORM_OF)
def test_a_state_change_arrives_inert_in_the_patched_card_the_thread_and_every_line(
        platform, rt, clock, feishu, dingtalk, wecom, open_api, dt_app):
    """The updater's name, the title and the managers' names in the PATCHed app card, its thread
    line, the DingTalk card's update and line, and every platform's follow-up."""
    card = IssueCard(**dict(CARD, title=TITLE, managers=[{"uuid": "acnt_evil", "name": TITLE}]))
    ids = send_everywhere(rt, card, clock.now())
    assert ids["ops-dt"] == out_track_id(card.uuid, GROUP)
    for name, sink in rt.sinks.items():
        change = StatusChange(**dict(card.stored(), status="Resolved", status_type=20,
                                     previous_type=10, transition="resolved", by=TITLE,
                                     changed_at=1_767_226_800, open_seconds=1200,
                                     message_id=ids[name]))
        assert sink.send(change, clock.now()).ok, name
    assert open_api.updates and dt_app.updates  # the cards were updated in place
    assert f"[Resolved] {TITLE}" in dt_app.updates[-1][1]["title"].replace(ZW, "")
    got = received(feishu, dingtalk, wecom, open_api, dt_app)
    # the line: "✅ Resolved after 20 min by …: …"
    assert_inert({platform: got[platform]}, f"by {TITLE}: {TITLE}")
    if platform != "app":
        return
    (patched,) = [c for _, c in open_api.updates]
    status_line = card_parts(patched)[0][-1]
    assert "<at" not in status_line and f"**Changed by** {TITLE}" in html.unescape(status_line)
    assert patched["header"]["title"]["content"] == f"[Resolved] {TITLE}"  # plain_text: as is


def test_a_storm_digests_follow_up_arrives_inert(rt, clock, feishu, dingtalk, wecom, open_api,
                                                 dt_app):
    digest = StormDigest(**dict(CARD, uuid="digest_x_1", title=TITLE, message=LINES))
    ids = send_everywhere(rt, digest, clock.now())
    for name, sink in rt.sinks.items():
        done = DigestStatus(**dict(digest.stored(), total=2, resolved=1, closed=1,
                                   status="2/2", message_id=ids[name]))
        assert sink.send(done, clock.now()).ok, name
    got = received(feishu, dingtalk, wecom, open_api, dt_app)
    assert_inert(got, f"closed ({TITLE})")  # "📋 Storm follow-up: … 1 closed (<title>)"


# -- chat names: who acted, named in every platform's follow-up -----------------------------------

# the app bots' cards are only updated (the actor was answered where they acted); the rest get
# a line
LINES_TOO = tuple(n for n in PLATFORM_OF if n not in ("app", "dt_app"))


def assert_cards_name(got, name: str) -> None:
    """Both app bots' updated cards name who changed the issue, inert."""
    assert any(f"**Changed by** {name}" in html.unescape(r) for r in got["app"][0])
    assert f"**Changed by** {name}" in got["dt_app"][1]


def act_by_flow(client, uuid, clock, dingtalk):
    resp = client.post("/feishu/reply", headers={"Authorization": f"Bearer {REPLY_TOKEN}"},
                       json={"content": f"#{uuid}#/resolve", "sender": TITLE[:80]})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def act_by_dingtalk(client, uuid, clock, dingtalk):
    body = dict(mention(f"#{uuid}#/resolve"), senderNick=TITLE[:80])
    resp = client.post("/dingtalk/reply", headers=headers(clock, APP_SECRET), json=body)
    assert resp.status_code == 200 and "Resolved" in resp.get_json()["text"]["content"]


def act_by_link(client, uuid, clock, dingtalk):
    (card,) = [b["markdown"]["text"] for b in dingtalk.for_robot(DING_TOKEN)]
    (resolve,) = re.findall(r"\[Resolve\]\((https://relay\.example\.com/actions/[^)]+)\)", card)
    resp = client.post(resolve.removeprefix(PUBLIC), data={"name": TITLE[:80]})
    assert resp.status_code == 200, resp.get_data(as_text=True)


@pytest.mark.parametrize("act", [act_by_flow, act_by_dingtalk, act_by_link],
                         ids=["flow sender", "senderNick", "link name"])
def test_a_chat_name_arrives_inert_in_every_follow_up(act, rt, guance, clock, feishu, dingtalk,
                                                      wecom, open_api, dt_app):
    uuid = relay_issue(rt, guance, clock, "Disk full")
    client = create_app(rt).test_client()
    act(client, uuid, clock, dingtalk)
    cycle(rt, clock)
    got = received(feishu, dingtalk, wecom, open_api, dt_app)
    name = TITLE[:80]
    # the app-bot card is PATCHed (the actor was answered where they acted); the others get a line
    assert_inert(got, f"by {name}", LINES_TOO)
    assert_cards_name(got, name)


def test_record_action_names_the_actor_inert(rt, guance, clock, feishu, dingtalk, wecom,
                                             open_api, dt_app):
    """The one place every chat name enters (record_action's `by`)."""
    uuid = relay_issue(rt, guance, clock, "Disk full")
    assert record_action(rt, uuid, 20, None, TITLE)
    deliver(rt)
    got = received(feishu, dingtalk, wecom, open_api, dt_app)
    assert_inert(got, f"by {TITLE}", LINES_TOO)
    assert_cards_name(got, TITLE)


# -- Guance comments in the app card's thread (notify_replies) ----------------------------------

def test_a_guance_comment_and_its_authors_name_arrive_inert_in_the_thread(rt, guance, clock,
                                                                         open_api):
    uuid = relay_issue(rt, guance, clock, "Disk full")
    notify_replies(rt)  # the first check: history
    clock.advance(300)
    guance.add_reply(uuid, "&lt;at user_id=&quot;all&quot;&gt;所有人&lt;/at&gt; ok", author=TITLE)
    guance.add_reply(uuid, '<p>&lt;at user_id="all"&gt;x&lt;/at&gt; &amp; <b>done</b></p>',
                     author="Dan")
    assert notify_replies(rt).notified == 2
    (card,) = [m for m in open_api.in_chat(CHAT) if m["msg_type"] == "interactive"]
    lines = open_api.texts_replying_to(card["message_id"])
    assert len(lines) == 2
    for line in lines:
        assert not re.search(r"<\s*at\b", line, re.I), line  # no live <at …> tag
    shown = [line.replace(ZW, "") for line in lines]
    assert shown == [f'💬 {TITLE} replied in Guance: <at user_id="all">所有人</at> ok',
                     '💬 Dan replied in Guance: <at user_id="all">x</at> & done']


# -- answers that echo what was written ----------------------------------------------------------

ECHOED = '<at user_id="all">所有人</at>'


def test_an_app_bot_answer_that_echoes_the_message_arrives_inert(rt, clock, open_api):
    client = create_app(rt).test_client()
    event = thread_reply(open_api, f"#{ECHOED}#hi")
    assert signed_post(client, event, clock.now()).status_code == 200
    (answer,) = wait_for(lambda: open_api.texts_replying_to(event["event"]["message"]
                                                            ["message_id"]))
    assert not re.search(r"<\s*at\b", answer), answer
    assert ECHOED in answer.replace(ZW, "")


def test_a_flow_answer_that_echoes_the_message_arrives_inert(rt):
    resp = create_app(rt).test_client().post(
        "/feishu/reply", headers={"Authorization": f"Bearer {REPLY_TOKEN}"},
        json={"content": f"#{ECHOED}#hi", "sender": "Alice"})
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert not re.search(r"<\s*at\b", error), error
    assert ECHOED in error.replace(ZW, "")
