"""What a card that follows its issue says, on every platform: status names, which transition a
change is, and the follow-up texts. Platforms lay these out in their own formats.

Every user-facing text of the feature is in TEXTS (one place, for translation).
"""

from __future__ import annotations

from typing import Any

# Guance's statusType values (official: 10 Open, 15 Working, 20 Resolved, 25 Closed, 30 Pending)
OPEN, WORKING, RESOLVED, CLOSED, PENDING = 10, 15, 20, 25, 30
FINAL = (RESOLVED, CLOSED)

TEXTS = {
    "status.10": "Open", "status.15": "Working", "status.20": "Resolved", "status.25": "Closed",
    "status.30": "Pending", "status.unknown": "Status {code}",
    "line.resolved": "✅ Resolved after {duration} by {who}: {title}",
    "line.closed": "☑️ Closed after {duration} by {who}: {title}",
    "line.reopened": "🔁 Reopened by {who}: {title}",
    "line.claimed": "🙋 Claimed by {who}: {title}",
    "line.pending": "⏸️ Pending, set by {who}: {title}",
    "digest": "📋 Storm follow-up: {resolved} of {total} resolved, {closed} closed ({title})",
    "someone": "someone",
    "nobody": "nobody yet",
    "card.status": "**Status:** {status} · **Owner:** {owners}\n**Changed by** {who} at {at} · "
                   "open for {duration}",
    "card.header": "[{status}] {title}",
    "mention.line": "**Attention:** {people}",
    "minutes": "{n} min", "hours": "{h} h {m} min", "days": "{d} d {h} h", "under_minute": "<1 min",
}
# colour of an updated Feishu card's header, by status (a resolved card is no longer red)
STATUS_COLOURS = {RESOLVED: "green", CLOSED: "grey", PENDING: "wathet", WORKING: "blue"}

# the transitions a setting can ask to announce (RELAY_FOLLOW_ANNOUNCE)
TRANSITIONS = ("claimed", "resolved", "closed", "reopened", "pending")


def status_name(code: int | None) -> str:
    key = f"status.{code}"
    return TEXTS[key] if key in TEXTS else TEXTS["status.unknown"].format(code=code)


def transition(old: int, new: int, managers_changed: bool = False) -> str | None:
    """What a change from status `old` to `new` is called; None when nothing changed."""
    if new == old:
        return "claimed" if managers_changed and new not in FINAL else None
    if new == OPEN:
        return "reopened"
    return {WORKING: "claimed", RESOLVED: "resolved", CLOSED: "closed",
            PENDING: "pending"}.get(new, "claimed")


def duration(seconds: int | float) -> str:
    minutes = int(max(seconds, 0)) // 60
    if minutes < 1:
        return TEXTS["under_minute"]
    if minutes < 60:
        return TEXTS["minutes"].format(n=minutes)
    if minutes < 24 * 60:
        return TEXTS["hours"].format(h=minutes // 60, m=minutes % 60)
    return TEXTS["days"].format(d=minutes // 1440, h=minutes % 1440 // 60)


def who(payload: dict[str, Any]) -> str:
    return str(payload.get("by") or TEXTS["someone"])


def status_line(payload: dict[str, Any]) -> str:
    """The short follow-up of a state change, e.g. "✅ Resolved after 23 min by Li Lei: <title>";
    for a storm digest, "📋 … 7 of 12 resolved …"."""
    if payload.get("kind") == "digest_status":
        return TEXTS["digest"].format(resolved=payload["resolved"], total=payload["total"],
                                      closed=payload["closed"], title=payload["title"])
    name = payload.get("transition") or "claimed"
    return TEXTS[f"line.{name}"].format(duration=duration(payload.get("open_seconds") or 0),
                                        who=who(payload), title=payload.get("title", ""))


def is_follow_up(payload: dict[str, Any]) -> bool:
    """A state-change row (not a new card)."""
    return payload.get("kind") in ("status", "digest_status")
