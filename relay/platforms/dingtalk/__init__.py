"""DingTalk (钉钉): custom robots take markdown cards; the outgoing robot writes back through
`/dingtalk/reply`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from relay.config.destinations import Destination
from relay.platforms.base import Sink
from relay.platforms.declaration import Kind, Platform, ReplyRoute
from relay.platforms.dingtalk import reply
from relay.platforms.dingtalk.robot import DingTalkSink, inert
from relay.replies.links import link_signer

if TYPE_CHECKING:
    from relay.runtime import Runtime


def _robot(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    s = rt.settings
    return DingTalkSink(dest.url.get_secret_value(), s.tz, s.guance_console_url, rt.text,
                        dest.secret_value(), http, s.chat_timeout, rt.mentions,
                        link_signer(s, rt.clock.now))


def _warnings(rt: Runtime) -> list[str]:
    """The outgoing robot can act only from the groups RELAY_DINGTALK_CONVERSATIONS maps (with
    RELAY_DINGTALK_APP_KEY set, the secret is the app robot's, which acts from its own groups)."""
    s = rt.settings
    outgoing = s.dingtalk_app_secret is not None and not (s.dingtalk_app_key or "").strip()
    if outgoing and not s.dingtalk_conversations:
        return ["RELAY_DINGTALK_CONVERSATIONS is empty: commands (/claim … /mute) through "
                "/dingtalk/reply are refused until a group's conversationId is mapped to the "
                "destinations whose cards it gets (comments work); docs/actions.md"]
    known = set(rt.sinks)
    return [f"RELAY_DINGTALK_CONVERSATIONS: {cid!r} names {name!r}, which is no destination"
            for cid, names in s.dingtalk_conversations.items() for name in names
            if name not in known]


PLATFORM = Platform(
    name="dingtalk",
    kinds=(Kind("dingtalk", _robot),),
    replies=(ReplyRoute(reply.PATH, reply.dingtalk_reply_blueprint),),
    inert=inert,
    warnings=_warnings,
)
