"""WeCom (企业微信) group robot sink: a markdown message to
`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<key>`.

No signature: the key in the URL is the secret. Markdown content is at most 4096 bytes of UTF-8,
so a long message is cut with a visible marker. WeCom answers HTTP 200 with `errcode`; 0 = sent.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import requests

from relay.feishu import card_values
from relay.sinks import SendResult, fit_utf8, judge_errcode

ROBOT_LIMITS = [(20, 61.0)]  # 20 a minute per robot (a second of margin over WeCom's minute)
FREQ_OUT_OF_LIMIT = 45009  # "api freq out of limit"
WAITS = {FREQ_OUT_OF_LIMIT: 60.0}
HINTS = {93000: " (the webhook key is wrong or the robot was removed: check RELAY_DESTINATIONS)"}
MAX_CONTENT_BYTES = 4096
LEVEL_COLOURS = {"P0": "warning", "P1": "warning"}  # WeCom's font colours; others: comment (grey)


def markdown(payload: dict[str, Any], tz: ZoneInfo, console_url: str) -> dict[str, Any]:
    v = card_values(payload, tz, console_url)
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
            f"[Open in Guance]({v['link']}) <font color=\"comment\">{v['uuid']}</font>"])

    return {"msgtype": "markdown",
            "markdown": {"content": fit_utf8(render, v["message"], MAX_CONTENT_BYTES)}}


class WeComSink:
    """One WeCom group robot."""

    limits = ROBOT_LIMITS

    def __init__(self, url: str, tz: ZoneInfo, console_url: str,
                 session: requests.Session | None = None, timeout: float = 10.0) -> None:
        self.url, self.tz, self.console_url, self.timeout = url, tz, console_url, timeout
        self.session = session or requests.Session()

    def send(self, payload: dict[str, Any], now: float) -> SendResult:
        try:
            resp = self.session.post(self.url, timeout=self.timeout,
                                     json=markdown(payload, self.tz, self.console_url))
        except requests.RequestException as exc:
            return SendResult(False, f"could not reach WeCom: {type(exc).__name__}")
        return judge_errcode("WeCom", resp, WAITS, HINTS)
