from relay.pipeline.deliver import deliver as send_due
from relay.pipeline.mute import summarize_ended
from relay.runtime import Runtime


def deliver(rt: Runtime, max_seconds: float = 50.0) -> None:
    """Send due outbox rows (retries included) for at most max_seconds; first queue the summary
    of each mute that ended."""
    summarize_ended(rt)
    send_due(rt, max_seconds=max_seconds)
