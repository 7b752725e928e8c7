"""Reminders when nobody claims an issue: RELAY_REMINDERS names, per level, the minutes after
which a card goes out again to the issue's destinations ("⏰ Unclaimed for 10 min: …") while the
issue is still Open with no manager and nobody acted on it through relay; the k-th reminder is
due after k times those minutes, at most RELAY_REMINDER_MAX of them.

A reminder is an ordinary outbox row (kind `reminder`, relay/payloads.py), unique per issue,
number and destination, so it is sent once, with the same retries as a card. A chat with more
than one reminder due in a run gets one reminder digest listing them instead (its reminders are
kept as `digested`): 36 unclaimed issues are one message, not 36. Each sink @-mentions its people
as on a card (relay/platforms/mentions.py): the channel's people for the issue's level
(RELAY_LEVEL_MENTIONS); managers it has none, or it would not be reminded.

Whether the due issues are still unclaimed is read from one list of Guance's open issues (one
call per 100 of them, at most MAX_CALLS a run, within the shared budget), not one call per issue.
A destination whose mute holds the issue's cards gets no reminder of it until the mute ends.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.guance import PAGE_SIZE, GuanceBudgetExhausted, GuanceError, managers_of
from relay.payloads import ISSUE, Reminder, ReminderDigest
from relay.pipeline.digest import level_rank
from relay.pipeline.mute import active_mutes, holds
from relay.runtime import Runtime
from relay.store import actions as action_store
from relay.store import outbox
from relay.store.outbox import SENT, Delivery

log = logging.getLogger("relay.remind")
OPEN = 10
MAX_CALLS = 3  # issue-list pages a run reads (300 open issues); more wait for the next run
TITLES = 10  # reminded issues a digest lists


@dataclass
class RemindReport:
    checked: int = 0
    queued: int = 0  # reminder rows put in the outbox (those a digest stands for included)
    waiting: bool = False  # the call budget ran out


def due(rt: Runtime, now: int) -> list[tuple[str, int, int, list[Delivery]]]:
    """(issue, reminder number, minutes, its sent cards) for each issue with a reminder due."""
    levels, most = rt.settings.reminders, rt.settings.reminder_max
    since = now - max(levels.values()) * 60 * most - 3600
    with Session(rt.engine, expire_on_commit=False) as session:
        cards = list(session.scalars(select(Delivery).where(
            Delivery.status == SENT, Delivery.kind == ISSUE,
            Delivery.issue_created_at >= since).order_by(Delivery.issue_created_at, Delivery.id)))
        by_issue: dict[str, list[Delivery]] = {}
        for card in cards:
            if card.card().level in levels:
                by_issue.setdefault(card.issue_uuid, []).append(card)
        found = []
        for issue, rows in by_issue.items():
            if action_store.acted_on(rt.engine, issue):
                continue
            minutes = levels[rows[0].card().level]
            sent = set(session.scalars(select(Delivery.dedupe_key).where(Delivery.dedupe_key.in_(
                [Reminder.key_for(k, issue) for k in range(1, most + 1)]))))
            k = next((k for k in range(1, most + 1) if Reminder.key_for(k, issue) not in sent),
                     None)
            if k is not None and rows[0].issue_created_at + k * minutes * 60 <= now:
                found.append((issue, k, minutes, rows))
    return found


def unclaimed(rt: Runtime, issues: list[str], since: int, now: int) -> tuple[set[str], bool]:
    """(the issues still open without a manager, whether every other one is known to be handled)
    from Guance's list of open issues since `since`: one call per 100 of them."""
    channel = next((c.uuid for c in rt.guance.channels() if c.name == "default"), None)
    if channel is None:
        raise GuanceError("Guance has no `default` channel")
    wanted, found = set(issues), set()
    for page in range(1, MAX_CALLS + 1):
        items, total = rt.guance.issue_page(channel, since, now, page, filters=[
            {"key": "statusType", "value": OPEN, "equal": True}])
        for item in items:
            uuid = str(item["uuid"])
            if uuid in wanted and item.get("statusType") == OPEN and not managers_of(item):
                found.add(uuid)
        if len(items) < PAGE_SIZE or (total is not None and page * PAGE_SIZE >= total):
            return found, True  # every open issue was listed: the rest are handled
    return found, False


def remind(rt: Runtime, max_issues: int = 100) -> RemindReport:
    """Queue the reminders due now, for at most `max_issues` issues."""
    report = RemindReport()
    if not rt.settings.reminders:
        return report
    now = int(rt.clock.now())
    muted = active_mutes(rt)
    found = [(issue, k, minutes, kept) for issue, k, minutes, cards in due(rt, now)
             for kept in ([c for c in cards if not holds(muted, c.card(), c.destination, now)],)
             if kept][:max_issues]
    if not found:
        return report
    try:
        open_now, complete = unclaimed(rt, [d[0] for d in found],
                                       min(d[3][0].issue_created_at for d in found) - 1, now)
    except GuanceBudgetExhausted as exc:
        log.warning("remind: %s; the reminders wait for the next run", exc)
        report.waiting = True
        return report
    except GuanceError as exc:
        log.error("remind: %s (next run tries again)", rt.redact(str(exc)))
        return report
    report.checked = len(found)
    rows = []
    for issue, k, minutes, cards in found:
        if issue not in open_now:
            if complete:  # claimed, resolved or managed: no more reminders for it
                action_store.take(rt.engine, f"applied:{issue}:seen", issue, "seen", "remind",
                                  now)
            continue
        for c in cards:
            card = c.card()
            # @-mentions as a card's (level people; managers: none, as Guance says now)
            rows.append(outbox.row(Reminder(**dict(card.stored(), reminder=k, managers=[],
                title=rt.text("action.reminder_title", minutes=k * minutes, title=card.title))),
                c.destination, c.issue_created_at, c.channel))
        log.info("remind: %s unclaimed after %d min; reminder %d queued", issue, k * minutes, k,
                 extra={"issue": issue})
    with rt.engine.begin() as conn:
        report.queued += outbox.queue(conn, rows, now, lambda new: reminder_digest(rt, new, now))
    return report


def reminder_digest(rt: Runtime, new_rows: list[dict[str, Any]], now: int
                    ) -> ReminderDigest | None:
    """One card for a chat's reminders of one run, when there is more than one."""
    if len(new_rows) < 2:
        return None
    reminders = sorted((Reminder(**r["payload"]) for r in new_rows),
                       key=lambda r: (level_rank(r.level), r.create_at))
    uuids = [r.uuid for r in reminders]
    lines = [f"- [{rt.text.level(r.level)}] {r.title} ({r.uuid})" for r in reminders[:TITLES]]
    if len(reminders) > TITLES:
        lines.append(rt.text("digest.more", count=len(reminders) - TITLES))
    key = hashlib.sha1("\n".join(r.dedupe_key() for r in reminders).encode()).hexdigest()
    return ReminderDigest(
        uuid=f"reminders_{now}_{key[:16]}", issues=uuids, level=reminders[0].level,
        title=rt.text("action.reminder_digest_title", count=len(reminders)),
        source=rt.text("digest.source"), message="\n".join(lines), create_at=now,
        channel=reminders[0].channel)
