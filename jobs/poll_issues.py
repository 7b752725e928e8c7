from relay.pipeline.spread import Every, poll_spread
from relay.runtime import Runtime


def poll_issues(rt: Runtime, deliver: bool = True, every: Every = Every(60)) -> None:
    """Queue new issues of every watched channel; then send them at once unless deliver=no.
    every=15: poll again every 15 s within the minute while the Guance budget has room."""
    poll_spread(rt, every, deliver)
