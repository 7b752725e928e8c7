"""The jobs a crontab line may name. Each takes the runtime, then its key=value arguments."""

from jobs.deliver import deliver
from jobs.notify_replies import notify_replies
from jobs.poll_issues import poll_issues
from jobs.prune import prune
from jobs.remind import remind
from jobs.track_issues import track_issues

JOBS = {"poll_issues": poll_issues, "deliver": deliver, "prune": prune,
        "notify_replies": notify_replies, "track_issues": track_issues, "remind": remind}
