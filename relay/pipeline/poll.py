"""poll: fetch each watched channel's new issues into the outbox and move its cursor.

Each channel is read from (cursor − overlap) to now, so a late or skipped run catches up and an
issue Guance indexes a little late is still seen; the outbox's unique key drops the re-reads. A
failed read leaves the cursor where it was: the next run reads the same span again.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field

from relay.guance import PAGE_SIZE, Channel, GuanceBudgetExhausted, GuanceError, Issue
from relay.runtime import Runtime
from relay.store import outbox as store

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
    if len(by_key) < len(keys):  # some are names: look them up (the list is cached)
        channels = rt.guance.channels()
        for key in keys:
            match = next((c for c in channels if key in (c.uuid, c.name)), None)
            if match:
                by_key[key] = match
            elif key not in by_key:
                log.error("channel %r is not in this Guance workspace (check RELAY_CHANNELS / "
                          "RELAY_ROUTES)", key)
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
        log.error("poll: could not list Guance channels: %s (next run retries)", exc)
        rt.metrics.polls.labels("failed").inc()
        report.failed.append("*")
        return report
    before = store.cursors(rt.engine)  # (cursor, last successful poll) by channel UUID
    # by the last successful poll (the cursor alone ties for the first overlap after the first
    # run: a storm's unread channels then waited behind re-reads of the ones listed first)
    targets.sort(key=lambda t: (before.get(t[0].uuid, (0, None))[1] or 0,
                                before.get(t[0].uuid, (0, None))[0]))
    for index, (channel, destinations) in enumerate(targets):
        # Replicas: the lease keeps two from polling one channel at once; a channel another
        # replica polled since this run began is done (polling it again would only spend calls).
        lease = f"poll:{channel.uuid}"
        if not rt.leases.claim(lease):
            report.busy.append(channel.name)
            continue
        try:
            cursor, last_success = store.cursor_state(rt.engine, channel.uuid)
            if since is None and last_success != before.get(channel.uuid, (None, None))[1]:
                report.busy.append(channel.name)
                continue
            seen, new = poll_channel(rt, channel, destinations, cursor, since)
        except GuanceBudgetExhausted as exc:
            report.waiting = [c.name for c, _ in targets[index:]]
            rt.metrics.polls.labels("waiting").inc(len(report.waiting))
            log.warning("poll: %s; %d channel(s) wait for the next run", exc, len(report.waiting))
            break
        except GuanceError as exc:
            log.error("poll %s: %s (cursor kept; the next run reads this span again)",
                      channel.name, rt.redact(str(exc)), extra={"channel": channel.name})
            store.record_poll_error(rt.engine, channel.uuid, str(exc)[:500], int(rt.clock.now()))
            rt.metrics.polls.labels("failed").inc()
            report.failed.append(channel.name)
            continue
        finally:
            rt.leases.release(lease)
        rt.metrics.polls.labels("ok").inc()
        rt.metrics.issues_seen.inc(seen)
        report.polled.append(channel.name)
        report.issues_seen += seen
        report.new_rows += new
    return report


def poll_channel(rt: Runtime, channel: Channel, destinations: list[str], cursor: int | None,
                 since: int | None) -> tuple[int, int]:
    """Read one channel's window and record it. Returns (issues seen, new outbox rows)."""
    settings = rt.settings
    now = int(rt.clock.now())
    if since is not None:
        start = since
    elif cursor is None:
        start = now  # the first run ever starts from now
    else:
        start = cursor - settings.overlap_seconds
        floor = now - settings.max_catchup_seconds
        if start < floor:
            log.warning("poll %s: catching up %d s is more than RELAY_MAX_CATCHUP_SECONDS; "
                        "issues created before that are skipped", channel.name, now - start,
                        extra={"channel": channel.name})
            start = floor
    first_run = cursor is None and since is None
    # the first run ever only starts the cursor; later reads include `now` itself (a read may
    # come within the second the first one ran)
    issues = [] if first_run or start > now else read_window(rt, channel, start, now)
    recorded = rt.recent_issues.get(channel.uuid, {})  # re-reads: their rows exist already
    rows = [{"issue_uuid": issue.uuid, "destination": destination,
             "issue_created_at": issue.create_at or now,
             "payload": dict(issue.as_dict(), channel=channel.name)}
            for issue in issues if not issue.deleted and (issue.create_at or now) >= start
            and issue.uuid not in recorded for destination in destinations]
    # The next read starts at cursor − overlap. On the first run ever that must not reach back
    # before now (issues created before relay started watching are not sent), so the cursor is
    # put `overlap` ahead and moves again only once now passes it.
    if first_run:
        next_cursor = now + settings.overlap_seconds
    else:
        next_cursor = max(now, cursor or now)
    new = store.record_poll(rt.engine, channel.uuid, channel.name, next_cursor, now, rows,
                            digest=lambda new_rows: storm_digest(
                                new_rows, channel, now, settings.storm_threshold,
                                settings.storm_titles))
    remember_recorded(rt, channel, rows, start)
    if new:
        log.info("poll %s: %d issue(s) read, %d new deliveries queued", channel.name,
                 len(issues), new, extra={"channel": channel.name})
    return len(issues), new


def read_window(rt: Runtime, channel: Channel, start: int, end: int) -> list[Issue]:
    """The channel's issues in [start, end]; the pages after the first only when they can hold
    an issue this process has not recorded.

    Most of a window is the overlap, re-read for issues Guance indexes late, so in a storm most
    pages list issues recorded a minute ago. Without relying on the list's order (undocumented):
    the first page's totalCount, less that page, is the rest; when it equals the recorded issues
    of the window not on that page, the rest is exactly those (an unseen issue would make it
    larger), so it is not read. Any other count (an unseen issue, a deleted or moved one, an
    issue recorded by another replica) reads every page, as before."""
    first, items, total = rt.guance.issue_page(channel.uuid, start, end)
    if not items or (items >= total if total is not None else items < PAGE_SIZE):
        return first
    if total is not None:
        recorded = rt.recent_issues.get(channel.uuid, {})
        on_page = {issue.uuid for issue in first}
        elsewhere = sum(1 for uuid, at in recorded.items()
                        if start <= at <= end and uuid not in on_page)
        if total - items == elsewhere:
            return first
    return rt.guance.issues(channel.uuid, start, end, first_page=2, found=first, received=items)


def remember_recorded(rt: Runtime, channel: Channel, rows: list[dict], start: int) -> None:
    """Note the issues this poll recorded (committed) with their creation time, for
    read_window's count; forget those created before this read's start (the next read starts
    no earlier), so the memory holds one window."""
    recorded = rt.recent_issues.setdefault(channel.uuid, {})
    for uuid in [u for u, at in recorded.items() if at < start]:
        del recorded[uuid]
    for row in rows:
        recorded[row["issue_uuid"]] = row["issue_created_at"]


def storm_digest(new_rows: list[dict], channel: Channel, now: int, threshold: int,
                 titles: int) -> dict | None:
    """One outbox row standing for more than `threshold` new issues of one poll, or None.

    A storm of hundreds of cards would bury the group and take Feishu's 100-a-minute limit for
    many minutes; one card with the counts and the first titles says the same at once. Its
    payload has an issue's keys, so every sink renders it unchanged."""
    if len(new_rows) <= threshold:
        return None
    new_rows = sorted(new_rows, key=lambda r: r["issue_created_at"])  # oldest first
    payloads = [r["payload"] for r in new_rows]
    levels = Counter(str(p.get("level") or "Unknown") for p in payloads)
    worst = min(levels, key=level_rank)
    uuids = [p["uuid"] for p in payloads]
    # unique per channel, second and set of issues; within the 64 characters of issue_uuid
    digest_id = "digest_{}_{}_{}".format(channel.uuid[:32], now, hashlib.sha1(
        "\n".join(uuids).encode()).hexdigest()[:8])
    lines = [f"{len(payloads)} new issues: "
             + ", ".join(f"{lvl} ×{levels[lvl]}" for lvl in sorted(levels, key=level_rank))]
    lines += [f"- [{p.get('level')}] {p.get('title')} ({p['uuid']})" for p in payloads[:titles]]
    if len(payloads) > titles:
        lines.append(f"… and {len(payloads) - titles} more")
    newest = new_rows[-1]["issue_created_at"]
    return {"issue_uuid": digest_id, "issue_created_at": newest, "payload": {
        "uuid": digest_id, "title": f"Storm: {len(payloads)} new issues in {channel.name}",
        "level": worst, "source": "relay digest", "message": "\n".join(lines),
        "create_at": newest, "channel": channel.name, "kind": "digest", "issues": uuids}}


def level_rank(level: str) -> tuple[int, str]:
    """P0 is the most severe, then P1, P2, then any other level."""
    return ({"P0": 0, "P1": 1, "P2": 2}.get(level, 3), level)
