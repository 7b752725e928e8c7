"""A clock that runs faster than real time and agrees across processes.

The burst needs several Guance minutes (20 calls a minute, 100+ calls) but the benchmark must
finish in seconds; relay and the fakes run in separate processes, so they cannot share a FakeClock.
Both sides build a ScaledClock from the same (origin, speed): simulated time is
origin + (real time − origin) × speed, so they agree on "now" without talking to each other.
"""

from __future__ import annotations

import threading
import time

from relay.clock import Clock


class ScaledClock(Clock):
    def __init__(self, origin: float, speed: float) -> None:
        self.origin, self.speed = origin, speed

    def now(self) -> float:
        return self.origin + (time.time() - self.origin) * self.speed

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        if seconds > 0:
            (stop.wait if stop is not None else time.sleep)(seconds / self.speed)
