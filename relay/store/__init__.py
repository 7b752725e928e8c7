"""Every table relay keeps, declared on one Base: importing this package loads them all, so
`metadata` is the whole schema (what migrations/env.py compares against).

- outbox: channel cursors and the deliveries outbox
- chat: Feishu events, Guance replies already posted into threads, reply checks
- replylog: the replies relay acted on
- leases: work claimed by one replica
- budget: the Guance call budget shared by replicas
- signatures: DingTalk signatures already used (replays)
- watch: why a watched channel could not be looked up (shown on /healthz)
- follow: the last known state of each relayed issue, the tracker's sweep position
- actions: signed links used and card clicks taken (issue actions act once)
- mutes: `/mute` from chat (cards of a source held back for the muting chat, for a time)
"""

from relay.store import (actions, budget, chat, follow, leases, mutes, outbox,  # noqa: F401
                         replylog, signatures, watch)
from relay.store.base import Base

metadata = Base.metadata
