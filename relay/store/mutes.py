"""Mutes from chat (`/mute 2h`): while one is active, new cards of its source (`resource`: the
key relay/pipeline/mute.py matches cards by) for the destinations it covers are recorded as
`muted` instead of sent, P0 ones only when `include_p0`; when it ends, those destinations get one
summary of what was held back."""

from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, Engine, Index, String, delete, insert, select,
                        update)
from sqlalchemy.orm import Mapped, Session, mapped_column

from relay.store.base import ID, Base


class Mute(Base):
    __tablename__ = "mutes"
    __table_args__ = (Index("ix_mutes_until", "until"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    resource: Mapped[str] = mapped_column(String(255))  # the key: monitor/check id or resource
    label: Mapped[str] = mapped_column(String(255))  # the source as its cards show it
    destinations: Mapped[list[str]] = mapped_column(JSON)  # the names it covers
    include_p0: Mapped[bool] = mapped_column(Boolean)  # `/mute 2h P0`: P0 cards held too
    issue_uuid: Mapped[str] = mapped_column(String(64))  # the issue it was muted from
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger)
    until: Mapped[int] = mapped_column(BigInteger)
    summarized_at: Mapped[int | None] = mapped_column(BigInteger)


def add(engine: Engine, resource: str, label: str, destinations: frozenset[str],
        include_p0: bool, issue_uuid: str, created_by: str, now: int, until: int) -> int:
    """A new mute, or the renewal of the running one of this source for the same destinations
    (its end and P0 choice replaced: the latest word counts, and there is one summary). Its id."""
    names = sorted(destinations)
    with engine.begin() as conn:
        for mute_id, covered in conn.execute(select(Mute.id, Mute.destinations).where(
                Mute.resource == resource[:255], Mute.until > now)).all():
            if sorted(covered) == names:
                conn.execute(update(Mute).where(Mute.id == mute_id).values(
                    until=until, include_p0=include_p0, created_by=created_by[:255]))
                return mute_id
        return conn.execute(insert(Mute).values(
            resource=resource[:255], label=label[:255], destinations=names,
            include_p0=include_p0, issue_uuid=issue_uuid, created_by=created_by[:255],
            created_at=now, until=until, summarized_at=None)).inserted_primary_key[0]


def active(engine: Engine, now: int) -> list[Mute]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Mute).where(Mute.until > now).order_by(Mute.until)))


def ended(engine: Engine, now: int) -> list[Mute]:
    """Mutes over whose summary is still to be sent."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Mute).where(
            Mute.until <= now, Mute.summarized_at.is_(None)).order_by(Mute.id)))


def mark_summarized(engine: Engine, mute_id: int, now: int) -> bool:
    """False when another replica summarized it first."""
    with engine.begin() as conn:
        return conn.execute(update(Mute).where(Mute.id == mute_id, Mute.summarized_at.is_(None))
                            .values(summarized_at=now)).rowcount == 1


def prune(engine: Engine, before: int) -> int:
    with engine.begin() as conn:
        return conn.execute(delete(Mute).where(Mute.summarized_at.is_not(None),
                                               Mute.until < before)).rowcount or 0
