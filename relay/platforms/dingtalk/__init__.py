"""DingTalk (钉钉): custom robots take markdown cards; the outgoing robot writes back through
`/dingtalk/reply`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from relay.platforms.base import Destination, Kind, Platform, ReplyRoute, Sink
from relay.platforms.dingtalk import reply
from relay.platforms.dingtalk.robot import DingTalkSink
from relay.replies.links import link_signer

if TYPE_CHECKING:
    from relay.runtime import Runtime


def _robot(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    s = rt.settings
    return DingTalkSink(dest.url.get_secret_value(), s.tz, s.guance_console_url, rt.text,
                        dest.secret_value(), http, s.feishu_timeout, rt.mentions,
                        link_signer(s, rt.clock.now))


PLATFORM = Platform(
    name="dingtalk",
    kinds=(Kind("dingtalk", "/robot/send", "https://oapi.dingtalk.com/robot/send?access_token=<token>",
                _robot, token_param="access_token", hosts=("dingtalk.com",), signs=True),),
    replies=(ReplyRoute(reply.PATH, reply.dingtalk_reply_blueprint),),
)
