"""A destination's send limit counts each card from when its send ended: Feishu counts a card on
arrival, which may come as late as its answer, so counted from the grant a send slowed on a busy
machine let the next cards land inside Feishu's window (code 11232)."""

from __future__ import annotations

import pytest

from relay.clock import FakeClock
from relay.ratelimit import RateLimiter


def test_a_slow_send_keeps_counting_until_it_ended():
    """5 a second: the first card's send took 0.9 s, so at 1.0 s after its grant five cards are
    still inside Feishu's last second; the sixth waits until 1.9 s."""
    clock = FakeClock()
    limiter = RateLimiter([(5, 1.0)], clock)
    first = clock.now()
    for send_took in (0.9, 0.01, 0.01, 0.01, 0.01):
        assert limiter.try_acquire() == 0
        clock.advance(send_took)
        limiter.finished()
    clock.advance(first + 1.0 - clock.now())
    assert limiter.try_acquire() == pytest.approx(0.9)


def test_deliver_lands_no_card_inside_feishus_second_when_the_first_send_was_slow(
        make_runtime, guance, feishu, clock):
    from relay.pipeline.deliver import deliver
    from relay.pipeline.poll import poll
    from tests.helpers import card_uuids

    feishu.limits = [(5, 1.0)]  # Feishu's documented per-bot second
    rt = make_runtime(storm_threshold=1000)
    poll(rt)
    issues = [guance.add_issue(f"alert {i}", created_at=clock.now() + 1 + i) for i in range(8)]
    clock.advance(60)
    poll(rt)
    sink = rt.sinks["default"]
    real_send, delays = sink.send, iter([0.9])

    def slow_on_the_way(payload, now):  # the first card reaches Feishu 0.9 s after its grant
        clock.advance(next(delays, 0.0))
        return real_send(payload, now)

    sink.send = slow_on_the_way
    deliver(rt)
    assert feishu.too_frequent == 0
    assert card_uuids(feishu) == issues
