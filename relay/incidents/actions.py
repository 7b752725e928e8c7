"""Acting on an issue: claim, resolve, close, reopen, whichever route asked (a text command, a
card button, a signed link).

An action is `issue/{uuid}/modify` (the status, and for a claim the manager when relay knows
the operator's Guance account or email) followed by a comment naming who acted. The modify
carries the issue's current channels, read just before (an older modify page says a modify
without them leaves the issue in the default channel only). Guance's modify page documents only
the statuses 10, 20 and 30: a refused Working (15) or Closed (25) falls back (manager only /
Resolved), and the outcome says which happened. Nothing is retried by itself: a refused,
rate-limited or unanswered action is reported, so a stale action can never land later; a 5xx or
no answer after the modify was sent "may have landed".
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from relay.guance import (GuanceAuthError, GuanceBudgetExhausted, GuanceError, GuanceHTTPError,
                          GuanceNoAnswer, GuanceNotFound, GuanceRateLimited)
from relay.incidents.changes import record_action
from relay.incidents.comments import comment
from relay.incidents.outcome import ActionOutcome, Kind
from relay.config.mentions import PLATFORM_KEYS
from relay.store import actions as action_store

if TYPE_CHECKING:
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


@dataclass(frozen=True)
class Command:
    action: Action
    note: str


def mapped_person(rt: Runtime, operator_ids: tuple[str, ...]) -> str | None:
    """The RELAY_MENTIONS key (a Guance email or acnt_ UUID) whose chat identity on some
    platform is one of the operator's ids (a Feishu open_id / user_id, a DingTalk staff id)."""
    ids = {i for i in operator_ids if i}
    for person, chat_ids in rt.settings.mentions.items():
        if any(v in ids for k, v in chat_ids.items() if k in PLATFORM_KEYS):
            return person.strip()
    return None


def guance_account(rt: Runtime, operator_ids: tuple[str, ...]) -> str | None:
    """The operator as `extend.manager` takes them: a RELAY_MENTIONS key that is an account UUID
    (acnt_…), an email or a team UUID (group_…), as Guance's modify page lists."""
    person = mapped_person(rt, operator_ids)
    if person is not None and (person.startswith(("acnt_", "group_")) or "@" in person):
        return person
    return None


def apply(rt: Runtime, issue: str, command: Command, origin: str, route: str,
          operator_ids: tuple[str, ...] = (), actor: str = "", by: str = "") -> ActionOutcome:
    """Change the issue, then comment who did it ("Resolved from Feishu by …" and the note),
    and let its cards follow (relay/incidents/changes.py). `by` names who acted in the
    follow-ups, when not the operator's RELAY_MENTIONS name or `actor`."""
    action, text = command.action, rt.text
    known = mapped_person(rt, operator_ids)  # the operator's RELAY_MENTIONS key, if any
    manager = guance_account(rt, operator_ids) if action.name == "claim" else None
    try:
        channels = _channels(rt.guance.issue(issue, reply=True))
    except GuanceError as exc:
        return _count(rt, route, _failure(rt, issue, action.name, exc, sent=False))
    try:
        kind, applied, said = _modify(rt, issue, action, manager, channels)
    except GuanceError as exc:
        return _count(rt, route, _failure(rt, issue, action.name, exc, sent=True))
    if action.name == "claim" and manager is None and known:
        said += " " + text("action.manager_needs_uuid", person=known)  # a key of another kind
    note = text("action.comment", done=text(f"action.done_{action.name}"), origin=origin)
    if command.note:
        note += f"\n\n{command.note}"
    posted = comment(rt, issue, note)
    if posted.kind is not Kind.DONE:
        said += text("action.comment_failed", reason=posted.problem(rt))
    who = rt.mentions.person(known).name if known else (by or actor)
    record_action(rt, issue, applied, [manager] if manager else None, who)
    now = int(rt.clock.now())  # remembered: an issue acted on needs no reminder
    action_store.take(rt.engine, f"applied:{issue}:{action.name}:{now}:{secrets.token_hex(4)}",
                      issue, action.name, route, now)
    log.info("%s %s from %s: %s", action.name, issue, route, said, extra={"issue": issue})
    return _count(rt, route, ActionOutcome(kind, issue, action.name, said, applied,
                                           time=posted.time))


def _count(rt: Runtime, route: str, outcome: ActionOutcome) -> ActionOutcome:
    rt.metrics.actions.labels(outcome.action, route, metric_label(outcome)).inc()
    return outcome


def metric_label(outcome: ActionOutcome) -> str:
    """`relay_issue_actions_total`'s outcome label."""
    if outcome.done:
        return "ok"
    if outcome.kind in (Kind.REFUSED, Kind.FAILED, Kind.INVALID):
        return "refused"
    return outcome.kind.value


def _channels(issue: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The issue's channels as `extend.channels` takes them, from its detail (None: unknown)."""
    extend = issue.get("extend") if isinstance(issue.get("extend"), dict) else {}
    if isinstance(extend.get("channels"), list):
        return [c for c in extend["channels"] if isinstance(c, dict) and c.get("uuid")]
    if isinstance(issue.get("bindChannels"), list):
        return [{"type": "#", "uuid": str(c["uuid"]), "exists": True}
                for c in issue["bindChannels"] if isinstance(c, dict) and c.get("uuid")]
    return None


def _refused(exc: GuanceError) -> bool:
    """Guance answered that it does not take this change (not a limit, a key or a missing issue)."""
    return (isinstance(exc, GuanceHTTPError) and 400 <= exc.status < 500
            and not isinstance(exc, (GuanceRateLimited, GuanceAuthError, GuanceNotFound)))


def _modify(rt: Runtime, issue: str, action: Action, manager: str | None,
            channels: list[dict[str, Any]] | None) -> tuple[Kind, int | None, str]:
    """(DONE or FALLBACK, the status now set or None when unchanged, the sentence saying so)."""
    managers = [manager] if manager else None
    text = rt.text
    done = text(f"action.done_{action.name}")

    def modify(status: int | None) -> None:
        rt.guance.modify_issue(issue, status, managers, channels=channels)

    try:
        modify(action.status_type)
    except GuanceError as exc:
        if not _refused(exc):
            raise
        log.info("Guance refused statusType %d on %s: %s", action.status_type, issue, exc)
    else:
        if action.name == "claim" and manager is None:
            return Kind.DONE, action.status_type, text("action.claimed_status_only", issue=issue)
        return Kind.DONE, action.status_type, text(
            "action.applied", done=done, issue=issue,
            status=text(f"follow.status.{action.status_type}"))
    wanted = text(f"follow.status.{action.status_type}")
    if action.fallback is not None:
        modify(action.fallback)
        return Kind.FALLBACK, action.fallback, text(
            "action.fallback", done=done, issue=issue, wanted=wanted,
            status=text(f"follow.status.{action.fallback}"))
    if action.name == "claim":
        if manager is None:
            return Kind.FALLBACK, None, text("action.claimed_comment_only", issue=issue)
        modify(None)
        return Kind.FALLBACK, None, text("action.claimed_manager", issue=issue)
    raise GuanceHTTPError(400, "", f"status {wanted} refused")


def _failure(rt: Runtime, issue: str, action: str, exc: GuanceError,
             sent: bool) -> ActionOutcome:
    """The one ladder of what went wrong; `sent`: the modify itself had gone out (else only
    the read before it failed, and nothing can have changed)."""
    text = rt.text
    if isinstance(exc, GuanceNotFound):
        return ActionOutcome(Kind.NOT_FOUND, issue, action, text("action.not_found", issue=issue))
    if isinstance(exc, (GuanceBudgetExhausted, GuanceRateLimited)):
        wait = int(getattr(exc, "wait", 60)) + 1
        return ActionOutcome(Kind.BUSY, issue, action, text("action.busy", wait=wait),
                             retry_after=wait)
    if sent and isinstance(exc, GuanceNoAnswer):
        return ActionOutcome(Kind.NO_ANSWER, issue, action, text("action.no_answer", issue=issue))
    detail = rt.redact(str(exc))
    log.error("action on %s failed: %s", issue, detail, extra={"issue": issue})
    if sent and isinstance(exc, GuanceHTTPError) and exc.status >= 500:
        return ActionOutcome(Kind.MAY_HAVE_LANDED, issue, action, text(
            "action.may_have_landed", issue=issue, reason=detail), detail=detail)
    kind = Kind.REFUSED if _refused(exc) or isinstance(exc, GuanceAuthError) else Kind.FAILED
    return ActionOutcome(kind, issue, action, text(f"action.{kind.value}", issue=issue,
                                                   reason=detail), detail=detail)
