"""Feishu (飞书/Lark): flow webhooks and custom bots take cards; the app bot posts cards into its
chats, takes replies in their threads and card clicks (`/feishu/events`, or over its long
connection: longconn.py) and updates them; a flow's @-mention trigger writes back through
`/feishu/reply`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from relay.config.destinations import Destination
from relay.platforms.base import Sink
from relay.platforms.declaration import Kind, Platform, ReplyRoute
from relay.platforms.feishu import events, reply
from relay.platforms.feishu.app import AppChatSink, app_from_settings
from relay.platforms.feishu.card import json_2_warning, load_card_template
from relay.platforms.feishu.inert import text_message
from relay.platforms.feishu.state import feishu_state
from relay.platforms.feishu.webhook import BotWebhookSink, FlowWebhookSink
from relay.replies.links import link_signer

if TYPE_CHECKING:
    from relay.runtime import Runtime

FLOW_KIND = "feishu_flow"  # any URL no other kind claims
APP_KIND = "feishu_app"  # a chat of the app bot


def _flow(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    return FlowWebhookSink(dest.url.get_secret_value(), rt.settings.tz, rt.text, http,
                           rt.settings.chat_timeout, link_signer(rt.settings, rt.clock.now))


def _bot(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    s = rt.settings
    return BotWebhookSink(dest.url.get_secret_value(), s.tz, feishu_state(rt).card,
                          s.guance_console_url, rt.text, dest.secret_value(), http,
                          s.chat_timeout, rt.mentions,
                          link_signer(s, rt.clock.now))


def _app_chat(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    s = rt.settings
    state = feishu_state(rt)
    assert state.app is not None and state.card is not None  # made by _setup for these chats
    return AppChatSink(state.app, dest.chat_id or "", s.tz, state.card, s.guance_console_url,
                       rt.text, rt.mentions)


def _setup(rt: Runtime, http: requests.Session) -> None:
    """The card template is checked once (a broken file stops start-up, not every delivery);
    the app client is made when the app bot has chats or takes events."""
    s = rt.settings
    state = feishu_state(rt)
    state.card = load_card_template(s.feishu_card_template, s.language)
    state.app = app_from_settings(s, rt.clock, http)


def _warnings(rt: Runtime) -> list[str]:
    card = feishu_state(rt).card
    warnings = [json_2_warning(card)] if card is not None else []
    s = rt.settings
    if s.feishu_events == "long" and (s.feishu_verification_token or s.feishu_encrypt_key):
        warnings.append("RELAY_FEISHU_VERIFICATION_TOKEN / RELAY_FEISHU_ENCRYPT_KEY are unused "
                        "with RELAY_FEISHU_EVENTS=long (/feishu/events is not served)")
    return [w for w in warnings if w]


def _links(rt: Runtime) -> list:
    """The app bot's long connection (RELAY_FEISHU_EVENTS=long), not started."""
    if feishu_state(rt).app is None or rt.settings.feishu_events != "long":
        return []  # (nothing imported: the HTTP mode never loads the long connection's code)
    from relay.platforms.feishu.longconn import FeishuLink

    return [FeishuLink(rt)]


def _listen(rt: Runtime) -> None:
    """The long connection, in the serving process (once), and the worker acting on what
    arrives over it (the one /feishu/events uses)."""
    if any(c.platform == "feishu" for c in rt.connections):
        return
    for link in _links(rt):
        from relay.connections import Connection
        from relay.platforms.feishu.worker import ensure_worker

        ensure_worker(rt)
        rt.connections.append(Connection(rt, link).start())


PLATFORM = Platform(
    name="feishu",
    kinds=(Kind("feishu_bot", _bot), Kind(FLOW_KIND, _flow), Kind(APP_KIND, _app_chat)),
    replies=(ReplyRoute(reply.PATH, reply.feishu_reply_blueprint),
             ReplyRoute(events.PATH, events.feishu_events_blueprint, counted=False)),
    setup=_setup,
    warnings=_warnings,
    inert=text_message,
    listen=_listen,
    links=_links,
)
