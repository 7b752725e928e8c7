"""The outbox: one cursor per watched channel and one delivery row per issue and destination.

A delivery row is written (once per issue and destination) in the same transaction that moves the
channel's cursor, and is marked `sent` only after the destination said yes. So a crash can repeat a
card but never lose one. The schema is created only by the Alembic migrations in `migrations/`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from sqlalchemy import (JSON, BigInteger, Connection, Engine, Index, Integer, String, Text,
                        UniqueConstraint, and_, bindparam, delete, select, update)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, Session, mapped_column

from relay.store.base import ID, Base, dialect_insert, write_lock

PENDING, SENT, DEAD = "pending", "sent", "dead"
DIGESTED = "digested"  # recorded, but covered by one storm digest row; never sent itself
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
    """One issue for one destination: the outbox row."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("issue_uuid", "destination", name="uq_deliveries_issue_destination"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_message_id", "message_id"),
        # the delivery log page's chart reads the last day's sent cards by this range
        Index("ix_deliveries_sent_at", "sent_at"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    issue_uuid: Mapped[str] = mapped_column(String(64))
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


# an issue's own card, not a digest, reminder (r1_…), mute summary or status change (…~20~…)
ISSUE_CARD = and_(Delivery.issue_uuid.like("issue_%"), ~Delivery.issue_uuid.contains("~"))


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
                digest: Callable[[list[dict[str, Any]]], dict[str, Any] | None] | None = None,
                window: Window | None = None) -> int:
    """Insert outbox rows (a repeat is a no-op) and move the cursor, in one transaction.
    `window`: the read stopped part-way and goes on there next run (None: it is complete).

    `rows` are dicts with issue_uuid, destination, issue_created_at and payload. Returns how many
    rows were new. `digest` sees each destination's really-new rows and may return one row
    (issue_uuid, issue_created_at, payload) to send instead of them: a storm then costs one card,
    while every issue is still recorded (as `digested`), so its re-reads stay no-ops.
    """
    insert = dialect_insert(engine)
    values = [dict(r, channel=channel_name, status=PENDING, attempts=0, next_attempt_at=now,
                   created_at=now, updated_at=now) for r in rows]
    new_by_destination: dict[str, list[dict[str, Any]]] = {}
    with engine.begin() as conn:
        fresh = _not_yet_recorded(conn, values)
        if fresh:
            # one executemany, which SQLAlchemy sends as multi-row INSERTs of one cached
            # statement; RETURNING tells new rows from repeats another replica wrote meanwhile
            # (PostgreSQL's rowcount can't)
            inserted = set(conn.execute(_insert_new(insert), fresh).all())
            for value in fresh:
                if (value["issue_uuid"], value["destination"]) in inserted:
                    new_by_destination.setdefault(value["destination"], []).append(value)
        for destination, new_rows in new_by_destination.items():
            extra = digest(new_rows) if digest else None
            if extra is None:
                continue
            uuids = [r["issue_uuid"] for r in new_rows]
            for chunk in _chunks(uuids, 500):  # stay under SQLite's bound-parameter limit
                conn.execute(update(Delivery).where(
                    Delivery.destination == destination,
                    Delivery.issue_uuid.in_(chunk)).values(status=DIGESTED))
            conn.execute(insert(Delivery).values(**dict(
                new_rows[0], **extra, destination=destination)).on_conflict_do_nothing(
                index_elements=["issue_uuid", "destination"]))
        state = {"channel_name": channel_name, "cursor": cursor, "last_success_at": now,
                 "last_error": None, "updated_at": now,
                 "window_start": window.start if window else None,
                 "window_end": window.end if window else None,
                 "window_page": window.page if window else None,
                 "window_received": window.received if window else None}
        stmt = insert(ChannelCursor).values(channel_uuid=channel_uuid, **state)
        conn.execute(stmt.on_conflict_do_update(index_elements=["channel_uuid"], set_=state))
    return sum(len(r) for r in new_by_destination.values())


_INSERTS: dict[Any, Any] = {}


def _insert_new(insert: Any) -> Any:
    """The outbox INSERT … ON CONFLICT DO NOTHING RETURNING, built once per dialect."""
    if insert not in _INSERTS:
        _INSERTS[insert] = insert(Delivery).on_conflict_do_nothing(
            index_elements=["issue_uuid", "destination"]).returning(
            Delivery.issue_uuid, Delivery.destination)
    return _INSERTS[insert]


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _not_yet_recorded(conn: Any, values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose (issue, destination) is not in the outbox yet, in their order: each poll
    re-reads the overlap, so most rows of a quiet channel are repeats, found by one query."""
    uuids = sorted({v["issue_uuid"] for v in values})
    known: set[tuple[str, str]] = set()
    for chunk in _chunks(uuids, 500):  # stay under SQLite's bound-parameter limit
        known.update(conn.execute(select(Delivery.issue_uuid, Delivery.destination).where(
            Delivery.issue_uuid.in_(chunk))).all())
    fresh = []
    for v in values:
        key = (v["issue_uuid"], v["destination"])
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
    """Pending rows whose time has come, oldest issue first (only for `destinations` if given):
    plain rows with Delivery's columns, not ORM objects, which cost a third more to read."""
    query = select(*Delivery.__table__.columns).where(Delivery.status == PENDING,
                                                      Delivery.next_attempt_at <= now)
    if destinations is not None:
        query = query.where(Delivery.destination.in_(list(destinations)))
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(Delivery.issue_created_at, Delivery.id)
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


MARK_SENT = update(Delivery).where(Delivery.id == bindparam("delivery_id")).values(
    status=SENT, attempts=Delivery.attempts + 1, last_error=None, sent_at=bindparam("now"),
    updated_at=bindparam("now"), message_id=bindparam("message_id"))


@functools.lru_cache(maxsize=16)  # a dialect an engine: one in a process, more in tests
def _mark_sent_sql(dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """MARK_SENT in the dialect's SQL, built once, its parameter order (`?` styles) and constants:
    run once a card with exec_driver_sql, it skips SQLAlchemy's work, half the mark's cost."""
    compiled = MARK_SENT.compile(dialect=dialect)
    constants = compiled.construct_params({"delivery_id": 0, "now": 0, "message_id": None})
    return str(compiled), compiled.positiontup, constants


def mark_sent(conn: Connection, delivery_id: int, now: int,
              message_id: str | None = None) -> None:
    """Mark one row sent, committed at once on `conn` (deliver's one connection a run)."""
    sql, order, constants = _mark_sent_sql(conn.dialect)
    params = dict(constants, delivery_id=delivery_id, now=now, message_id=message_id)
    with write_lock(conn.engine):
        conn.exec_driver_sql(sql, tuple(params[name] for name in order) if order else params)
        conn.commit()


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
