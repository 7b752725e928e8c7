"""Post a chat reply as a Guance comment and say how it went: shared by every reply route.

The outcome is the JSON answer of `/feishu/reply` (its status and body); other routes turn it
into their platform's message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from relay.guance import (GuanceBudgetExhausted, GuanceError, GuanceNoAnswer, GuanceNotFound,
                          GuanceRateLimited)
from relay.platforms.render import format_time
from relay.replies import log as replylog
from relay.replies.parse import USAGE, ReplyParseError, ReplyTooLong, parse_reply
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
    `sender`, as the route knows who sent it)."""
    try:
        parsed = parse_reply(message)
    except ReplyTooLong as exc:
        outcome, issue, text = failed(413, str(exc)), None, message
    except ReplyParseError as exc:
        outcome, issue, text = failed(400, str(exc), hint=USAGE), None, message
    else:
        issue, text = parsed.issue_uuid, parsed.text
        outcome = post_comment(rt, issue, text)
    error = outcome.body.get("error")
    if error and outcome.body.get("detail"):
        error = f"{error}: {outcome.body['detail']}"
    replylog.note(rt, outcome.status, issue, text, error, sender)
    return outcome


def post_comment(rt: Runtime, issue_uuid: str, text: str) -> Outcome:
    try:
        reply = rt.guance.reply(issue_uuid, text)
    except GuanceNotFound:
        return failed(404, "no such issue in Guance", issueUUID=issue_uuid)
    except GuanceNoAnswer:
        return failed(504, "Guance did not answer in time; the comment may have been posted: "
                      "look at the issue before sending it again", issueUUID=issue_uuid)
    except (GuanceBudgetExhausted, GuanceRateLimited) as exc:
        wait = int(getattr(exc, "wait", 60)) + 1
        return Outcome(503, {"error": "Guance is rate-limiting relay; try again shortly",
                             "issueUUID": issue_uuid, "retryAfter": wait}, retryable=True)
    except GuanceError as exc:
        log.error("reply to %s failed: %s", issue_uuid, rt.redact(str(exc)),
                  extra={"issue": issue_uuid})
        return Outcome(502, {"error": "Guance did not take the comment",
                             "detail": rt.redact(str(exc)), "issueUUID": issue_uuid},
                       retryable=exc.retryable)
    if reply.get("uuid") and rt.settings.feishu_app_chats:
        # relay's own comment: notify_replies (app chats only) must not echo it back as news
        chat_store.record_reply(rt.engine, str(reply["uuid"]), issue_uuid, POSTED_BY_RELAY,
                                int(rt.clock.now()))
    when = reply.get("updateAt") or reply.get("createAt") or rt.clock.now()
    log.info("reply to %s posted", issue_uuid, extra={"issue": issue_uuid})
    return Outcome(200, {"issueUUID": issue_uuid, "time": format_time(int(when), rt.settings.tz)})
