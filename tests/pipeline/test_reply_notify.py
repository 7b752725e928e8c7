"""New-reply notifications: Guance replies appear once in the card's thread; relay's own
comments are not echoed; a run checks a bounded number of issues, oldest-checked first."""

from __future__ import annotations

import time

import pytest

from relay.store import events as event_store
from relay.pipeline.deliver import deliver
from relay.pipeline.notify_replies import notify_replies
from relay.pipeline.poll import poll
from relay.ratelimit import LimitExceeded
from relay.web.app import create_app
from tests.appbot import CHAT, send_card, signed_post, thread_reply, wait_for


def reply_list_calls(guance) -> int:
    return sum(1 for _, path in guance.calls if path.endswith("/list") and "/reply/" in path)


def test_first_check_records_old_replies_then_each_new_one_is_posted_once(app_rt, open_api,
                                                                         guance, clock):
    rt = app_rt()
    poll(rt)
    clock.advance(30)
    issue = guance.add_issue("disk full")
    guance.add_reply(issue, "old comment, written before the card went out")
    clock.advance(30)
    poll(rt)
    deliver(rt)
    card_id = open_api.in_chat(CHAT)[0]["message_id"]
    notify_replies(rt)  # first check: remembers, posts nothing
    assert open_api.replies_to(card_id) == []

    clock.advance(300)
    guance.add_reply(issue, "<p>DB failover done &amp; verified</p>", author="Alice")
    guance.add_reply(issue, "Alice changed the status to Resolved", kind="change")
    report = notify_replies(rt)
    assert report.notified == 1
    assert open_api.texts_replying_to(card_id) == [
        "💬 Alice replied in Guance: DB failover done & verified"]

    clock.advance(300)
    notify_replies(rt)  # nothing new: nothing posted again
    assert len(open_api.replies_to(card_id)) == 1


def test_a_reply_written_before_the_first_check_is_still_news(app_rt, open_api, guance, clock):
    rt = app_rt()
    issue, card_id = send_card(rt, guance, clock)
    clock.advance(120)
    guance.add_reply(issue, "seen it", author="Dan")  # before relay got round to this issue
    notify_replies(rt)
    assert open_api.texts_replying_to(card_id) == ["💬 Dan replied in Guance: seen it"]


def test_a_failed_first_check_still_keeps_old_history_out(app_rt, open_api, guance, clock):
    rt = app_rt()
    poll(rt)
    clock.advance(30)
    issue = guance.add_issue("disk full")
    guance.add_reply(issue, "old history, before the card")
    clock.advance(30)
    poll(rt)
    deliver(rt)
    card_id = open_api.in_chat(CHAT)[0]["message_id"]
    guance.faults.append("500")  # the first check fails
    notify_replies(rt)
    clock.advance(300)
    notify_replies(rt)  # the real first check
    assert open_api.replies_to(card_id) == []


def test_a_reply_that_writes_an_entity_keeps_it(app_rt, open_api, guance, clock):
    rt = app_rt()
    issue, card_id = send_card(rt, guance, clock)
    notify_replies(rt)
    guance.add_reply(issue, "<p>use &amp;lt;br&amp;gt; tags</p>", author="Eve")
    clock.advance(300)
    notify_replies(rt)
    assert open_api.texts_replying_to(card_id) == ["💬 Eve replied in Guance: use &lt;br&gt; tags"]


def test_relays_own_comments_are_not_echoed_back(app_rt, open_api, guance, clock):
    rt = app_rt()
    issue, card_id = send_card(rt, guance, clock)
    notify_replies(rt)
    client = create_app(rt).test_client()
    event = thread_reply(open_api, "restarted it", root_id=card_id)
    assert signed_post(client, event, clock.now()).status_code == 200
    # posted, and recorded as relay's own (the worker records it just after Guance answers)
    wait_for(lambda: guance.comments(issue) and event_store.known_replies(rt.engine, issue))
    guance.add_reply(issue, "thanks!", author="Bob")
    clock.advance(300)
    notify_replies(rt)
    notes = [t for t in open_api.texts_replying_to(card_id)]
    assert notes == ["💬 Bob replied in Guance: thanks!"]


def test_comments_posted_through_the_other_reply_routes_are_not_echoed_either(app_rt, open_api,
                                                                              guance, clock):
    from tests.helpers import REPLY_TOKEN

    rt = app_rt()
    issue, card_id = send_card(rt, guance, clock)
    notify_replies(rt)
    resp = create_app(rt).test_client().post(
        "/feishu/reply", json={"content": f"#{issue}#via the flow"},
        headers={"Authorization": f"Bearer {REPLY_TOKEN}"})
    assert resp.status_code == 200 and guance.comments(issue) == ["via the flow"]
    clock.advance(300)
    notify_replies(rt)
    assert open_api.texts_replying_to(card_id) == []


def test_a_failed_post_is_tried_again_next_run(app_rt, open_api, guance, clock):
    rt = app_rt()
    issue, card_id = send_card(rt, guance, clock)
    notify_replies(rt)
    guance.add_reply(issue, "please look", author="Carol")
    open_api.faults.append("500")
    clock.advance(300)
    assert notify_replies(rt).notified == 0
    clock.advance(300)
    assert notify_replies(rt).notified == 1
    assert open_api.texts_replying_to(card_id) == ["💬 Carol replied in Guance: please look"]


def test_a_run_checks_a_bounded_number_of_issues_oldest_checked_first(app_rt, open_api, guance,
                                                                      clock):
    rt = app_rt(storm_threshold=50)
    poll(rt)
    clock.advance(30)
    issues = [guance.add_issue(f"issue {i}") for i in range(7)]
    clock.advance(30)
    poll(rt)
    assert deliver(rt).sent == 7
    before = reply_list_calls(guance)
    notify_replies(rt, max_issues=3)
    assert reply_list_calls(guance) - before == 3
    for i in range(2):  # two more runs reach every issue once before any is checked twice
        clock.advance(300)
        notify_replies(rt, max_issues=3)
    checked = [path.split("/")[-2] for _, path in guance.calls if "/reply/" in path]
    assert len(checked) == 9 and set(checked[:7]) == set(issues)

    for issue in issues:
        guance.add_reply(issue, f"note on {issue}")
    clock.advance(300)
    total = 0
    for _ in range(3):
        total += notify_replies(rt, max_issues=3).notified
        clock.advance(300)
    assert total == 7  # every issue's new reply, each once, within three runs


def test_only_issues_relayed_in_the_last_n_days_are_checked(app_rt, open_api, guance, clock):
    rt = app_rt(reply_notify_days=2)
    issue, _ = send_card(rt, guance, clock)
    clock.advance(3 * 86_400)
    before = reply_list_calls(guance)
    notify_replies(rt)
    assert reply_list_calls(guance) == before


def test_the_job_does_nothing_without_app_chats(make_runtime, guance):
    rt = make_runtime()
    report = notify_replies(rt)
    assert report.checked == 0 and guance.calls == []


def test_budget_exhausted_leaves_the_rest_for_the_next_run(app_rt, open_api, guance, clock,
                                                           monkeypatch):
    rt = app_rt()
    send_card(rt, guance, clock)
    monkeypatch.setattr("relay.guance.client.BACKGROUND_WAIT_SECONDS", 0.0)
    start = time.monotonic()
    with pytest.raises(LimitExceeded):  # a burst took the whole minute
        while True:
            rt.budget.acquire()
    report = notify_replies(rt)
    assert report.waiting and report.checked == 0
    assert time.monotonic() - start < 2


def test_prune_forgets_old_events_and_replies_but_keeps_pending_work(app_rt, open_api, guance,
                                                                     clock):
    from jobs.prune import prune
    from relay.store import events as event_store

    rt = app_rt()
    issue, card_id = send_card(rt, guance, clock)
    notify_replies(rt)
    event_store.accept_event(rt.engine, "ev-done", "im.message.receive_v1", {}, int(clock.now()))
    event_store.finish_event(rt.engine, "ev-done", "done", "ok", int(clock.now()))
    event_store.record_reply(rt.engine, "repim_old", issue, "seen", int(clock.now()))
    clock.advance(31 * 86_400)
    event_store.accept_event(rt.engine, "ev-new", "im.message.receive_v1", {}, int(clock.now()))
    prune(rt, days=30)
    assert event_store.get_event(rt.engine, "ev-done") is None
    assert event_store.get_event(rt.engine, "ev-new").status == "pending"
    assert event_store.known_replies(rt.engine, issue) == set()
