import logging

from relay.runtime import Runtime
from relay.store import actions as action_store
from relay.store import events as event_store
from relay.store import issue_states
from relay.store import mutes as mute_store
from relay.store import outbox as store
from relay.store import replylog

log = logging.getLogger(__name__)


def prune(rt: Runtime, days: int = 30) -> None:
    """Forget sent and dead deliveries, finished Feishu events and logged replies older than
    `days` (pending deliveries are always kept)."""
    if days * 86_400 <= rt.settings.overlap_seconds + rt.settings.max_catchup_seconds:
        log.warning("prune: days=%d is shorter than the poll look-back; keeping rows", days)
        return
    before = int(rt.clock.now()) - days * 86_400
    removed = store.prune(rt.engine, before)
    logged = replylog.prune(rt.engine, before)
    log.info("prune: %d old deliveries and %d logged replies removed", removed, logged)
    # old Feishu events, and remembered Guance replies past the notification window
    event_store.prune(rt.engine, before, replies_too=days > rt.settings.reply_notify_days,
                     now=int(rt.clock.now()))
    if days > rt.settings.follow_days:  # issue states past the follow window
        issue_states.prune(rt.engine, before)
    # a used link is remembered as long as it could still be used
    link_life = rt.settings.action_link_hours * 3600
    action_store.prune(rt.engine, min(before, int(rt.clock.now()) - link_life - 86_400))
    mute_store.prune(rt.engine, before)
