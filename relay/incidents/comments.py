"""relay's own comment on an issue (who acted, or a chat reply): one Guance call, and its result
as a domain outcome that each route words itself."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from relay.guance import (GuanceBudgetExhausted, GuanceError, GuanceNoAnswer, GuanceNotFound,
                          GuanceRateLimited)
from relay.incidents.outcome import Kind
from relay.platforms.render import format_time
from relay.store import events as event_store
from relay.store.events import POSTED_BY_RELAY

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.comments")

# why a comment was not posted, as a catalogue key (relay/i18n/)
PROBLEM = {Kind.NOT_FOUND: "comment.not_found", Kind.NO_ANSWER: "comment.no_answer",
           Kind.BUSY: "comment.rate_limited", Kind.REFUSED: "comment.refused"}


@dataclass(frozen=True)
class Comment:
    kind: Kind  # DONE, NOT_FOUND, NO_ANSWER (it may have landed), BUSY or REFUSED
    time: str = ""  # when Guance posted it (formatted in RELAY_TIMEZONE)
    detail: str = ""  # Guance's error, redacted
    retry_after: int | None = None  # BUSY: seconds to wait
    retryable: bool = False  # a later try may succeed

    def problem(self, rt: Runtime) -> str:
        """Why it was not posted, in RELAY_LANGUAGE ("" when it was)."""
        return rt.text(PROBLEM[self.kind]) if self.kind in PROBLEM else ""


def comment(rt: Runtime, issue_uuid: str, text: str) -> Comment:
    try:
        reply = rt.guance.reply(issue_uuid, text)
    except GuanceNotFound:
        return Comment(Kind.NOT_FOUND)
    except GuanceNoAnswer:
        return Comment(Kind.NO_ANSWER)
    except (GuanceBudgetExhausted, GuanceRateLimited) as exc:
        return Comment(Kind.BUSY, retry_after=int(getattr(exc, "wait", 60)) + 1, retryable=True)
    except GuanceError as exc:
        detail = rt.redact(str(exc))
        log.error("reply to %s failed: %s", issue_uuid, detail, extra={"issue": issue_uuid})
        return Comment(Kind.REFUSED, detail=detail, retryable=exc.retryable)
    if reply.get("uuid") and rt.settings.chats("feishu_app"):
        # relay's own comment: notify_replies (app chats only) must not echo it back as news
        event_store.record_reply(rt.engine, str(reply["uuid"]), issue_uuid, POSTED_BY_RELAY,
                                int(rt.clock.now()))
    when = reply.get("updateAt") or reply.get("createAt") or rt.clock.now()
    log.info("reply to %s posted", issue_uuid, extra={"issue": issue_uuid})
    return Comment(Kind.DONE, time=format_time(int(when), rt.settings.tz))
