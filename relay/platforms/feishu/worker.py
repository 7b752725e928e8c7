"""Acting on stored Feishu message events: a reply to an alert card becomes a Guance comment.

A message that @-mentions the bot becomes a comment on
* the issue it names, when it reads `#<issueUUID>#<text>` (anywhere), or else
* the issue of the alert card it replies to: its `root_id` (thread) or `parent_id` (quoted
  reply) is the message_id relay stored when it sent the card.
Only allowed chats (and, if listed, users) may comment; others get a polite refusal. The bot
answers in the thread either way: posted, or why not. A Guance outage is retried a few times
with back-off before the bot says so. Events live in the database (relay/store/events.py), so one
left half-done by a crash is taken up again when the worker next starts.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from relay.platforms.feishu.buttons import CARD_ACTION_EVENT, act_on_click, act_on_command
from relay.platforms.feishu.inert import text_message
from relay.platforms.feishu.state import feishu_state
from relay.replies.event_worker import EventWorker
from relay.replies import log as replylog
from relay.replies.actions import Where, parse_command
from relay.replies.comments import post_comment
from relay.replies.parse import MAX_TEXT, ReplyParseError, ReplyTooLong, parse_reply
from relay.store import events as event_store
from relay.store.events import DONE, FAILED, IGNORED, PENDING

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.chat")

MAX_ATTEMPTS = 4  # Guance failures retried after 15 s, 30 s, 60 s, then the bot says so
RETRY_FIRST_SECONDS = 15
MESSAGE_EVENT = "im.message.receive_v1"


@dataclass(frozen=True)
class Message:
    message_id: str
    root_id: str
    parent_id: str
    chat_id: str
    chat_type: str
    sender_ids: tuple[str, ...]  # open_id, user_id, union_id (those present)
    author: str  # how the comment names who wrote it
    text: str  # the text, the bot's @-mention removed, other mentions as @name
    mentions_bot: bool
    readable: bool  # a text or rich-text (post) message


class Retry(Exception):
    """Guance could not take the comment now; try the event again later."""


# -- reading the event -------------------------------------------------------------------------

def _plain(message_type: str, content: Any) -> tuple[str, bool]:
    """The text of a `text` or `post` message (its `content` is a JSON string)."""
    try:
        body = json.loads(content) if isinstance(content, str) else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        return "", False
    if message_type == "text":
        return str(body.get("text") or ""), True
    if message_type == "post":
        post = body.get("content") if isinstance(body.get("content"), list) else []
        lines = []
        for line in post:
            parts = [str(el.get("text") or "") for el in line if isinstance(el, dict)
                     and el.get("tag") in ("text", "a", "at")] if isinstance(line, list) else []
            lines.append("".join(parts))
        return "\n".join(lines), True
    return "", False


def read_message(event: dict[str, Any], bot_open_id: str | None,
                 unknown_author: str = "unknown user") -> Message | None:
    """The parts of an im.message.receive_v1 event relay acts on; None when it is not a
    person's message."""
    body = event.get("event") if isinstance(event.get("event"), dict) else {}
    msg = body.get("message") if isinstance(body.get("message"), dict) else {}
    sender = body.get("sender") if isinstance(body.get("sender"), dict) else {}
    if sender.get("sender_type", "user") != "user" or not msg.get("message_id"):
        return None
    ids = sender.get("sender_id") if isinstance(sender.get("sender_id"), dict) else {}
    sender_ids = tuple(str(ids[k]) for k in ("open_id", "user_id", "union_id") if ids.get(k))
    text, readable = _plain(str(msg.get("message_type") or ""), msg.get("content"))
    mentions = sorted((m for m in msg.get("mentions") or [] if isinstance(m, dict)),
                      key=lambda m: -len(str(m.get("key") or "")))  # @_user_10 before @_user_1
    mentions_bot = False
    for mention in mentions:
        key, name = str(mention.get("key") or ""), str(mention.get("name") or "")
        mid = mention.get("id") if isinstance(mention.get("id"), dict) else {}
        is_bot = bot_open_id is not None and mid.get("open_id") == bot_open_id
        if bot_open_id is None:  # the bot's id is unknown (bot info failed): any mention counts
            is_bot = True
        mentions_bot = mentions_bot or is_bot
        if key:
            text = text.replace(key, "" if is_bot else f"@{name}")
    author = sender_ids[0] if sender_ids else unknown_author
    return Message(
        message_id=str(msg["message_id"]), root_id=str(msg.get("root_id") or ""),
        parent_id=str(msg.get("parent_id") or ""), chat_id=str(msg.get("chat_id") or ""),
        chat_type=str(msg.get("chat_type") or ""), sender_ids=sender_ids, author=author,
        text=re.sub(r"[ \t]+", " ", text).strip(), mentions_bot=mentions_bot, readable=readable)


# -- who may comment ---------------------------------------------------------------------------

def _ids(value: str) -> set[str]:
    return {part.strip() for part in value.split(",") if part.strip()}


def allowed(rt: Runtime, message: Message) -> bool:
    """Allowed chats: RELAY_FEISHU_ALLOWED_CHATS, or by default the chats relay sends cards to
    (the feishu_app destinations); `*` allows every chat. RELAY_FEISHU_ALLOWED_USERS, when set, must
    also list the sender."""
    s = rt.settings
    chats = _ids(s.feishu_allowed_chats) or set(s.chats("feishu_app").values())
    if "*" not in chats and message.chat_id not in chats:
        return False
    users = _ids(s.feishu_allowed_users)
    return not users or bool(users & set(message.sender_ids))


# -- acting ------------------------------------------------------------------------------------

def act(rt: Runtime, event: dict[str, Any], attempts: int) -> tuple[str, str, str | None, str]:
    """Do what the event asks: (status, outcome for the log/table, answer for the user or None,
    message_id to answer)."""
    if (event.get("header") or {}).get("event_type") == CARD_ACTION_EVENT:
        return act_on_click(rt, event, attempts)
    app = feishu_state(rt).app
    bot = app.bot_open_id() if app is not None else None
    if bot is None:
        log.warning("feishu event: the bot's open_id is unknown (GET /open-apis/bot/v3/info "
                    "failed); taking any @-mention as one of the bot")
    t = rt.text  # every answer in RELAY_LANGUAGE
    message = read_message(event, bot, t("app.unknown_user"))
    if message is None:
        return IGNORED, "not a person's message", None, ""
    if message.chat_type != "p2p" and not message.mentions_bot:
        return IGNORED, "the bot is not @-mentioned", None, ""
    answer_to = message.message_id
    if not allowed(rt, message):
        return DONE, f"refused: chat {message.chat_id} / {message.author} not allowed", t(
            "app.not_allowed", chat_id=message.chat_id), answer_to
    if not message.readable:
        return DONE, "not a text message", t("app.not_text", how_to=t("app.how_to")), answer_to
    issue, text, problem = _target(rt, message)
    if problem:
        return DONE, f"not posted: {problem}", problem, answer_to
    if (command := parse_command(text)) is not None:  # `/resolve note`: an action, not a comment
        where = Where("feishu_app", message.chat_id, message.sender_ids)
        return act_on_command(rt, issue, command, message.author, where, answer_to,
                              attempts=attempts)
    comment = t("app.signature", text=text, author=message.author)
    outcome = post_comment(rt, issue, comment)
    detail = outcome.body.get("detail") or outcome.body.get("error", "")
    if outcome.retryable and attempts < MAX_ATTEMPTS:
        raise Retry(detail)
    replylog.note(rt, outcome.status, issue, comment, None if outcome.status == 200 else detail,
                  f"feishu:{message.author}")
    if outcome.status == 200:
        return DONE, f"comment posted on {issue}", t("app.posted", issue=issue), answer_to
    if outcome.status == 404:
        return DONE, f"unknown issue {issue}", t("app.not_found", issue=issue), answer_to
    if outcome.status == 504:
        return FAILED, detail, t("app.unsure"), answer_to
    if not outcome.retryable:
        return FAILED, detail, t("app.refused_key"), answer_to
    return FAILED, detail, t("app.not_answering", detail=detail[:200]), answer_to


def _target(rt: Runtime, message: Message) -> tuple[str, str, str]:
    """(issue, comment text, problem): the issue from `#uuid#text`, or from the card replied to."""
    t = rt.text
    try:
        parsed = parse_reply(message.text)
        return parsed.issue_uuid, parsed.text, ""
    except ReplyTooLong as exc:
        return "", "", t("app.too_long", error=exc.say(t))
    except ReplyParseError as exc:
        explicit_error = exc.say(t)
    card = event_store.delivery_by_message(rt.engine, [message.root_id, message.parent_id])
    if card is None:
        if message.text.lstrip().startswith(("#", "＃")):
            return "", "", t("app.malformed", error=explicit_error, how_to=t("app.how_to"))
        return "", "", t("app.which_issue", how_to=t("app.how_to"))
    if card.issue_uuid is None:  # a storm digest stands for many issues
        return "", "", t("app.digest")
    text = message.text
    if not text:
        return "", "", t("app.empty")
    if len(text) > MAX_TEXT:
        return "", "", t("app.thread_too_long", length=len(text), max=MAX_TEXT)
    return card.issue_uuid, text, ""


def handle(rt: Runtime, row: event_store.FeishuEvent) -> None:
    """Act on one claimed event and record how it went (or when to try again)."""
    now = int(rt.clock.now())
    try:
        status, outcome, answer, answer_to = act(rt, row.body, row.attempts)
    except Retry as exc:
        wait = RETRY_FIRST_SECONDS * 2 ** (row.attempts - 1)
        event_store.finish_event(rt.engine, row.event_id, PENDING, f"will retry: {exc}", now,
                                retry_at=now + wait)
        log.warning("feishu event %s: Guance failed (%s); retry in %d s", row.event_id, exc, wait)
        return
    app = feishu_state(rt).app
    if answer and app is not None:
        # an answer may echo what was written (a wrong UUID, Guance's reason): inert
        sent = app.reply_text(answer_to, text_message(answer),
                                        idempotency_key=f"{row.event_id}-a")
        if not sent.ok:
            outcome += f"; answer not sent: {sent.error}"
            log.warning("feishu event %s: could not answer in Feishu: %s", row.event_id,
                        rt.redact(sent.error))
    event_store.finish_event(rt.engine, row.event_id, status, outcome, int(rt.clock.now()))
    log.info("feishu event %s: %s", row.event_id, outcome)


# -- the worker --------------------------------------------------------------------------------

FEISHU_EVENTS = (MESSAGE_EVENT, CARD_ACTION_EVENT)  # the rows of the events table this worker takes


def ensure_worker(rt: Runtime) -> EventWorker:
    state = feishu_state(rt)
    if state.worker is None:
        state.worker = EventWorker(rt, handle, FEISHU_EVENTS, "relay-feishu-events").start()
    return state.worker
