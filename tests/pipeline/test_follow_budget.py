"""Following 500 relayed open issues costs a few Guance calls a cycle and never delays new-issue
polling, against the fake Guance enforcing 20 calls a minute (FakeClock)."""

from __future__ import annotations

from bench.follow import seed_relayed
from relay.pipeline.deliver import deliver
from relay.pipeline.track_issues import track_issues
from relay.pipeline.poll import poll
from tests.helpers import HOOK

FOLLOWED = 500


def test_following_500_issues_costs_a_few_calls_and_never_delays_polling(make_runtime, guance,
                                                                         feishu, clock):
    guance.calls_per_minute = 20
    rt = make_runtime()
    followed = seed_relayed(rt, guance, clock, FOLLOWED, age=3600)
    poll(rt)  # relay starts watching
    calls_per_cycle, fresh = [], []
    for minute in range(12):
        clock.advance(60)
        if minute == 3:
            for uuid in followed[::50]:  # ten issues resolved, spread over the whole list
                guance.set_status(uuid, 20)
        new = guance.add_issue(f"new issue at minute {minute}")
        before = clock.now()
        report = poll(rt)
        assert clock.now() == before, "polling waited for the budget"
        assert report.new_rows == 1 and not report.waiting, minute
        fresh.append(new)
        tracked = track_issues(rt)
        calls_per_cycle.append(tracked.calls)
        deliver(rt)
        clock.advance(1)
        assert poll(rt).waiting == []  # the tracker left room even right after it ran
    assert guance.rate_limited == 0
    assert guance.calls_in_any_minute() <= 20
    assert max(calls_per_cycle) <= 3 and sum(calls_per_cycle) > 0
    status_lines = [c for c in feishu.for_hook(HOOK) if c.get("event") == "status"]
    assert len(status_lines) == 10  # every resolution reached the chat …
    assert [c["issue_uuid"] for c in feishu.for_hook(HOOK) if c["event"] == "new"] == fresh


def test_the_walk_covers_every_followed_issue_within_two_cycles(make_runtime, guance, clock):
    rt = make_runtime()
    followed = seed_relayed(rt, guance, clock, FOLLOWED, age=3600)
    guance.set_status(followed[0], 20)
    guance.set_status(followed[-1], 25)
    changes = [track_issues(rt).changes for _ in range(2)]  # 5 pages, 3 calls a cycle
    assert sum(changes) == 2


def test_a_window_on_updateat_is_noticed_and_then_one_call_a_run_finds_each_change(
        make_runtime, guance, clock):
    guance.window_on = "updateAt"  # if Guance's list window filters on updateAt …
    rt = make_runtime()
    followed = seed_relayed(rt, guance, clock, FOLLOWED, age=3600)
    while not track_issues(rt).walked:  # a first walk (two runs)
        clock.advance(60)
    clock.advance(60)
    guance.set_status(followed[0], 20)  # the oldest: the walk's last page
    assert track_issues(rt).changes == 1  # the once-a-walk probe found it, and proved the window
    clock.advance(60)
    track_issues(rt)  # the walk moves on (pages 2-3)
    clock.advance(60)
    guance.set_status(followed[1], 25)
    report = track_issues(rt)
    assert report.changes == 1 and report.calls <= 3  # at once, not at the end of the walk


def test_a_window_on_createat_costs_the_probe_once_a_walk(make_runtime, guance, clock):
    rt = make_runtime()
    seed_relayed(rt, guance, clock, FOLLOWED, age=3600)
    calls = []
    for _ in range(6):
        calls.append(track_issues(rt).calls)
        clock.advance(60)
    assert calls == [3, 2, 3, 3, 3, 3]  # walk 1-3, 4-5; probe + 1-2, 3-5; probe + 1-2, 3-5
