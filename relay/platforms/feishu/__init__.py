"""Feishu (飞书/Lark): flow webhooks and custom bots take cards; the app bot posts cards into its
chats, takes replies in their threads (`/feishu/events`) and updates them; a flow's @-mention
trigger writes back through `/feishu/reply`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from relay.config.destinations import Destination
from relay.platforms.base import Kind, Platform, ReplyRoute, Sink
from relay.platforms.feishu import events, reply
from relay.platforms.feishu.app import AppChatSink, app_from_settings
from relay.platforms.feishu.card import json_2_warning, load_card_template
from relay.platforms.feishu.inert import text_message
from relay.platforms.feishu.webhook import BotWebhookSink, FlowWebhookSink
from relay.replies.links import link_signer

if TYPE_CHECKING:
    from relay.runtime import Runtime

FLOW_KIND = "feishu_flow"  # any URL no other kind claims
APP_KIND = "feishu_app"  # a chat of the app bot


def _flow(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    return FlowWebhookSink(dest.url.get_secret_value(), rt.settings.tz, rt.text, http,
                           rt.settings.chat_timeout, link_signer(rt.settings))


def _bot(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    s = rt.settings
    return BotWebhookSink(dest.url.get_secret_value(), s.tz, rt.card, s.guance_console_url,
                          rt.text, dest.secret_value(), http, s.chat_timeout, rt.mentions,
                          link_signer(s))


def _app_chat(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    s = rt.settings
    assert rt.feishu_app is not None and rt.card is not None  # made by _setup for these chats
    return AppChatSink(rt.feishu_app, dest.chat_id or "", s.tz, rt.card, s.guance_console_url,
                       rt.text, rt.mentions)


def _setup(rt: Runtime, http: requests.Session) -> None:
    """The card template is checked once (a broken file stops start-up, not every delivery);
    the app client is made when the app bot has chats or takes events."""
    s = rt.settings
    rt.card = load_card_template(s.feishu_card_template, s.language)
    rt.feishu_app = app_from_settings(s, rt.clock, http)


def _warnings(rt: Runtime) -> list[str]:
    warning = json_2_warning(rt.card) if rt.card is not None else None
    return [warning] if warning else []


PLATFORM = Platform(
    name="feishu",
    kinds=(Kind("feishu_bot", _bot), Kind(FLOW_KIND, _flow), Kind(APP_KIND, _app_chat)),
    replies=(ReplyRoute(reply.PATH, reply.feishu_reply_blueprint),
             ReplyRoute(events.PATH, events.feishu_events_blueprint, counted=False)),
    setup=_setup,
    warnings=_warnings,
    inert=text_message,
)
