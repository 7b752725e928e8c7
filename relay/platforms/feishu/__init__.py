"""Feishu (飞书/Lark): flow webhooks and custom bots take cards; the app bot posts cards into its
chats, takes replies in their threads and card clicks (`/feishu/events`, or over its long
connection: longconn.py) and updates them; a flow's @-mention trigger writes back through
`/feishu/reply`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from relay.errors import ConfigError
from relay.platforms.base import Destination, Kind, Platform, ReplyRoute, Sink
from relay.platforms.feishu import events, reply
from relay.platforms.feishu.app import AppChatSink, app_from_settings
from relay.platforms.feishu.card import json_2_warning, load_card_template
from relay.platforms.feishu.webhook import BotWebhookSink, FlowWebhookSink
from relay.replies.links import link_signer

if TYPE_CHECKING:
    from relay.runtime import Runtime
    from relay.settings import Settings

FLOW_KIND = "feishu_flow"  # any URL no other kind claims


def _flow(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    return FlowWebhookSink(dest.url.get_secret_value(), rt.settings.tz, rt.text, http,
                           rt.settings.feishu_timeout, link_signer(rt.settings))


def _bot(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    s = rt.settings
    return BotWebhookSink(dest.url.get_secret_value(), s.tz, rt.card, s.guance_console_url,
                          rt.text, dest.secret_value(), http, s.feishu_timeout, rt.mentions,
                          link_signer(s))


def _setup(rt: Runtime, http: requests.Session) -> dict[str, Sink]:
    """The card template is checked once (a broken file stops start-up, not every delivery);
    the app bot's chats (RELAY_FEISHU_APP_CHATS) are destinations too."""
    s = rt.settings
    rt.card = load_card_template(s.feishu_card_template, s.language)
    _check_bot_secrets(s)
    rt.feishu_app = app_from_settings(s, rt.clock, http)
    return {name: AppChatSink(rt.feishu_app, chat_id, s.tz, rt.card, s.guance_console_url,
                              rt.text, rt.mentions)
            for name, chat_id in s.feishu_app_chats.items()}


def _warnings(rt: Runtime) -> list[str]:
    warning = json_2_warning(rt.card) if rt.card is not None else None
    warnings = [warning] if warning else []
    s = rt.settings
    if s.feishu_events == "long" and (s.feishu_verification_token or s.feishu_encrypt_key):
        warnings.append("RELAY_FEISHU_VERIFICATION_TOKEN / RELAY_FEISHU_ENCRYPT_KEY are unused "
                        "with RELAY_FEISHU_EVENTS=long (/feishu/events is not served)")
    return warnings


def _check_bot_secrets(settings: Settings) -> None:
    """A secret for a name that is not a custom bot is a typo that would silently go unused."""
    table = settings.destination_table()
    for name in settings.feishu_bot_secrets:
        if name not in table or table[name].kind != "feishu_bot":
            raise ConfigError(
                f"RELAY_FEISHU_BOT_SECRETS: {name!r} is not a destination with a custom bot "
                "URL (…/open-apis/bot/v2/hook/<token>); the default webhook's name is 'default'")


def _links(rt: Runtime) -> list:
    """The app bot's long connection (RELAY_FEISHU_EVENTS=long), not started."""
    if rt.feishu_app is None or rt.settings.feishu_events != "long":
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
    kinds=(
        Kind("feishu_bot", "/open-apis/bot/v2/hook/",
             "https://open.feishu.cn/open-apis/bot/v2/hook/<token>", _bot, signs=True),
        Kind(FLOW_KIND, None, "https://www.feishu.cn/flow/api/trigger-webhook/<id>", _flow),
    ),
    replies=(ReplyRoute(reply.PATH, reply.feishu_reply_blueprint),
             ReplyRoute(events.PATH, events.feishu_events_blueprint, counted=False)),
    setup=_setup,
    warnings=_warnings,
    listen=_listen,
    links=_links,
)
