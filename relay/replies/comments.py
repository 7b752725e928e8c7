"""Post a chat reply as a Guance comment and say how it went: shared by every reply route.

The outcome is the JSON answer of `/feishu/reply` (its status and body); other routes turn it
into their platform's message.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from relay.guance import (GuanceBudgetExhausted, GuanceError, GuanceNoAnswer, GuanceNotFound,
                          GuanceRateLimited)
from relay.platforms.render import format_time
from relay.replies import log as replylog
from relay.replies.parse import ReplyParseError, ReplyTooLong, parse_reply
from relay.store import chat as chat_store
from relay.store.chat import POSTED_BY_RELAY

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.comments")


@dataclass(frozen=True)
class Outcome:
    status: int  # 200 posted, 400 malformed, 404 unknown issue, 413 too long, 502/503/504 Guance
    body: dict[str, Any] = field(default_factory=dict)  # {issueUUID, time} or {error, …}
    retryable: bool = False  # Guance busy or failing: a later try may succeed


def failed(status: int, message: str, **extra: Any) -> Outcome:
    return Outcome(status, {"error": message, **extra})


def post_reply(rt: Runtime, message: str, sender: str = "") -> Outcome:
    """`#<issueUUID>#<text>` → a comment on that issue; noted in the reply log either way (under
    `sender`, as the route knows who sent it). At most RELAY_REPLIES_IN_FLIGHT wait on Guance at
    once, so they cannot take every web thread. The outcome's texts are in RELAY_LANGUAGE."""
    try:
        parsed = parse_reply(message)
    except ReplyTooLong as exc:
        outcome, issue, text = failed(413, exc.say(rt.text)), None, message
    except ReplyParseError as exc:
        outcome, issue, text = (failed(400, exc.say(rt.text), hint=rt.text("reply.usage")),
                                None, message)
    else:
        issue, text = parsed.issue_uuid, parsed.text
        outcome = in_reply_slot(rt, issue, lambda: post_comment(rt, issue, text))
    note_outcome(rt, outcome, issue, text, sender)
    return outcome


def in_reply_slot(rt: Runtime, issue_uuid: str, act: Callable[[], Outcome]) -> Outcome:
    """`act()` (a call to Guance) in one of the RELAY_REPLIES_IN_FLIGHT slots, or 503 at once
    when all are taken: a web thread waiting on Guance is bounded, so replies cannot take the
    threads health and events need."""
    if not rt.reply_slots.acquire(blocking=False):
        return Outcome(503, {"error": rt.text("comment.replies_full",
                                              count=rt.settings.replies_in_flight),
                             "issueUUID": issue_uuid,
                             "retryAfter": math.ceil(rt.settings.guance_timeout)}, retryable=True)
    try:
        return act()
    finally:
        rt.reply_slots.release()


def note_outcome(rt: Runtime, outcome: Outcome, issue_uuid: str | None, text: str,
                 sender: str) -> None:
    """The reply log's row for an outcome (its error with Guance's detail, where it has one)."""
    error = outcome.body.get("error")
    if error and outcome.body.get("detail"):
        error = f"{error}: {outcome.body['detail']}"
    replylog.note(rt, outcome.status, issue_uuid, text, error, sender)


def post_comment(rt: Runtime, issue_uuid: str, text: str) -> Outcome:
    try:
        reply = rt.guance.reply(issue_uuid, text)
    except GuanceNotFound:
        return failed(404, rt.text("comment.not_found"), issueUUID=issue_uuid)
    except GuanceNoAnswer:
        return failed(504, rt.text("comment.no_answer"), issueUUID=issue_uuid)
    except (GuanceBudgetExhausted, GuanceRateLimited) as exc:
        wait = int(getattr(exc, "wait", 60)) + 1
        return Outcome(503, {"error": rt.text("comment.rate_limited"),
                             "issueUUID": issue_uuid, "retryAfter": wait}, retryable=True)
    except GuanceError as exc:
        log.error("reply to %s failed: %s", issue_uuid, rt.redact(str(exc)),
                  extra={"issue": issue_uuid})
        return Outcome(502, {"error": rt.text("comment.refused"),
                             "detail": rt.redact(str(exc)), "issueUUID": issue_uuid},
                       retryable=exc.retryable)
    if reply.get("uuid") and rt.settings.chats("feishu_app"):
        # relay's own comment: notify_replies (app chats only) must not echo it back as news
        chat_store.record_reply(rt.engine, str(reply["uuid"]), issue_uuid, POSTED_BY_RELAY,
                                int(rt.clock.now()))
    when = reply.get("updateAt") or reply.get("createAt") or rt.clock.now()
    log.info("reply to %s posted", issue_uuid, extra={"issue": issue_uuid})
    return Outcome(200, {"issueUUID": issue_uuid, "time": format_time(int(when), rt.settings.tz)})
