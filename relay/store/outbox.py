"""The outbox: one cursor per watched channel and one delivery row per message and destination.

A row's `kind` names what it carries (relay/payloads.py: an issue's card, a reminder, a status
change, a storm digest, its follow-up, a mute summary); `dedupe_key` is unique per destination, so
queueing a row twice is a no-op; `issue_uuid` is the issue it is about, NULL for a row that stands
for no one issue. An issue's rows are written in the same transaction that moves the channel's
cursor, and a row is marked `sent` only after the destination said yes. So a crash can repeat a
card but never lose one. The schema is created only by the Alembic migrations in `migrations/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from sqlalchemy import (JSON, BigInteger, Connection, Engine, Index, Integer, String, Text,
                        UniqueConstraint, delete, func, select, update)
from sqlalchemy.orm import Mapped, Session, mapped_column

from relay import payloads
from relay.payloads import MAX_KEY, Card
from relay.store.base import ID, Base, dialect_insert, write_lock

PENDING, SENT, DEAD = "pending", "sent", "dead"
DIGESTED = "digested"  # recorded, but covered by one digest row (storm, reminders); never sent
MUTED = "muted"  # held back by a /mute from chat; summed up in one card when the mute ends
# the filters of `relay deliveries --status` and the log page ("failed": pending, tried before)
LISTED_STATUSES = (PENDING, "failed", DEAD, SENT, DIGESTED, MUTED)


class ChannelCursor(Base):
    """The channel's next read starts at `cursor` − RELAY_OVERLAP_SECONDS (Unix s).

    `cursor` is the time of the last successful poll, except within RELAY_OVERLAP_SECONDS of
    the first one: then it is first-poll time + overlap, so no read reaches back before relay
    started watching the channel."""

    __tablename__ = "channel_cursors"
    channel_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel_name: Mapped[str] = mapped_column(String(255), default="")
    cursor: Mapped[int] = mapped_column(BigInteger)
    last_success_at: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    # a read the call budget stopped part-way: its window and where it goes on (see Window)
    window_start: Mapped[int | None] = mapped_column(BigInteger)
    window_end: Mapped[int | None] = mapped_column(BigInteger)
    window_page: Mapped[int | None] = mapped_column(Integer)
    window_received: Mapped[int | None] = mapped_column(Integer)


@dataclass(frozen=True)
class Window:
    """The span [start, end] one read covers, and where it goes on: the next run reads page
    `page` of the same window (`received` issues came before it), so a backlog larger than one
    run's call budget drains a few pages a run; newer issues wait for the next window."""

    start: int
    end: int
    page: int = 1
    received: int = 0


class Delivery(Base):
    """One message for one destination: the outbox row."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("dedupe_key", "destination", name="uq_deliveries_key_destination"),
        Index("ix_deliveries_issue_uuid", "issue_uuid"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_message_id", "message_id"),
        # the delivery log page's chart reads the last day's sent cards by this range
        Index("ix_deliveries_sent_at", "sent_at"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # a key of relay.payloads.KINDS
    dedupe_key: Mapped[str] = mapped_column(String(MAX_KEY))
    issue_uuid: Mapped[str | None] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(255), default="")
    issue_created_at: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    sent_at: Mapped[int | None] = mapped_column(BigInteger)
    # the platform's id of the sent card (Feishu IM API: om_…), so a reply in its thread
    # finds the issue
    message_id: Mapped[str | None] = mapped_column(String(128))

    def card(self) -> Card:
        """The payload as its kind's model: what a sink receives."""
        return payloads.load(self.kind, self.payload)


def row(payload: Card, destination: str, issue_created_at: int,
        channel: str | None = None) -> dict[str, Any]:
    """The columns of a new outbox row carrying `payload` (its kind, key and issue from it)."""
    values = {"kind": payload.kind, "dedupe_key": payload.dedupe_key(),
              "issue_uuid": payload.issue_uuid(), "destination": destination,
              "issue_created_at": issue_created_at, "payload": payload.stored()}
    return values if channel is None else dict(values, channel=channel)


def cursors(engine: Engine) -> dict[str, tuple[int, int | None, bool]]:
    """Every channel's (cursor, last successful poll time, a read left part-way?), by UUID."""
    with engine.connect() as conn:
        return {uuid: (cursor, last, start is not None) for uuid, cursor, last, start in
                conn.execute(select(ChannelCursor.channel_uuid, ChannelCursor.cursor,
                                    ChannelCursor.last_success_at, ChannelCursor.window_start))}


def cursor_state(engine: Engine, channel_uuid: str
                 ) -> tuple[int | None, int | None, Window | None]:
    """(cursor, last successful poll time, the window a read left part-way) of one channel;
    (None, None, None) before its first poll."""
    with engine.connect() as conn:
        row = conn.execute(select(
            ChannelCursor.cursor, ChannelCursor.last_success_at, ChannelCursor.window_start,
            ChannelCursor.window_end, ChannelCursor.window_page, ChannelCursor.window_received,
        ).where(ChannelCursor.channel_uuid == channel_uuid)).first()
    if not row:
        return None, None, None
    window = Window(row[2], row[3], row[4], row[5] or 0) if row[4] is not None else None
    return row[0], row[1], window


def cursor_of(engine: Engine, channel_uuid: str) -> int | None:
    with engine.connect() as conn:
        return conn.scalar(select(ChannelCursor.cursor).where(
            ChannelCursor.channel_uuid == channel_uuid))


def record_poll(engine: Engine, channel_uuid: str, channel_name: str, cursor: int, now: int,
                rows: Iterable[dict[str, Any]],
                digest: Callable[[list[dict[str, Any]]], Card | None] | None = None,
                window: Window | None = None) -> int:
    """Queue the rows read (made by `row`; see `queue` for `digest`) and move the cursor, in one
    transaction. `window`: the read stopped part-way and goes on there next run (None: it is
    complete). Returns how many rows were new."""
    insert = dialect_insert(engine)
    with engine.begin() as conn:
        new = queue(conn, [dict(r, channel=channel_name) for r in rows], now, digest)
        state = {"channel_name": channel_name, "cursor": cursor, "last_success_at": now,
                 "last_error": None, "updated_at": now,
                 "window_start": window.start if window else None,
                 "window_end": window.end if window else None,
                 "window_page": window.page if window else None,
                 "window_received": window.received if window else None}
        stmt = insert(ChannelCursor).values(channel_uuid=channel_uuid, **state)
        conn.execute(stmt.on_conflict_do_update(index_elements=["channel_uuid"], set_=state))
    return new


UNIQUE = ["dedupe_key", "destination"]  # ON CONFLICT target: a row queued twice is a no-op


def queue(conn: Connection, rows: list[dict[str, Any]], now: int,
          digest: Callable[[list[dict[str, Any]]], Card | None] | None = None) -> int:
    """Insert pending rows (made by `row`) on `conn`; how many were new (a repeat is a no-op).

    `digest` sees each destination's really-new rows and may return one card to send instead
    of them (a storm digest, a reminder digest): a burst then costs one message, while every
    row is still recorded, so its repeats stay no-ops. The rows of the issues the card lists
    are `digested`; any other (a card a mute holds, left out of a storm digest) stays pending."""
    values = [dict(r, status=PENDING, attempts=0, next_attempt_at=now, created_at=now,
                   updated_at=now) for r in rows]
    fresh = _not_yet_recorded(conn, values)
    if not fresh:
        return 0
    insert = dialect_insert(conn.engine)
    # RETURNING tells new rows from a replica's repeats (PostgreSQL's rowcount can't)
    inserted = set(conn.execute(insert(Delivery).on_conflict_do_nothing(
        index_elements=UNIQUE).returning(Delivery.dedupe_key, Delivery.destination), fresh).all())
    new_by_destination: dict[str, list[dict[str, Any]]] = {}
    for value in fresh:
        if (value["dedupe_key"], value["destination"]) in inserted:
            new_by_destination.setdefault(value["destination"], []).append(value)
    for destination, new_rows in new_by_destination.items():
        stand_in = digest(new_rows) if digest else None
        if stand_in is None:
            continue
        listed = set(getattr(stand_in, "issues", None) or [r["issue_uuid"] for r in new_rows])
        covered = [r["dedupe_key"] for r in new_rows if r["issue_uuid"] in listed]
        for chunk in _chunks(covered, 500):  # SQLite's bound
            conn.execute(update(Delivery).where(
                Delivery.destination == destination,
                Delivery.dedupe_key.in_(chunk)).values(status=DIGESTED))
        conn.execute(insert(Delivery).values(**dict(
            new_rows[0], **row(stand_in, destination, stand_in.create_at))).on_conflict_do_nothing(
            index_elements=UNIQUE))
    return sum(len(r) for r in new_by_destination.values())


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _not_yet_recorded(conn: Any, values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose (key, destination) is not in the outbox yet, in their order: each poll
    re-reads the overlap, so most rows of a quiet channel are repeats, found by one query."""
    keys = sorted({v["dedupe_key"] for v in values})
    known: set[tuple[str, str]] = set()
    for chunk in _chunks(keys, 500):  # stay under SQLite's bound-parameter limit
        known.update(conn.execute(select(Delivery.dedupe_key, Delivery.destination).where(
            Delivery.dedupe_key.in_(chunk))).all())
    fresh = []
    for v in values:
        key = (v["dedupe_key"], v["destination"])
        if key not in known:  # also drops a row a shifted page handed over twice
            known.add(key)
            fresh.append(v)
    return fresh


def record_poll_error(engine: Engine, channel_uuid: str, error: str, now: int) -> None:
    """Remember why a channel's poll failed, without touching its cursor (if it has one)."""
    with engine.begin() as conn:
        conn.execute(update(ChannelCursor).where(
            ChannelCursor.channel_uuid == channel_uuid).values(last_error=error, updated_at=now))


def due_deliveries(engine: Engine, now: int, limit: int,
                   destinations: Iterable[str] | None = None) -> list[Delivery]:
    """Pending rows whose time has come, oldest issue first (only for `destinations` if given)."""
    query = select(Delivery).where(Delivery.status == PENDING, Delivery.next_attempt_at <= now)
    if destinations is not None:
        query = query.where(Delivery.destination.in_(list(destinations)))
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(query.order_by(Delivery.issue_created_at, Delivery.id)
                                    .limit(limit)))


def due_destinations(engine: Engine, now: int) -> set[str]:
    """Destinations with at least one row due now."""
    with engine.connect() as conn:
        return set(conn.scalars(select(Delivery.destination).where(
            Delivery.status == PENDING, Delivery.next_attempt_at <= now).distinct()))


def backed_off_destinations(engine: Engine, now: int) -> set[str]:
    """Destinations with a pending row still waiting out a back-off. Their due rows (issues
    queued during the outage) wait too, so they cannot overtake the older rows."""
    with engine.connect() as conn:
        return set(conn.scalars(select(Delivery.destination).where(
            Delivery.status == PENDING, Delivery.next_attempt_at > now).distinct()))


def mark_sent(engine: Engine, delivery_id: int, now: int,
              message_id: str | None = None) -> None:
    """Mark one row sent, committed at once: a crash after a send repeats at most that card."""
    with write_lock(engine), engine.begin() as conn:
        conn.execute(update(Delivery).where(Delivery.id == delivery_id).values(
            status=SENT, attempts=Delivery.attempts + 1, last_error=None, sent_at=now,
            updated_at=now, message_id=message_id))


def mark_failed(engine: Engine, row: Delivery, error: str, retry_at: int, now: int,
                dead: bool = False) -> None:
    """Record a failed try; the destination's other pending rows wait until `retry_at` too,
    so cards still arrive in creation order once it recovers (rows queued later are held by
    backed_off_destinations)."""
    with engine.begin() as conn:
        conn.execute(update(Delivery).where(Delivery.id == row.id).values(
            status=DEAD if dead else PENDING, attempts=Delivery.attempts + 1,
            last_error=error[:2000], next_attempt_at=retry_at, updated_at=now))
        conn.execute(update(Delivery).where(
            Delivery.destination == row.destination, Delivery.status == PENDING,
            Delivery.next_attempt_at < retry_at).values(next_attempt_at=retry_at))


def prune(engine: Engine, before: int) -> int:
    """Delete sent, dead and digested rows last touched before `before` (a digested row must
    outlive the look-back like a sent one, or a re-read would queue it again); pending rows are
    never pruned."""
    with engine.begin() as conn:
        return conn.execute(delete(Delivery).where(
            Delivery.status.in_([SENT, DEAD, DIGESTED, MUTED]), Delivery.updated_at < before)
        ).rowcount or 0


def list_deliveries(engine: Engine, status: str | None = None, limit: int = 50,
                    channel: str | None = None) -> list[Delivery]:
    """Newest rows first; status "failed" means pending rows that have failed at least once."""
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if status == "failed":
        query = query.where(Delivery.status == PENDING, Delivery.attempts > 0)
    elif status:
        query = query.where(Delivery.status == status)
    if channel:
        query = query.where(Delivery.channel == channel)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(query))


# -- the outbox commands (relay deliveries, relay redeliver) ------------------------------------

def counts_by_status(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
                    .all())


def requeue(engine: Engine, now: int, ids: list[int] | None = None, dead: bool = False) -> int:
    """Put rows back to pending, due now, with a fresh max age. Returns how many."""
    condition = Delivery.status == DEAD if dead else Delivery.id.in_(ids or [])
    with engine.begin() as conn:
        return conn.execute(update(Delivery).where(condition).values(
            status=PENDING, next_attempt_at=now, created_at=now, updated_at=now)).rowcount or 0
