"""Every reply is counted in the metrics by outcome and kept in the reply log (the delivery log
page shows it); requests refused before any route read them are counted here too.

A reply that reached Guance is always kept (Guance's call budget bounds how many there can be). A
refusal that cost no Guance call — malformed (400), too long (413), no budget left (503) — is
kept at most REFUSALS_KEPT times per sender in REFUSAL_WINDOW_SECONDS: more are only counted
(`relay_replies_unlogged_total`), so a flood of bad messages cannot fill the table."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Blueprint, Response, g, has_request_context, request
from sqlalchemy.exc import SQLAlchemyError

from relay.metrics import reply_outcome
from relay.store.replylog import kept_since, record

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.replylog")
UNBOUNDED = (400, 413, 503)  # refused before any Guance call: the budget does not limit these
REFUSALS_KEPT = 3
REFUSAL_WINDOW_SECONDS = 600


def note(rt: Runtime, status: int, issue_uuid: str | None, text: str,
         error: str | None = None, sender: str = "") -> None:
    """Count a reply by outcome and keep it for the delivery log page (every reply route and the
    app bot's worker call this once per reply they acted on); `sender` names who sent it, as
    the route knows it."""
    rt.metrics.replies.labels(reply_outcome(status)).inc()
    if has_request_context():
        g.reply_noted = True
    now = int(rt.clock.now())
    try:
        if status in UNBOUNDED and kept_since(rt.engine, sender, UNBOUNDED,
                                              now - REFUSAL_WINDOW_SECONDS) >= REFUSALS_KEPT:
            rt.metrics.replies_unlogged.inc()
            return
        record(rt.engine, now, issue_uuid, rt.redact(text), status,
               rt.redact(error) if error else None, sender or None)
    except SQLAlchemyError as exc:
        log.error("could not record the reply in the database: %s", type(exc).__name__,
                  extra={"issue": issue_uuid})


def ignore() -> None:
    """This request is not counted here: it is no reply attempt (its route is off), or its reply
    is noted later, outside the request (a DingTalk answer that comes after the request)."""
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
