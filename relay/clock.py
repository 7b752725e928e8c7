"""Time as a dependency, so a simulated hour of polling runs in a second of tests."""

from __future__ import annotations

import threading
import time


class Clock:
    """The real wall clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Sleep `seconds`, or until `stop` is set (a signal asked the process to stop)."""
        if seconds > 0:
            if stop is not None:
                stop.wait(seconds)
            else:
                time.sleep(seconds)


class FakeClock(Clock):
    """A clock that only moves when told to; `sleep` advances it instead of blocking."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01 00:00 UTC
        self._t = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        self.advance(max(seconds, 0.0))

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds
