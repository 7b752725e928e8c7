"""`GET /`: the delivery log page — recent deliveries and replies, read-only, token-protected.

Server-rendered (Jinja, autoescaped), no JavaScript. It is off until RELAY_UI_TOKEN is set, and
says so. Open `/?token=<RELAY_UI_TOKEN>` once: the address bar loses the token and the browser
keeps a cookie holding an HMAC of it (a stolen cookie is not the token). An
`Authorization: Bearer <token>` header works too (for scripts). Every answer is kept out of
caches, cannot be framed, and may load nothing but its own inline styles.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, Response, redirect, render_template, request, url_for
from sqlalchemy import select

from relay.platforms.render import format_time
from relay.runtime import Runtime
from relay.store import mutes as mute_store
from relay.store import replylog
from relay.store.outbox import LISTED_STATUSES, PENDING, ChannelCursor, list_deliveries
from relay.web.chart import build as build_chart

COOKIE = "relay_ui"
ROWS = 100
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    # no scripts, frames, images or fonts: the page is HTML, inline CSS and a form to itself
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",  # the first visit's address holds the token
    "X-Content-Type-Options": "nosniff",
}


def cookie_value(token: str) -> str:
    """What the cookie holds: derived from the token, so neither a copied cookie nor a cookie
    jar shows the token itself (scripts and the first visit need it)."""
    return hmac.new(token.encode(), b"relay delivery log page cookie", hashlib.sha256).hexdigest()


def came_over_https() -> bool:
    """HTTPS to relay itself, or to a proxy in front that says so in X-Forwarded-Proto (only
    ever used to add Secure: a forged header makes the forger's own cookie HTTPS-only)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.is_secure or forwarded == "https"


def known_channels(engine) -> list[str]:
    """The polled channels' names (the small cursor table, not a scan of the outbox)."""
    with engine.connect() as conn:
        return sorted(c for c in conn.scalars(select(ChannelCursor.channel_name).distinct()) if c)


def ui_blueprint(rt: Runtime) -> Blueprint:
    bp = Blueprint("ui", __name__, template_folder="templates")
    token = rt.settings.ui_token.get_secret_value() if rt.settings.ui_token else ""
    cookie = cookie_value(token) if token else ""
    t = rt.text  # every label in RELAY_LANGUAGE

    @bp.after_request
    def guarded(resp: Response) -> Response:
        resp.headers.update(HEADERS)
        return resp

    def message(status: int, key: str, **values: str):
        return render_template("delivery_log_message.html", t=t, lang=t.language,
                               title=t(f"page.{key}_title"),
                               text=t(f"page.{key}_text", **values)), status

    def authorised() -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return hmac.compare_digest(value.strip().encode(), token.encode())
        if "token" in request.args:
            return hmac.compare_digest(request.args["token"].encode(), token.encode())
        return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), cookie.encode())

    @bp.get("/")
    def page():
        if not token:
            return message(404, "off")
        if not authorised():
            return message(401, "token")
        filters = {k: request.args.get(k, "").strip() for k in ("status", "channel")}
        if "token" in request.args:  # keep the token out of the address bar and history
            resp = redirect(url_for(".page", **{k: v for k, v in filters.items() if v}))
            resp.set_cookie(COOKIE, cookie, httponly=True, samesite="Strict", path="/",
                            secure=came_over_https() or rt.settings.ui_cookie_secure)
            return resp
        if filters["status"] and filters["status"] not in LISTED_STATUSES:
            return message(400, "bad_status", statuses=", ".join(LISTED_STATUSES))
        if len(filters["channel"]) > 255:
            return message(400, "long_channel")
        tz = rt.settings.tz
        deliveries = [{
            "time": format_time(d.created_at, tz), "channel": d.channel,
            "level": t.level(card.level), "title": card.title,
            "issue": d.issue_uuid or d.dedupe_key, "destination": d.destination,
            "status": "failed" if d.status == PENDING and d.attempts else d.status,
            "attempts": d.attempts, "error": rt.redact(d.last_error or "")}
            for d in list_deliveries(rt.engine, filters["status"] or None, ROWS,
                                     filters["channel"] or None) for card in (d.card(),)]
        replies = [{"time": format_time(r.received_at, tz), "issue": r.issue_uuid or "",
                    "text": r.text, "status": r.http_status, "error": r.error or ""}
                   for r in replylog.recent(rt.engine)]
        mutes = [{"resource": m.label if m.label == m.resource else f"{m.label} ({m.resource})",
                  "destinations": ", ".join(m.destinations) + (" · P0" if m.include_p0 else ""),
                  "until": format_time(m.until, tz), "by": m.created_by, "issue": m.issue_uuid}
                 for m in mute_store.active(rt.engine, int(rt.clock.now()))]
        return render_template("delivery_log.html", deliveries=deliveries, replies=replies,
                               mutes=mutes,
                               statuses=LISTED_STATUSES, channels=known_channels(rt.engine),
                               filters=filters, limit=ROWS, t=t, lang=t.language,
                               chart=build_chart(rt.engine, rt.clock.now(), tz, t))

    return bp
