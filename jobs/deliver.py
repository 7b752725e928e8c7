from relay.pipeline.deliver import deliver as send_due
from relay.runtime import Runtime


def deliver(rt: Runtime, max_seconds: float = 50.0) -> None:
    """Send due outbox rows (retries included) for at most max_seconds."""
    send_due(rt, max_seconds=max_seconds)
