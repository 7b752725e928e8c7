"""The Flask app: every platform's reply routes (from the registry), health, metrics and the
delivery log page. Every refusal is JSON {"error": …} (relay/web/errors.py)."""

from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from relay.metrics import metrics_blueprint
from relay.platforms.registry import REPLY_ROUTES
from relay.replies.log import reply_log_blueprint
from relay.runtime import Runtime
from relay.web.actions import action_links_blueprint
from relay.web.errors import error
from relay.web.health import health_blueprint
from relay.web.ui import ui_blueprint

log = logging.getLogger("relay.web")
MAX_BODY = 256 * 1024


def create_app(rt: Runtime) -> Flask:
    app = Flask("relay.web")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 413:
            return error(413, f"request body is larger than {MAX_BODY} bytes")
        return error(exc.code or 500, exc.name)

    @app.errorhandler(Exception)
    def crash(exc: Exception):
        log.exception("unexpected error in %s", request.path)
        return error(500, "internal error; see relay's log")

    for route in REPLY_ROUTES:
        app.register_blueprint(route.blueprint(rt))
    app.register_blueprint(health_blueprint(rt))
    app.register_blueprint(metrics_blueprint(rt.metrics))
    app.register_blueprint(reply_log_blueprint(
        rt, tuple(route.path for route in REPLY_ROUTES if route.counted)))
    app.register_blueprint(ui_blueprint(rt))
    app.register_blueprint(action_links_blueprint(rt))
    return app
