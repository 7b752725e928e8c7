"""poll: fetch each watched channel's new issues into the outbox and move its cursor.

Each channel is read from (cursor − overlap) to now, so a late or skipped run catches up and an
issue Guance indexes a little late is still seen; the outbox's unique key drops the re-reads. A
failed read leaves the cursor where it was: the next run reads the same span again. What a read
got before the call budget (or Guance) stopped it part-way is recorded, and the next run goes on
from the page where it stopped, in the same window (so a backlog drains a budget's worth of pages
a run); newer issues wait for the next window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from relay.guance import MAX_PAGES, Channel, GuanceBudgetExhausted, GuanceError, Issue, IssuePage
from relay.i18n import Text
from relay.payloads import IssueCard, StormDigest, load
from relay.pipeline.digest import storm_digest
from relay.pipeline.mute import active_mutes, holds
from relay.platforms.base import MAX_STORED_MESSAGE, MAX_STORED_TITLE, bounded
from relay.runtime import Runtime
from relay.store import outbox as store
from relay.store import channel_errors

log = logging.getLogger("relay.poller")


@dataclass
class PollReport:
    polled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # not reached: call budget used up
    busy: list[str] = field(default_factory=list)  # another replica polls / just polled them
    issues_seen: int = 0
    new_rows: int = 0


def resolve_channels(rt: Runtime) -> list[tuple[Channel, list[str]]]:
    """Routing keys (channel names or chan_ UUIDs) → Guance channels with their destinations."""
    keys = list(rt.routing)
    by_key: dict[str, Channel] = {k: Channel(k, k) for k in keys if k.startswith("chan_")}
    names = [k for k in keys if k not in by_key]
    missing: list[str] = []
    if names:  # some are names: look them up (the list is cached)
        now = int(rt.clock.now())
        try:
            channels = rt.guance.channels()
        except GuanceBudgetExhausted:
            raise
        except GuanceError as exc:  # /healthz shows it on each channel it hides
            channel_errors.record(rt.engine, names, "could not list Guance channels: "
                         + rt.redact(str(exc))[:500], now)
            raise
        for key in names:
            match = next((c for c in channels if key in (c.uuid, c.name)), None)
            if match:
                by_key[key] = match
            else:
                missing.append(key)
                log.error("channel %r is not in this Guance workspace (check RELAY_CHANNELS / "
                          "RELAY_ROUTES)", key)
        if missing:
            channel_errors.record(rt.engine, missing, "not in this Guance workspace (check "
                         "RELAY_CHANNELS / RELAY_ROUTES)", now)
    channel_errors.clear(rt.engine, [k for k in keys if k not in missing])
    return [(by_key[k], rt.routing[k]) for k in keys if k in by_key]


def poll(rt: Runtime, since: int | None = None) -> PollReport:
    """Poll every watched channel, least recently polled first, within the call budget."""
    report = PollReport()
    try:
        targets = resolve_channels(rt)
    except GuanceBudgetExhausted as exc:  # a wait, not a failure: the next run lists them
        log.warning("poll: %s; the channel list waits for the next run", exc)
        rt.metrics.polls.labels("waiting").inc()
        report.waiting.append("*")
        return report
    except GuanceError as exc:
        log.error("poll: could not list Guance channels: %s (next run retries)",
                  rt.redact(str(exc)))
        rt.metrics.polls.labels("failed").inc()
        report.failed.append("*")
        return report
    before = store.cursors(rt.engine)  # (cursor, last successful poll, part-way?) by UUID
    targets.sort(key=lambda t: _order(before.get(t[0].uuid)))
    for index, (channel, destinations) in enumerate(targets):
        if rt.stopping.is_set():  # a signal: what was read is recorded; the rest waits
            report.waiting = [c.name for c, _ in targets[index:]]
            break
        # Replicas: the lease keeps two from polling one channel at once; a channel another
        # replica polled since this run began is done (polling it again would only spend calls).
        lease = f"poll:{channel.uuid}"
        if not rt.leases.claim(lease):
            report.busy.append(channel.name)
            continue
        try:
            cursor, last_success, window = store.cursor_state(rt.engine, channel.uuid)
            if since is None and last_success != before.get(channel.uuid, (None, None, False))[1]:
                report.busy.append(channel.name)
                continue
            seen, new, stopped = poll_channel(rt, channel, destinations, cursor, since, window)
            rt.metrics.issues_seen.inc(seen)
            report.issues_seen += seen
            report.new_rows += new
            if stopped is not None:
                raise stopped
        except GuanceBudgetExhausted as exc:
            report.waiting = [c.name for c, _ in targets[index:]]
            rt.metrics.polls.labels("waiting").inc(len(report.waiting))
            log.warning("poll: %s; %d channel(s) wait for the next run", exc, len(report.waiting))
            break
        except GuanceError as exc:
            log.error("poll %s: %s (the next run goes on from where this read stopped)",
                      channel.name, rt.redact(str(exc)), extra={"channel": channel.name})
            store.record_poll_error(rt.engine, channel.uuid, str(exc)[:500], int(rt.clock.now()))
            rt.metrics.polls.labels("failed").inc()
            report.failed.append(channel.name)
            continue
        finally:
            rt.leases.release(lease)
        rt.metrics.polls.labels("ok").inc()
        report.polled.append(channel.name)
    return report


def _order(state: tuple[int, int | None, bool] | None) -> tuple[int, bool, int]:
    """Least recently polled first: a storm's unread channels before re-reads of the ones read
    (the cursor alone ties for the first overlap after the first run). A read left part-way
    (a backlog bigger than a run's calls; each page read counts as a poll) takes its turn like
    any channel, so one storm never holds the others back; of channels polled at the same
    moment, it goes first."""
    cursor, last_success, part_way = state or (0, None, False)
    return last_success or 0, not part_way, cursor


def next_window(rt: Runtime, channel: Channel, cursor: int | None, since: int | None,
                now: int) -> store.Window:
    """The span the next read covers: from `since`, else from cursor − overlap (at most
    RELAY_MAX_CATCHUP_SECONDS back), to now."""
    if since is not None:
        return store.Window(since, now)
    if cursor is None:
        return store.Window(now, now)  # the first run ever starts from now
    start = cursor - rt.settings.overlap_seconds
    floor = now - rt.settings.max_catchup_seconds
    if start < floor:
        log.warning("poll %s: catching up %d s is more than RELAY_MAX_CATCHUP_SECONDS; "
                    "issues created before that are skipped", channel.name, now - start,
                    extra={"channel": channel.name})
        start = floor
    return store.Window(start, now)


def poll_channel(rt: Runtime, channel: Channel, destinations: list[str], cursor: int | None,
                 since: int | None, window: store.Window | None = None
                 ) -> tuple[int, int, GuanceError | None]:
    """Read one channel's window (or go on with the one a read left part-way) and record what
    was read, also when the budget or Guance stopped the read: the next run goes on from the
    page where it stopped. Returns (issues seen, new outbox rows, what stopped the read)."""
    settings = rt.settings
    now = int(rt.clock.now())
    if since is not None and window is not None:
        since = min(since, window.start)  # a backfill still reads the pages a read left
    if since is not None or window is None:
        window = next_window(rt, channel, cursor, since, now)
    first_run = cursor is None and since is None
    # the first run ever only starts the cursor; later reads include `now` itself (a read may
    # come within the second the first one ran)
    issues: list[Issue] = []
    left, stopped = None, None
    if not first_run and window.start <= window.end:
        left, stopped = read_window(rt, channel, window, issues)
        if stopped is not None and left == window:
            return 0, 0, stopped  # nothing read: nothing to record
    recorded = rt.recent_issues.get(channel.uuid, {})  # re-reads: their rows exist already
    rows = [store.row(payload, destination, issue.create_at or now)
            for issue in issues if not issue.deleted and (issue.create_at or now) >= window.start
            and issue.uuid not in recorded
            for payload in (stored_payload(issue, channel, rt.text),)  # once an issue
            for destination in destinations]
    # The next read starts at cursor − overlap. On the first run ever that must not reach back
    # before now (issues created before relay started watching are not sent), so the cursor is
    # put `overlap` ahead and moves again only once now passes it. A read left part-way keeps
    # the cursor: the window's end becomes the cursor once the last page is read.
    if first_run:
        next_cursor = now + settings.overlap_seconds
    elif left is not None:
        next_cursor = cursor if cursor is not None else window.end
    else:
        next_cursor = max(window.end, cursor or window.end)
    muted = active_mutes(rt)  # a storm digest leaves out the cards a mute holds

    def digest(new_rows: list[dict]) -> StormDigest | None:
        return storm_digest([r for r in new_rows if not holds(
            muted, load(r["kind"], r["payload"]), r["destination"], now)], channel, now,
            settings.storm_threshold, settings.storm_titles, rt.text)

    new = store.record_poll(rt.engine, channel.uuid, channel.name, next_cursor, now, rows,
                            digest=digest, window=left)
    remember_recorded(rt, channel, rows, window.start)
    if new or left:
        log.info("poll %s: %d issue(s) read, %d new deliveries queued%s", channel.name,
                 len(issues), new, f"; the next run goes on from page {left.page}" if left else "",
                 extra={"channel": channel.name})
    return len(issues), new, stopped


def stored_payload(issue: Issue, channel: Channel, text: Text) -> IssueCard:
    """The issue's card, its text no longer than any sink can send (cut with the sinks'
    truncation marker), so storage is bounded whatever Guance lists."""
    return IssueCard(**dict(issue.as_dict(), channel=channel.name,
                            title=bounded(issue.title, MAX_STORED_TITLE, text),
                            message=bounded(issue.message, MAX_STORED_MESSAGE, text),
                            source=issue.source[:MAX_STORED_TITLE]))


def read_window(rt: Runtime, channel: Channel, window: store.Window, issues: list[Issue]
                ) -> tuple[store.Window | None, GuanceError | None]:
    """Read the window's pages from `window.page` into `issues` (at most MAX_PAGES this run).
    Returns where the next run goes on (None: the last page was read) and what stopped the read
    (None: nothing did). A malformed issue is skipped with one warning (and counted), so it
    cannot stop its page, its channel or the others."""
    left = window
    try:
        for page in rt.guance.issue_pages(channel.uuid, window.start, window.end,
                                          window.page, window.received):
            issues += page.issues
            for uuid, reason in page.malformed:
                rt.metrics.issues_malformed.inc()
                log.warning("poll %s: issue %s skipped, it is malformed: %s", channel.name,
                            rt.redact(uuid), reason, extra={"channel": channel.name, "issue": uuid})
            if page.last:  # every page of the window read: the count shortcut may trust it
                rt.full_reads[channel.uuid] = rt.clock.now()
            done = page.last or rest_recorded(rt, channel, window, page)
            left = None if done else replace(left, page=page.number + 1, received=page.received)
            if done:
                break
            if left is not None and rt.stopping.is_set():
                return left, None  # a signal: record what was read, go on next run
    except GuanceError as exc:
        return left, exc
    if left is not None:
        log.warning("poll %s: %d pages read; the next run goes on from page %d",
                    channel.name, MAX_PAGES, left.page, extra={"channel": channel.name})
    return left, None


def rest_recorded(rt: Runtime, channel: Channel, window: store.Window, page: IssuePage) -> bool:
    """After the first page of a window: are the other pages only issues this process recorded?

    Most of a window is the overlap, re-read for issues Guance indexes late, so in a storm most
    pages list issues recorded a minute ago. Without relying on the list's order (undocumented):
    the first page's totalCount, less that page, is the rest; when it equals the recorded issues
    of the window not on that page, the rest is exactly those (an unseen issue would make it
    larger), so it is not read. Any other count (an unseen issue, a deleted or moved one, an
    issue recorded by another replica) reads every page, as before. A deleted issue and a late
    one could balance the count, so the shortcut is taken only within half the overlap of a
    read of every page: an issue stays in the window for the whole overlap, so such a read
    sees it."""
    full_read = rt.full_reads.get(channel.uuid)
    if (window.page != 1 or page.number != 1 or page.total is None or full_read is None
            or rt.clock.now() - full_read > rt.settings.overlap_seconds / 2):
        return False
    recorded = rt.recent_issues.get(channel.uuid, {})
    on_page = {issue.uuid for issue in page.issues}
    elsewhere = sum(1 for uuid, at in recorded.items()
                    if window.start <= at <= window.end and uuid not in on_page)
    return page.total - page.received == elsewhere


def remember_recorded(rt: Runtime, channel: Channel, rows: list[dict], start: int) -> None:
    """Note the issues this poll recorded (committed) with their creation time, for
    read_window's count; forget those created before this read's start (the next read starts
    no earlier), so the memory holds one window."""
    recorded = rt.recent_issues.setdefault(channel.uuid, {})
    for uuid in [u for u, at in recorded.items() if at < start]:
        del recorded[uuid]
    for row in rows:
        recorded[row["issue_uuid"]] = row["issue_created_at"]
