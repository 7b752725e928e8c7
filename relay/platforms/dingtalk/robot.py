"""DingTalk custom robot (自定义机器人) sink: a markdown message to a signed webhook.

With the robot's "加签" security setting, each request carries `timestamp` (ms) and `sign` in the
query: base64(HMAC-SHA256 keyed with the secret over "timestamp\\nsecret"), URL-encoded. The same
signature (not URL-encoded) comes in the `sign` header of the outgoing robot's requests, see
relay/dingtalk_reply.py. DingTalk answers HTTP 200 with `errcode`; 0 means sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

import requests

from relay.platforms.base import RobotSink, fit_utf8
from relay.platforms.render import card_values
from relay.replies.links import LinkSigner, links_markdown

SEND_TOO_FAST = 130101  # the robot is throttled for 10 minutes
SETUP_REFUSED = 310000  # keyword, signature or IP allowlist check failed
WAITS = {SEND_TOO_FAST: 600.0, SETUP_REFUSED: 600.0}  # retrying sooner would only fail again
HINTS = {SETUP_REFUSED: " (check the robot's security settings: keyword, signing secret in "
                        "RELAY_DESTINATIONS, IP allowlist)"}
MAX_TEXT_BYTES = 20_000  # a guard: DingTalk's markdown size limit is not in our sources


def sign(timestamp_ms: int | str, secret: str) -> str:
    """DingTalk's signature, before URL-encoding."""
    message = f"{timestamp_ms}\n{secret}".encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def markdown(payload: dict[str, Any], tz: ZoneInfo, console_url: str,
             links: LinkSigner | None = None) -> dict[str, Any]:
    """The alert as a DingTalk markdown message (paragraphs need a blank line between them);
    with signed action links when relay has a public URL (a robot cannot call back)."""
    v = card_values(payload, tz, console_url)
    actions = [links_markdown(links.links(payload, "DingTalk"))] if links else []

    def render(message: str) -> str:
        return "\n\n".join([
            f"### [{v['level']}] {v['title']}",
            f"**Level:** {v['level']} · **Source:** {v['source']}",
            f"**Created:** {v['created']} · **Channel:** {v['channel']}",
            message,
            f"[Open in Guance]({v['link']})", *actions,
            f"Reply: @bot #{v['uuid']}#your comment"])

    text = fit_utf8(render, v["message"], MAX_TEXT_BYTES)
    return {"msgtype": "markdown",
            "markdown": {"title": f"[{v['level']}] {v['title']}", "text": text}}


class DingTalkSink(RobotSink):
    """One DingTalk group robot: `https://oapi.dingtalk.com/robot/send?access_token=…`."""

    platform, waits, hints = "DingTalk", WAITS, HINTS

    def __init__(self, url: str, tz: ZoneInfo, console_url: str, secret: str | None = None,
                 session: requests.Session | None = None, timeout: float = 10.0,
                 links: LinkSigner | None = None) -> None:
        super().__init__(url, tz, console_url, session, timeout)
        self.secret, self.links = secret, links

    def url_for(self, now: float) -> str:
        if not self.secret:
            return self.url
        timestamp = int(now * 1000)
        return f"{self.url}&timestamp={timestamp}&sign={quote_plus(sign(timestamp, self.secret))}"

    signed_url = url_for

    def message(self, payload: dict[str, Any]) -> dict[str, Any]:
        return markdown(payload, self.tz, self.console_url, self.links)
