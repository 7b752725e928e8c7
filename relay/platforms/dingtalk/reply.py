"""`POST /dingtalk/reply`: an @-mention of the DingTalk outgoing robot (机器人 outgoing) becomes a
Guance comment, and the answer is a DingTalk message shown in the group.

DingTalk signs each request: header `timestamp` (ms) and header `sign` = base64(HMAC-SHA256 keyed
with the robot's AppSecret over "timestamp\\nAppSecret"), and a timestamp more than an hour from
now is not to be trusted. A request failing those checks gets 401/403 with a JSON reason; a signed
one always gets HTTP 200 with `{"msgtype": "text", "text": {"content": "<a sentence>"}}`.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from flask import Blueprint, jsonify, request

from relay.platforms.dingtalk.robot import sign
from relay.replies import log as replylog
from relay.replies.comments import Outcome, post_reply
from relay.i18n import Text
from relay.web.errors import error as rejected

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.dingtalk_reply")
PATH = "/dingtalk/reply"
MAX_SKEW_MS = 3600 * 1000  # DingTalk: a timestamp more than an hour from now is illegitimate


def say(text: str):
    """An answer DingTalk posts into the group."""
    return jsonify({"msgtype": "text", "text": {"content": text}})


def how_to(text: Text) -> str:
    """The reply syntax as a sentence of its own."""
    usage = text("reply.usage")
    return usage[0].upper() + usage[1:]


def sentence(outcome: Outcome, text: Text) -> str:
    """What the sender reads in the group, in RELAY_LANGUAGE."""
    body, uuid = outcome.body, outcome.body.get("issueUUID", "")
    if outcome.status == 200:
        return text("dingtalk.posted", uuid=uuid, time=body["time"])
    if outcome.status == 400:
        return text("dingtalk.malformed", error=body["error"], how_to=how_to(text))
    if outcome.status == 404:
        return text("dingtalk.not_found", uuid=uuid)
    if outcome.status == 413:
        return text("dingtalk.too_long", error=body["error"])
    if outcome.status == 504:
        return text("dingtalk.unsure", error=body["error"])
    if outcome.status == 503:
        return text("dingtalk.busy", seconds=body["retryAfter"])
    return text("dingtalk.failed", detail=body.get("detail") or body["error"])


def dingtalk_reply_blueprint(rt: Runtime) -> Blueprint:
    bp = Blueprint("dingtalk_reply", __name__)
    configured = rt.settings.dingtalk_app_secret
    secret = configured.get_secret_value().strip() if configured else ""

    @bp.post(PATH)
    def dingtalk_reply():
        if not secret:
            replylog.ignore()
            return rejected(403, rt.text("dingtalk.off"))
        timestamp = request.headers.get("timestamp", "").strip()
        given = request.headers.get("sign", "").strip()
        if not timestamp.isdigit() or not given:
            return rejected(401, rt.text("dingtalk.no_signature"))
        if abs(rt.clock.now() * 1000 - int(timestamp)) > MAX_SKEW_MS:
            return rejected(401, rt.text("dingtalk.stale"))
        expected = sign(timestamp, secret)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            return rejected(401, rt.text("dingtalk.bad_signature"))
        body = request.get_json(silent=True)
        text = body.get("text") if isinstance(body, dict) else None
        content = text.get("content") if isinstance(text, dict) else None
        if not isinstance(content, str):
            replylog.note(rt, 400, None, "", "not a text message")
            return say(rt.text("dingtalk.not_text", how_to=how_to(rt.text)))
        outcome = post_reply(rt, content)
        log.info("DingTalk reply from %s: %d", body.get("senderNick") or "?", outcome.status)
        return say(sentence(outcome, rt.text))

    return bp
