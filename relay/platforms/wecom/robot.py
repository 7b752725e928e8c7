"""WeCom (企业微信) group robot sink: a markdown message to
`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<key>`.

No signature: the key in the URL is the secret. Markdown content is at most 4096 bytes of UTF-8,
so a long message is cut with a visible marker. WeCom answers HTTP 200 with `errcode`; 0 = sent.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import requests

from relay.i18n import Text
from relay.payloads import Card, FollowUp
from relay.platforms.base import RobotSink, fit_utf8, zero_width_after
from relay.platforms.status_texts import status_line
from relay.platforms.mentions import NOBODY, Mentions, Person
from relay.platforms.render import card_values
from relay.replies.links import LinkSigner, links_markdown

PLATFORM = "wecom"  # the key of a person's WeCom userid in RELAY_MENTIONS

FREQ_OUT_OF_LIMIT = 45009  # "api freq out of limit"
WAITS = {FREQ_OUT_OF_LIMIT: 60.0}
HINTS = {93000: " (the webhook key is wrong or the robot was removed: check RELAY_DESTINATIONS)"}
MAX_CONTENT_BYTES = 4096
LEVEL_COLOURS = {"P0": "warning", "P1": "warning"}  # WeCom's font colours; others: comment (grey)


# Text from outside made inert for WeCom's markdown. WeCom documents no escape, so a zero-width
# space goes after `<` (`<@userid>`, `<@all>`, `<font …>`) and inside `](` (links): the text reads
# as it came, and only relay's own `<@userid>` mentions ping (emphasis is left as it is).
inert = zero_width_after(r"<|\](?=\()")


def mentions(people: list[Person]) -> str:
    """WeCom markdown's @: `<@userid>`, from RELAY_MENTIONS only; people without a WeCom userid
    are plain text, their names (Guance's) made inert."""
    return " ".join(f"<@{p.on(PLATFORM)}>" if p.on(PLATFORM) else inert(p.name) for p in people)


def markdown(payload: Card, tz: ZoneInfo, console_url: str, text: Text,
             people: list[Person] | None = None,
             links: LinkSigner | None = None) -> dict[str, Any]:
    if isinstance(payload, FollowUp):
        return {"msgtype": "markdown", "markdown": {"content": status_line(payload, text, inert)}}
    v, t = card_values(payload, tz, console_url, text, inert=inert), text
    named = mentions(people or [])
    actions = [links_markdown(links.links(payload, "WeCom", text), "  ")] if links else []
    colour = LEVEL_COLOURS.get(payload.level, "comment")

    def render(message: str) -> str:
        return "\n".join([
            f"**<font color=\"{colour}\">[{v['level']}]</font> {v['title']}**",
            f"> {t('card.source')}{t('card.colon')}{v['source']}",
            f"> {t('card.created')}{t('card.colon')}{v['created']}",
            f"> {t('card.channel')}{t('card.colon')}{v['channel']}",
            "",
            message,
            "",
            f"[{t('card.open')}]({v['link']}) <font color=\"comment\">{v['uuid']}</font>",
            *actions]
            + ([t("follow.mention_line", people=named)] if named else []))

    return {"msgtype": "markdown",
            "markdown": {"content": fit_utf8(lambda kept: render(inert(kept)), payload.message,
                                             MAX_CONTENT_BYTES, text)}}


class WeComSink(RobotSink):
    """One WeCom group robot."""

    platform, waits, hints = "WeCom", WAITS, HINTS
    mentions: Mentions = NOBODY

    def __init__(self, url: str, tz: ZoneInfo, console_url: str, text: Text,
                 session: requests.Session | None = None, timeout: float = 10.0,
                 links: LinkSigner | None = None) -> None:
        super().__init__(url, tz, console_url, text, session, timeout)
        self.links = links  # signed action links, when relay has a public URL

    def message(self, payload: Card) -> dict[str, Any]:
        return markdown(payload, self.tz, self.console_url, self.text,
                        self.mentions.people(payload), self.links)
