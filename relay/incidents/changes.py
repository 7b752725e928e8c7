"""Recording a change of an issue, whoever made it (the tracker saw it in Guance, or a person
acted through relay), and deciding who is told: each of its cards gets a follow-up row in the
outbox (an app-bot card is updated in place; the other chats get a line where
RELAY_FOLLOW_ANNOUNCE asks for one).

A change is recorded in the same transaction that queues its rows, and only if the stored state
is still the one read (relay/store/issue_states.py); each row is keyed by issue, state and Guance's
updateAt per destination, so re-runs, restarts and replicas queue it once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relay.payloads import StatusChange
from relay.platforms.status_texts import status_name, transition
from relay.store import issue_states as store
from relay.store import outbox
from relay.store.outbox import DIGESTED

if TYPE_CHECKING:
    from relay.runtime import Runtime


def record_action(rt: Runtime, issue: str, status: int | None, managers: list[str] | None,
                  by: str) -> int | None:
    """A change relay itself made (a chat action): recorded as the tracker would record it, so
    the app-bot cards show it at once (a PATCH through the outbox, no thread line: the person
    was answered there) and the other chats learn it once; the tracker then finds nothing new.
    The rows queued, or None when the issue is not followed or nothing changed."""
    now = int(rt.clock.now())
    cards = store.cards(rt.engine, [issue])
    if not cards:
        return None
    store.start_tracking(rt.engine, {issue: min(c.issue_created_at for c in cards)}, now)
    old = store.states(rt.engine, [issue]).get(issue)
    if old is None:
        return None
    status = old.status_type if status is None else status
    managers = list(old.managers or []) if managers is None else managers
    name = transition(old.status_type, status, set(managers) != set(old.managers or []))
    if name is None:
        return None
    obj = {"uuid": issue, "updator": by, "updateAt": now}
    return record_change(rt, old, obj, status, managers, name, now, acted=True)


def record_change(rt: Runtime, old: store.IssueState, obj: dict[str, Any], status: int,
                  managers: list[str], name: str, now: int, acted: bool = False) -> int | None:
    """Record one change (`obj`: Guance's issue object as read, or relay's own) with its outbox
    rows; the rows queued, or None if another run recorded it first. `acted`: relay made it, and
    its app-bot cards are only updated."""
    info = obj.get("updatorInfo") if isinstance(obj.get("updatorInfo"), dict) else {}
    by = str(info.get("name") or info.get("username") or info.get("email")
             or obj.get("updator") or "")
    update_at = int_or_none(obj.get("updateAt")) or now
    announce = name in rt.settings.announced
    infos = obj.get("managerInfos") if isinstance(obj.get("managerInfos"), list) else []
    people = [i for i in infos if isinstance(i, dict)] or managers
    rows, app_chats = [], rt.settings.app_chats()
    for card in store.cards(rt.engine, [old.issue_uuid]):
        app = card.destination in app_chats
        if card.status == DIGESTED or not (announce or app):
            continue  # a digest is followed up once (follow_digests); claims: app cards only
        issue = card.card()
        change = StatusChange(**dict(
            issue.stored(), status=status_name(status, rt.text), status_type=status,
            previous_type=old.status_type, transition=name,
            announce=announce and not (acted and app), by=by, changed_at=update_at,
            open_seconds=max(update_at - (issue.create_at or old.created_at), 0),
            managers=people, message_id=card.message_id))
        rows.append(outbox.row(change, card.destination, now, card.channel))
    new = {"status_type": status, "managers": managers, "updator": by, "update_at": update_at}
    return len(rows) if store.record_change(rt.engine, old, new, rows, now) else None


def int_or_none(value: Any) -> int | None:
    """A number Guance sent (as a number or a string), or None for anything else."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
