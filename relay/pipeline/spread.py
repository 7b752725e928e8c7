"""Several polls within one crontab firing: `poll_issues every=15` polls at 0, 15, 30 and 45 s.

Cron fires at most once a minute, so a once-a-minute poll leaves an issue 0–60 s in Guance's list
before relay reads it (30 s on average), no faster than Guance's own notifications. Spreading
polls over the minute cuts that wait to `every`, and the crontab line stays the admin's control.
Each poll after the first of a firing costs one call per watched channel, so it runs only while
the Guance budget has room for a whole poll and as much again (left for replies' fallback,
notify_replies and the other jobs); otherwise that slot is skipped, and the firing's first poll
goes as always.
"""

from __future__ import annotations

import logging

from relay.pipeline.deliver import deliver as send_due
from relay.pipeline.poll import PollReport, poll
from relay.runtime import GUANCE_WINDOW_SECONDS, Runtime

log = logging.getLogger("relay.poller")

FIRING_SECONDS = 60.0  # cron's finest step: the polls of one firing start within it
END_MARGIN = 5.0  # the firing's last deliver ends this long before the next firing


class Every(float):
    """Seconds between the polls of one firing (a crontab argument: `every=15` or `every=15s`)."""

    description = "number of seconds from 5 to 60 (like every=15 or every=15s)"

    @classmethod
    def parse(cls, text: str) -> "Every":
        value = float(text[:-1] if text.lower().endswith("s") else text)  # ValueError if not
        if not 5 <= value <= 60:
            raise ValueError(f"every={text} is outside 5–60 seconds")
        return cls(value)

    def __str__(self) -> str:
        return f"{float(self):g}"


def room_for_a_poll(rt: Runtime) -> bool:
    """Does the Guance budget left to background work hold two polls' worth of calls?"""
    settings = rt.settings
    free = (settings.guance_calls_per_minute - settings.guance_reply_reserve
            - rt.budget.used(GUANCE_WINDOW_SECONDS))
    return free >= 2 * max(len(rt.routing), 1)


def poll_spread(rt: Runtime, every: float = FIRING_SECONDS, deliver: bool = True,
                max_deliver_seconds: float = 50.0) -> list[PollReport]:
    """Poll now and then every `every` seconds until the next firing is near, each poll followed
    by a deliver run (unless `deliver` is False) that ends when the next poll is due. A poll whose
    time passed while the one before worked (a storm's deliver) is skipped, not made up."""
    clock = rt.clock
    started = clock.now()
    slots = _slots(every)
    reports: list[PollReport] = []
    for index, slot in enumerate(slots):
        until = slots[index + 1] if index + 1 < len(slots) else FIRING_SECONDS - END_MARGIN
        if clock.now() - started >= until:
            continue
        clock.sleep(started + slot - clock.now())
        report = None
        if index == 0 or room_for_a_poll(rt):
            report = poll(rt)
            reports.append(report)
        else:
            log.info("poll: the Guance budget is tight; the poll at +%.0f s is skipped", slot)
        if not deliver:
            continue
        if len(slots) == 1:  # once a minute, as always: send what this poll queued
            if report.new_rows:
                send_due(rt, max_seconds=max_deliver_seconds)
            continue
        left = until - (clock.now() - started)
        if left > 0:  # every poll of a spread firing sends what is due, new or left over
            send_due(rt, max_seconds=min(left, max_deliver_seconds))
    return reports


def _slots(every: float) -> list[float]:
    """Seconds after the firing at which its polls start: 0, every, 2·every, … before the last
    END_MARGIN seconds of the minute."""
    count = int((FIRING_SECONDS - END_MARGIN - 1e-9) // every) + 1
    return [i * every for i in range(count)]
