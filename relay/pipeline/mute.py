"""Mutes from chat: `/mute 2h` on a card (or `#uuid#/mute 2h`) holds back new cards whose
`source` (the issue's resource) is that issue's, for that time. The deliver job records a held
card as `muted` (kept, shown on the delivery log page, never sent alone); when the mute ends each
destination that had cards held gets one summary card listing them.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from relay.payloads import ISSUE, REMINDER, MuteSummary
from relay.platforms.render import format_time
from relay.store import mutes as mute_store
from relay.store import outbox
from relay.store.outbox import MUTED, PENDING, Delivery

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.mute")
DURATION = re.compile(r"(\d{1,4})\s*(m|min|h|d|分钟|小时|天)(?![A-Za-z])", re.I)
UNITS = {"m": 60, "min": 60, "分钟": 60, "h": 3600, "小时": 3600, "d": 86400, "天": 86400}
MAX_SECONDS = 7 * 86400
TITLES = 10  # held-back issues a summary lists
HELD_KINDS = (ISSUE, REMINDER)  # what a mute holds back: an issue's card and its reminders


def duration(text: str) -> int | None:
    """Seconds of "2h", "30m", "1d", "2小时"; None when the text names no duration."""
    match = DURATION.match(text.strip())
    if match is None:
        return None
    return int(match.group(1)) * UNITS[match.group(2).lower()]


def resource_of(rt: Runtime, issue: str) -> str | None:
    """The muted resource: the `source` of the issue's card (relay mutes what it relayed)."""
    with Session(rt.engine) as session:
        card = session.scalars(select(Delivery).where(
            Delivery.kind == ISSUE, Delivery.issue_uuid == issue).limit(1)).first()
        return card.card().source or None if card else None


def mute(rt: Runtime, issue: str, note: str, who: str, destinations: frozenset[str] = frozenset()) -> tuple[bool, str]:
    """(done, the sentence for the person); the Guance comment is the caller's."""
    seconds, text = duration(note), rt.text
    if seconds is None or not 60 <= seconds <= MAX_SECONDS:
        return False, text("action.mute_usage")
    resource = resource_of(rt, issue)
    if resource is None:
        return False, text("action.mute_unknown", issue=issue)
    now = int(rt.clock.now())
    mute_store.add(rt.engine, resource, issue, who, now, now + seconds)
    log.info("muted %s for %d s (from %s)", resource, seconds, issue, extra={"issue": issue})
    return True, text("action.mute_done", resource=resource,
                      until=format_time(now + seconds, rt.settings.tz))


def active_resources(rt: Runtime) -> dict[str, int]:
    """Muted resource → when its last mute ends. deliver reads it once per look at the store
    (every few seconds), not once per card: a mute set meanwhile holds cards from the next look."""
    until: dict[str, int] = {}
    for m in mute_store.active(rt.engine, int(rt.clock.now())):
        until[m.resource] = max(m.until, until.get(m.resource, 0))
    return until


def hold_back(rt: Runtime, row: Delivery, muted: dict[str, int]) -> bool:
    """True when the row is a card (or a reminder) of a muted resource: then it is recorded
    `muted`, not sent. A mute that ended since `muted` was read holds nothing (its summary may be
    sent already)."""
    if not muted or row.kind not in HELD_KINDS:
        return False
    now = int(rt.clock.now())
    if muted.get(row.card().source, 0) <= now:
        return False
    with rt.engine.begin() as conn:
        conn.execute(update(Delivery).where(Delivery.id == row.id, Delivery.status == PENDING)
                     .values(status=MUTED, updated_at=now))
    log.info("held back %s for %s (muted)", row.issue_uuid, row.destination,
             extra={"issue": row.issue_uuid, "destination": row.destination})
    return True


def summarize_ended(rt: Runtime) -> int:
    """One summary card per destination for each mute that ended; how many were queued."""
    now, queued, text = int(rt.clock.now()), 0, rt.text
    for ended in mute_store.ended(rt.engine, now):
        if not mute_store.mark_summarized(rt.engine, ended.id, now):
            continue
        with Session(rt.engine, expire_on_commit=False) as session:
            held = [(row, card) for row in session.scalars(select(Delivery).where(
                Delivery.status == MUTED, Delivery.kind.in_(HELD_KINDS),
                Delivery.updated_at >= ended.created_at,
                Delivery.updated_at <= ended.until).order_by(Delivery.issue_created_at))
                for card in (row.card(),) if card.source == ended.resource]
        by_destination: dict[str, list] = {}
        for row, card in held:
            by_destination.setdefault(row.destination, []).append((row, card))
        for destination, rows in by_destination.items():
            lines = [f"- [{card.level}] {card.title} ({card.uuid})" for _, card in rows[:TITLES]]
            if len(rows) > TITLES:
                lines.append(text("action.mute_more", count=len(rows) - TITLES))
            channel = rows[0][0].channel
            summary = MuteSummary(
                uuid=f"mute_{ended.id}", level="Unknown",
                title=text("action.mute_summary", resource=ended.resource, count=len(rows)),
                source="relay mute", message="\n".join(lines), create_at=now, channel=channel)
            with rt.engine.begin() as conn:
                outbox.queue(conn, [outbox.row(summary, destination, now, channel)], now)
            queued += 1
    return queued
