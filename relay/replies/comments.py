"""Post a chat reply as a Guance comment and say how it went: shared by every reply route.

The outcome is the JSON answer of `/feishu/reply` (its status and body); other routes turn it
into their platform's message. An action's result is not one of these: it is a domain outcome
(relay/incidents/outcome.py) each route words itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from relay.incidents.comments import comment
from relay.incidents.outcome import Kind
from relay.replies import log as replylog
from relay.replies.parse import ReplyParseError, ReplyTooLong, parse_reply

if TYPE_CHECKING:
    from relay.runtime import Runtime

T = TypeVar("T")


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


def in_reply_slot(rt: Runtime, issue_uuid: str, act: Callable[[], T]) -> T | Outcome:
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
    """The comment (relay/incidents/comments.py) as the reply routes answer it."""
    posted = comment(rt, issue_uuid, text)
    if posted.kind is Kind.DONE:
        return Outcome(200, {"issueUUID": issue_uuid, "time": posted.time})
    status = {Kind.NOT_FOUND: 404, Kind.NO_ANSWER: 504, Kind.BUSY: 503}.get(posted.kind, 502)
    body = {"error": posted.problem(rt), "issueUUID": issue_uuid}
    if posted.detail:
        body["detail"] = posted.detail
    if posted.retry_after is not None:
        body["retryAfter"] = posted.retry_after
    return Outcome(status, body, retryable=posted.retryable)
