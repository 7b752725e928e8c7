"""The Flask app: every platform's reply routes (from the registry), health, metrics and the
delivery log page. Every refusal is JSON {"error": …} (relay/web/errors.py)."""

from __future__ import annotations

import logging

from flask import Flask, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from relay.metrics import metrics_blueprint
from relay.platforms.registry import PLATFORMS, REPLY_ROUTES
from relay.replies.log import reply_log_blueprint
from relay.runtime import Runtime
from relay.store.base import is_busy
from relay.web.actions import action_links_blueprint
from relay.web.errors import error
from relay.web.health import health_blueprint
from relay.web.ui import ui_blueprint
from relay.web.untrusted import UntrustedJSONProvider

log = logging.getLogger("relay.web")
MAX_BODY = 256 * 1024
RESERVED_THREADS = 4  # server threads no reply waiting on Guance may take (health, events, page)


def create_app(rt: Runtime) -> Flask:
    app = Flask("relay.web")
    app.json = UntrustedJSONProvider(app)  # JSON nested too deeply is a 400, not a crash
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    # the server's threads (relay/web/server.py): every reply slot, and RESERVED_THREADS others
    app.config["RELAY_WEB_THREADS"] = rt.settings.replies_in_flight + RESERVED_THREADS

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 413:
            return error(413, rt.text("web.too_large", max=MAX_BODY))
        return error(exc.code or 500, exc.name)

    @app.errorhandler(OperationalError)
    def database_error(exc: OperationalError):
        """A locked or unreachable database: "retry", in one log line, not a 500 + traceback."""
        busy = is_busy(exc)
        log.warning("%s %s: the database is %s (%s)", request.method, request.path,
                    "busy" if busy else "unavailable", type(getattr(exc, "orig", exc)).__name__)
        resp = error(503, "database busy, retry" if busy else "database unavailable, retry")
        resp.headers["Retry-After"] = "1" if busy else "10"
        return resp

    @app.errorhandler(Exception)
    def crash(exc: Exception):
        log.exception("unexpected error in %s", request.path)
        return error(500, rt.text("web.crash"))

    for route in REPLY_ROUTES:
        app.register_blueprint(route.blueprint(rt))
    app.register_blueprint(health_blueprint(rt))
    app.register_blueprint(metrics_blueprint(rt.metrics))
    app.register_blueprint(reply_log_blueprint(
        rt, tuple(route.path for route in REPLY_ROUTES if route.counted)))
    app.register_blueprint(ui_blueprint(rt))
    app.register_blueprint(action_links_blueprint(rt))
    for platform in PLATFORMS:  # the connections to chat services (no public URL needed)
        if platform.listen is not None:
            platform.listen(rt)
    return app
