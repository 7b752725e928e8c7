"""deliver: send due outbox rows to their destinations (any platform), oldest issue first.

A row becomes `sent` only after the platform said yes. When a destination fails, its remaining rows wait
with it (same back-off), so cards still arrive in creation order once it recovers; other
destinations carry on. A row still failing after RELAY_DELIVERY_MAX_AGE_SECONDS becomes `dead`.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections import deque
from dataclasses import dataclass

from relay.pipeline.mute import Muted, active_mutes, hold_back
from relay.runtime import Runtime
from relay.store import outbox as store

log = logging.getLogger("relay.delivery")

BACKOFF_FIRST = 15.0
BACKOFF_MAX = 900.0
BATCH = 200
CLAIM_AT_ONCE = 4  # destinations a deliver run leases per pass
LOOK_EVERY = 5.0  # seconds between looks for newly due destinations within a run


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
    """Send the due rows of every destination this run can lease, oldest issue first.

    Replicas: a destination's rows are sent only under its lease `deliver:<name>`, claimed before
    its rows are read, so no row is sent by two replicas, a destination's cards keep their order
    and its platform's rate limit is kept by one process at a time.

    Send limits: a destination whose limiter says "not yet" is skipped until then (its later rows
    with it, so they keep their order) while the other destinations' cards go out; the run sleeps
    only when every destination it holds waits on its limiter, and then for the nearest one."""
    clock, engine = rt.clock, rt.engine
    started = clock.now()
    # destinations that are backing off, leased by another replica, or failed in this run
    held = store.backed_off_destinations(engine, int(clock.now()))
    owned: dict[str, float] = {}  # destination → when our lease on it runs out
    waiting: dict[str, float] = {}  # destination → when its send limit allows the next card
    queues: dict[str, deque[store.Delivery]] = {}  # rows read, not sent yet, oldest first
    # destinations whose due rows were all read and sent: not read again until a look at the
    # store finds due rows for them (each look costs a query over the pending rows, and a pass
    # comes every few cards while the send limits pace the run)
    drained: set[str] = set()
    look_at = 0.0  # when to look for destinations with due rows (and mutes) again
    muted: Muted = {}  # /mute from chat, read at each look
    try:
        while clock.now() - started < max_seconds and not rt.stopping.is_set():
            now = clock.now()
            waiting = {d: at for d, at in waiting.items() if at > now and d not in held}
            # a few destinations per pass, in random order, so replicas share the destinations
            # instead of the first one to look taking them all
            unclaimed = []
            if now >= look_at:
                due = store.due_destinations(engine, int(now))
                muted = active_mutes(rt)
                drained -= due
                unclaimed = list(due - held - owned.keys())
                look_at = now + (0.0 if len(unclaimed) > CLAIM_AT_ONCE else LOOK_EVERY)
            random.shuffle(unclaimed)
            claimed = 0
            for destination in unclaimed:
                if claimed == CLAIM_AT_ONCE:
                    break
                if rt.leases.claim(f"deliver:{destination}"):
                    owned[destination] = clock.now() + rt.leases.seconds
                    claimed += 1
                else:
                    held.add(destination)
            ready = [d for d in owned if d not in held and d not in waiting]
            if not ready and not waiting:
                return
            # rows read in an earlier pass are still ours (we hold the lease): read only for
            # destinations that have none
            fresh = [d for d in ready if not queues.get(d) and d not in drained]
            if fresh:
                read = store.due_deliveries(engine, int(clock.now()), BATCH, destinations=fresh)
                if len(read) < BATCH:  # all their due rows: once sent, nothing left to read
                    drained.update(fresh)
                for row in read:
                    queues.setdefault(row.destination, deque()).append(row)
            # the oldest card of the ready destinations next, each destination's in its order;
            # one that must wait (send limit), failed or lost its lease drops out of the pass
            heads = [_head(queues[d], d) for d in ready if queues.get(d)]
            heapq.heapify(heads)
            progressed = False
            while heads:
                destination = heapq.heappop(heads)[2]
                queue = queues[destination]
                if rt.stopping.is_set():  # a signal: the send before this one is marked; stop
                    return
                if not hold_back(rt, queue[0], muted):
                    limiter = rt.send_limits.get(destination)
                    wait = limiter.try_acquire() if limiter else 0.0
                    if wait > 0:  # not yet: this destination's later rows wait with it
                        waiting[destination] = clock.now() + wait
                        continue
                    if not _send(rt, queue[0], report, owned):
                        held.add(destination)  # failed, or the lease was lost to a replica
                        continue
                progressed = True
                queue.popleft()
                if queue:
                    heapq.heappush(heads, _head(queue, destination))
            if progressed or claimed:
                continue
            if not waiting:
                return
            pause = min(waiting.values()) - clock.now()
            if pause > max_seconds - (clock.now() - started):
                return  # the next scheduled run sends it
            clock.sleep(pause, rt.stopping)
    finally:
        for destination in owned:
            rt.leases.release(f"deliver:{destination}")


def _head(queue: deque[store.Delivery], destination: str) -> tuple[int, int, str]:
    """A destination's place in the pass: its oldest unsent card's."""
    return queue[0].issue_created_at, queue[0].id, destination


def _keep_lease(rt: Runtime, owned: dict[str, float], destination: str) -> bool:
    """Renew a destination's lease once half of it has passed; False if it is no longer ours."""
    now = rt.clock.now()
    if owned[destination] - now > rt.leases.seconds / 2:
        return True
    if not rt.leases.renew(f"deliver:{destination}"):
        return False
    owned[destination] = now + rt.leases.seconds
    return True


def _send(rt: Runtime, row: store.Delivery, report: DeliverReport,
          owned: dict[str, float]) -> bool:
    """Send one row (its send limit already granted); True when the platform took it, False when
    its destination must wait. The lease is checked right before the send: lost to another replica,
    that replica sends the row instead."""
    clock = rt.clock
    sink = rt.sinks.get(row.destination)
    if sink is None:
        _fail(rt, row, f"destination {row.destination!r} is not configured "
              "(RELAY_DESTINATIONS / RELAY_FEISHU_WEBHOOK_URL)", None, report)
        return False
    if not _keep_lease(rt, owned, row.destination):
        return False
    if row.attempts:
        rt.metrics.retries.inc()
    result = sink.send(row.card(), clock.now())
    if row.destination in rt.send_limits:
        rt.send_limits[row.destination].finished()
    if result.ok:
        now = clock.now()
        store.mark_sent(rt.engine, row.id, int(now), result.message_id)
        report.sent += 1
        rt.metrics.deliveries.labels("sent").inc()
        rt.metrics.latency.observe(max(now - row.issue_created_at, 0.0))
        log.info("delivered %s to %s", row.issue_uuid, row.destination,
                 extra={"channel": row.channel, "issue": row.issue_uuid,
                        "destination": row.destination})
        return True
    if result.retry_after:
        rt.send_limits[row.destination].block(result.retry_after)
    _fail(rt, row, result.error, result.retry_after, report)
    return False


def _fail(rt: Runtime, row: store.Delivery, error: str, retry_after: float | None,
          report: DeliverReport) -> None:
    now = int(rt.clock.now())
    error = rt.redact(error)
    dead = now - row.created_at >= rt.settings.delivery_max_age_seconds
    retry_at = now + int(backoff(row.attempts + 1, retry_after))
    store.mark_failed(rt.engine, row, error, retry_at, now, dead=dead)
    report.failed += 1
    report.dead += dead
    rt.metrics.deliveries.labels("dead" if dead else "failed").inc()
    outlook = " — now dead" if dead else f"; retry in {retry_at - now} s"
    log.warning("deliver %s to %s failed (attempt %d): %s%s", row.issue_uuid, row.destination,
                row.attempts + 1, error, outlook,
                extra={"channel": row.channel, "issue": row.issue_uuid,
                       "destination": row.destination})
