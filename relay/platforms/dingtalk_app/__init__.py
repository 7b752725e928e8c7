"""DingTalk app robot (钉钉企业内部应用机器人): interactive cards in its groups through the
OpenAPI, updated in place as the issue changes, and @-messages and card buttons over Stream mode
(a WebSocket relay opens itself: no public address needed). docs/platforms/dingtalk-app.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from relay.config.destinations import Destination
from relay.errors import ConfigError
from relay.platforms.base import Kind, Platform, Sink
from relay.platforms.dingtalk_app.openapi import DingTalkApp
from relay.platforms.dingtalk_app.card import inert
from relay.platforms.dingtalk_app.sink import AppGroupSink

if TYPE_CHECKING:
    from relay.runtime import Runtime

KIND = "dingtalk_app"


GROUPS = "dingtalk_app destinations (RELAY_DINGTALK_APP_GROUPS)"


def _setup(rt: Runtime, http: requests.Session) -> None:
    """The app, when RELAY_DINGTALK_APP_KEY is set; its groups need it and a card template."""
    s = rt.settings
    key, groups = (s.dingtalk_app_key or "").strip(), s.chats(KIND)
    if not key:
        if groups:
            raise ConfigError(f"RELAY_DINGTALK_APP_KEY is not set ({GROUPS} need the DingTalk "
                              "app robot)")
        return
    secret = s.dingtalk_app_secret.get_secret_value().strip() if s.dingtalk_app_secret else ""
    if not secret:
        raise ConfigError("RELAY_DINGTALK_APP_SECRET is not set (RELAY_DINGTALK_APP_KEY needs "
                          "the app's AppSecret)")
    if groups and not s.dingtalk_card_template.strip():
        raise ConfigError(f"RELAY_DINGTALK_CARD_TEMPLATE is not set ({GROUPS} get interactive "
                          "cards of that template)")
    robot = (s.dingtalk_robot_code or "").strip() or key  # an internal app's robotCode: its AppKey
    rt.dingtalk_app = DingTalkApp(s.dingtalk_open_base_url, key, secret, robot, rt.clock, http,
                                  s.chat_timeout)


def _group(rt: Runtime, dest: Destination, http: requests.Session) -> Sink:
    s = rt.settings
    assert rt.dingtalk_app is not None  # _setup refuses groups without the app
    return AppGroupSink(rt.dingtalk_app, dest.open_conversation_id or "",
                        s.dingtalk_card_template.strip(), s.tz, s.guance_console_url, rt.text,
                        rt.mentions)


def _links(rt: Runtime) -> list:
    """The Stream connection, not started (`relay check` opens it once)."""
    from relay.platforms.dingtalk_app.connection import DingTalkStream

    if rt.dingtalk_app is None:
        return []
    secret = rt.settings.dingtalk_app_secret.get_secret_value()  # type: ignore[union-attr]
    return [DingTalkStream(rt, rt.dingtalk_app, secret.strip())]


def _listen(rt: Runtime) -> None:
    """The Stream connection, in the serving process (once)."""
    if rt.dingtalk_stream is not None:
        return
    for link in _links(rt):
        rt.dingtalk_stream = link.start()
        rt.connections.append(link.connection)


PLATFORM = Platform(name="dingtalk_app", kinds=(Kind(KIND, _group),), setup=_setup,
                    listen=_listen, links=_links, inert=inert)
