"""Mutes from chat: `/mute 2h` on a card (or `#uuid#/mute 2h`) holds back, for that time, new
cards of that issue's source for the destinations of the chat that muted, and only those: another
team's group still gets every card. The source is the monitor or check that raised the issue
(Guance's `resourceUUID`), else its `resource`; an issue with neither (only its `resourceType`,
e.g. `event`) cannot be muted, or one mute would silence every such issue. P0 cards still come
through unless the mute says `P0` (`/mute 2h P0`), and then its notices say so. A mute ends at
most RELAY_MUTE_MAX_HOURS from when it was set (a renewal replaces it, within the same cap).

The covered chats are told when the mute starts (one notice card each) and when it ends (one
summary each, listing what was held, also when nothing was). The deliver job records a held card
as `muted` (kept, shown on the delivery log page, never sent alone); a storm digest leaves the
muted cards out (relay/pipeline/poll.py), so they are held like any other.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from relay.payloads import ISSUE, REMINDER, Card, MuteSummary
from relay.pipeline.digest import level_rank
from relay.platforms.render import format_time
from relay.store import mutes as mute_store
from relay.store import outbox
from relay.store.outbox import MUTED, PENDING, Delivery

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.mute")
DURATION = re.compile(r"(\d{1,4})\s*(m|min|h|d|分钟|小时|天)(?![A-Za-z])", re.I)
UNITS = {"m": 60, "min": 60, "分钟": 60, "h": 3600, "小时": 3600, "d": 86400, "天": 86400}
WITH_P0 = re.compile(r"\s*P0(?![A-Za-z0-9_])", re.I)  # `/mute 2h P0`: right after the duration
TITLES = 10  # held-back issues a summary lists
HELD_KINDS = (ISSUE, REMINDER)  # what a mute holds back: an issue's card and its reminders
# what a card of an older release names as its source when Guance gave no resource
FALLBACK_SOURCES = {"event", "dashboard", "viewer"}
# (source key, destination) → (until, P0 held too) of each active mute covering it
Muted = dict[tuple[str, str], list[tuple[int, bool]]]


def duration(text: str) -> int | None:
    """Seconds of "2h", "30m", "1d", "2小时"; None when the text names no duration."""
    match = DURATION.match(text.strip())
    if match is None:
        return None
    return int(match.group(1)) * UNITS[match.group(2).lower()]


def with_p0(text: str) -> bool:
    """The note says `P0` right after its duration (`2h P0 …`): P0 cards are held too."""
    match = DURATION.match(text.strip())
    return match is not None and WITH_P0.match(text.strip()[match.end():]) is not None


def key_of(card: Card) -> str:
    """What a mute matches the card by ("" for a card that cannot be muted). A card queued
    before mutes had keys stands for its source, unless that is a bare resourceType."""
    key = getattr(card, "mute_key", "")
    if key is None:
        return "" if card.source.lower() in FALLBACK_SOURCES else card.source
    return key


def is_top(level: str) -> bool:
    """P0, the level a mute lets through unless it says otherwise."""
    return level_rank(level)[0] == 0


def card_of(rt: Runtime, issue: str, destinations: frozenset[str]) -> Card | None:
    """The issue's card as relay sent it to one of `destinations` (else to any destination)."""
    with Session(rt.engine) as session:
        rows = list(session.scalars(select(Delivery).where(
            Delivery.kind == ISSUE, Delivery.issue_uuid == issue)))
    rows.sort(key=lambda r: r.destination not in destinations)
    return rows[0].card() if rows else None


def mute(rt: Runtime, issue: str, note: str, who: str,
         destinations: frozenset[str]) -> tuple[bool, str]:
    """(done, the sentence for the person); the Guance comment is the caller's. `destinations`
    are those of the chat that muted (relay/incidents/chats.py): the mute covers them only."""
    text, settings = rt.text, rt.settings
    cap = settings.mute_max_hours * 3600
    if not destinations:
        return False, text("action.mute_no_chat")
    seconds = duration(note)
    if seconds is None or seconds < 60:
        return False, text("action.mute_usage", hours=settings.mute_max_hours)
    card = card_of(rt, issue, destinations)
    if card is None:
        return False, text("action.mute_unknown", issue=issue)
    key = key_of(card)
    if not key:
        return False, text("action.mute_generic", issue=issue, source=card.source or "?")
    now, top = int(rt.clock.now()), with_p0(note)
    until = now + min(seconds, cap)
    label = card.source or key
    mute_id = mute_store.add(rt.engine, key, label, destinations, top, issue, who, now, until)
    when = format_time(until, settings.tz)
    p0 = text("action.mute_p0_held" if top else "action.mute_p0_through")
    notice = MuteSummary(uuid=f"mute_{mute_id}_on_{now}", level="Unknown", source="relay mute",
                         title=text("action.mute_notice", resource=label, until=when, who=who),
                         message=text("action.mute_notice_text", p0=p0), create_at=now,
                         channel=card.channel)
    with rt.engine.begin() as conn:
        outbox.queue(conn, [outbox.row(notice, d, now, card.channel) for d in sorted(destinations)],
                     now)
    log.info("muted %s for %s until %d (from %s, P0 %s)", key, ",".join(sorted(destinations)),
             until, issue, "held" if top else "through", extra={"issue": issue})
    said = text("action.mute_done", resource=label, until=when,
                destinations=", ".join(sorted(destinations)), p0=p0)
    if seconds > cap:
        said += " " + text("action.mute_capped", hours=settings.mute_max_hours)
    return True, said


def active_mutes(rt: Runtime) -> Muted:
    """What the active mutes hold. deliver reads it once per look at the store (every few
    seconds), not once per card: a mute set meanwhile holds cards from the next look."""
    muted: Muted = {}
    for m in mute_store.active(rt.engine, int(rt.clock.now())):
        for destination in m.destinations:
            muted.setdefault((m.resource, destination), []).append((m.until, m.include_p0))
    return muted


def holds(muted: Muted, card: Card, destination: str, now: int) -> bool:
    """A mute still running at `now` covers this card at this destination (P0: only when the
    mute said P0)."""
    key = key_of(card)
    if not key or not muted:
        return False
    top = is_top(card.level)
    return any(until > now and (p0 or not top) for until, p0 in muted.get((key, destination), ()))


def hold_back(rt: Runtime, row: Delivery, muted: Muted) -> bool:
    """True when the row is a card (or a reminder) a mute holds: then it is recorded `muted`,
    not sent. A mute that ended since `muted` was read holds nothing (its summary may be sent
    already)."""
    if not muted or row.kind not in HELD_KINDS:
        return False
    now = int(rt.clock.now())
    if not holds(muted, row.card(), row.destination, now):
        return False
    with rt.engine.begin() as conn:
        conn.execute(update(Delivery).where(Delivery.id == row.id, Delivery.status == PENDING)
                     .values(status=MUTED, updated_at=now))
    log.info("held back %s for %s (muted)", row.issue_uuid, row.destination,
             extra={"issue": row.issue_uuid, "destination": row.destination})
    return True


def summarize_ended(rt: Runtime) -> int:
    """One summary card for each destination of each mute that ended; how many were queued."""
    now, queued, text = int(rt.clock.now()), 0, rt.text
    for ended in mute_store.ended(rt.engine, now):
        if not mute_store.mark_summarized(rt.engine, ended.id, now):
            continue
        covered = set(ended.destinations)
        with Session(rt.engine, expire_on_commit=False) as session:
            held = [(row, card) for row in session.scalars(select(Delivery).where(
                Delivery.status == MUTED, Delivery.kind.in_(HELD_KINDS),
                Delivery.destination.in_(sorted(covered)),
                Delivery.updated_at >= ended.created_at,
                Delivery.updated_at <= ended.until).order_by(Delivery.issue_created_at))
                for card in (row.card(),) if key_of(card) == ended.resource]
        by_destination: dict[str, list] = {d: [] for d in sorted(covered)}
        for row, card in held:
            by_destination[row.destination].append((row, card))
        for destination, rows in by_destination.items():
            lines = [f"- [{card.level}] {card.title} ({card.uuid})" for _, card in rows[:TITLES]]
            if len(rows) > TITLES:
                lines.append(text("action.mute_more", count=len(rows) - TITLES))
            channel = rows[0][0].channel if rows else ""
            summary = MuteSummary(
                uuid=f"mute_{ended.id}", level="Unknown",
                title=text("action.mute_summary", resource=ended.label, count=len(rows)),
                source="relay mute", message="\n".join(lines) or text("action.mute_none"),
                create_at=now, channel=channel)
            with rt.engine.begin() as conn:
                outbox.queue(conn, [outbox.row(summary, destination, now, channel)], now)
            queued += 1
    return queued
