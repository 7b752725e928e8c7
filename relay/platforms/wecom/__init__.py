"""WeCom (企业微信): group robots take markdown cards (they cannot receive messages)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from relay.config.destinations import Destination
from relay.platforms.base import Kind, Platform, Sink
from relay.platforms.wecom.robot import WeComSink, inert
from relay.replies.links import link_signer

if TYPE_CHECKING:
    from relay.runtime import Runtime


def _robot(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    s = rt.settings
    sink = WeComSink(dest.url.get_secret_value(), s.tz, s.guance_console_url, rt.text, http,
                     s.chat_timeout, link_signer(s))
    sink.mentions = rt.mentions
    return sink


PLATFORM = Platform(
    name="wecom",
    kinds=(Kind("wecom", _robot),),
    inert=inert,
)
