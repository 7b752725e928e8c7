"""Reminders when nobody claims an issue: RELAY_REMINDERS names, per level, the minutes after
which a card goes out again to the issue's destinations ("⏰ Unclaimed for 10 min: …") while the
issue is still Open with no manager and nobody acted on it through relay; the k-th reminder is
due after k times those minutes, at most RELAY_REMINDER_MAX of them.

A reminder is an ordinary outbox row (kind `reminder`, relay/payloads.py), unique per issue, number
and destination, so it is sent once, with the same retries as a card. Each sink @-mentions its people as on a
card (relay/platforms/mentions.py): the channel's people for the issue's level
(RELAY_LEVEL_MENTIONS); managers it has none, or it would not be reminded. Checking an issue
costs one Guance call (`issue/{uuid}/get`), so a run checks at most `max_issues`, within the
shared budget.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.guance import GuanceBudgetExhausted, GuanceError
from relay.payloads import ISSUE, Reminder
from relay.runtime import Runtime
from relay.store import actions as action_store
from relay.store import outbox
from relay.store.outbox import SENT, Delivery

log = logging.getLogger("relay.remind")
OPEN = 10


@dataclass
class RemindReport:
    checked: int = 0
    queued: int = 0  # reminder rows put in the outbox
    waiting: bool = False  # the call budget ran out


def due(rt: Runtime, now: int) -> list[tuple[str, int, int, list[Delivery]]]:
    """(issue, reminder number, minutes, its sent cards) for each issue with a reminder due."""
    levels, most = rt.settings.reminders, rt.settings.reminder_max
    since = now - max(levels.values()) * 60 * most - 3600
    with Session(rt.engine, expire_on_commit=False) as session:
        cards = list(session.scalars(select(Delivery).where(
            Delivery.status == SENT, Delivery.kind == ISSUE,
            Delivery.issue_created_at >= since).order_by(Delivery.issue_created_at)))
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


def still_unclaimed(rt: Runtime, issue: str) -> bool:
    """Open, no manager, nobody acted on it through relay (one Guance call)."""
    if action_store.acted_on(rt.engine, issue):
        return False
    detail = rt.guance.issue(issue)
    extend = detail.get("extend") if isinstance(detail.get("extend"), dict) else {}
    return detail.get("statusType") == OPEN and not extend.get("manager")


def remind(rt: Runtime, max_issues: int = 5) -> RemindReport:
    report = RemindReport()
    if not rt.settings.reminders:
        return report
    now = int(rt.clock.now())
    for issue, k, minutes, cards in due(rt, now)[:max_issues]:
        try:
            unclaimed = still_unclaimed(rt, issue)
        except GuanceBudgetExhausted as exc:
            log.warning("remind: %s; the other issues wait for the next run", exc)
            report.waiting = True
            break
        except GuanceError as exc:
            log.error("remind %s: %s (next run tries again)", issue, rt.redact(str(exc)))
            continue
        report.checked += 1
        if not unclaimed:  # claimed, resolved or managed: no more reminders for it
            action_store.take(rt.engine, f"applied:{issue}:seen", issue, "seen", "remind", now)
            continue
        # @-mentions as a card's (level people; managers: none, as Guance says now)
        rows = [outbox.row(Reminder(**dict(card.stored(), reminder=k, managers=[], title=rt.text(
            "action.reminder_title", minutes=k * minutes, title=card.title))),
            c.destination, c.issue_created_at, c.channel)
            for c in cards for card in (c.card(),)]
        with rt.engine.begin() as conn:
            report.queued += outbox.queue(conn, rows, now)
        log.info("remind: %s unclaimed after %d min; reminder %d queued", issue, k * minutes, k,
                 extra={"issue": issue})
    return report
