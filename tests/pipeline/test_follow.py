"""Cards that follow the issue: a state change in Guance reaches each chat that got the card,
as the setting asks, once — across re-runs, restarts and two runtimes sharing a database."""

from __future__ import annotations

import pytest

from relay.pipeline.deliver import deliver
from relay.pipeline.track_issues import track_issues
from tests.follow import cycle, everywhere, follow_ups, relay_issue

TITLE = "Payment API error rate above 5%"
ROBOTS = ("bot", "dingtalk", "wecom")


@pytest.fixture
def rt_all(app_rt, feishu, dingtalk, wecom):
    return lambda **kw: everywhere(app_rt, feishu, dingtalk, wecom, **kw)


@pytest.fixture
def seen(feishu, dingtalk, wecom, open_api):
    return lambda: follow_ups(feishu, dingtalk, wecom, open_api)


def resolve_after(guance, clock, uuid, minutes, status):
    clock.advance(minutes * 60 - 60)  # the cycle adds the last minute
    guance.set_status(uuid, status, by="Li Lei")


@pytest.mark.parametrize("status, line", [
    (20, f"✅ Resolved after 23 min by Li Lei: {TITLE}"),
    (25, f"☑️ Closed after 23 min by Li Lei: {TITLE}"),
])
def test_resolved_or_closed_is_told_once_on_every_platform(rt_all, guance, clock, seen, status,
                                                           line):
    rt = rt_all()
    uuid = relay_issue(rt, guance, clock, TITLE)
    cycle(rt, clock)
    assert seen()["app_updates"] == [] and seen()["bot"] == []  # nothing changed yet
    resolve_after(guance, clock, uuid, 23, status)
    cycle(rt, clock)
    got = seen()
    name = {20: "Resolved", 25: "Closed"}[status]
    assert got["flow"] == [(name, line)]
    for platform in ROBOTS + ("app_thread",):
        assert got[platform] == [line], platform
    (card,) = got["app_updates"]
    assert card["header"]["title"]["content"] == f"[{name}] {TITLE}"
    assert card["header"]["template"] != "red"
    for _ in range(3):  # re-runs
        cycle(rt, clock)
    assert seen() == got


def test_reopened_after_resolved_is_told_as_well(rt_all, guance, clock, seen):
    rt = rt_all()
    uuid = relay_issue(rt, guance, clock, TITLE)
    cycle(rt, clock)
    resolve_after(guance, clock, uuid, 10, 20)
    cycle(rt, clock)
    guance.set_status(uuid, 10, by="Han Meimei")
    cycle(rt, clock)
    got = seen()
    for platform in ROBOTS + ("app_thread",):
        assert got[platform] == [f"✅ Resolved after 10 min by Li Lei: {TITLE}",
                                 f"🔁 Reopened by Han Meimei: {TITLE}"], platform
    assert [status for status, _ in got["flow"]] == ["Resolved", "Open"]
    assert got["app_updates"][-1]["header"]["title"]["content"] == f"[Open] {TITLE}"


def test_a_claim_only_updates_the_app_bot_card(rt_all, guance, clock, seen, open_api):
    rt = rt_all(mentions={"acnt_lilei": {"name": "Li Lei", "feishu": "ou_lilei"}})
    uuid = relay_issue(rt, guance, clock, TITLE)
    guance.set_status(uuid, 15, by="Li Lei", managers=["acnt_lilei"])
    cycle(rt, clock)
    got = seen()
    assert got["flow"] == [] and got["app_thread"] == []
    assert all(got[p] == [] for p in ROBOTS)
    (card,) = got["app_updates"]
    assert card["header"]["title"]["content"] == f"[Working] {TITLE}"
    status_text = [e["text"]["content"] for e in card["elements"] if e.get("tag") == "div"][-1]
    assert "**Owner:** <at id=ou_lilei></at>" in status_text and "Li Lei" in status_text


def test_the_setting_chooses_which_transitions_are_told(rt_all, guance, clock, seen):
    rt = rt_all(follow_announce="claimed")
    uuid = relay_issue(rt, guance, clock, TITLE)
    guance.set_status(uuid, 15, by="Li Lei")
    cycle(rt, clock)
    guance.set_status(uuid, 20, by="Li Lei")
    cycle(rt, clock)
    got = seen()
    for platform in ROBOTS + ("app_thread",):
        assert got[platform] == [f"🙋 Claimed by Li Lei: {TITLE}"], platform
    assert len(got["app_updates"]) == 2  # the card shows the resolution all the same
    assert got["app_updates"][-1]["header"]["title"]["content"] == f"[Resolved] {TITLE}"


def test_once_across_restarts_and_two_runtimes_on_one_database(rt_all, database_url, guance,
                                                              clock, seen):
    first = rt_all(database_url=database_url)
    uuid = relay_issue(first, guance, clock, TITLE)
    guance.set_status(uuid, 20)
    clock.advance(60)
    # another replica (or the restarted process) on the same database
    second = rt_all(database_url=database_url)
    track_issues(first)
    track_issues(second)  # both saw the change: one row per destination
    deliver(second)
    deliver(first)
    for _ in range(2):
        cycle(rt_all(database_url=database_url), clock)  # restarts
        cycle(second, clock)
    got = seen()
    assert all(len(got[p]) == 1 for p in ROBOTS + ("flow", "app_thread", "app_updates")), got


def test_a_storm_digest_is_followed_up_once_never_per_issue(rt_all, guance, clock, seen):
    rt = rt_all(storm_threshold=3)
    cycle(rt)
    uuids = [guance.add_issue(f"disk full on db-{n}") for n in range(5)]
    cycle(rt, clock)
    for uuid in uuids[:4]:
        guance.set_status(uuid, 20)
    cycle(rt, clock)
    assert seen()["bot"] == []  # not all final yet, and the digest is young
    guance.set_status(uuids[4], 25)
    for _ in range(3):
        cycle(rt, clock)
    got = seen()
    for platform in ROBOTS + ("app_thread",):
        assert len(got[platform]) == 1, platform
        assert "4 of 5 resolved, 1 closed" in got[platform][0]
    assert got["app_updates"] == []


def test_the_crontab_job_sends_what_it_queued_at_once(rt_all, guance, clock, seen):
    from jobs import JOBS

    rt = rt_all()
    uuid = relay_issue(rt, guance, clock, TITLE)
    guance.set_status(uuid, 20, by="Li Lei")
    clock.advance(60)
    JOBS["track_issues"](rt)  # no deliver run in between
    assert all(len(seen()[p]) == 1 for p in ROBOTS + ("flow", "app_thread"))
    JOBS["track_issues"](rt, deliver=False)


def test_an_issue_that_came_with_its_managers_is_not_taken_for_a_claim(rt_all, guance, clock,
                                                                        seen):
    rt = rt_all()
    relay_issue(rt, guance, clock, TITLE, managers=["acnt_lilei"])
    for _ in range(3):
        cycle(rt, clock)
    assert seen()["app_updates"] == [] and seen()["app_thread"] == []
