import logging

from relay import chat_store, store
from relay.runtime import Runtime

log = logging.getLogger(__name__)


def prune(rt: Runtime, days: int = 30) -> None:
    """Forget sent and dead deliveries older than `days` (pending ones are always kept)."""
    if days * 86_400 <= rt.settings.overlap_seconds + rt.settings.max_catchup_seconds:
        log.warning("prune: days=%d is shorter than the poll look-back; keeping rows", days)
        return
    removed = store.prune(rt.engine, int(rt.clock.now()) - days * 86_400)
    log.info("prune: %d old deliveries removed", removed)
    # Feishu app bot (issue 4): old events, and replies past the notification window
    chat_store.prune(rt.engine, int(rt.clock.now()) - days * 86_400,
                     replies_too=days > rt.settings.reply_notify_days)
