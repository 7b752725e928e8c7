"""The Guance call budget: 20 calls a minute per key, shared by polling and the reply endpoint.

A simulated busy hour (fake clock) against a FakeGuance that enforces the limit exactly as Guance
does (HTTP 401 + ft.TriggerApiAkCurrentLimiting), plus unit tests of the RateLimiter."""

from __future__ import annotations

import random
from collections import Counter, deque

import pytest

from relay.clock import FakeClock
from relay.config import Settings
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.ratelimit import LimitExceeded, RateLimiter
from relay.runtime import Runtime
from relay.sandbox.guance import FakeGuance
from relay.sandbox.server import ServerThread
from relay.web.app import create_app
from tests.helpers import REPLY_TOKEN

AUTH = {"Authorization": f"Bearer {REPLY_TOKEN}"}
TEAMS = [f"team{i}" for i in range(1, 7)]


@pytest.fixture
def limited_guance(clock):
    fake = FakeGuance(api_key="budget-key-0123456789", clock=clock, calls_per_minute=20)
    server = ServerThread(fake.app)
    fake.url = server.url
    yield fake
    server.stop()


def test_busy_hour_stays_within_the_guance_budget(tmp_path, clock, feishu, limited_guance):
    guance = limited_guance
    for team in TEAMS:
        guance.add_channel(team)
    settings = Settings(
        _env_file=None, guance_base_url=guance.url, guance_api_key=guance.api_key,
        channels=",".join(TEAMS),
        destinations={t: f"{feishu.url}/flow/api/trigger-webhook/hook-{t}" for t in TEAMS},
        routes={t: [t] for t in TEAMS}, reply_token=REPLY_TOKEN,
        database_url=f"sqlite:///{tmp_path}/budget.db")
    rt = Runtime(settings, clock=clock)
    web = create_app(rt).test_client()
    rng = random.Random(20)

    expected: dict[str, list[str]] = {t: [] for t in TEAMS}  # hook → issues it must receive
    delivered_issues: list[str] = []
    to_send: deque[tuple[str, str]] = deque()  # replies waiting to be (re)sent: (uuid, text)
    landed: dict[str, str] = {}  # text → issue
    retried = 0
    reply_no = 0
    polls_waiting = 0

    def post_reply(uuid: str, text: str) -> None:
        nonlocal retried
        resp = web.post("/feishu/reply", headers=AUTH, json={"content": f"#{uuid}#{text}"})
        if resp.status_code == 503:  # "retry later": allowed, but it must land on a retry
            assert resp.headers.get("Retry-After")
            retried += 1
            to_send.append((uuid, text))
            return
        assert resp.status_code == 200, (resp.status_code, resp.get_json())
        assert resp.get_json()["issueUUID"] == uuid
        landed[text] = uuid

    def minute(start: float, new_issues: int, replies: int) -> None:
        """One cron minute: poll + deliver at :00, then issues and replies through the minute."""
        nonlocal reply_no, polls_waiting
        report = poll(rt)
        assert not report.failed, report
        polls_waiting += bool(report.waiting)
        deliver(rt)
        for h in TEAMS:
            for card in feishu.for_hook(f"hook-{h}"):
                if card["issue_uuid"] not in delivered_issues:
                    delivered_issues.append(card["issue_uuid"])
        events = ([("issue", rng.uniform(1, 58)) for _ in range(new_issues)]
                  + [("reply", rng.uniform(1, 58)) for _ in range(replies)]
                  + [("retry", rng.uniform(1, 58)) for _ in range(len(to_send))])
        for kind, offset in sorted(events, key=lambda e: e[1]):
            clock.advance(max(0.0, start + offset - clock.now()))
            if kind == "issue":
                chans = rng.sample(TEAMS, rng.choice([1, 1, 1, 2]))
                uuid = guance.add_issue(f"alert {len(guance.issues)}", chans,
                                        level=rng.choice([0, 1, 2]), message="m")
                for c in chans:
                    expected[c].append(uuid)
            elif kind == "reply" and delivered_issues:
                reply_no += 1
                post_reply(rng.choice(delivered_issues), f"ack {reply_no} # on it")
            elif kind == "retry" and to_send:
                post_reply(*to_send.popleft())
        clock.advance(max(0.0, start + 60 - clock.now()))

    t0 = clock.now()
    poll(rt)  # the first run ever: starts watching now
    for m in range(60):
        busy = m in (20, 21, 40)  # a few incident minutes: a flood of replies
        minute(t0 + 60 * (m + 1), new_issues=rng.randint(2, 5), replies=16 if busy else 8)
    for m in range(60, 66):  # quiet minutes: retried replies land, the last issues go out
        minute(t0 + 60 * (m + 1), new_issues=0, replies=0)

    cards = {t: [c["issue_uuid"] for c in feishu.for_hook(f"hook-{t}")] for t in TEAMS}
    issues_made = len(guance.issues)
    print(f"\nbusy hour: {len(guance.calls)} Guance calls, max {guance.calls_in_any_minute()} in "
          f"any minute (limit 20), {guance.rate_limited} rate-limit answers; "
          f"{issues_made} issues → {sum(map(len, cards.values()))} cards over {len(TEAMS)} "
          f"channels; {len(landed)} replies landed ({retried} answered 503 and retried); "
          f"{polls_waiting} poll runs left channels for the next minute")

    assert guance.rate_limited == 0
    assert guance.calls_in_any_minute() <= 20
    assert issues_made >= 120
    for team in TEAMS:  # every issue exactly once, to its own channel's group
        assert Counter(cards[team]) == Counter(expected[team]), team
        assert all(n == 1 for n in Counter(cards[team]).values()), team
    assert not to_send, f"{len(to_send)} replies never landed"
    assert reply_no >= 480 and len(landed) == reply_no
    for text, uuid in landed.items():
        assert guance.comments(uuid).count(text) == 1
    assert sum(len(v) for v in guance.replies.values()) == reply_no
    # the budget was actually stressed: replies beyond the polls' share had to wait or retry
    assert guance.calls_in_any_minute() >= 18
    rt.close()


# -- RateLimiter ----------------------------------------------------------------------------------

def max_in_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - seconds:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_limiter_never_grants_more_than_n_in_any_window():
    clock = FakeClock()
    limiter = RateLimiter([(5, 10.0)], clock)
    granted = []
    for _ in range(52):
        limiter.acquire(max_wait=60)  # sleeps (the fake clock moves) until a call is free
        granted.append(clock.now())
        clock.advance(random.Random(len(granted)).uniform(0, 1.5))
    assert max_in_window(granted, 10.0) == 5
    # and it does not wait needlessly: 52 calls at 5 per 10 s take about 100 s
    assert granted[-1] - granted[0] < 105


def test_limiter_with_two_rules():
    clock = FakeClock()
    limiter = RateLimiter([(5, 1.0), (20, 60.0)], clock)
    granted = []
    for _ in range(45):
        limiter.acquire(max_wait=120)
        granted.append(clock.now())
    assert max_in_window(granted, 1.0) <= 5
    assert max_in_window(granted, 60.0) == 20
    assert limiter.used(60.0) <= 20


def test_limiter_raises_when_the_wait_exceeds_patience():
    clock = FakeClock()
    limiter = RateLimiter([(3, 60.0)], clock)
    for _ in range(3):
        limiter.acquire()
    clock.advance(15)
    with pytest.raises(LimitExceeded) as err:
        limiter.acquire(max_wait=10)
    assert err.value.wait == pytest.approx(45)
    assert clock.now() == pytest.approx(1_767_225_615)  # it did not sleep in vain
    limiter.acquire(max_wait=50)
    assert clock.now() == pytest.approx(1_767_225_660)


def test_reserve_keeps_calls_free_for_priority_callers():
    clock = FakeClock()
    limiter = RateLimiter([(20, 61.0)], clock)
    background = 0
    while True:
        try:
            limiter.acquire(reserve=4)
        except LimitExceeded:
            break
        background += 1
    assert background == 16
    for _ in range(4):  # a user's replies still get through at once
        limiter.acquire(reserve=0)
    with pytest.raises(LimitExceeded):
        limiter.acquire(reserve=0)
    assert limiter.used(61.0) == 20
    with pytest.raises(LimitExceeded) as err:  # reserve >= limit: background never runs
        RateLimiter([(4, 60.0)], clock).acquire(reserve=4, max_wait=1000)
    assert err.value.wait == float("inf")


def test_block_stops_every_call_until_it_ends():
    clock = FakeClock()
    limiter = RateLimiter([(20, 60.0)], clock)
    limiter.acquire()
    limiter.block(30)
    with pytest.raises(LimitExceeded) as err:
        limiter.acquire(max_wait=5)
    assert err.value.wait == pytest.approx(30)
    clock.advance(10)
    with pytest.raises(LimitExceeded):
        limiter.acquire(reserve=0)
    limiter.block(5)  # a shorter block does not shorten the running one
    limiter.acquire(max_wait=25)
    assert clock.now() == pytest.approx(1_767_225_600 + 30)
    limiter.acquire()  # free again
