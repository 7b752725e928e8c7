"""`GET /`: the delivery log page — recent deliveries and replies, read-only, token-protected.

Server-rendered (Jinja, autoescaped), no JavaScript. It is off until RELAY_UI_TOKEN is set, and
says so. Open `/?token=<RELAY_UI_TOKEN>` once: the token moves into an HttpOnly cookie and out of
the address bar. An `Authorization: Bearer <token>` header works too (for scripts).
"""

from __future__ import annotations

import hmac

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import select

from relay.platforms.render import format_time
from relay.runtime import Runtime
from relay.store import mutes as mute_store
from relay.store import replylog
from relay.store.outbox import LISTED_STATUSES, PENDING, ChannelCursor, list_deliveries

COOKIE = "relay_ui"
ROWS = 100


def known_channels(engine) -> list[str]:
    """The polled channels' names (the small cursor table, not a scan of the outbox)."""
    with engine.connect() as conn:
        return sorted(c for c in conn.scalars(select(ChannelCursor.channel_name).distinct()) if c)


def ui_blueprint(rt: Runtime) -> Blueprint:
    bp = Blueprint("ui", __name__, template_folder="templates")
    token = rt.settings.ui_token.get_secret_value() if rt.settings.ui_token else ""

    def message(status: int, title: str, text: str):
        return render_template("delivery_log_message.html", title=title, text=text), status

    def given_token() -> str:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return request.args.get("token") or request.cookies.get(COOKIE) or ""

    @bp.get("/")
    def page():
        if not token:
            return message(404, "The delivery log page is off",
                           "Set RELAY_UI_TOKEN to a long random value and restart relay, then "
                           "open /?token=<that value>.")
        if not hmac.compare_digest(given_token().encode(), token.encode()):
            return message(401, "Token needed",
                           "Open /?token=<RELAY_UI_TOKEN> (the value relay was started with).")
        filters = {k: request.args.get(k, "").strip() for k in ("status", "channel")}
        if "token" in request.args:  # keep the token out of the address bar and history
            resp = redirect(url_for(".page", **{k: v for k, v in filters.items() if v}))
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            return resp
        if filters["status"] and filters["status"] not in LISTED_STATUSES:
            return message(400, "Unknown status",
                           f"status must be one of: {', '.join(LISTED_STATUSES)} (or empty for all).")
        if len(filters["channel"]) > 255:
            return message(400, "Channel name too long", "A channel name has at most 255 "
                           "characters.")
        tz = rt.settings.tz
        deliveries = [{
            "time": format_time(d.created_at, tz), "channel": d.channel,
            "level": d.payload.get("level", ""), "title": d.payload.get("title", ""),
            "issue": d.issue_uuid, "destination": d.destination,
            "status": "failed" if d.status == PENDING and d.attempts else d.status,
            "attempts": d.attempts, "error": rt.redact(d.last_error or "")}
            for d in list_deliveries(rt.engine, filters["status"] or None, ROWS,
                                     filters["channel"] or None)]
        replies = [{"time": format_time(r.received_at, tz), "issue": r.issue_uuid or "",
                    "text": r.text, "status": r.http_status, "error": r.error or ""}
                   for r in replylog.recent(rt.engine)]
        mutes = [{"resource": m.resource, "until": format_time(m.until, tz), "by": m.created_by,
                  "issue": m.issue_uuid}
                 for m in mute_store.active(rt.engine, int(rt.clock.now()))]
        return render_template("delivery_log.html", deliveries=deliveries, replies=replies,
                               mutes=mutes,
                               statuses=LISTED_STATUSES, channels=known_channels(rt.engine),
                               filters=filters, limit=ROWS)

    return bp
