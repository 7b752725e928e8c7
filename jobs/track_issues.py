from relay.pipeline.deliver import deliver as send_due
from relay.pipeline.track_issues import track_issues as _track
from relay.runtime import Runtime


def track_issues(rt: Runtime, max_calls: int = 0, deliver: bool = True) -> None:
    """Refresh the state of relayed issues (at most `max_calls` Guance calls, 0: the setting
    RELAY_FOLLOW_CALLS) and queue what the chats should learn; send it at once unless deliver=no."""
    report = _track(rt, max_calls=max_calls or None)
    if deliver and report.queued:
        send_due(rt)
