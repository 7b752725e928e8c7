"""Every reply is counted in the metrics by outcome and kept in the reply log (the delivery log
page shows it); requests refused before any route read them are counted here too."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Blueprint, Response, g, has_request_context, request
from sqlalchemy.exc import SQLAlchemyError

from relay.metrics import reply_outcome
from relay.store.replylog import record

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.replylog")


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


def ignore() -> None:
    """This request is no reply attempt (its route is off): not counted."""
    g.reply_noted = True


def reply_log_blueprint(rt: Runtime, paths: tuple[str, ...]) -> Blueprint:
    """Counts the requests to the reply routes (`paths`) that no route noted: refused before
    parsing (wrong token, no message, body too large). Those are not kept, so noise cannot fill
    the table."""
    bp = Blueprint("reply_log", __name__)

    @bp.after_app_request
    def observe(response: Response) -> Response:
        if request.path in paths and request.method == "POST" and not g.get("reply_noted"):
            rt.metrics.replies.labels(reply_outcome(response.status_code)).inc()
        return response

    return bp
