"""`POST /feishu/reply`: a Feishu flow (@-mention trigger → HTTP request) posts `#uuid#text`,
relay turns it into a Guance issue comment.

Every answer is JSON: 200 {issueUUID, time} on success, else {error, hint?} with 400 malformed,
401 bad token, 404 unknown issue or route off, 413 too large, 502 Guance failed, 503 Guance busy
(retry later), 504 Guance did not answer in time (the comment may have landed: not to be resent
blindly).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from flask import Blueprint, jsonify, request

from relay.platforms.feishu.inert import text_message
from relay.replies.actions import handle_reply
from relay.replies.log import ignore
from relay.web.errors import error

if TYPE_CHECKING:
    from relay.runtime import Runtime

PATH = "/feishu/reply"
SENDER = "feishu-flow"  # the reply log's sender: the token holder is one sender (a flow's own
# `sender` field, self-declared, only names who acted in an action's comment)


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


def sender_name() -> str:
    """Who wrote the message, when the flow sends it (`sender`), for the comment of an action."""
    body = request.get_json(silent=True)
    source = body if isinstance(body, dict) else request.form
    sender = source.get("sender")
    return sender.strip()[:80] if isinstance(sender, str) else ""


def answer(body: dict) -> dict:
    """The JSON answer, its sentences inert: the flow may post them into the chat as they are,
    and they can echo what was written (a wrong UUID) or Guance's reason."""
    return {key: text_message(value) if key in SENTENCES and isinstance(value, str) else value
            for key, value in body.items()}


SENTENCES = ("said", "error", "detail", "hint")


def feishu_reply_blueprint(rt: Runtime) -> Blueprint:
    bp = Blueprint("feishu_reply", __name__)
    token = (rt.settings.reply_token.get_secret_value().strip().encode()
             if rt.settings.reply_token else b"")

    @bp.post(PATH)
    def feishu_reply():
        if not token:
            ignore()
            return error(404, rt.text("feishu_reply.off"))
        scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
        given = (value if scheme.lower() == "bearer" else scheme).strip().encode()
        if not hmac.compare_digest(given, token):
            return error(401, rt.text("feishu_reply.token"), hint=rt.text("feishu_reply.token_hint"))
        message = reply_text()
        if message is None:
            return error(400, rt.text("feishu_reply.no_message"), hint=rt.text("reply.usage"))
        outcome = handle_reply(rt, message, "Feishu", sender_name(), "feishu_flow", sender=SENDER)
        resp = jsonify(answer(outcome.body))
        resp.status_code = outcome.status
        if "retryAfter" in outcome.body:
            resp.headers["Retry-After"] = str(outcome.body["retryAfter"])
        return resp

    return bp
