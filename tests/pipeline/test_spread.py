"""`poll_issues every=15`: several budget-aware polls within one crontab firing, so an issue
reaches chat within seconds of appearing in Guance's list instead of up to a minute later."""

from __future__ import annotations

import pytest

from jobs import JOBS
from relay.pipeline.schedule import CrontabError, parse_crontab
from relay.pipeline.spread import Every
from tests.helpers import card_uuids


def issue_list_calls(guance) -> int:
    return sum(1 for _, path in guance.calls if path == "/api/v1/issue/list")


def arrival_times(feishu, clock) -> dict[str, float]:
    arrived: dict[str, float] = {}
    feishu.on_receive = lambda hook, body: arrived.setdefault(body["issue_uuid"], clock.now())
    return arrived


def test_every_15_polls_four_times_a_firing_and_sends_each_issue_at_the_next_poll(
        make_runtime, guance, feishu, clock):
    rt = make_runtime()
    JOBS["poll_issues"](rt)  # the first run ever starts the cursor
    clock.advance(60)
    firing = clock.now()
    # issues that appear in Guance's list 7 s and 38 s into the firing
    early = guance.add_issue("early", created_at=firing + 7)
    late = guance.add_issue("late", created_at=firing + 38)
    arrived = arrival_times(feishu, clock)
    calls = issue_list_calls(guance)
    JOBS["poll_issues"](rt, every=Every(15))
    assert issue_list_calls(guance) - calls == 4  # at +0, +15, +30, +45
    assert card_uuids(feishu) == [early, late]
    assert arrived[early] - firing == 15 and arrived[late] - firing == 45
    assert clock.now() - firing < 60  # done before the next firing


def test_once_a_minute_is_still_the_default(make_runtime, guance, feishu, clock):
    rt = make_runtime()
    JOBS["poll_issues"](rt)
    clock.advance(60)
    guance.add_issue("in 7 s", created_at=clock.now() + 7)
    calls = issue_list_calls(guance)
    JOBS["poll_issues"](rt)
    assert issue_list_calls(guance) - calls == 1
    assert card_uuids(feishu) == []  # the next firing reads it


def test_extra_polls_give_way_when_the_budget_is_tight(make_runtime, guance, feishu, clock):
    """Other work took most of the minute's calls: only the firing's own poll goes."""
    rt = make_runtime()
    JOBS["poll_issues"](rt)
    clock.advance(60)
    issue = guance.add_issue("appears at +20 s", created_at=clock.now() + 20)
    for _ in range(rt.settings.guance_calls_per_minute - rt.settings.guance_reply_reserve - 2):
        rt.budget.acquire()  # the follow-up jobs' calls of this minute
    calls = issue_list_calls(guance)
    JOBS["poll_issues"](rt, every=Every(15))
    assert issue_list_calls(guance) - calls == 1
    assert guance.rate_limited == 0
    clock.advance(60 - 45)
    JOBS["poll_issues"](rt, every=Every(15))  # the budget's window has passed: polls again
    assert card_uuids(feishu) == [issue]


def test_the_crontab_takes_every_in_seconds_and_names_the_range(tmp_path):
    good = tmp_path / "good"
    good.write_text("* * * * * poll_issues every=15\n* * * * * poll_issues every=20s deliver=no\n")
    entries = parse_crontab(good, JOBS, None)
    assert [e.kwargs for e in entries] == [{"every": 15.0}, {"every": 20.0, "deliver": False}]
    bad = tmp_path / "bad"
    bad.write_text("* * * * * poll_issues every=3\n* * * * * poll_issues every=soon\n")
    with pytest.raises(CrontabError) as err:
        parse_crontab(bad, JOBS, None)
    assert len(err.value.problems) == 2
    assert all("every=" in p and "5 to 60" in p for p in err.value.problems)
