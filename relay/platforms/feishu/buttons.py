"""Buttons on Feishu cards. The app bot's card gets Claim / Resolve / Close / Reopen buttons
whose clicks come back as `card.action.trigger` callbacks on /feishu/events (operator ids, the
card's open_message_id and open_chat_id, the button's `value`); custom-bot cards, which cannot
call back, get signed link buttons instead (relay/replies/links.py).

A click is answered within Feishu's 3 s with a toast and stored like a message event (a database
another process holds locked is waited on for a second at most: the toast then says "not done,
click again" and nothing is stored, so the click is never acted on after the clicker saw an
error); the worker then acts (Guance may take longer than 3 s) and answers in the card's
thread, also when the click is refused (a chat the issue's card did not go to). A click is acted
on once: a redelivered callback has the same event_id, and a second click on the same button of
the same card in the same or the next DOUBLE_CLICK_SECONDS window is answered but not acted on.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError

from relay.replies.actions import ACTIONS, Command, Where, note_action, origin_in_chat, take_action
from relay.replies.parse import ISSUE_UUID
from relay.store import actions as action_store
from relay.store.base import is_busy, lock_deadline
from relay.store import events as event_store
from relay.store.events import DONE, FAILED

if TYPE_CHECKING:
    from relay.i18n import Text
    from relay.runtime import Runtime

log = logging.getLogger("relay.feishu_events")
CARD_ACTION_EVENT = "card.action.trigger"
DOUBLE_CLICK_SECONDS = 30
VALUE_KEY = "relay_action"  # the button value's key naming the action


@dataclass(frozen=True)
class Click:
    message_id: str  # the card's
    chat_id: str
    sender_ids: tuple[str, ...]  # open_id, user_id (those present)
    action: str
    issue: str

    @property
    def author(self) -> str:
        return self.sender_ids[0] if self.sender_ids else "unknown user"


# -- the cards -----------------------------------------------------------------------------------

def _button(label: str, primary: bool, **target: Any) -> dict[str, Any]:
    return {"tag": "button", "text": {"tag": "plain_text", "content": label},
            "type": "primary" if primary else "default", **target}


def with_buttons(card: Any, issue: str, text: Text) -> Any:
    """The app bot's card with one row of action buttons, labelled in `text`'s language (none
    on a storm digest)."""
    if not ISSUE_UUID.fullmatch(issue) or not isinstance(card, dict) or not isinstance(
            card.get("elements"), list):
        return card
    card = copy.copy(card)
    card["elements"] = card["elements"] + [{"tag": "action", "actions": [
        _button(text(f"action.label_{name}"), name == "claim",
                value={VALUE_KEY: name, "issue": issue})
        for name in ACTIONS]}]
    return card


def with_links(card: Any, links: list[tuple[str, str, str]]) -> Any:
    """A custom bot's card with signed link buttons (it cannot call back)."""
    if not links or not isinstance(card, dict) or not isinstance(card.get("elements"), list):
        return card
    card = copy.copy(card)
    card["elements"] = card["elements"] + [{"tag": "action", "actions": [
        _button(label, i == 0, url=url) for i, (_, label, url) in enumerate(links)]}]
    return card


# -- the callback --------------------------------------------------------------------------------

def read_click(event: dict[str, Any]) -> Click | None:
    """The parts of a card.action.trigger callback relay acts on; None when not its button."""
    body = event.get("event") if isinstance(event.get("event"), dict) else {}
    operator = body.get("operator") if isinstance(body.get("operator"), dict) else {}
    action = body.get("action") if isinstance(body.get("action"), dict) else {}
    context = body.get("context") if isinstance(body.get("context"), dict) else {}
    value = action.get("value") if isinstance(action.get("value"), dict) else {}
    name, issue = str(value.get(VALUE_KEY) or ""), str(value.get("issue") or "")
    if name not in ACTIONS or not ISSUE_UUID.fullmatch(issue):
        return None
    ids = tuple(str(operator[k]) for k in ("open_id", "user_id") if operator.get(k))
    return Click(str(context.get("open_message_id") or ""), str(context.get("open_chat_id") or ""),
                 ids, name, issue)


def toast(kind: str, text: str) -> dict[str, Any]:
    """The callback's answer: Feishu shows the toast to the one who clicked. This is also where
    the updated card would go (`"card": {"type": "raw", "data": …}`) when it is known at once."""
    return {"toast": {"type": kind, "content": text}}


def answer_click(rt: Runtime, event_id: str, event: dict[str, Any], click: Click | None,
                 allowed: bool) -> dict[str, Any]:
    """Answer at once; store the click for the worker when it is to be acted on."""
    text = rt.text
    if click is None:
        return toast("error", text("action.toast_unknown"))
    label = text(f"action.label_{click.action}")
    if not allowed:
        return toast("error", text("action.toast_refused"))
    if event_store.get_event(rt.engine, event_id) is not None:  # Feishu delivered it again
        return toast("info", text("action.toast_working", label=label))
    now = int(rt.clock.now())
    bucket = now // DOUBLE_CLICK_SECONDS
    key = f"card:{click.message_id}:{click.action}:"
    try:  # the click's key and the stored click stand or fall together, within Feishu's 3 s
        with lock_deadline(), rt.engine.begin() as conn:
            if action_store.taken(conn, [key + str(bucket - 1)]) or not action_store.take(
                    conn, key + str(bucket), click.issue, click.action, "feishu_card", now):
                return toast("info", text("action.toast_again", label=label))
            event_store.accept_event(conn, event_id, CARD_ACTION_EVENT, event, now)  # events.py wakes
    except OperationalError as exc:
        if not is_busy(exc):
            raise
        log.warning("card click %s: the database is busy; answered 'click again', not acted on",
                    event_id)
        return toast("error", text("action.toast_busy", label=label))
    return toast("info", text("action.toast_working", label=label))


def act_on_click(rt: Runtime, event: dict[str, Any], attempts: int = 1
                 ) -> tuple[str, str, str | None, str]:
    """The worker's part: act, and answer in the card's thread (worker.act's tuple)."""
    click = read_click(event)
    if click is None:
        return DONE, "not a relay button", None, ""
    return act_on_command(rt, click.issue, Command(ACTIONS[click.action], ""), click.author,
                          Where("feishu_app", click.chat_id, click.sender_ids), click.message_id,
                          "feishu_card", attempts)


def act_on_command(rt: Runtime, issue: str, command: Command, author: str, where: Where,
                   answer_to: str, route: str = "feishu_app",
                   attempts: int = 1) -> tuple[str, str, str | None, str]:
    """A button or a `/resolve` in a card's thread: never retried (a stale action must not land
    later, so one taken up again after a crash is not acted on); the answer says what changed
    or why not."""
    if attempts > 1:
        return FAILED, f"{command.action.name} {issue}: interrupted, not acted on again", rt.text(
            "action.interrupted", issue=issue), answer_to
    outcome = take_action(rt, issue, command, origin_in_chat(rt.text, "Feishu", author), route,
                          where, author)
    note_action(rt, outcome, f"/{command.action.name} {command.note}".strip(), author)
    return (DONE if outcome.done else FAILED, f"{command.action.name} {issue}: "
            f"{outcome.kind.value}", outcome.said, answer_to)
