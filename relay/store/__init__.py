"""Every table relay keeps, declared on one Base: importing this package loads them all, so
`metadata` is the whole schema (what migrations/env.py compares against).

- outbox: channel cursors and the deliveries outbox
- events: chat events accepted (Feishu's, DingTalk Stream frames), Guance replies already
  posted into threads, reply checks
- replylog: the replies relay acted on
- leases: work claimed by one replica
- budget: the Guance call budget shared by replicas
- signatures: DingTalk signatures already used (replays)
- channel_errors: why a watched channel could not be looked up (shown on /healthz)
- issue_states: the last known state of each relayed issue, the tracker's sweep position
- actions: signed links used and card clicks taken (issue actions act once)
- mutes: `/mute` from chat (cards of a source held back for the muting chat, for a time)
"""

from relay.store import (actions, budget, channel_errors, events, issue_states,  # noqa: F401
                         leases, mutes, outbox, replylog, signatures)
from relay.store.base import Base

metadata = Base.metadata
