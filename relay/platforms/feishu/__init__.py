"""Feishu (飞书/Lark): flow webhooks and custom bots take cards; the app bot posts cards into its
chats, takes replies in their threads (`/feishu/events`) and updates them; a flow's @-mention
trigger writes back through `/feishu/reply`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from relay.platforms.base import Destination, Kind, Platform, ReplyRoute, Sink
from relay.platforms.feishu import events, reply
from relay.platforms.feishu.app import AppChatSink, app_from_settings
from relay.platforms.feishu.webhook import BotWebhookSink, FlowWebhookSink

if TYPE_CHECKING:
    from relay.runtime import Runtime

FLOW_KIND = "feishu_flow"  # any URL no other kind claims


def _flow(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    return FlowWebhookSink(dest.url.get_secret_value(), rt.settings.tz, http,
                           rt.settings.feishu_timeout)


def _bot(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    s = rt.settings
    return BotWebhookSink(dest.url.get_secret_value(), s.tz, rt.card, s.guance_console_url,
                          dest.secret_value(), http, s.feishu_timeout, rt.mentions)


def _app_chats(rt: Runtime, http: requests.Session) -> dict[str, Sink]:
    """The app bot's chats (RELAY_FEISHU_APP_CHATS) are destinations too."""
    s = rt.settings
    rt.feishu_app = app_from_settings(s, rt.clock, http)
    return {name: AppChatSink(rt.feishu_app, chat_id, s.tz, rt.card, s.guance_console_url,
                              rt.mentions)
            for name, chat_id in s.feishu_app_chats.items()}


PLATFORM = Platform(
    name="feishu",
    kinds=(
        Kind("feishu_bot", "/open-apis/bot/v2/hook/",
             "https://open.feishu.cn/open-apis/bot/v2/hook/<token>", _bot, signs=True),
        Kind(FLOW_KIND, None, "https://www.feishu.cn/flow/api/trigger-webhook/<id>", _flow),
    ),
    replies=(ReplyRoute(reply.PATH, reply.feishu_reply_blueprint),
             ReplyRoute(events.PATH, events.feishu_events_blueprint, counted=False)),
    own_sinks=_app_chats,
)
