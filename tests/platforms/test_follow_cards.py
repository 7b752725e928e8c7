"""The app-bot card follows its issue: PATCHed in place with the new state (keeping its content),
and a PATCH Feishu refuses falls back to a line in the card's thread."""

from __future__ import annotations

from relay.sandbox.feishu import card_texts
from tests.appbot import CHAT
from tests.follow import cycle, relay_issue

TITLE = "Payment API error rate above 5%"


def app_card(open_api):
    (card,) = [m for m in open_api.in_chat(CHAT) if m["msg_type"] == "interactive"]
    return card


def test_the_card_is_patched_with_the_state_and_keeps_its_content(app_rt, guance, clock,
                                                                   open_api):
    rt = app_rt()
    uuid = relay_issue(rt, guance, clock, TITLE, message="5.3% of requests fail")
    sent = app_card(open_api)
    before = list(card_texts(sent["content"]))
    assert sent["content"]["config"]["update_multi"] is True  # sent updatable
    clock.advance(20 * 60)
    guance.set_status(uuid, 20, by="Li Lei")
    cycle(rt, clock)
    after = open_api.card(sent["message_id"])
    texts = list(card_texts(after))
    assert texts[0] == f"[Resolved] {TITLE}" and after["header"]["template"] == "green"
    assert texts[1:len(before)] == before[1:]  # the issue's text, source, link … are all kept
    status = texts[-1]
    assert "**Status:** Resolved" in status and "**Changed by** Li Lei" in status
    assert "open for 20 min" in status
    assert open_api.texts_replying_to(sent["message_id"]) == [
        f"✅ Resolved after 20 min by Li Lei: {TITLE}"]


def test_a_card_feishu_will_not_update_gets_a_thread_line(app_rt, guance, clock, open_api):
    rt = app_rt(follow_announce="reopened")  # a resolution is not announced: only the PATCH
    uuid = relay_issue(rt, guance, clock, TITLE)
    sent = app_card(open_api)
    sent["content"].pop("config")  # a card sent without "update_multi": true
    guance.set_status(uuid, 20, by="Li Lei")
    cycle(rt, clock)
    assert open_api.updates == []  # refused
    assert open_api.texts_replying_to(sent["message_id"]) == [
        f"✅ Resolved after <1 min by Li Lei: {TITLE}"]
    cycle(rt, clock)
    assert len(open_api.texts_replying_to(sent["message_id"])) == 1  # once


def test_a_card_older_than_14_days_gets_a_thread_line(app_rt, guance, clock, open_api):
    rt = app_rt(follow_days=30)
    uuid = relay_issue(rt, guance, clock, TITLE)
    sent = app_card(open_api)
    clock.advance(15 * 86_400)
    guance.set_status(uuid, 25, by="Li Lei")
    cycle(rt, clock)
    assert open_api.updates == []
    (line,) = open_api.texts_replying_to(sent["message_id"])
    assert line.startswith("☑️ Closed after 15 d 0 h by Li Lei")


def test_a_patch_feishu_answers_with_500_is_retried(app_rt, guance, clock, open_api):
    rt = app_rt()
    uuid = relay_issue(rt, guance, clock, TITLE)
    sent = app_card(open_api)
    guance.set_status(uuid, 20, by="Li Lei")
    open_api.faults.append("500")
    cycle(rt, clock)
    assert open_api.updates == [] and open_api.texts_replying_to(sent["message_id"]) == []
    for _ in range(5):
        cycle(rt, clock)  # the back-off passes
    assert len(open_api.updates) == 1
    assert len(open_api.texts_replying_to(sent["message_id"])) == 1


def test_a_patch_over_feishus_update_frequency_is_retried_not_taken_as_refused(
        app_rt, guance, clock, open_api):
    rt = app_rt(follow_announce="reopened")  # a resolution is only PATCHed, never a thread line
    uuid = relay_issue(rt, guance, clock, TITLE)
    sent = app_card(open_api)
    guance.set_status(uuid, 20, by="Li Lei")
    open_api.faults.append("card_frequency")  # Feishu's 230020: 5 updates a second per message
    cycle(rt, clock)
    assert open_api.updates == []
    cycle(rt, clock)
    (update,) = open_api.updates  # the card is updated after all ...
    assert list(card_texts(update[1]))[0] == f"[Resolved] {TITLE}"
    assert open_api.texts_replying_to(sent["message_id"]) == []  # ... and no fallback line


def test_a_card_of_8000_emoji_is_cut_to_feishus_30_kb_and_still_updates(app_rt, guance, clock,
                                                                         open_api):
    rt = app_rt()
    uuid = relay_issue(rt, guance, clock, TITLE, message="🔥" * 8000)  # 32 KB of text
    sent = app_card(open_api)  # Feishu took it (the fake refuses a body over 30 KB: 230025)
    (message,) = [t for t in card_texts(sent["content"]) if t.startswith("🔥")]
    kept = message.count("🔥")
    assert 5000 < kept < 8000 and message.endswith(f"(truncated, {8000 - kept} more characters)")
    guance.set_status(uuid, 20, by="Li Lei")
    cycle(rt, clock)
    assert len(open_api.updates) == 1  # the PATCH, with its status line, fits too
    assert open_api.largest_body <= 30 * 1024
