"""New-reply notifications (新回复的提醒): replies written in Guance show up in the card's thread.

Guance has no "replies since" call, so each issue costs one call. Within the shared budget of
20 calls a minute, a run checks at most `max_issues` issues — those sent to an app-bot chat in
the last RELAY_REPLY_NOTIFY_DAYS days — the ones checked longest ago (or never) first. The first
check of an issue only records the replies older than its card (no flood of old ones); every
other comment (type "reply"; change records are skipped) is posted once, as a reply to the card.
Replies relay posted itself (from Feishu) are recorded when posted and never echoed back.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from typing import Any

from relay.guance import GuanceBudgetExhausted, GuanceError, GuanceNotFound, html_to_text
from relay.platforms.registry import BY_NAME
from relay.runtime import Runtime
from relay.store import events as event_store
from relay.store.events import SEEN
from relay.store.outbox import Delivery

log = logging.getLogger("relay.reply_notify")

MAX_NOTE = 4000  # characters of a reply shown in Feishu


@dataclass
class NotifyReport:
    checked: int = 0
    notified: int = 0
    waiting: bool = False  # the call budget ran out before every chosen issue was checked


def _app(rt: Runtime) -> Any:
    """The Feishu app bot's client, kept in the Feishu platform's own object (its
    relay/platforms/feishu/state.py), which this job reads without reaching into that folder."""
    return getattr(rt.platform("feishu"), "app", None)


def notify_replies(rt: Runtime, max_issues: int = 5) -> NotifyReport:
    report = NotifyReport()
    chats = rt.settings.chats("feishu_app")
    if _app(rt) is None or not chats:
        log.debug("notify_replies: no Feishu app chats (feishu_app destinations); nothing to do")
        return report
    now = int(rt.clock.now())
    since = now - rt.settings.reply_notify_days * 86_400
    for issue, checked_at in event_store.issues_to_check(rt.engine, list(chats), since,
                                                         max_issues):
        try:
            replies = rt.guance.replies(issue)
        except GuanceBudgetExhausted as exc:
            log.warning("notify_replies: %s; the other issues wait for the next run", exc)
            report.waiting = True
            break
        except GuanceNotFound:
            replies = []  # deleted in Guance: nothing more will come
        except GuanceError as exc:
            log.error("notify_replies %s: %s (next run tries again)", issue, rt.redact(str(exc)))
            if checked_at is not None:  # a failed first check stays a first check
                event_store.mark_checked(rt.engine, issue, int(rt.clock.now()))
            continue
        report.checked += 1
        report.notified += _notify_issue(rt, issue, replies, chats,
                                         first_check=checked_at is None)
        event_store.mark_checked(rt.engine, issue, int(rt.clock.now()))
    if report.notified:
        log.info("notify_replies: %d issue(s) checked, %d new reply(ies) posted to Feishu",
                 report.checked, report.notified)
    return report


def _notify_issue(rt: Runtime, issue: str, replies: list[dict], chats: dict[str, str],
                  first_check: bool) -> int:
    """`chats`: the app chats (destination name → chat_id), read once a run."""
    known = event_store.known_replies(rt.engine, issue)
    new = sorted((r for r in replies if r.get("type") == "reply" and str(r["uuid"]) not in known),
                 key=lambda r: int(r.get("createAt") or 0))
    now = int(rt.clock.now())
    cards = [c for c in event_store.cards_of(rt.engine, issue) if c.destination in chats]
    if first_check:
        # replies older than the card are history: recorded, not posted (no flood); newer ones
        # were written while the issue waited for its first check, and are news
        card_sent = min((c.sent_at or now for c in cards), default=now)
        for reply in [r for r in new if int(r.get("createAt") or 0) <= card_sent]:
            event_store.record_reply(rt.engine, str(reply["uuid"]), issue, SEEN, now)
        new = [r for r in new if int(r.get("createAt") or 0) > card_sent]
    posted = 0
    for reply in new:
        if not _post(rt, cards, chats, reply):
            break  # left unrecorded: the next check tries again, in order
        event_store.record_reply(rt.engine, str(reply["uuid"]), issue, SEEN, int(rt.clock.now()))
        posted += 1
    return posted


def _post(rt: Runtime, cards: list[Delivery], chats: dict[str, str], reply: dict) -> bool:
    """Post into each chat the issue's card went to (as a reply to the card); True when at least
    one chat took it (a repeat into the others would be worse than a gap)."""
    info = reply.get("creatorInfo") if isinstance(reply.get("creatorInfo"), dict) else {}
    t = rt.text  # the notes in RELAY_LANGUAGE
    inert = BY_NAME["feishu"].inert
    who = inert(str(info.get("name") or info.get("username") or reply.get("creator")
                    or t("notify.someone")))
    content = str(reply.get("content") or "")
    # Guance keeps a comment as HTML: first its text (tags dropped, entities read, so
    # `&lt;at user_id="all"&gt;` is the text `<at user_id="all">`), then that text made inert,
    # never the other way round
    content = (html_to_text(content) if re.search(r"<[a-zA-Z/][^>]*>", content)
               else html.unescape(content)).strip()  # html_to_text unescapes itself
    if len(content) > MAX_NOTE:
        content = content[:MAX_NOTE] + " …"
    content = inert(content)
    title = inert(str((cards[0].payload or {}).get("title") or "")) if cards else ""
    ok = False
    for card in cards:
        chat_id = chats[card.destination]
        text = t("notify.replied", who=who, content=content)
        if card.message_id:
            result = _app(rt).reply_text(card.message_id, text,
                                         idempotency_key=f"n{reply['uuid']}{card.id}")
        else:
            result = _app(rt).send(chat_id, "text",
                                   {"text": t("notify.replied_on", who=who, title=title,
                                              content=content)},
                                   idempotency_key=f"n{reply['uuid']}{card.id}")
        if result.ok:
            ok = True
        else:
            log.warning("notify_replies: reply %s to %s not posted: %s", reply["uuid"],
                        card.destination, rt.redact(result.error))
    return ok
