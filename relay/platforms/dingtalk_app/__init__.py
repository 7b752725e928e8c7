"""DingTalk app robot (钉钉企业内部应用机器人): interactive cards in its groups through the
OpenAPI, updated in place as the issue changes, and @-messages and card buttons over Stream mode
(a WebSocket relay opens itself: no public address needed). docs/platforms/dingtalk-app.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from relay.errors import ConfigError
from relay.platforms.base import Platform, Sink
from relay.platforms.dingtalk_app.openapi import DingTalkApp
from relay.platforms.dingtalk_app.sink import AppGroupSink

if TYPE_CHECKING:
    from relay.runtime import Runtime

KIND = "dingtalk_app"


def _setup(rt: Runtime, http: requests.Session) -> dict[str, Sink]:
    """The app (when RELAY_DINGTALK_APP_KEY is set) and its groups as destinations."""
    s = rt.settings
    key = (s.dingtalk_app_key or "").strip()
    if not key:
        if s.dingtalk_app_groups:
            raise ConfigError("RELAY_DINGTALK_APP_KEY is not set (RELAY_DINGTALK_APP_GROUPS "
                              "needs the DingTalk app robot)")
        return {}
    secret = s.dingtalk_app_secret.get_secret_value().strip() if s.dingtalk_app_secret else ""
    if not secret:
        raise ConfigError("RELAY_DINGTALK_APP_SECRET is not set (RELAY_DINGTALK_APP_KEY needs "
                          "the app's AppSecret)")
    clash = sorted(set(s.dingtalk_app_groups) & (set(s.destination_table())
                                                 | set(s.feishu_app_chats)))
    if clash:
        raise ConfigError(f"RELAY_DINGTALK_APP_GROUPS: {clash[0]!r} is also another "
                          "destination; use another name")
    for name, group in s.dingtalk_app_groups.items():
        if not group.strip() or any(c.isspace() for c in group):
            raise ConfigError(f"RELAY_DINGTALK_APP_GROUPS: {name!r} must map to a group's "
                              "openConversationId (cid…)")
    if s.dingtalk_app_groups and not s.dingtalk_card_template.strip():
        raise ConfigError("RELAY_DINGTALK_CARD_TEMPLATE is not set (the groups of "
                          "RELAY_DINGTALK_APP_GROUPS get interactive cards of that template)")
    robot = (s.dingtalk_robot_code or "").strip() or key  # an internal app's robotCode: its AppKey
    rt.dingtalk_app = DingTalkApp(s.dingtalk_open_base_url, key, secret, robot, rt.clock, http,
                                  s.feishu_timeout)
    return {name: AppGroupSink(rt.dingtalk_app, group, s.dingtalk_card_template.strip(), s.tz,
                               s.guance_console_url, rt.text, rt.mentions)
            for name, group in s.dingtalk_app_groups.items()}


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


PLATFORM = Platform(name="dingtalk_app", setup=_setup, listen=_listen, links=_links)
