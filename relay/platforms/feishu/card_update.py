"""Feishu's side of cards that follow the issue: @-mentions in cards and texts, and the app-bot
card re-rendered with its issue's new state (for PATCH /open-apis/im/v1/messages/{id})."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from relay.i18n import Text
from relay.payloads import StatusChange
from relay.platforms.feishu.card import PLAIN_TEXT
from relay.platforms.feishu.inert import lark_md
from relay.platforms.status_texts import STATUS_COLOURS, duration, status_name, who
from relay.platforms.mentions import Person
from relay.platforms.render import format_time

PLATFORM = "feishu"


def at_markdown(people: list[Person]) -> str:
    """lark_md mentions: `<at id=ou_…></at>` (open_id / user_id) or `<at email=…></at>`, from
    RELAY_MENTIONS only; a person without a Feishu identity is named in plain text, that name
    (Guance's, of a manager) made inert."""
    parts = []
    for person in people:
        ident = person.on(PLATFORM)
        if ident is None:
            parts.append(lark_md(person.name))
        elif "@" in ident:
            parts.append(f"<at email={ident}></at>")
        else:
            parts.append(f"<at id={ident}></at>")
    return " ".join(parts)


def elements(card: dict[str, Any]) -> list[Any]:
    """The card's element list, card JSON 1.0 (`elements`) or 2.0 (`body.elements`)."""
    if isinstance(card.get("body"), dict):
        return card["body"].setdefault("elements", [])
    return card.setdefault("elements", [])


def updatable(card: dict[str, Any]) -> dict[str, Any]:
    """A card Feishu lets the bot update later: `"config": {"update_multi": true}`."""
    config = card.get("config") if isinstance(card.get("config"), dict) else {}
    card["config"] = dict(config, update_multi=True)
    return card


def with_mentions(card: dict[str, Any], people: list[Person], text: Text) -> dict[str, Any]:
    if people:
        elements(card).append({"tag": "div", "text": {
            "tag": "lark_md", "content": text("follow.mention_line", people=at_markdown(people))}})
    return card


def with_status(card: dict[str, Any], payload: StatusChange, people: list[Person],
                tz: ZoneInfo, text: Text) -> dict[str, Any]:
    """The original card with its issue's state: the status in the header (colour by status),
    and a line with the owner, who changed it and when, and how long it has been open. The
    title and names come from outside: inert for the element they land in."""
    status = payload.status_type
    header = card.get("header") if isinstance(card.get("header"), dict) else None
    if header is not None:
        header["template"] = STATUS_COLOURS.get(status, header.get("template", "red"))
        title = header.get("title") if isinstance(header.get("title"), dict) else None
        if title is not None:
            shown = payload.title if title.get("tag") == PLAIN_TEXT else lark_md(payload.title)
            title["content"] = text("follow.card_header", status=status_name(status, text),
                                    title=shown)
    owners = at_markdown(people) or text("follow.nobody")
    elements(card).append({"tag": "div", "text": {"tag": "lark_md", "content": text(
        "follow.card_status", status=status_name(status, text), owners=owners,
        who=lark_md(who(payload, text)), at=format_time(payload.changed_at, tz),
        duration=duration(payload.open_seconds, text))}})
    return updatable(card)
