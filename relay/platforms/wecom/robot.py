"""WeCom (企业微信) group robot sink: a markdown message to
`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<key>`.

No signature: the key in the URL is the secret. Markdown content is at most 4096 bytes of UTF-8,
so a long message is cut with a visible marker. WeCom answers HTTP 200 with `errcode`; 0 = sent.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import requests

from relay.platforms.base import RobotSink, fit_utf8
from relay.platforms.render import card_values
from relay.replies.links import LinkSigner, links_markdown

FREQ_OUT_OF_LIMIT = 45009  # "api freq out of limit"
WAITS = {FREQ_OUT_OF_LIMIT: 60.0}
HINTS = {93000: " (the webhook key is wrong or the robot was removed: check RELAY_DESTINATIONS)"}
MAX_CONTENT_BYTES = 4096
LEVEL_COLOURS = {"P0": "warning", "P1": "warning"}  # WeCom's font colours; others: comment (grey)


def markdown(payload: dict[str, Any], tz: ZoneInfo, console_url: str,
             links: LinkSigner | None = None) -> dict[str, Any]:
    v = card_values(payload, tz, console_url)
    actions = [links_markdown(links.links(payload, "WeCom"), "  ")] if links else []
    colour = LEVEL_COLOURS.get(v["level"], "comment")

    def render(message: str) -> str:
        return "\n".join([
            f"**<font color=\"{colour}\">[{v['level']}]</font> {v['title']}**",
            f"> Source: {v['source']}",
            f"> Created: {v['created']}",
            f"> Channel: {v['channel']}",
            "",
            message,
            "",
            f"[Open in Guance]({v['link']}) <font color=\"comment\">{v['uuid']}</font>",
            *actions])

    return {"msgtype": "markdown",
            "markdown": {"content": fit_utf8(render, v["message"], MAX_CONTENT_BYTES)}}


class WeComSink(RobotSink):
    """One WeCom group robot."""

    platform, waits, hints = "WeCom", WAITS, HINTS

    def __init__(self, url: str, tz: ZoneInfo, console_url: str,
                 session: requests.Session | None = None, timeout: float = 10.0,
                 links: LinkSigner | None = None) -> None:
        super().__init__(url, tz, console_url, session, timeout)
        self.links = links  # signed action links, when relay has a public URL

    def message(self, payload: dict[str, Any]) -> dict[str, Any]:
        return markdown(payload, self.tz, self.console_url, self.links)
