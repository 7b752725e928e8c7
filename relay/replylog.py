"""The reply log: each reply relay acted on (Feishu flow, DingTalk, Feishu app bot) and how it
ended, counted in the metrics by outcome and kept as a row the delivery log page shows."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, g, has_request_context, request
from sqlalchemy import BigInteger, Engine, Index, Integer, String, Text, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from relay.metrics import reply_outcome
from relay.runtime import Runtime
from relay.store import ID, Base, write_lock

log = logging.getLogger(__name__)
REPLY_PATHS = ("/feishu/reply", "/dingtalk/reply")
TEXT_KEPT = 500


class ReplyRecord(Base):
    __tablename__ = "replies"
    __table_args__ = (Index("ix_replies_received_at", "received_at"),)  # what prune deletes by
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    received_at: Mapped[int] = mapped_column(BigInteger)
    issue_uuid: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    http_status: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


def record(engine: Engine, received_at: int, issue_uuid: str | None, text: str,
           http_status: int, error: str | None) -> None:
    with write_lock(engine), engine.begin() as conn:
        conn.execute(insert(ReplyRecord), {  # values as parameters: no statement to build
            "received_at": received_at, "issue_uuid": issue_uuid, "text": text[:TEXT_KEPT],
            "http_status": http_status, "error": error})


def recent(engine: Engine, limit: int = 50) -> list[ReplyRecord]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(ReplyRecord).order_by(ReplyRecord.id.desc())
                                    .limit(limit)))


def note(rt: Runtime, status: int, issue_uuid: str | None, text: str,
         error: str | None = None) -> None:
    """Count a reply by outcome and keep it for the delivery log page (every reply route and the
    app bot's worker call this once per reply they acted on)."""
    rt.metrics.replies.labels(reply_outcome(status)).inc()
    if has_request_context():
        g.reply_noted = True
    try:
        record(rt.engine, int(rt.clock.now()), issue_uuid, rt.redact(text), status,
               rt.redact(error) if error else None)
    except SQLAlchemyError as exc:
        log.error("could not record the reply in the database: %s", type(exc).__name__,
                  extra={"issue": issue_uuid})


def prune(engine: Engine, before: int) -> int:
    """Forget replies received before `before` (the prune job keeps the same days as for
    deliveries)."""
    with engine.begin() as conn:
        return conn.execute(delete(ReplyRecord).where(ReplyRecord.received_at < before)
                            ).rowcount or 0


def ignore() -> None:
    """This request is no reply attempt (its route is off): not counted."""
    g.reply_noted = True


def reply_log_blueprint(rt: Runtime) -> Blueprint:
    """Counts the reply requests no route noted: refused before parsing (wrong token, no
    message, body too large). Those are not kept, so noise cannot fill the table."""
    bp = Blueprint("reply_log", __name__)

    @bp.after_app_request
    def observe(response: Response) -> Response:
        if request.path in REPLY_PATHS and request.method == "POST" and not g.get("reply_noted"):
            rt.metrics.replies.labels(reply_outcome(response.status_code)).inc()
        return response

    return bp
