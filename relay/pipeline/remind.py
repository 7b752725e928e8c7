"""Reminders when nobody claims an issue: RELAY_REMINDERS names, per level, the minutes after
which a card goes out again to the issue's destinations ("⏰ Unclaimed for 10 min: …") while the
issue is still Open with no manager and nobody acted on it through relay; the k-th reminder is
due after k times those minutes, at most RELAY_REMINDER_MAX of them.

A reminder is an ordinary outbox row (`issue_uuid` `r<k>_<issue uuid>`, unique per destination),
so it is sent once, with the same retries as a card. Each sink @-mentions its people as on a
card (relay/platforms/mentions.py): the channel's people for the issue's level
(RELAY_LEVEL_MENTIONS); managers it has none, or it would not be reminded. Checking an issue
costs one Guance call (`issue/{uuid}/get`), so a run checks at most `max_issues`, within the
shared budget.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from relay.guance import GuanceBudgetExhausted, GuanceError
from relay.runtime import Runtime
from relay.store import actions as action_store
from relay.store.base import dialect_insert
from relay.store.outbox import ISSUE_CARD, PENDING, SENT, Delivery

log = logging.getLogger("relay.remind")
OPEN = 10


@dataclass
class RemindReport:
    checked: int = 0
    queued: int = 0  # reminder rows put in the outbox
    waiting: bool = False  # the call budget ran out


def reminder_id(k: int, issue: str) -> str:
    return f"r{k}_{issue}"


def due(rt: Runtime, now: int) -> list[tuple[str, int, int, list[Delivery]]]:
    """(issue, reminder number, minutes, its sent cards) for each issue with a reminder due."""
    levels, most = rt.settings.reminders, rt.settings.reminder_max
    since = now - max(levels.values()) * 60 * most - 3600
    with rt.engine.connect() as conn:
        cards = [row for row in conn.execute(select(Delivery).where(
            Delivery.status == SENT, ISSUE_CARD,
            Delivery.issue_created_at >= since).order_by(Delivery.issue_created_at))]
        by_issue: dict[str, list] = {}
        for card in cards:
            if card.payload.get("level") in levels:
                by_issue.setdefault(card.issue_uuid, []).append(card)
        found = []
        for issue, rows in by_issue.items():
            if action_store.acted_on(rt.engine, issue):
                continue
            minutes = levels[rows[0].payload["level"]]
            sent = set(conn.scalars(select(Delivery.issue_uuid).where(Delivery.issue_uuid.in_(
                [reminder_id(k, issue) for k in range(1, most + 1)]))))
            k = next((k for k in range(1, most + 1) if reminder_id(k, issue) not in sent), None)
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
        rows = [{"issue_uuid": reminder_id(k, issue), "destination": c.destination,
                 "channel": c.channel, "issue_created_at": c.issue_created_at,
                 # @-mentions as a card's (level people; managers: none, as Guance says now)
                 "payload": dict(c.payload, reminder=k, managers=[], title=rt.text(
                     "action.reminder_title", minutes=k * minutes, title=c.payload.get("title", ""))),
                 "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
                 "updated_at": now} for c in cards]
        stmt = dialect_insert(rt.engine)(Delivery).values(rows).on_conflict_do_nothing(
            index_elements=["issue_uuid", "destination"])
        with rt.engine.begin() as conn:
            report.queued += len(conn.execute(stmt.returning(Delivery.id)).all())
        log.info("remind: %s unclaimed after %d min; reminder %d queued", issue, k * minutes, k,
                 extra={"issue": issue})
    return report
