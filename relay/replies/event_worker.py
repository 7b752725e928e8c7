"""The worker that acts on stored chat events (Feishu events, DingTalk Stream frames): one
thread in the web process, woken by each new event, that claims each due row of the events
table (relay/store/events.py) just before acting on it, so a replica or a restart never acts
twice; a row a crashed worker left half-done is taken up again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from relay.store import events as event_store

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.chat")

IDLE_SECONDS = 5.0  # the worker looks for due events at least this often


class EventWorker:
    """Works the rows of `types` with `handle(rt, row)`, which records the outcome."""

    def __init__(self, rt: Runtime, handle: Callable[[Runtime, event_store.FeishuEvent], None],
                 types: Sequence[str], name: str, platform: str = "") -> None:
        self.rt, self.handle, self.types = rt, handle, tuple(types)
        self.platform = platform  # set: each event acted on is counted in relay_connection_events
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> "EventWorker":
        self.thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_due()
            except Exception:
                log.exception("%s: unexpected error; carrying on", self.thread.name)
            self._wake.wait(IDLE_SECONDS)

    def run_due(self) -> int:
        """Work every event that is due (pending ones first left by a crash too); how many."""
        done = 0
        while not self._stop.is_set():
            rows = event_store.due_events(self.rt.engine, int(self.rt.clock.now()),
                                         types=self.types)
            claimed = 0
            for row in rows:
                # claimed one at a time, just before acting: a claim held while earlier events
                # are worked could look stale to another replica, which would act twice
                if not event_store.claim_event(self.rt.engine, row, int(self.rt.clock.now())):
                    continue
                claimed += 1
                row.attempts += 1
                self.handle(self.rt, row)
                done += 1
                if self.platform:
                    self.rt.metrics.connection_events.labels(self.platform, "acted").inc()
            if not claimed:  # nothing due, or all of it taken by another replica
                return done
        return done
