"""What a card that follows its issue says, on every platform: status names, which transition a
change is, and the follow-up texts. Platforms lay these out in their own formats.

Every user-facing text of the feature is a `follow.*` key of the catalogues (relay/i18n/).
"""

from __future__ import annotations

from relay.i18n import Text
from relay.payloads import DigestStatus, FollowUp, StatusChange
from relay.platforms.base import Inert, as_is

# Guance's statusType values (official: 10 Open, 15 Working, 20 Resolved, 25 Closed, 30 Pending)
OPEN, WORKING, RESOLVED, CLOSED, PENDING = 10, 15, 20, 25, 30
FINAL = (RESOLVED, CLOSED)

# colour of an updated Feishu card's header, by status (a resolved card is no longer red)
STATUS_COLOURS = {RESOLVED: "green", CLOSED: "grey", PENDING: "wathet", WORKING: "blue"}


def status_name(code: int | None, text: Text) -> str:
    key = f"follow.status.{code}"
    return text(key) if key in text.messages else text("follow.status.unknown", code=code)


def transition(old: int, new: int, managers_changed: bool = False) -> str | None:
    """What a change from status `old` to `new` is called; None when nothing changed."""
    if new == old:
        return "claimed" if managers_changed and new not in FINAL else None
    if new == OPEN:
        return "reopened"
    return {WORKING: "claimed", RESOLVED: "resolved", CLOSED: "closed",
            PENDING: "pending"}.get(new, "claimed")


def duration(seconds: int | float, text: Text) -> str:
    minutes = int(max(seconds, 0)) // 60
    if minutes < 1:
        return text("follow.under_minute")
    if minutes < 60:
        return text("follow.minutes", n=minutes)
    if minutes < 24 * 60:
        return text("follow.hours", h=minutes // 60, m=minutes % 60)
    return text("follow.days", d=minutes // 1440, h=minutes % 1440 // 60)


def who(payload: FollowUp, text: Text) -> str:
    return payload.by or text("follow.someone")


def status_line(payload: FollowUp, text: Text, inert: Inert = as_is) -> str:
    """The short follow-up of a state change, e.g. "✅ Resolved after 23 min by Li Lei: <title>";
    for a storm digest, "📋 … 7 of 12 resolved …". The title and who changed it come from
    outside (Guance, a chat name, a link's form): through `inert`, the sink's dialect's."""
    if isinstance(payload, DigestStatus):
        return text("follow.digest", resolved=payload.resolved, total=payload.total,
                    closed=payload.closed, title=inert(payload.title))
    assert isinstance(payload, StatusChange)
    return text(f"follow.line.{payload.transition}",
                duration=duration(payload.open_seconds, text), who=inert(who(payload, text)),
                title=inert(payload.title))
