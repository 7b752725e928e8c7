"""Which of relay's configured destinations a chat stands for: a mute from that chat covers
those destinations only.

A chat is known by the platform it writes from and its id there: a Feishu app chat's chat_id
(RELAY_FEISHU_APP_CHATS), a DingTalk app robot's openConversationId (RELAY_DINGTALK_APP_GROUPS).
A route with no chat identity (the Feishu flow, a signed link) stands for no destination.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.runtime import Runtime


def destinations_of(rt: Runtime, platform: str, chat_id: str | None) -> frozenset[str]:
    """The names of the destinations whose chat is `chat_id` on `platform` ("feishu_app",
    "dingtalk", "dingtalk_app"); empty when the chat is none of relay's."""
    if not chat_id:
        return frozenset()
    table = {"feishu_app": rt.settings.feishu_app_chats,
             "dingtalk_app": rt.settings.dingtalk_app_groups}.get(platform, {})
    return frozenset(name for name, chat in table.items() if chat == chat_id)
