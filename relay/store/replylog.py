"""The reply log's table: each reply relay acted on (Feishu flow, DingTalk, Feishu app bot), with
how it ended and who sent it, as the delivery log page shows it (relay/replies/log.py writes it,
and decides which refusals are kept)."""

from __future__ import annotations

from sqlalchemy import (BigInteger, Engine, Index, Integer, String, Text, delete, func, insert,
                        select)
from sqlalchemy.orm import Mapped, Session, mapped_column

from relay.store.base import ID, Base, write_lock

TEXT_KEPT = 500


class ReplyRecord(Base):
    __tablename__ = "replies"
    __table_args__ = (Index("ix_replies_received_at", "received_at"),  # what prune deletes by
                      Index("ix_replies_sender", "sender", "received_at"))  # refusals per sender
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    received_at: Mapped[int] = mapped_column(BigInteger)
    issue_uuid: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    http_status: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(128))  # e.g. "dingtalk:<staff id>"


def record(engine: Engine, received_at: int, issue_uuid: str | None, text: str,
           http_status: int, error: str | None, sender: str | None = None) -> None:
    with write_lock(engine), engine.begin() as conn:
        conn.execute(insert(ReplyRecord), {  # values as parameters: no statement to build
            "received_at": received_at, "issue_uuid": issue_uuid, "text": text[:TEXT_KEPT],
            "http_status": http_status, "error": error,
            "sender": sender[:128] if sender else None})


def kept_since(engine: Engine, sender: str, statuses: tuple[int, ...], since: int) -> int:
    """How many replies of `sender` with one of `statuses` the log holds from `since` on."""
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(ReplyRecord).where(
            ReplyRecord.sender == sender[:128], ReplyRecord.received_at >= since,
            ReplyRecord.http_status.in_(statuses))) or 0


def recent(engine: Engine, limit: int = 50) -> list[ReplyRecord]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(ReplyRecord).order_by(ReplyRecord.id.desc())
                                    .limit(limit)))


def prune(engine: Engine, before: int) -> int:
    """Forget replies received before `before` (the prune job keeps the same days as for
    deliveries)."""
    with engine.begin() as conn:
        return conn.execute(delete(ReplyRecord).where(ReplyRecord.received_at < before)
                            ).rowcount or 0
