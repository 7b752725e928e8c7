"""The DingTalk app robot's interactive card: the variables relay fills into the card template
(built once in DingTalk's card builder, docs/platforms/dingtalk-app.md), and the button clicks
that come back over Stream.

A DingTalk interactive card (互动卡片) is an instance of a template; relay sends its variables
(`cardParamMap`, string → string) and, when the issue changes state, sends the changed ones again
(the card is updated in place). The template's buttons are "回传请求" (callback) buttons whose
action ids are `claim`, `resolve`, `close` (and `reopen`); a click arrives on the topic
/v1.0/card/instances/callback as {outTrackId, userId, content: "<JSON>", …} where content holds
{cardPrivateData: {actionIds: [...], params: {...}}}. The card (by outTrackId) names the issue:
nothing in the click is trusted to say which issue it is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from relay.i18n import Text
from relay.payloads import Card, StatusChange
from relay.platforms.base import bounded
from relay.platforms.dingtalk.robot import inert
from relay.platforms.status_texts import OPEN, duration, status_name, who
from relay.platforms.mentions import Person
from relay.platforms.render import card_values, format_time
from relay.replies.actions import ACTIONS

MAX_CARD_MESSAGE = 4000  # characters of the issue text on a card (a card is read on a phone)
# the variables a template may show; `issue` is the issue's UUID
CARD_VARIABLES = ("title", "level", "source", "created", "channel", "message", "link", "issue",
                  "status", "status_line")


# Text from outside made inert for a card's variables and the robot's text messages: a template
# may show a variable in a markdown component, DingTalk's markdown, so the custom robots' step
# (relay/platforms/dingtalk/robot.py `inert`) is this one too.


def out_track_id(issue: str, conversation_id: str, reminder: str = "") -> str:
    """The card's own id (outTrackId), the same for the same issue in the same group: a send
    retried after a crash names the card it may already have made."""
    key = f"{issue}\n{conversation_id}" + (f"\nreminder {reminder}" if reminder else "")
    return "relay-" + hashlib.sha1(key.encode()).hexdigest()


def card_params(payload: Card, tz: ZoneInfo, console_url: str, text: Text) -> dict[str, str]:
    """The card's variables for a new card, in RELAY_LANGUAGE."""
    v = card_values(payload, tz, console_url, text,
                    bounded(payload.message, MAX_CARD_MESSAGE, text), inert)
    return {"title": f"[{v['level']}] {v['title']}", "level": v["level"],
            "source": v["source"], "created": v["created"], "channel": v["channel"],
            "message": v["message"], "link": v["link"], "issue": v["uuid"],
            "status": status_name(OPEN, text), "status_line": text("card.reply_hint",
                                                                   uuid=v["uuid"])}


def status_params(payload: StatusChange, owners: list[Person], tz: ZoneInfo,
                  text: Text) -> dict[str, str]:
    """The variables a state change replaces: the status, and a line with the owner, who
    changed it and when, and how long the issue has been open."""
    status = status_name(payload.status_type, text)
    names = " ".join(inert(person.name) for person in owners) or text("follow.nobody")
    return {"status": status, "title": text("follow.card_header", status=status,
                                            title=inert(payload.title)),
            "status_line": text("follow.card_status", status=status, owners=names,
                                who=inert(who(payload, text)),
                                at=format_time(payload.changed_at, tz),
                                duration=duration(payload.open_seconds, text))}


@dataclass(frozen=True)
class Click:
    out_track_id: str  # the card's
    user_id: str  # who clicked (their userId in the organisation)
    action: str


def read_click(data: dict[str, Any]) -> Click | None:
    """The action of a card callback; None when it is not one of relay's buttons."""
    try:
        content = json.loads(data.get("content") or "{}") if isinstance(
            data.get("content"), str) else data.get("content")
    except ValueError:
        return None
    private = content.get("cardPrivateData") if isinstance(content, dict) else None
    private = private if isinstance(private, dict) else {}
    params = private.get("params") if isinstance(private.get("params"), dict) else {}
    ids = private.get("actionIds") if isinstance(private.get("actionIds"), list) else []
    action = str(params.get("action") or (ids[0] if ids else ""))
    track = data.get("outTrackId")
    if action not in ACTIONS or not isinstance(track, str) or not track:
        return None
    return Click(track, str(data.get("userId") or ""), action)
