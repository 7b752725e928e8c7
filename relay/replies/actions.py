"""Acting on an issue from chat: claim, resolve, close, reopen, for every route (a text command
on a reply route, a Feishu card button, a signed link).

An action is `issue/{uuid}/modify` (the status, and for a claim the manager when relay knows the
operator's Guance account) followed by a comment naming who acted, posted through
relay/replies/comments.py like any reply. Guance's modify page documents only the statuses 10,
20 and 30: a refused Working (15) or Closed (25) falls back (manager only / Resolved), and the
answer says which happened. Nothing is retried by itself: a refused, rate-limited or unanswered
action is reported, so a stale action can never land later.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from relay.config.mentions import PLATFORM_KEYS
from relay.guance import (GuanceAuthError, GuanceBudgetExhausted, GuanceError, GuanceHTTPError,
                          GuanceNoAnswer, GuanceNotFound, GuanceRateLimited)
from relay.pipeline.follow import record_action
from relay.pipeline.mute import mute
from relay.replies.comments import Outcome, in_reply_slot, note_outcome, post_comment, post_reply
from relay.replies.parse import ReplyParseError, parse_reply
from relay.store import actions as action_store

if TYPE_CHECKING:
    from relay.i18n import Text
    from relay.runtime import Runtime

log = logging.getLogger("relay.actions")

OPEN, WORKING, RESOLVED, CLOSED = 10, 15, 20, 25


@dataclass(frozen=True)
class Action:
    name: str
    status_type: int
    fallback: int | None = None  # the status tried when Guance refuses `status_type`


ACTIONS = {a.name: a for a in (Action("claim", WORKING), Action("resolve", RESOLVED),
                               Action("close", CLOSED, fallback=RESOLVED),
                               Action("reopen", OPEN))}
MUTE = Action("mute", 0)  # no status: holds back new cards of the issue's source for a time
ALIASES = {"claim": "claim", "resolve": "resolve", "close": "close", "reopen": "reopen",
           "mute": "mute", "认领": "claim", "解决": "resolve", "关闭": "close", "重开": "reopen",
           "静音": "mute"}
# "/resolve note", "／解决 note" or "/解决note"; "/resolved" is no command (a plain comment)
COMMAND = re.compile(r"[/／]\s*(?:(claim|resolve|close|reopen|mute)(?![A-Za-z0-9_])"
                     r"|(认领|解决|关闭|重开|静音))"
                     r"[\s:：,，]*(.*)", re.I | re.S)


@dataclass(frozen=True)
class Command:
    action: Action
    note: str


def parse_command(text: str) -> Command | None:
    """The command a comment text starts with, or None: then it is a plain comment."""
    match = COMMAND.match(text.strip())
    if match is None:
        return None
    word = (match.group(1) or match.group(2)).lower()
    name = ALIASES[word]
    return Command(MUTE if name == "mute" else ACTIONS[name], match.group(3).strip())


def mapped_person(rt: Runtime, operator_ids: tuple[str, ...]) -> str | None:
    """The RELAY_MENTIONS key (a Guance email or acnt_ UUID) whose chat identity on some
    platform is one of the operator's ids (a Feishu open_id / user_id, a DingTalk staff id)."""
    ids = {i for i in operator_ids if i}
    for person, chat_ids in rt.settings.mentions.items():
        if any(v in ids for k, v in chat_ids.items() if k in PLATFORM_KEYS):
            return person.strip()
    return None


def guance_account(rt: Runtime, operator_ids: tuple[str, ...]) -> str | None:
    """The operator's Guance account UUID, for `extend.manager`: only an acnt_ key of
    RELAY_MENTIONS names one (Guance takes no email there)."""
    person = mapped_person(rt, operator_ids)
    return person if person is not None and person.startswith("acnt_") else None


def origin_in_chat(text: Text, via: str, actor: str) -> str:
    """Who acted, for the issue's comment: "飞书，操作人 王芳" / "Feishu by Alice"."""
    return text("action.origin_chat", via=text.platform(via),
                actor=actor or text("action.someone"))


def origin_of_link(text: Text, via: str, actor: str = "") -> str:
    if actor:
        return text("action.origin_link_by", via=text.platform(via), actor=actor)
    return text("action.origin_link", via=text.platform(via))


def apply_action(rt: Runtime, issue: str, command: Command, origin: str, route: str,
                 operator_ids: tuple[str, ...] = (), actor: str = "") -> Outcome:
    """Change the issue, then comment who did it ("Resolved from Feishu by …" and the note),
    and let its cards follow (relay/pipeline/follow.py record_action: the app-bot cards show
    the new state, and the tracker does not announce it again). The outcome's body carries
    `said`, the sentence for the person who acted."""
    action, text = command.action, rt.text
    if action is MUTE:
        return _apply_mute(rt, issue, command, origin, route)
    known = mapped_person(rt, operator_ids)  # the operator's RELAY_MENTIONS key, if any
    manager = guance_account(rt, operator_ids) if action.name == "claim" else None
    try:
        applied, said = _modify(rt, issue, action, manager)
    except GuanceError as exc:
        outcome = _failure(rt, issue, exc)
        rt.metrics.actions.labels(action.name, route, _label(outcome.status)).inc()
        return outcome
    if action.name == "claim" and manager is None and known:
        said += " " + text("action.manager_needs_uuid", person=known)  # an email key
    comment = text("action.comment", done=text(f"action.done_{action.name}"), origin=origin)
    if command.note:
        comment += f"\n\n{command.note}"
    posted = post_comment(rt, issue, comment)
    if posted.status != 200:
        said += text("action.comment_failed", reason=posted.body.get("error", ""))
    rt.metrics.actions.labels(action.name, route, "ok").inc()
    by = rt.mentions.person(known).name if known else actor
    record_action(rt, issue, applied, [manager] if manager else None, by)
    now = int(rt.clock.now())  # remembered: an issue acted on needs no reminder
    action_store.take(rt.engine, f"applied:{issue}:{action.name}:{now}:{secrets.token_hex(4)}",
                      issue, action.name, route, now)
    log.info("%s %s from %s: %s", action.name, issue, route, said, extra={"issue": issue})
    return Outcome(200, {"issueUUID": issue, "action": action.name, "statusType": applied,
                         "time": posted.body.get("time", ""), "said": said})


def _apply_mute(rt: Runtime, issue: str, command: Command, origin: str, route: str) -> Outcome:
    """`/mute 2h`: relay holds back new cards of the issue's source, and says so in Guance."""
    done, said = mute(rt, issue, command.note, origin)
    text = rt.text
    rt.metrics.actions.labels("mute", route, "ok" if done else "refused").inc()
    if not done:
        return Outcome(400, {"error": said, "issueUUID": issue, "said": said})
    comment = text("action.comment", done=text("action.done_mute"), origin=origin)
    posted = post_comment(rt, issue, f"{comment} ({command.note}): {said}")
    if posted.status != 200:
        said += text("action.comment_failed", reason=posted.body.get("error", ""))
    return Outcome(200, {"issueUUID": issue, "action": "mute", "statusType": None,
                         "time": posted.body.get("time", ""), "said": said})


def _refused(exc: GuanceError) -> bool:
    """Guance answered that it does not take this change (not a limit, a key or a missing issue)."""
    return (isinstance(exc, GuanceHTTPError) and 400 <= exc.status < 500
            and not isinstance(exc, (GuanceRateLimited, GuanceAuthError, GuanceNotFound)))


def _modify(rt: Runtime, issue: str, action: Action, manager: str | None) -> tuple[int | None, str]:
    """(the status now set, or None when unchanged; the sentence saying so)."""
    managers = [manager] if manager else None
    text = rt.text
    done = text(f"action.done_{action.name}")
    try:
        rt.guance.modify_issue(issue, action.status_type, managers)
    except GuanceError as exc:
        if not _refused(exc):
            raise
        log.info("Guance refused statusType %d on %s: %s", action.status_type, issue, exc)
    else:
        if action.name == "claim" and manager is None:
            return action.status_type, text("action.claimed_status_only", issue=issue)
        return action.status_type, text("action.applied", done=done, issue=issue,
                                        status=text(f"follow.status.{action.status_type}"))
    wanted = text(f"follow.status.{action.status_type}")
    if action.fallback is not None:
        rt.guance.modify_issue(issue, action.fallback, managers)
        return action.fallback, text("action.fallback", done=done, issue=issue, wanted=wanted,
                                     status=text(f"follow.status.{action.fallback}"))
    if action.name == "claim":
        if manager is None:
            return None, text("action.claimed_comment_only", issue=issue)
        rt.guance.modify_issue(issue, None, managers)
        return None, text("action.claimed_manager", issue=issue)
    raise GuanceHTTPError(400, "", f"status {wanted} refused")


def _failure(rt: Runtime, issue: str, exc: GuanceError) -> Outcome:
    """The one ladder of what went wrong, as comments.post_comment has it for comments."""
    text = rt.text
    if isinstance(exc, GuanceNotFound):
        return Outcome(404, {"error": "no such issue in Guance", "issueUUID": issue,
                             "said": text("action.not_found", issue=issue)})
    if isinstance(exc, GuanceNoAnswer):
        return Outcome(504, {"error": "Guance did not answer in time", "issueUUID": issue,
                             "said": text("action.no_answer", issue=issue)})
    if isinstance(exc, (GuanceBudgetExhausted, GuanceRateLimited)):
        wait = int(getattr(exc, "wait", 60)) + 1
        return Outcome(503, {"error": "Guance is rate-limiting relay", "issueUUID": issue,
                             "retryAfter": wait, "said": text("action.busy", wait=wait)})
    detail = rt.redact(str(exc))
    log.error("action on %s failed: %s", issue, detail, extra={"issue": issue})
    key = "refused" if _refused(exc) or isinstance(exc, GuanceAuthError) else "failed"
    return Outcome(502, {"error": "Guance did not take the change", "detail": detail,
                         "issueUUID": issue, "said": text(f"action.{key}", issue=issue,
                                                            reason=detail)})


def _label(status: int) -> str:
    return {404: "not_found", 503: "busy", 504: "no_answer"}.get(status, "refused")


def handle_reply(rt: Runtime, message: str, via: str, actor: str, route: str,
                 sender: str = "", operator_ids: tuple[str, ...] = ()) -> Outcome:
    """A reply route's text: `#<uuid>#/resolve note` acts on the issue; any other text is a
    plain comment (comments.post_reply), exactly as without actions. An action waits on Guance
    in a web thread like a reply, so it takes one of RELAY_REPLIES_IN_FLIGHT's slots."""
    try:
        parsed = parse_reply(message)
    except ReplyParseError:
        parsed = None
    command = parse_command(parsed.text) if parsed is not None else None
    if parsed is None or command is None:
        return post_reply(rt, message, sender)
    outcome = in_reply_slot(rt, parsed.issue_uuid, lambda: apply_action(
        rt, parsed.issue_uuid, command, origin_in_chat(rt.text, via, actor), route,
        operator_ids, actor))
    note_outcome(rt, outcome, parsed.issue_uuid, parsed.text, sender)
    return outcome
