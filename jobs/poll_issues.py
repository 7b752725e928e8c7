from relay.pipeline.deliver import deliver as send_due
from relay.pipeline.poll import poll
from relay.runtime import Runtime


def poll_issues(rt: Runtime, deliver: bool = True) -> None:
    """Queue new issues of every watched channel; then send them at once unless deliver=no."""
    report = poll(rt)
    if deliver and report.new_rows:
        send_due(rt)
