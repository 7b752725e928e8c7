"""DingTalk (钉钉): custom robots take markdown cards; the outgoing robot writes back through
`/dingtalk/reply`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from relay.config.destinations import Destination
from relay.platforms.base import Kind, Platform, ReplyRoute, Sink
from relay.platforms.dingtalk import reply
from relay.platforms.dingtalk.robot import DingTalkSink, inert
from relay.replies.links import link_signer

if TYPE_CHECKING:
    from relay.runtime import Runtime


def _robot(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    s = rt.settings
    return DingTalkSink(dest.url.get_secret_value(), s.tz, s.guance_console_url, rt.text,
                        dest.secret_value(), http, s.chat_timeout, rt.mentions, link_signer(s))


PLATFORM = Platform(
    name="dingtalk",
    kinds=(Kind("dingtalk", _robot),),
    replies=(ReplyRoute(reply.PATH, reply.dingtalk_reply_blueprint),),
    inert=inert,
)
