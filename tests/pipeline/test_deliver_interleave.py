"""One deliver run serves every destination at once: a bot that must wait for its send limit
does not hold up the cards of the others.

The fake Feishu enforces the per-bot limits Feishu documents (5 a second, 100 a minute); the fake
clock moves only when deliver sleeps, so the clock's advance is the time the run took."""

from __future__ import annotations

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.ratelimit import RateLimiter
from relay.store import outbox as store
from tests.helpers import outbox

FEISHU_DOCUMENTED_LIMITS = [(5, 1.0), (100, 60.0)]
TEAMS = ("red", "green", "blue")


def burst(make_runtime, guance, feishu, clock, per_team: int):
    """`per_team` due cards for each of three bots, one team's whole burst before the next's (the
    oldest-first order then lists every red card before the first green one)."""
    feishu.limits = FEISHU_DOCUMENTED_LIMITS
    for team in TEAMS:
        guance.add_channel(team)
    rt = make_runtime(
        channels=",".join(TEAMS), storm_threshold=1000,  # no digest: one card per issue
        destinations={team: f"{feishu.url}/flow/api/trigger-webhook/hook-{team}"
                      for team in TEAMS},
        routes={team: [team] for team in TEAMS})
    poll(rt)  # the first run starts the cursor
    clock.advance(5)
    made = {team: [guance.add_issue(f"{team} {i}", [team]) for i in range(per_team)]
            for team in TEAMS}
    clock.advance(55)
    poll(rt)
    return rt, made


def test_three_bots_send_side_by_side_not_one_after_another(make_runtime, guance, feishu, clock):
    rt, made = burst(make_runtime, guance, feishu, clock, per_team=30)
    started = clock.now()

    report = deliver(rt)

    took = clock.now() - started
    assert report.sent == 90 and report.failed == 0
    for team in TEAMS:  # every card, once, in creation order per bot
        assert [c["issue_uuid"] for c in feishu.for_hook(f"hook-{team}")] == made[team]
    assert feishu.too_frequent == 0
    assert all(r.status == store.SENT and r.attempts == 1 for r in outbox(rt))
    # 30 cards at 5 a second take one bot about 6 s; one bot after another would take 18 s
    assert took <= 7


def test_the_run_stops_at_max_seconds_and_the_next_run_goes_on_in_order(
        make_runtime, guance, feishu, clock):
    rt, made = burst(make_runtime, guance, feishu, clock, per_team=30)
    started = clock.now()

    first = deliver(rt, max_seconds=2.5)  # sends at 0, 1 and 2 s: 5 a second for each bot

    assert clock.now() - started <= 2.5
    assert first.sent == 45 and first.failed == 0
    for team in TEAMS:
        assert [c["issue_uuid"] for c in feishu.for_hook(f"hook-{team}")] == made[team][:15]
    assert sum(r.status == store.PENDING and r.attempts == 0 for r in outbox(rt)) == 45

    clock.advance(60)
    deliver(rt)
    for team in TEAMS:
        assert [c["issue_uuid"] for c in feishu.for_hook(f"hook-{team}")] == made[team]
    assert feishu.too_frequent == 0


def test_try_acquire_says_how_long_without_sleeping(clock):
    limiter = RateLimiter([(2, 1.0)], clock)
    assert limiter.try_acquire() == 0 and limiter.try_acquire() == 0
    clock.advance(0.25)
    assert limiter.try_acquire() == 0.75  # the clock did not move: no sleep
    clock.advance(0.75)
    assert limiter.try_acquire() == 0 and limiter.used(1.0) == 1  # the first two aged out
