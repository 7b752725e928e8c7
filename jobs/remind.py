from relay.pipeline.remind import remind as _remind
from relay.runtime import Runtime


def remind(rt: Runtime, max_issues: int = 5) -> None:
    """Queue a reminder for issues nobody claimed in time (RELAY_REMINDERS; each checked issue
    costs one Guance call, at most `max_issues` a run); the deliver job sends them."""
    _remind(rt, max_issues=max_issues)
