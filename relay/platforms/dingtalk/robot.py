"""DingTalk custom robot (自定义机器人) sink: a markdown message to a signed webhook.

With the robot's "加签" security setting, each request carries `timestamp` (ms) and `sign` in the
query: base64(HMAC-SHA256 keyed with the secret over "timestamp\\nsecret"), URL-encoded. The same
signature (not URL-encoded) comes in the `sign` header of the outgoing robot's requests, see
relay/platforms/dingtalk/reply.py. DingTalk answers HTTP 200 with `errcode`; 0 means sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

import requests

from relay.i18n import Text
from relay.payloads import Card, FollowUp
from relay.platforms.base import RobotSink, fit_utf8, zero_width_after
from relay.platforms.status_texts import status_line
from relay.platforms.mentions import NOBODY, Mentions, Person
from relay.platforms.render import card_values
from relay.replies.links import LinkSigner, links_markdown

PLATFORM = "dingtalk"  # the key of a person's DingTalk identity in RELAY_MENTIONS

SEND_TOO_FAST = 130101  # the robot is throttled for 10 minutes
SETUP_REFUSED = 310000  # keyword, signature or IP allowlist check failed
WAITS = {SEND_TOO_FAST: 600.0, SETUP_REFUSED: 600.0}  # retrying sooner would only fail again
HINTS = {SETUP_REFUSED: " (check the robot's security settings: keyword, signing secret in "
                        "RELAY_DESTINATIONS, IP allowlist)"}
MAX_TEXT_BYTES = 20_000  # a guard: DingTalk's markdown size limit is not in our sources


# Text from outside made inert for DingTalk's markdown and text messages. DingTalk documents no
# escape for either, so a zero-width space goes after `@` (an `@所有人`, `@all` or `@<mobile>` in
# a title then neither reads as nor lines up with a mention: only the message's `at` pings, and
# it lists relay's own people), after `<` (`<font …>`), and inside `](` (links, images): the text
# reads as it came. Emphasis is left as it is (bold text pings nobody and hides no link).
inert = zero_width_after(r"[<@]|\](?=\()")


def sign(timestamp_ms: int | str, secret: str) -> str:
    """DingTalk's signature, before URL-encoding."""
    message = f"{timestamp_ms}\n{secret}".encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def mentions(people: list[Person]) -> tuple[str, dict[str, Any]]:
    """DingTalk's @: the text names `@<mobile>` / `@<userId>` and the message's `at` lists them
    (`atMobiles` for phone numbers, `atUserIds` otherwise), from RELAY_MENTIONS only; unmapped
    people are plain text, their names (Guance's) made inert."""
    shown, mobiles, user_ids = [], [], []
    for person in people:
        ident = person.on(PLATFORM)
        if ident is None:
            shown.append(inert(person.name))
            continue
        shown.append(f"@{ident}")
        (mobiles if re.fullmatch(r"\+?[\d-]{6,20}", ident) else user_ids).append(ident)
    return " ".join(shown), {"atMobiles": mobiles, "atUserIds": user_ids, "isAtAll": False}


def markdown(payload: Card, tz: ZoneInfo, console_url: str, text: Text,
             people: list[Person] | None = None,
             links: LinkSigner | None = None) -> dict[str, Any]:
    """The alert as a DingTalk markdown message (paragraphs need a blank line between them);
    with signed action links when relay has a public URL (a robot cannot call back)."""
    if isinstance(payload, FollowUp):
        line = status_line(payload, text, inert)
        return {"msgtype": "markdown", "markdown": {"title": line[:60], "text": line}}
    v, t = card_values(payload, tz, console_url, text, inert=inert), text
    named, at = mentions(people or [])
    actions = [links_markdown(links.links(payload, "DingTalk", text))] if links else []

    def field(name: str, value: str) -> str:
        return f"**{t(name)}**{t('card.colon')}{value}"

    def render(message: str) -> str:
        return "\n\n".join([
            f"### [{v['level']}] {v['title']}",
            f"{field('card.level', v['level'])} · {field('card.source', v['source'])}",
            f"{field('card.created', v['created'])} · {field('card.channel', v['channel'])}",
            message,
            f"[{t('card.open')}]({v['link']})", *actions,
            t("card.reply_hint", uuid=v["uuid"])]
            + ([t("follow.mention_line", people=named)] if named else []))

    body = {"msgtype": "markdown",
            "markdown": {"title": f"[{v['level']}] {v['title']}",
                         "text": fit_utf8(lambda kept: render(inert(kept)), payload.message,
                                          MAX_TEXT_BYTES, text)}}
    if at["atMobiles"] or at["atUserIds"]:
        body["at"] = at
    return body


class DingTalkSink(RobotSink):
    """One DingTalk group robot: `https://oapi.dingtalk.com/robot/send?access_token=…`."""

    platform, waits, hints = "DingTalk", WAITS, HINTS

    def __init__(self, url: str, tz: ZoneInfo, console_url: str, text: Text,
                 secret: str | None = None, session: requests.Session | None = None,
                 timeout: float = 10.0, mentions: Mentions = NOBODY,
                 links: LinkSigner | None = None) -> None:
        super().__init__(url, tz, console_url, text, session, timeout)
        self.secret, self.mentions, self.links = secret, mentions, links

    def url_for(self, now: float) -> str:
        if not self.secret:
            return self.url
        timestamp = int(now * 1000)
        return f"{self.url}&timestamp={timestamp}&sign={quote_plus(sign(timestamp, self.secret))}"

    signed_url = url_for

    def message(self, payload: Card) -> dict[str, Any]:
        return markdown(payload, self.tz, self.console_url, self.text,
                        self.mentions.people(payload), self.links)
