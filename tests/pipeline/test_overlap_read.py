"""The overlap re-read is cheap: after a storm, a poll reads the window's first page only, unless
the count Guance gives says the other pages can hold an issue relay has not recorded (an issue
indexed late), whatever order Guance lists them in."""

from __future__ import annotations

from collections import Counter

import pytest

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from tests.helpers import card_uuids


def issue_list_calls(guance) -> int:
    return sum(1 for _, path in guance.calls if path == "/api/v1/issue/list")


@pytest.fixture
def after_a_storm(make_runtime, guance, clock):
    """250 issues (three pages) recorded by one poll; the window still holds them all."""
    rt = make_runtime(storm_threshold=1000)  # one card per issue
    rt.send_limits.clear()  # Feishu's pace is not what is tested: every card goes at once
    poll(rt)
    start = clock.now()
    storm = [guance.add_issue(f"node {i}", created_at=start + 1 + i // 10) for i in range(250)]
    clock.advance(60)
    poll(rt)
    deliver(rt)
    clock.advance(60)
    return rt, storm, start


def test_a_quiet_re_read_costs_one_call_not_one_per_page(after_a_storm, guance, feishu, clock):
    rt, storm, _ = after_a_storm
    calls = issue_list_calls(guance)
    report = poll(rt)
    assert issue_list_calls(guance) - calls == 1
    assert report.new_rows == 0


@pytest.mark.parametrize("where", ["oldest: on the last page", "newest: on the first page"])
def test_a_late_indexed_issue_in_the_overlap_is_still_sent_once(after_a_storm, guance, feishu,
                                                                 clock, where):
    rt, storm, start = after_a_storm
    # created inside the window already read, listed by Guance only now
    created = start if where.startswith("oldest") else clock.now() - 30
    late = guance.add_issue("indexed late", created_at=created)
    poll(rt)
    deliver(rt)
    clock.advance(60)
    poll(rt)  # and a quiet poll after it: nothing again
    deliver(rt)
    sent = Counter(card_uuids(feishu))
    assert sent[late] == 1
    assert set(sent) == set(storm) | {late} and max(sent.values()) == 1


def test_a_new_issue_beside_a_full_overlap_is_sent(after_a_storm, guance, feishu, clock):
    rt, storm, _ = after_a_storm
    new = guance.add_issue("new one", created_at=clock.now() - 5)
    poll(rt)
    deliver(rt)
    assert card_uuids(feishu).count(new) == 1


def test_a_deleted_issue_makes_the_count_disagree_and_every_page_is_read(after_a_storm, guance,
                                                                        clock):
    """A recorded issue gone from the list: the count no longer proves the rest is known."""
    rt, storm, _ = after_a_storm
    guance.issues[0]["deleteAt"] = int(clock.now())
    calls = issue_list_calls(guance)
    poll(rt)
    assert issue_list_calls(guance) - calls == 3


def test_a_storm_s_unread_channel_goes_before_re_reads_of_the_ones_read(make_runtime, two_teams,
                                                                        guance, feishu, clock):
    """Two calls a minute for polling, two pages a channel: the second poll reads db's storm
    instead of re-reading ops (their cursors tie within the first overlap after the first run)."""
    rt = make_runtime(guance_calls_per_minute=6, guance_reply_reserve=4, guance_poll_reserve=0,
                      storm_threshold=1000, **two_teams)
    rt.send_limits.clear()
    poll(rt)  # the first run ever (and the channel list)
    clock.advance(62)
    storm = {team: [guance.add_issue(f"{team} {i}", [team], created_at=clock.now() - 30 + i // 10)
                    for i in range(150)] for team in ("ops", "db")}
    first = poll(rt)
    assert first.polled == ["ops"] and first.waiting == ["db"]
    clock.advance(62)
    second = poll(rt)
    assert second.polled[0] == "db"
    deliver(rt)
    assert Counter(card_uuids(feishu, "hook-db")) == Counter(storm["db"])
    assert Counter(card_uuids(feishu, "hook-ops")) == Counter(storm["ops"])



def test_a_storm_read_part_way_does_not_hold_back_the_other_channels(make_runtime, two_teams,
                                                                      guance, feishu, clock):
    """A storm of five pages with two calls a run for polling is read a few pages a run; a new
    issue in another channel meanwhile is read in the next run, not after the whole storm."""
    rt = make_runtime(guance_calls_per_minute=6, guance_reply_reserve=4, guance_poll_reserve=0,
                      storm_threshold=1000, **two_teams)
    rt.send_limits.clear()
    poll(rt)
    clock.advance(62)
    storm = [guance.add_issue(f"ops {i}", ["ops"], created_at=clock.now() - 30 + i // 20)
             for i in range(450)]
    first = poll(rt)
    assert first.polled == [] and first.waiting == ["ops", "db"]  # ops stopped after page 2
    clock.advance(62)
    quiet = guance.add_issue("db disk full", ["db"], created_at=clock.now() - 5)
    second = poll(rt)
    assert "db" in second.polled
    deliver(rt)
    assert card_uuids(feishu, "hook-db") == [quiet]
    for _ in range(3):  # the storm's last pages
        clock.advance(62)
        poll(rt)
    deliver(rt)
    assert Counter(card_uuids(feishu, "hook-ops")) == Counter(storm)
