"""track_issues: keep each relayed issue's last known state, and queue what the chats should
learn when it changes (claimed, resolved, closed, reopened), through the outbox like a card.

Guance does not document which timestamp issue/list's window filters on, so the tracker works
either way. It walks the `default` channel's issue list over the whole follow window (oldest
followed issue to now), one page (100 issues) per call, at most RELAY_FOLLOW_CALLS calls a run,
continuing next run where it stopped: every followed issue is seen once per walk, whatever the
window means (500 followed issues: 5 calls, two runs; 5,000: 50 calls, 17 runs). Once a walk it
also reads the window since its last run: if Guance answers with an issue created before that
window, the window filters on updateAt, and from then on that one call a run finds every change
within a minute, however many issues are followed. The calls leave RELAY_FOLLOW_SPARE calls of the
minute (plus the replies' reserve) untouched and never wait, so new-issue polling is never delayed
by tracking.

Each change is recorded, and who is told decided, by relay/incidents/changes.py, the one place
a chat action's change is recorded too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from relay.guance import PAGE_SIZE, GuanceBudgetExhausted, GuanceError, managers_of
from relay.incidents.changes import int_or_none, record_change
from relay.payloads import DigestStatus
from relay.platforms.status_texts import FINAL, transition
from relay.store import issue_states as store
from relay.store import outbox

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.follow")

SWEEP = "default"
RECENT_OVERLAP = 120  # seconds the read of recent changes reaches back before the last one
DIGEST_FOLLOW_AFTER = 3600  # a storm digest is followed up once: all final, or an hour on


@dataclass
class FollowReport:
    tracked: int = 0
    calls: int = 0
    seen: int = 0
    changes: int = 0
    queued: int = 0
    walked: bool = False  # a whole walk of the list ended in this run
    waiting: bool = False  # the budget had no call to spare
    total: int | None = None  # the last page's totalCount
    max_calls: int = 0  # Guance calls this run may make


def track_issues(rt: Runtime, max_calls: int | None = None) -> FollowReport:
    report = FollowReport()
    s = rt.settings
    now = int(rt.clock.now())
    since = now - s.follow_days * 86_400
    store.start_tracking(rt.engine, store.carded_issues(rt.engine, since), now)
    report.tracked = store.tracked_count(rt.engine, since)
    if report.tracked:
        _walk(rt, report, max_calls or s.follow_calls, since, now)
    report.queued += follow_digests(rt, since, now)
    if report.changes or report.queued:
        log.info("track_issues: %d followed, %d call(s), %d change(s), %d message(s) queued",
                 report.tracked, report.calls, report.changes, report.queued)
    return report


def _walk(rt: Runtime, report: FollowReport, max_calls: int, since: int, now: int) -> None:
    oldest = store.oldest_tracked(rt.engine, since) or since
    position = store.sweep(rt.engine, SWEEP, now)
    try:
        channel = next((c.uuid for c in rt.guance.channels() if c.name == "default"), None)
    except GuanceBudgetExhausted:
        report.waiting = True
        return
    except GuanceError as exc:
        log.error("track_issues: could not list Guance channels: %s", rt.redact(str(exc)))
        return
    if channel is None:
        log.error("track_issues: Guance has no `default` channel; nothing to follow")
        return
    report.max_calls = max_calls
    # The read of recent changes: every run once Guance's window is known to filter on
    # updateAt, else once a walk, as a probe (an answer holding an issue created before the
    # window proves it). Under createAt it only costs that one call a walk.
    if position.recent_at is not None and (position.window_on_update or position.page == 1):
        start = position.recent_at - RECENT_OVERLAP
        items = _page(rt, report, channel, start, now, 1)
        if items is None:
            store.save_sweep(rt.engine, position)
            return
        observe(rt, items, now, report)
        if any((int_or_none(o.get("createAt")) or start) < start for o in items):
            position.window_on_update = True
        position.recent_at = now
    elif position.recent_at is None:
        position.recent_at = now  # until the first probe, its window grows from here
    while report.calls < report.max_calls:  # a change's detail call counts too
        items = _page(rt, report, channel, oldest, now, position.page)
        if items is None:
            break
        observe(rt, items, now, report)
        received = (position.page - 1) * PAGE_SIZE + len(items)
        if not items or (received >= report.total if report.total is not None
                         else len(items) < PAGE_SIZE):
            position.page, position.started_at, report.walked = 1, now, True
            break  # everything was seen: the next walk starts next run
        position.page += 1
    store.save_sweep(rt.engine, position)


def _page(rt: Runtime, report: FollowReport, channel: str, start: int, end: int,
          page: int) -> list[dict[str, Any]] | None:
    """One page of the issue list within the spare budget; None when no call could be made."""
    try:
        items, report.total = rt.guance.issue_page(channel, start, end, page,
                                                   spare=rt.settings.follow_spare)
    except GuanceBudgetExhausted:
        report.waiting = True  # polling and replies come first: the walk goes on next run
        return None
    except GuanceError as exc:
        log.error("track_issues: %s (the walk resumes next run)", rt.redact(str(exc)))
        return None
    report.calls += 1
    report.seen += len(items)
    return items


def observe(rt: Runtime, items: list[dict[str, Any]], now: int, report: FollowReport) -> None:
    """Compare Guance's issue objects with the stored states; record and queue each change
    (counted in the report)."""
    known = store.states(rt.engine, [str(o["uuid"]) for o in items])
    unchanged = []
    for obj in items:
        old = known.get(str(obj["uuid"]))
        status = int_or_none(obj.get("statusType"))
        if old is None or status is None:
            continue
        managers = managers_of(obj)
        name = transition(old.status_type, status, set(managers) != set(old.managers or []))
        if name is None:
            unchanged.append(old.issue_uuid)
        else:
            queued = record_change(rt, old, _detailed(rt, report, obj, managers), status,
                                   managers, name, now)
            if queued is not None:
                report.changes += 1
                report.queued += queued
    store.mark_seen(rt.engine, unchanged, now)


def _detailed(rt: Runtime, report: FollowReport, obj: dict[str, Any],
               managers: list[str]) -> dict[str, Any]:
    """The changed issue with Guance's managerInfos (names and emails of its managers, which
    the list lacks), when this run has a call left; else as listed (managers by UUID)."""
    if not managers or obj.get("managerInfos") or report.calls >= report.max_calls:
        return obj
    try:
        detail = rt.guance.issue(str(obj["uuid"]), spare=rt.settings.follow_spare)
    except GuanceError:
        return obj  # the change is told all the same, its managers by UUID
    report.calls += 1
    return dict(obj, managerInfos=detail.get("managerInfos") or [])


def follow_digests(rt: Runtime, since: int, now: int) -> int:
    """One follow-up per storm digest ("7 of 12 resolved"): when all its issues are resolved or
    closed, or an hour after the digest when some are. Never one message per issue."""
    if not rt.settings.announced & {"resolved", "closed"}:
        return 0
    digests = [(row, row.card()) for row in store.digests_since(rt.engine, since)]
    done = store.keys_present(rt.engine, [DigestStatus.key_for(d.uuid) for _, d in digests])
    queued = 0
    for row, digest in digests:
        if DigestStatus.key_for(digest.uuid) in done or not digest.issues:
            continue
        known = store.states(rt.engine, digest.issues)
        resolved = sum(1 for s in known.values() if s.status_type == FINAL[0])
        closed = sum(1 for s in known.values() if s.status_type == FINAL[1])
        sent_at = row.sent_at or row.created_at
        total = len(digest.issues)
        if not resolved + closed or (resolved + closed < total
                                     and now - sent_at < DIGEST_FOLLOW_AFTER):
            continue
        follow_up = DigestStatus(**dict(
            digest.stored(), total=total, resolved=resolved, closed=closed,
            message_id=row.message_id, status=f"{resolved + closed}/{total}"))
        queued += store.queue_once(rt.engine, outbox.row(follow_up, row.destination, now,
                                                         row.channel), now)
    return queued
