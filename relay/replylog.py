"""The reply log: what `POST /feishu/reply` was asked and what it answered.

An after-request hook watches the reply endpoint, so the endpoint itself stays as it is: each
answered request is counted in the metrics by outcome, and each authorised one is kept as a row
the delivery log page shows (a wrong token is only counted, so noise cannot fill the table).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from sqlalchemy import BigInteger, Engine, Integer, String, Text, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.exceptions import HTTPException

from relay.metrics import reply_outcome
from relay.runtime import Runtime
from relay.store import ID, Base

log = logging.getLogger(__name__)
REPLY_PATH = "/feishu/reply"
TEXT_KEPT = 500


class ReplyRecord(Base):
    __tablename__ = "replies"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    received_at: Mapped[int] = mapped_column(BigInteger)
    issue_uuid: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    http_status: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


def record(engine: Engine, received_at: int, issue_uuid: str | None, text: str,
           http_status: int, error: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(insert(ReplyRecord).values(
            received_at=received_at, issue_uuid=issue_uuid, text=text[:TEXT_KEPT],
            http_status=http_status, error=error))


def recent(engine: Engine, limit: int = 50) -> list[ReplyRecord]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(ReplyRecord).order_by(ReplyRecord.id.desc())
                                    .limit(limit)))


def reply_log_blueprint(rt: Runtime) -> Blueprint:
    bp = Blueprint("reply_log", __name__)

    @bp.after_app_request
    def observe(response: Response) -> Response:
        if request.path != REPLY_PATH or request.method != "POST":
            return response
        rt.metrics.replies.labels(reply_outcome(response.status_code)).inc()
        if response.status_code == 401:
            return response
        from relay.replies import ReplyParseError, parse_reply
        from relay.web import reply_text

        answer = response.get_json(silent=True) if response.is_json else None
        answer = answer if isinstance(answer, dict) else {}
        try:
            message = reply_text() or ""
        except HTTPException:  # e.g. a body over the size limit: answered 413, nothing to keep
            message = ""
        issue, text = answer.get("issueUUID"), message
        try:
            parsed = parse_reply(message)
            issue, text = parsed.issue_uuid, parsed.text
        except ReplyParseError:
            pass
        error = answer.get("error")
        if error and answer.get("detail"):
            error = f"{error}: {answer['detail']}"
        try:
            record(rt.engine, int(rt.clock.now()), issue if isinstance(issue, str) else None,
                   rt.redact(text), response.status_code,
                   rt.redact(str(error)) if error else None)
        except SQLAlchemyError as exc:
            log.error("could not record the reply in the database: %s", type(exc).__name__,
                      extra={"issue": issue})
        return response

    return bp
