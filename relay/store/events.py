"""The store of the two-way chat: Feishu events and DingTalk Stream frames accepted, Guance replies seen, issues checked.

* `feishu_events` — every accepted Feishu event, keyed by its event_id: written before relay
  answers Feishu 200, so a crash after the answer loses nothing, and a redelivered event_id is a
  no-op insert (dedupe). A worker claims a row (pending → working), acts, and marks it done.
* `issue_replies` — Guance reply uuids relay knows: the ones it posted itself (never echoed back
  into Feishu) and the ones it has already notified (or found on an issue's first check).
* `reply_checks` — when each issue's replies were last fetched, so a run checks the issues
  checked longest ago first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (JSON, BigInteger, Connection, Engine, Index, Integer, String, Text,
                        delete, or_, select, update)
from sqlalchemy.orm import Mapped, Session, mapped_column

from relay.store.base import Base, dialect_insert, transaction
from relay.payloads import ISSUE
from relay.store.outbox import SENT, Delivery

PENDING, WORKING, DONE, FAILED, IGNORED = "pending", "working", "done", "failed", "ignored"
POSTED_BY_RELAY, SEEN = "relay", "seen"
STALE_CLAIM_SECONDS = 300  # a `working` row older than this was left by a crashed worker
# an event_id is kept at least this long: longer than /feishu/events accepts a signed event's
# timestamp (Feishu redelivers for about 7 hours), so a replay in that time is a known event_id
EVENT_MEMORY_SECONDS = 9 * 3600


class FeishuEvent(Base):
    __tablename__ = "feishu_events"
    __table_args__ = (Index("ix_feishu_events_due", "status", "next_attempt_at"),)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(128), default="")
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # the decrypted event
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger)
    claimed_at: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str | None] = mapped_column(Text)  # what relay did / why not
    received_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class IssueReply(Base):
    __tablename__ = "issue_replies"
    reply_uuid: Mapped[str] = mapped_column(String(128), primary_key=True)
    issue_uuid: Mapped[str] = mapped_column(String(64), index=True)
    origin: Mapped[str] = mapped_column(String(16))  # "relay" (posted by relay) or "seen"
    recorded_at: Mapped[int] = mapped_column(BigInteger)


class ReplyCheck(Base):
    __tablename__ = "reply_checks"
    issue_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    checked_at: Mapped[int] = mapped_column(BigInteger)


# -- events ------------------------------------------------------------------------------------

def accept_event(bind: Engine | Connection, event_id: str, event_type: str,
                 body: dict[str, Any], now: int) -> bool:
    """Store an event for the worker; False when this event_id was accepted before."""
    stmt = dialect_insert(bind.engine)(FeishuEvent).values(
        event_id=event_id, event_type=event_type, body=body, status=PENDING, attempts=0,
        next_attempt_at=now, received_at=now, updated_at=now
    ).on_conflict_do_nothing(index_elements=["event_id"])
    with transaction(bind) as conn:
        return conn.execute(stmt.returning(FeishuEvent.event_id)).first() is not None


def due_events(engine: Engine, now: int, limit: int = 20,
               types: Sequence[str] | None = None) -> list[FeishuEvent]:
    """Pending events whose time has come, and ones a crashed worker left `working` (of these
    event types only, when given: each platform's worker takes its own)."""
    query = select(FeishuEvent).where(or_(
        (FeishuEvent.status == PENDING) & (FeishuEvent.next_attempt_at <= now),
        (FeishuEvent.status == WORKING) & (FeishuEvent.claimed_at < now - STALE_CLAIM_SECONDS)))
    if types is not None:
        query = query.where(FeishuEvent.event_type.in_(types))
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(query.order_by(FeishuEvent.received_at).limit(limit)))


def claim_event(engine: Engine, row: FeishuEvent, now: int) -> bool:
    """Take the row for this worker; False when another worker (or replica) took it first."""
    with engine.begin() as conn:
        return conn.execute(update(FeishuEvent).where(
            FeishuEvent.event_id == row.event_id, FeishuEvent.status == row.status,
            FeishuEvent.updated_at == row.updated_at).values(
            status=WORKING, claimed_at=now, attempts=FeishuEvent.attempts + 1,
            updated_at=now)).rowcount == 1


def finish_event(engine: Engine, event_id: str, status: str, outcome: str, now: int,
                 retry_at: int | None = None) -> None:
    """Record the outcome; status PENDING with `retry_at` puts the event back for later."""
    values: dict[str, Any] = dict(status=status, outcome=outcome[:2000], updated_at=now)
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    with engine.begin() as conn:
        conn.execute(update(FeishuEvent).where(FeishuEvent.event_id == event_id).values(**values))


def get_event(engine: Engine, event_id: str) -> FeishuEvent | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(FeishuEvent, event_id)


# -- cards and their issues --------------------------------------------------------------------

def delivery_by_message(engine: Engine, message_ids: list[str]) -> Delivery | None:
    """The sent card with one of these Feishu message_ids (a thread's root or a reply's parent)."""
    ids = [m for m in message_ids if m]
    if not ids:
        return None
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(select(Delivery).where(Delivery.message_id.in_(ids))
                               .order_by(Delivery.id).limit(1)).first()


def issues_to_check(engine: Engine, destinations: list[str], since: int,
                    limit: int) -> list[tuple[str, int | None]]:
    """(issue, when its replies were last checked or None) for issues sent to these destinations
    since `since`, the ones checked longest ago (never checked first: the same on both
    databases, which sort NULL differently)."""
    if not destinations:
        return []
    with engine.connect() as conn:
        return [(issue, checked_at) for issue, checked_at in conn.execute(
            select(Delivery.issue_uuid, ReplyCheck.checked_at)
            .outerjoin(ReplyCheck, ReplyCheck.issue_uuid == Delivery.issue_uuid)
            .where(Delivery.status == SENT, Delivery.destination.in_(destinations),
                   Delivery.sent_at >= since, Delivery.kind == ISSUE)
            .group_by(Delivery.issue_uuid, ReplyCheck.checked_at)
            .order_by(ReplyCheck.checked_at.is_not(None), ReplyCheck.checked_at,
                      Delivery.issue_uuid)
            .limit(limit))]


def cards_of(engine: Engine, issue_uuid: str) -> list[Delivery]:
    """Every sent card of an issue (one per destination)."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Delivery).where(
            Delivery.kind == ISSUE, Delivery.issue_uuid == issue_uuid, Delivery.status == SENT)
            .order_by(Delivery.id)))


# -- replies -----------------------------------------------------------------------------------

def record_reply(engine: Engine, reply_uuid: str, issue_uuid: str, origin: str,
                 now: int) -> None:
    stmt = dialect_insert(engine)(IssueReply).values(
        reply_uuid=reply_uuid, issue_uuid=issue_uuid, origin=origin, recorded_at=now
    ).on_conflict_do_nothing(index_elements=["reply_uuid"])
    with engine.begin() as conn:
        conn.execute(stmt)


def known_replies(engine: Engine, issue_uuid: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(select(IssueReply.reply_uuid).where(
            IssueReply.issue_uuid == issue_uuid)))


def mark_checked(engine: Engine, issue_uuid: str, now: int) -> None:
    stmt = dialect_insert(engine)(ReplyCheck).values(issue_uuid=issue_uuid, checked_at=now)
    with engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=["issue_uuid"],
                                                set_={"checked_at": now}))


def prune(engine: Engine, before: int, replies_too: bool, now: int) -> int:
    """Forget finished events last touched before `before`, never one younger than
    EVENT_MEMORY_SECONDS (Feishu redelivers for hours, not weeks) and, when `replies_too`, the
    replies and checks of that age (only safe past the notification window, or old replies
    would look new again)."""
    events_before = min(before, now - EVENT_MEMORY_SECONDS)
    with engine.begin() as conn:
        removed = conn.execute(delete(FeishuEvent).where(
            FeishuEvent.status.in_([DONE, FAILED, IGNORED]),
            FeishuEvent.updated_at < events_before, FeishuEvent.received_at < events_before)
        ).rowcount or 0
        if replies_too:
            removed += conn.execute(delete(IssueReply).where(
                IssueReply.recorded_at < before)).rowcount or 0
            removed += conn.execute(delete(ReplyCheck).where(
                ReplyCheck.checked_at < before)).rowcount or 0
    return removed
