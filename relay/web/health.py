"""`GET /healthz`: is every watched channel being polled, and is the database there?

200 when all is well, 503 when a watched channel has had no successful poll for three of the
poll job's schedule intervals (from the crontab; 60 s when it cannot be read) or the database
does not answer. JSON either way, with each channel's last successful poll age, its last error
(a failed read, or a channel list that failed so the channel could not be looked up) and its
pending and dead deliveries, so a load balancer and a person read the same answer.
`crontab_error` shows a crontab edit `relay run` could not apply; it is no reason for 503 (the
previous schedule runs). `connections` shows each long connection relay keeps (Feishu's,
DingTalk's Stream: relay/connections/); one down for more than a few minutes is a 503.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, jsonify
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from relay.config import Settings
from relay.runtime import Runtime
from relay.store import channel_errors
from relay.store.outbox import DEAD, PENDING, ChannelCursor, Delivery

DEFAULT_INTERVAL = 60.0
STALE_INTERVALS = 3


def poll_interval(settings: Settings) -> float:
    """Seconds between the next two runs of `poll_issues` in the crontab (all its lines)."""
    from jobs import JOBS
    from relay.pipeline.schedule import CrontabError, parse_crontab

    try:
        entries = [e for e in parse_crontab(settings.crontab, JOBS, settings.tz)
                   if e.job == "poll_issues"]
    except CrontabError:
        return DEFAULT_INTERVAL
    now = datetime.now(settings.tz)
    times = []
    for entry in entries:
        first = entry.trigger.get_next_fire_time(None, now)
        if first is not None:
            times.append(first)
            second = entry.trigger.get_next_fire_time(first, first + timedelta(seconds=1))
            if second is not None:
                times.append(second)
    times = sorted(times)[:2]
    if len(times) < 2:
        return DEFAULT_INTERVAL
    return max((times[1] - times[0]).total_seconds(), 1.0)


def connection_health(rt: Runtime) -> dict[str, dict]:
    """Each long connection by platform (a second one of a platform: `platform-2`, …)."""
    shown: dict[str, dict] = {}
    for conn in rt.connections:
        name, n = conn.platform, 1
        while name in shown:
            n += 1
            name = f"{conn.platform}-{n}"
        shown[name] = conn.health()
    return shown


def health_blueprint(rt: Runtime) -> Blueprint:
    bp = Blueprint("health", __name__)
    known = {"interval": poll_interval(rt.settings), "schedule": None}
    started = rt.clock.now()

    def current_interval() -> float:
        """The poll interval of the schedule that runs: read again after a crontab reload."""
        watcher = rt.crontab_watcher
        if watcher is not None and watcher.applied is not known["schedule"]:
            known.update(schedule=watcher.applied, interval=poll_interval(rt.settings))
        return known["interval"]

    @bp.get("/healthz")
    def healthz():
        now = rt.clock.now()
        interval = current_interval()
        try:
            with rt.engine.connect() as conn:
                cursors = conn.execute(select(
                    ChannelCursor.channel_uuid, ChannelCursor.channel_name,
                    ChannelCursor.last_success_at, ChannelCursor.last_error)).all()
                lookup_errors = channel_errors.errors(conn)
                counts = conn.execute(select(Delivery.channel, Delivery.status, func.count())
                                      .where(Delivery.status.in_([PENDING, DEAD]))
                                      .group_by(Delivery.channel, Delivery.status)).all()
        except SQLAlchemyError as exc:
            resp = jsonify({"status": "unhealthy", "database": "unreachable",
                            "error": type(exc).__name__})
            resp.status_code = 503
            return resp
        by_status = {(channel, status): n for channel, status, n in counts}
        channels, healthy = {}, True
        for key in rt.routing:  # the watched channels, as configured (name or chan_ UUID)
            row = next((c for c in cursors if key in (c.channel_uuid, c.channel_name)), None)
            name = row.channel_name if row else key
            last = row.last_success_at if row else None
            age = None if last is None else max(now - last, 0.0)
            stale = (age if age is not None else now - started) > STALE_INTERVALS * interval
            healthy = healthy and not stale
            # a channel list that fails hides the channel: that error first, it is current
            error = lookup_errors.get(key) or (row.last_error if row else None)
            channels[key] = {
                "last_success_age_seconds": None if age is None else round(age), "ok": not stale,
                "last_error": rt.redact(error) if error else None,
                "pending": by_status.get((name, PENDING), 0),
                "dead": by_status.get((name, DEAD), 0)}
        connections = connection_health(rt)
        healthy = healthy and all(c["ok"] for c in connections.values())
        watcher = rt.crontab_watcher  # a bad crontab edit: reported, not unhealthy (it runs on)
        resp = jsonify({"status": "ok" if healthy else "unhealthy", "database": "ok",
                        "crontab_error": watcher.error if watcher else None,
                        "poll_interval_seconds": interval,
                        "stale_after_seconds": STALE_INTERVALS * interval, "channels": channels,
                        "connections": connections})
        resp.status_code = 200 if healthy else 503
        return resp

    return bp
