from relay.pipeline.remind import remind as _remind
from relay.runtime import Runtime


def remind(rt: Runtime, max_issues: int = 100) -> None:
    """Queue a reminder for issues nobody claimed in time (RELAY_REMINDERS; at most `max_issues`
    a run, checked with one Guance call per 100; one digest per chat when it has several); the
    deliver job sends them."""
    _remind(rt, max_issues=max_issues)
