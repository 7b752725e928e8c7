"""The HTTP side: `POST /feishu/reply` turns `#uuid#text` into a Guance issue comment
(`POST /dingtalk/reply`, in relay/dingtalk_reply.py, does the same for DingTalk).

Every answer is JSON: 200 {issueUUID, time} on success, else {error, hint?} with 400 malformed,
401 bad token, 404 unknown issue, 413 too large, 502 Guance failed, 503 Guance busy (retry later),
504 Guance did not answer in time (the comment may have landed: not to be resent blindly).
"""

from __future__ import annotations

import hmac
import logging
import threading
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from relay.comments import post_reply
from relay.dingtalk_reply import dingtalk_reply_blueprint
from relay.feishu_events import feishu_events_blueprint
from relay.health import health_blueprint
from relay.metrics import metrics_blueprint
from relay.replies import USAGE
from relay import replylog
from relay.replylog import reply_log_blueprint
from relay.runtime import Runtime
from relay.ui import ui_blueprint

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024


def error(status: int, message: str, **extra: Any):
    resp = jsonify({"error": message, **extra})
    resp.status_code = status
    return resp


def reply_text() -> str | None:
    """The message, from a JSON body (`content` or `text`) or a form field of the same name."""
    body = request.get_json(silent=True)
    if isinstance(body, str):
        return body
    source = body if isinstance(body, dict) else request.form
    for key in ("content", "text"):
        if isinstance(source.get(key), str):
            return source[key]
    return None


def create_app(rt: Runtime) -> Flask:
    app = Flask("relay")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    token = (rt.settings.reply_token.get_secret_value().strip().encode()
             if rt.settings.reply_token else b"")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 413:
            return error(413, f"request body is larger than {MAX_BODY} bytes")
        return error(exc.code or 500, exc.name)

    @app.errorhandler(Exception)
    def crash(exc: Exception):
        log.exception("unexpected error in %s", request.path)
        return error(500, "internal error; see relay's log")

    app.register_blueprint(feishu_events_blueprint(rt))  # the Feishu app bot
    app.register_blueprint(health_blueprint(rt))
    app.register_blueprint(metrics_blueprint(rt.metrics))
    app.register_blueprint(reply_log_blueprint(rt))
    app.register_blueprint(ui_blueprint(rt))

    @app.post("/feishu/reply")
    def feishu_reply():
        if not token:
            replylog.ignore()
            return error(404, "replies through a Feishu flow are off: RELAY_REPLY_TOKEN is not set")
        scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
        given = (value if scheme.lower() == "bearer" else scheme).strip().encode()
        if not hmac.compare_digest(given, token):
            return error(401, "missing or wrong token",
                         hint="send 'Authorization: Bearer <RELAY_REPLY_TOKEN>'")
        message = reply_text()
        if message is None:
            return error(400, "no message: send JSON {\"content\": \"#<issueUUID>#<text>\"} or "
                         "a form field 'content'", hint=USAGE)
        outcome = post_reply(rt, message)
        resp = jsonify(outcome.body)
        resp.status_code = outcome.status
        if "retryAfter" in outcome.body:
            resp.headers["Retry-After"] = str(outcome.body["retryAfter"])
        return resp

    app.register_blueprint(dingtalk_reply_blueprint(rt))  # POST /dingtalk/reply
    return app


class WebServer:
    """The app under waitress (a production WSGI server), in this thread (`run`) or in a
    background one (`start`); `stop` may be called from any other thread."""

    def __init__(self, app: Flask, host: str, port: int, threads: int = 8) -> None:
        from waitress import create_server

        self.server = create_server(app, host=host, port=port, threads=threads)
        self.thread = threading.Thread(target=self.server.run, name="relay-web", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.server.effective_host}:{self.server.effective_port}"

    def start(self) -> "WebServer":
        self.thread.start()
        return self

    def run(self) -> None:
        """Serve in this thread until `stop` is called from another."""
        self.server.run()

    def stop(self) -> None:
        from waitress import wasyncore

        # Let the worker threads finish first (they wake the loop when done), then close the
        # listener and kept-alive connections from inside the server's own loop: closed under a
        # running select() they would fail it with EBADF.
        self.server.task_dispatcher.shutdown()
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        if self.thread.is_alive():
            self.thread.join(timeout=5)
