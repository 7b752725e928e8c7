"""deliver: send due outbox rows to their Feishu destinations, oldest issue first.

A row becomes `sent` only after Feishu said yes. When a destination fails, its remaining rows wait
with it (same back-off), so cards still arrive in creation order once it recovers; other
destinations carry on. A row still failing after RELAY_DELIVERY_MAX_AGE_SECONDS becomes `dead`.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from relay import store
from relay.ratelimit import LimitExceeded
from relay.runtime import Runtime

log = logging.getLogger(__name__)

BACKOFF_FIRST = 15.0
BACKOFF_MAX = 900.0
BATCH = 200


@dataclass
class DeliverReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    busy: bool = False  # another deliver run held the lock


def backoff(attempts: int, retry_after: float | None) -> float:
    """Seconds before the next try: the peer's Retry-After, else exponential with full jitter."""
    if retry_after is not None:
        return min(max(retry_after, 1.0), 3600.0)
    ceiling = min(BACKOFF_FIRST * 2 ** (attempts - 1), BACKOFF_MAX)
    return random.uniform(ceiling / 2, ceiling)


def deliver(rt: Runtime, max_seconds: float = 50.0) -> DeliverReport:
    """Send what is due, for at most about `max_seconds` (the next scheduled run goes on)."""
    report = DeliverReport()
    if not rt.deliver_lock.acquire(blocking=False):
        report.busy = True
        return report
    try:
        _deliver(rt, max_seconds, report)
    finally:
        rt.deliver_lock.release()
    if report.sent or report.failed:
        log.info("deliver: %d sent, %d failed, %d dead", report.sent, report.failed, report.dead)
    return report


def _deliver(rt: Runtime, max_seconds: float, report: DeliverReport) -> None:
    clock, engine = rt.clock, rt.engine
    started = clock.now()
    # destinations that are backing off, or failed or hit their rate limit in this run
    held = store.backed_off_destinations(engine, int(clock.now()))
    while True:
        rows = store.due_deliveries(engine, int(clock.now()), BATCH)
        progressed = False
        for row in rows:
            if row.destination in held:
                continue
            sink = rt.sinks.get(row.destination)
            if sink is None:
                _fail(rt, row, f"destination {row.destination!r} is not configured "
                      "(RELAY_DESTINATIONS / RELAY_FEISHU_WEBHOOK_URL)", None, report)
                held.add(row.destination)
                continue
            try:
                rt.send_limits[row.destination].acquire(
                    max_wait=max(max_seconds - (clock.now() - started), 0.0))
            except LimitExceeded:
                held.add(row.destination)
                continue
            result = sink.send(row.payload, clock.now())
            if result.ok:
                store.mark_sent(engine, row.id, int(clock.now()), result.message_id)
                report.sent += 1
                progressed = True
                continue
            if result.retry_after:
                rt.send_limits[row.destination].block(result.retry_after)
            _fail(rt, row, result.error, result.retry_after, report)
            held.add(row.destination)
        if not progressed or len(rows) < BATCH:
            return


def _fail(rt: Runtime, row: store.Delivery, error: str, retry_after: float | None,
          report: DeliverReport) -> None:
    now = int(rt.clock.now())
    error = rt.redact(error)
    dead = now - row.created_at >= rt.settings.delivery_max_age_seconds
    retry_at = now + int(backoff(row.attempts + 1, retry_after))
    store.mark_failed(rt.engine, row, error, retry_at, now, dead=dead)
    report.failed += 1
    report.dead += dead
    log.warning("deliver %s to %s failed (attempt %d): %s%s", row.issue_uuid, row.destination,
                row.attempts + 1, error, " — now dead" if dead else f"; retry in {retry_at - now} s")
