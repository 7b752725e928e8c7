"""WeCom (企业微信) group robot sink: a markdown message to
`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<key>`.

No signature: the key in the URL is the secret. Markdown content is at most 4096 bytes of UTF-8,
so a long message is cut with a visible marker. WeCom answers HTTP 200 with `errcode`; 0 = sent.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from relay.i18n import Text
from relay.platforms.base import RobotSink, fit_utf8
from relay.platforms.render import card_values

FREQ_OUT_OF_LIMIT = 45009  # "api freq out of limit"
WAITS = {FREQ_OUT_OF_LIMIT: 60.0}
HINTS = {93000: " (the webhook key is wrong or the robot was removed: check RELAY_DESTINATIONS)"}
MAX_CONTENT_BYTES = 4096
LEVEL_COLOURS = {"P0": "warning", "P1": "warning"}  # WeCom's font colours; others: comment (grey)


def markdown(payload: dict[str, Any], tz: ZoneInfo, console_url: str,
             text: Text) -> dict[str, Any]:
    v, t = card_values(payload, tz, console_url, text), text
    colour = LEVEL_COLOURS.get(str(payload.get("level") or ""), "comment")

    def render(message: str) -> str:
        return "\n".join([
            f"**<font color=\"{colour}\">[{v['level']}]</font> {v['title']}**",
            f"> {t('card.source')}{t('card.colon')}{v['source']}",
            f"> {t('card.created')}{t('card.colon')}{v['created']}",
            f"> {t('card.channel')}{t('card.colon')}{v['channel']}",
            "",
            message,
            "",
            f"[{t('card.open')}]({v['link']}) <font color=\"comment\">{v['uuid']}</font>"])

    return {"msgtype": "markdown",
            "markdown": {"content": fit_utf8(render, v["message"], MAX_CONTENT_BYTES, text)}}


class WeComSink(RobotSink):
    """One WeCom group robot."""

    platform, waits, hints = "WeCom", WAITS, HINTS

    def message(self, payload: dict[str, Any]) -> dict[str, Any]:
        return markdown(payload, self.tz, self.console_url, self.text)
