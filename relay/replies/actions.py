"""Actions from chat: the command syntax (`/resolve note`, `/解决`), who acted for the issue's
comment, and the one entry every route calls, `take_action`: it checks that the action may be
taken from where it comes (relay/incidents/chats.py), then applies it (relay/incidents/actions.py;
a mute through relay/pipeline/mute.py). The result is a domain outcome
(relay/incidents/outcome.py) that each route words itself; `reply_status` is the reply log's code
for it (and the Feishu flow's HTTP status).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from relay.incidents.actions import ACTIONS, MUTE, Command, apply, metric_label
from relay.incidents.chats import FEISHU_FLOW, Where, destinations_of, refusal
from relay.incidents.comments import comment
from relay.incidents.outcome import ActionOutcome, Kind
from relay.pipeline.mute import mute
from relay.replies import log as replylog
from relay.replies.comments import Outcome, in_reply_slot, note_outcome, post_reply
from relay.replies.parse import ReplyParseError, parse_reply

if TYPE_CHECKING:
    from relay.i18n import Text
    from relay.runtime import Runtime

__all__ = ["ACTIONS", "MUTE", "Command", "Where", "parse_command", "take_action", "handle_reply",
           "origin_in_chat", "origin_of_link", "reply_status", "note_action"]

ALIASES = {"claim": "claim", "resolve": "resolve", "close": "close", "reopen": "reopen",
           "mute": "mute", "认领": "claim", "解决": "resolve", "关闭": "close", "重开": "reopen",
           "静音": "mute"}
# "/resolve note", "／解决 note" or "/解决note"; "/resolved" is no command (a plain comment)
COMMAND = re.compile(r"[/／]\s*(?:(claim|resolve|close|reopen|mute)(?![A-Za-z0-9_])"
                     r"|(认领|解决|关闭|重开|静音))"
                     r"[\s:：,，]*(.*)", re.I | re.S)
# the reply log's code of each outcome (the Feishu flow answers with it as its HTTP status)
STATUS = {Kind.DONE: 200, Kind.FALLBACK: 200, Kind.INVALID: 400, Kind.NOT_ALLOWED: 403,
          Kind.NOT_FOUND: 404, Kind.BUSY: 503, Kind.NO_ANSWER: 504, Kind.REFUSED: 502,
          Kind.FAILED: 502, Kind.MAY_HAVE_LANDED: 502}
# what went wrong, in the reply log and the flow's `error` (beside `said`, in RELAY_LANGUAGE)
ERRORS = {Kind.NOT_FOUND: "no such issue in Guance",
          Kind.NO_ANSWER: "Guance did not answer in time",
          Kind.BUSY: "Guance is rate-limiting relay",
          Kind.REFUSED: "Guance did not take the change",
          Kind.FAILED: "Guance did not take the change",
          Kind.MAY_HAVE_LANDED: "Guance failed while taking the change; it may have been made"}


def parse_command(text: str) -> Command | None:
    """The command a comment text starts with, or None: then it is a plain comment."""
    match = COMMAND.match(text.strip())
    if match is None:
        return None
    word = (match.group(1) or match.group(2)).lower()
    name = ALIASES[word]
    return Command(MUTE if name == "mute" else ACTIONS[name], match.group(3).strip())


def origin_in_chat(text: Text, via: str, actor: str) -> str:
    """Who acted, for the issue's comment: "飞书，操作人 王芳" / "Feishu by Alice"."""
    return text("action.origin_chat", via=text.platform(via),
                actor=actor or text("action.someone"))


def origin_of_link(text: Text, via: str, actor: str = "") -> str:
    if actor:
        return text("action.origin_link_by", via=text.platform(via), actor=actor)
    return text("action.origin_link", via=text.platform(via))


def reply_status(outcome: ActionOutcome) -> int:
    return STATUS[outcome.kind]


def log_error(outcome: ActionOutcome) -> str | None:
    """The reply log's error for an outcome (None when it was done)."""
    if outcome.done:
        return None
    error = ERRORS.get(outcome.kind, outcome.said)
    return f"{error}: {outcome.detail}" if outcome.detail else error


def note_action(rt: Runtime, outcome: ActionOutcome, text: str, sender: str) -> None:
    """The reply log's row for an action."""
    replylog.note(rt, reply_status(outcome), outcome.issue, text, log_error(outcome), sender)


def take_action(rt: Runtime, issue: str, command: Command, origin: str, route: str,
                where: Where, actor: str = "") -> ActionOutcome:
    """Act on the issue if `where` may; `route` labels the metric (feishu_flow, dingtalk,
    dingtalk_app, feishu_app, feishu_card, dingtalk_card, link)."""
    refused = refusal(rt, where, issue, command.action.name)
    if refused is not None:
        rt.metrics.actions.labels(command.action.name, route, metric_label(refused)).inc()
        return refused
    if command.action is MUTE:
        return _apply_mute(rt, issue, command, origin, route, where)
    declared = where.platform == FEISHU_FLOW and actor  # the flow's `sender`: not checked
    return apply(rt, issue, command, origin, route, where.user_ids, actor,
                 by=rt.text("action.self_declared", name=actor) if declared else "")


def _apply_mute(rt: Runtime, issue: str, command: Command, origin: str, route: str,
                where: Where) -> ActionOutcome:
    """`/mute 2h`: relay holds back new cards of the issue's source for the destinations of the
    chat it came from (relay/pipeline/mute.py), and says so in Guance."""
    text = rt.text  # (a chat that stands for no destination was refused by take_action)
    done, said = mute(rt, issue, command.note, origin,
                      destinations_of(rt, where.platform, where.chat_id))
    rt.metrics.actions.labels("mute", route, "ok" if done else "refused").inc()
    if not done:
        return ActionOutcome(Kind.INVALID, issue, "mute", said)
    note = text("action.comment", done=text("action.done_mute"), origin=origin)
    posted = comment(rt, issue, f"{note} ({command.note}): {said}")
    if posted.kind is not Kind.DONE:
        said += text("action.comment_failed", reason=posted.problem(rt))
    return ActionOutcome(Kind.DONE, issue, "mute", said, time=posted.time)


def handle_reply(rt: Runtime, message: str, via: str, actor: str, route: str, where: Where,
                 sender: str = "") -> Outcome | ActionOutcome:
    """A reply route's text: `#<uuid>#/resolve note` acts on the issue (the outcome of the
    action); any other text is a plain comment (comments.post_reply's outcome), exactly as
    without actions. An action waits on Guance in a web thread like a reply, so it takes one of
    RELAY_REPLIES_IN_FLIGHT's slots (none free: the reply's 503)."""
    try:
        parsed = parse_reply(message)
    except ReplyParseError:
        parsed = None
    command = parse_command(parsed.text) if parsed is not None else None
    if parsed is None or command is None:
        return post_reply(rt, message, sender)
    outcome = in_reply_slot(rt, parsed.issue_uuid, lambda: take_action(
        rt, parsed.issue_uuid, command, origin_in_chat(rt.text, via, actor), route, where, actor))
    if isinstance(outcome, ActionOutcome):
        note_action(rt, outcome, parsed.text, sender)
    else:  # no slot was free
        note_outcome(rt, outcome, parsed.issue_uuid, parsed.text, sender)
    return outcome
