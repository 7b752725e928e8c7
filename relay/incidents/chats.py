"""Who may act from where: an action (claim, resolve, close, reopen, mute) from a chat is taken
only on an issue whose card went to that chat, and, where the admin lists people, only by them.

"Went to" is the outbox: a sent card of the issue (kind `issue`) for one of the destinations the
chat stands for. Which destinations a chat stands for: the Feishu app bot's chat_id through
its `feishu_app` destinations (or RELAY_FEISHU_APP_CHATS), the DingTalk app robot's
openConversationId through its `dingtalk_app` destinations (or RELAY_DINGTALK_APP_GROUPS), and the DingTalk outgoing robot's conversationId through
RELAY_DINGTALK_CONVERSATIONS. The Feishu flow names no chat (its `sender` is self-declared): its
actions are allowed unless RELAY_FEISHU_FLOW_ACTIONS is off. A signed link is bound by its
signature to one issue and action, and is not checked here. Comments keep their own rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from relay.incidents.outcome import ActionOutcome, Kind
from relay.store import events as event_store

if TYPE_CHECKING:
    from relay.runtime import Runtime

FEISHU_APP, DINGTALK, DINGTALK_APP = "feishu_app", "dingtalk", "dingtalk_app"
FEISHU_FLOW, LINK = "feishu_flow", "link"
CHAT_SETTING = {FEISHU_APP: "RELAY_FEISHU_APP_CHATS", DINGTALK: "RELAY_DINGTALK_CONVERSATIONS",
                DINGTALK_APP: "RELAY_DINGTALK_APP_GROUPS"}
USER_SETTING = {FEISHU_APP: "RELAY_FEISHU_ALLOWED_USERS", DINGTALK: "RELAY_DINGTALK_ALLOWED_USERS",
                DINGTALK_APP: "RELAY_DINGTALK_ALLOWED_USERS"}
FLOW_SETTING = "RELAY_FEISHU_FLOW_ACTIONS"


@dataclass(frozen=True)
class Where:
    """Where an action comes from: the route's platform key, its chat (None: the route names
    none) and the operator's ids on that platform."""

    platform: str
    chat_id: str | None = None
    user_ids: tuple[str, ...] = ()


def destinations_of(rt: Runtime, platform: str, chat_id: str | None) -> frozenset[str]:
    """The destination names the chat stands for on that platform ("feishu_app", "dingtalk",
    "dingtalk_app"); empty when the chat is unknown or the route names no chat."""
    if not chat_id:
        return frozenset()
    s = rt.settings
    if platform == DINGTALK:
        return frozenset(s.dingtalk_conversations.get(chat_id, ()))
    if platform not in (FEISHU_APP, DINGTALK_APP):
        return frozenset()
    return frozenset(name for name, chat in s.chats(platform).items() if chat == chat_id)


def carded_to(rt: Runtime, issue: str, destinations: frozenset[str]) -> bool:
    """Did a card of the issue go out to one of these destinations?"""
    return bool(destinations) and any(card.destination in destinations
                                      for card in event_store.cards_of(rt.engine, issue))


def _users(rt: Runtime, platform: str) -> set[str]:
    value = {FEISHU_APP: rt.settings.feishu_allowed_users}.get(
        platform, rt.settings.dingtalk_allowed_users if platform in USER_SETTING else "")
    return {part.strip() for part in value.split(",") if part.strip()}


def refusal(rt: Runtime, where: Where, issue: str, action: str) -> ActionOutcome | None:
    """None when the action may be taken from `where`; else the outcome saying why not, naming
    the setting that decides it."""
    text = rt.text

    def refuse(key: str, setting: str, **values: str) -> ActionOutcome:
        return ActionOutcome(Kind.NOT_ALLOWED, issue, action,
                             text(key, issue=issue, setting=setting, **values), setting=setting)

    if where.platform == LINK:
        return None
    if where.platform == FEISHU_FLOW:
        return None if rt.settings.feishu_flow_actions else refuse("action.flow_off",
                                                                   FLOW_SETTING)
    if where.platform not in CHAT_SETTING:
        return refuse("action.unknown_chat", "", chat=where.chat_id or "?")
    users = _users(rt, where.platform)
    if users and not users & set(where.user_ids):
        return refuse("action.user_not_listed", USER_SETTING[where.platform])
    destinations = destinations_of(rt, where.platform, where.chat_id)
    if not destinations:
        return refuse("action.unknown_chat", CHAT_SETTING[where.platform],
                      chat=where.chat_id or "?")
    if not carded_to(rt, issue, destinations):
        return refuse("action.not_carded_here", CHAT_SETTING[where.platform],
                      destinations=", ".join(sorted(destinations)))
    return None
