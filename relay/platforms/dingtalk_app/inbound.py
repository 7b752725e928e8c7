"""What comes in over the DingTalk Stream connection, and acting on it.

`answer_frame` is the connection's part: every frame gets its ack at once. A robot message or a
card click is first stored under its messageId (the same table and dedupe the Feishu events use,
relay/store/events.py), then acked: DingTalk pushes a frame it saw no ack for again, and a frame
stored before (same messageId) is acked and not acted on again, also after a restart and on
another replica sharing the database. The worker then acts (Guance may be slow):
* an @-message goes through the reply handler the /dingtalk/reply route uses
  (`#<issueUUID>#<text>` comments, /claim /resolve /close /reopen /mute and 认领 解决 关闭 重开 静音),
  and the answer is posted into the group through the OpenAPI;
* a card button acts through the same action handler as Feishu's buttons, on the issue of the
  card (found by its outTrackId), and says what changed in the group.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError

from relay.platforms.dingtalk.reply import how_to, sentence
from relay.platforms.dingtalk_app.card import read_click
from relay.platforms.dingtalk_app.state import dingtalk_app_state
from relay.platforms.dingtalk_app.stream import (BOT_MESSAGE_TOPIC, CALLBACK, CARD_CALLBACK_TOPIC,
                                                 DISCONNECT, PING, SYSTEM, BadFrame, Frame, ack)
from relay.replies import log as replylog
from relay.incidents.outcome import ActionOutcome
from relay.replies.actions import (ACTIONS, Command, Where, handle_reply, note_action,
                                   origin_in_chat, take_action)
from relay.store import actions as action_store
from relay.store import events as event_store
from relay.store.base import is_busy, lock_deadline
from relay.store.events import DONE, FAILED, IGNORED

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.dingtalk_app")

MESSAGE_EVENT, CLICK_EVENT = "dingtalk.bot_message", "dingtalk.card_callback"
EVENT_TYPES = (MESSAGE_EVENT, CLICK_EVENT)
TOPIC_EVENTS = {BOT_MESSAGE_TOPIC: MESSAGE_EVENT, CARD_CALLBACK_TOPIC: CLICK_EVENT}
DOUBLE_CLICK_SECONDS = 30  # a second click on the same button of a card within this: not acted


@dataclass(frozen=True)
class Answer:
    ack: str | None  # the frame to send back (None: nothing)
    reconnect: bool = False  # the server announced it will close this connection
    stored: bool = False  # a new event for the worker
    again: bool = False  # an event stored before, pushed again (acked, not acted on again)


def answer_frame(rt: Runtime, frame: Frame) -> Answer:
    """The ack of one frame, after storing what is to be acted on."""
    if frame.type == SYSTEM:
        if frame.topic == DISCONNECT:
            log.info("DingTalk Stream: the server will close this connection; opening another")
        elif frame.topic != PING:
            log.info("DingTalk Stream: system frame %r acknowledged, nothing to do", frame.topic)
        return Answer(ack(frame), reconnect=frame.topic == DISCONNECT)
    event_type = TOPIC_EVENTS.get(frame.topic) if frame.type == CALLBACK else None
    if event_type is None:
        log.warning("DingTalk Stream: %s %r is not subscribed; acknowledged and skipped",
                    frame.type, frame.topic[:100])
        return Answer(ack(frame, code=404, message="not subscribed"))
    try:
        body = frame.body()
    except BadFrame as exc:
        log.warning("DingTalk Stream: %s; acknowledged and skipped", exc)
        return Answer(ack(frame, code=400, message="unreadable data"))
    try:
        with lock_deadline():
            stored = event_store.accept_event(rt.engine, f"dingtalk:{frame.message_id}",
                                             event_type, body, int(rt.clock.now()))
    except OperationalError as exc:
        if not is_busy(exc):
            raise
        log.warning("DingTalk Stream: the database is busy; %s not acknowledged (DingTalk "
                    "pushes it again)", frame.message_id)
        return Answer(None)
    if not stored:
        log.info("DingTalk Stream: %s delivered again; already accepted", frame.message_id)
    return Answer(ack(frame), stored=stored, again=not stored)


# -- the worker's part ------------------------------------------------------------------------

def act(rt: Runtime, row: event_store.FeishuEvent) -> None:
    """Act on one claimed event, answer in the group, and record how it went."""
    if row.event_type == CLICK_EVENT:
        status, outcome, answer, group = act_on_click(rt, row.body, row.attempts)
    else:
        status, outcome, answer, group = act_on_message(rt, row.body)
    app = dingtalk_app_state(rt).app
    if answer and group and app is not None:
        sent = app.send_text(group, answer)
        if not sent.ok:
            outcome += f"; answer not sent: {sent.error}"
            log.warning("DingTalk event %s: could not answer in the group: %s", row.event_id,
                        rt.redact(sent.error))
    event_store.finish_event(rt.engine, row.event_id, status, outcome, int(rt.clock.now()))
    log.info("DingTalk event %s: %s", row.event_id, outcome)


def _groups(rt: Runtime) -> set[str]:
    return set(rt.settings.chats("dingtalk_app").values())


def act_on_message(rt: Runtime, data: dict[str, Any]) -> tuple[str, str, str | None, str]:
    """(status, outcome for the log, answer for the group or None, the group to answer in)."""
    app, t = dingtalk_app_state(rt).app, rt.text
    group = str(data.get("conversationId") or "")
    if app is not None and data.get("robotCode") not in (None, app.robot_code):
        return IGNORED, "a message for another robot", None, ""
    if str(data.get("conversationType") or "2") != "2":
        return IGNORED, "not a group message (relay answers in its groups only)", None, ""
    if group not in _groups(rt):
        return (DONE, f"refused: group {group[:64]} is not one of relay's "
                "(RELAY_DINGTALK_APP_GROUPS)", None, "")
    staff = str(data.get("senderStaffId") or "")
    sender = f"dingtalk:{staff or data.get('senderId') or '?'}"
    text = data.get("text")
    content = text.get("content") if isinstance(text, dict) else None
    if data.get("msgtype", "text") != "text" or not isinstance(content, str):
        replylog.note(rt, 400, None, "", "not a text message", sender)
        return DONE, "not a text message", t("dingtalk.not_text", how_to=how_to(t)), group
    where = Where("dingtalk_app", group, (staff,) if staff else ())  # its own group, by its cid
    outcome = handle_reply(rt, content.strip(), "DingTalk", str(data.get("senderNick") or ""),
                           "dingtalk_app", where, sender)
    if isinstance(outcome, ActionOutcome):
        return (DONE if outcome.done else FAILED, f"{outcome.action} {outcome.issue}: "
                f"{outcome.kind.value}", sentence(outcome, t), group)
    return (DONE if outcome.status == 200 else FAILED, f"reply: {outcome.status}",
            sentence(outcome, t), group)


def act_on_click(rt: Runtime, data: dict[str, Any], attempts: int
                 ) -> tuple[str, str, str | None, str]:
    """A button on one of relay's cards: the card names the issue and the group. Never
    retried: a click taken up again after a crash is not acted on (a stale action must not land
    later)."""
    click = read_click(data)
    if click is None:
        return DONE, "not a relay button", None, ""
    card = event_store.delivery_by_message(rt.engine, [click.out_track_id])
    group = rt.settings.chats("dingtalk_app").get(card.destination, "") if card else ""
    if card is None or not group:
        return DONE, f"card {click.out_track_id[:64]} is not one relay sent", None, ""
    issue = card.issue_uuid
    if issue is None:  # a storm digest stands for many issues
        return DONE, "a digest card", rt.text("app.digest"), group
    if attempts > 1:
        return FAILED, f"{click.action} {issue}: interrupted, not acted on again", rt.text(
            "action.interrupted", issue=issue), group
    now = int(rt.clock.now())
    key, bucket = f"dtcard:{click.out_track_id}:{click.action}:", now // DOUBLE_CLICK_SECONDS
    if action_store.taken(rt.engine, [key + str(bucket - 1)]) or not action_store.take(
            rt.engine, key + str(bucket), issue, click.action, "dingtalk_card", now):
        return DONE, f"{click.action} {issue}: clicked again, acted once", None, group
    author = click.user_id or rt.text("app.unknown_user")
    chat = str(data.get("openConversationId") or group)  # the card's group, where it was clicked
    outcome = take_action(rt, issue, Command(ACTIONS[click.action], ""),
                          origin_in_chat(rt.text, "DingTalk", author), "dingtalk_card",
                          Where("dingtalk_app", chat, (click.user_id,)), author)
    note_action(rt, outcome, f"/{click.action}", f"dingtalk:{author}")
    return (DONE if outcome.done else FAILED, f"{click.action} {issue}: {outcome.kind.value}",
            outcome.said, group)
