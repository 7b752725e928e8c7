from relay.pipeline.notify_replies import notify_replies as _notify
from relay.runtime import Runtime


def notify_replies(rt: Runtime, max_issues: int = 5) -> None:
    """Post new Guance replies into the alert card's Feishu thread (checks at most
    `max_issues` issues a run, oldest-checked first: each costs one Guance call)."""
    _notify(rt, max_issues=max_issues)
