"""What every platform's card shows, as text: the values a sink lays out in its own format."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from relay.i18n import Text
from relay.payloads import Card
from relay.platforms.base import Inert, as_is

LEVEL_COLOURS = {"P0": "red", "P1": "orange", "P2": "yellow"}  # anything else: grey
ISSUE_LINK = "{console}/exception/issue?issueUUID={uuid}"
# the values card_values gives, which a custom card template may name
CARD_PLACEHOLDERS = ("title", "level", "colour", "source", "message", "created", "link", "uuid",
                     "channel")


def format_time(unix_seconds: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(unix_seconds, tz).strftime("%Y-%m-%d %H:%M:%S")


def issue_link(console_url: str, uuid: str) -> str:
    """The issue in the Guance console; a console URL with {uuid} in it is the whole link."""
    quoted = quote(uuid, safe="")
    if "{uuid}" in console_url:
        return console_url.replace("{uuid}", quoted)
    return ISSUE_LINK.format(console=console_url, uuid=quoted)


def card_values(payload: Card, tz: ZoneInfo, console_url: str, text: Text,
                message: str | None = None, inert: Inert = as_is) -> dict[str, str]:
    """The card's values in RELAY_LANGUAGE (the level as Guance shows it in that language);
    `message`: the payload's message as cut to fit. Every value that comes from outside (all
    but the colour, the time and the link relay makes) goes through `inert`, the sink's
    dialect's: an issue's text is shown, never read as markup."""
    return {"title": inert(payload.title), "level": inert(text.level(payload.level)),
            "colour": LEVEL_COLOURS.get(payload.level, "grey"), "source": inert(payload.source),
            "message": inert(payload.message if message is None else message),
            "created": format_time(payload.create_at, tz),
            "link": issue_link(console_url, payload.uuid), "uuid": inert(payload.uuid),
            "channel": inert(payload.channel)}
