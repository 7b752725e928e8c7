"""Sliding-window call limits: the Guance per-key budget and the per-destination send limits.

One limiter counts every call it granted in each window (e.g. 20 per 60 s). A caller may be asked
to leave `reserve` calls of a window free. With a `kind`, the reserve is a floor for the other
kinds: the calls of that kind stay `reserve` below the limit whatever the others do, so replies
(kind REPLY) cannot take the calls polling needs and polling (kind BACKGROUND) cannot take the
calls replies need; either may use what the other leaves, up to the limit.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import deque

from relay.clock import Clock

REPLY, BACKGROUND = "reply", "background"  # the kinds of Guance calls that have floors
KINDS = (REPLY, BACKGROUND)


class LimitExceeded(Exception):
    """No call can be granted within the caller's patience; `wait` says when one could be."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"call limit reached; next call possible in {wait:.0f} s")
        self.wait = wait


class RateLimiter:
    def __init__(self, rules: list[tuple[int, float]], clock: Clock | None = None) -> None:
        """`rules`: (count, seconds) pairs, each meaning "at most count calls in any seconds"."""
        if not rules or any(count < 1 or seconds <= 0 for count, seconds in rules):
            raise ValueError("each rate rule needs count >= 1 and seconds > 0")
        self.rules = sorted(rules, key=lambda r: r[1])
        self.clock = clock or Clock()
        self._granted: deque[float] = deque()
        self._by_kind: dict[str, deque[float]] = {}  # the same grants, by kind
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def _wait_needed(self, now: float, reserve: int, kind: str = "") -> float:
        horizon = self.rules[-1][1]
        own = self._by_kind.setdefault(kind, deque()) if kind else self._granted
        for granted in (self._granted, own):
            while granted and granted[0] <= now - horizon:
                granted.popleft()
        wait = self._blocked_until - now
        for count, seconds in self.rules:
            # every call counts against the limit; a kind's own calls against limit − reserve
            for granted, allowed in ((self._granted, count), (own, count - reserve)):
                if allowed < 1:
                    return float("inf")
                # grants are appended in time order, so the recent ones are a suffix: count
                # them by bisection, not by a scan of every grant in the longest window
                recent = len(granted) - bisect_right(granted, now - seconds)
                if recent >= allowed:
                    wait = max(wait, granted[len(granted) - allowed] + seconds - now)
        return max(wait, 0.0)

    def acquire(self, reserve: int = 0, max_wait: float = 0.0, kind: str = "") -> None:
        """Take one call, sleeping up to `max_wait` seconds for it; else raise LimitExceeded."""
        waited = 0.0
        while True:
            wait = self._take(reserve, kind)
            if wait <= 0:
                return
            if waited + wait > max_wait:
                raise LimitExceeded(wait)
            self.clock.sleep(wait)
            waited += wait

    def try_acquire(self, reserve: int = 0, kind: str = "") -> float:
        """Take one call if it can be granted now (returns 0), else return the seconds until one
        could be, without sleeping: a caller serving several limiters waits only on the nearest."""
        return self._take(reserve, kind)

    def _take(self, reserve: int, kind: str = "") -> float:
        """Grant one call now (returns 0) or say how long until one could be granted."""
        with self._lock:
            now = self.clock.now()
            wait = self._wait_needed(now, reserve, kind)
            if wait <= 0:
                self._granted.append(now)
                if kind:
                    self._by_kind[kind].append(now)
            return wait

    def finished(self) -> None:
        """The call granted last is over: count it from now, not from its grant. The peer
        counts a call when it arrives, somewhere in between; counted from its end, a call slowed
        on its way (a busy machine) cannot land the next ones too close after it."""
        with self._lock:
            if self._granted:
                self._granted[-1] = max(self._granted[-1], self.clock.now())

    def block(self, seconds: float) -> None:
        """The peer said "too many": grant nothing for `seconds`."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self.clock.now() + seconds)

    def used(self, seconds: float) -> int:
        """Calls granted in the last `seconds` (for logs and tests)."""
        with self._lock:
            now = self.clock.now()
            return sum(1 for t in self._granted if t > now - seconds)
