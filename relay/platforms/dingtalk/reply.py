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
from relay.replies.actions import handle_reply
from relay.replies.comments import Outcome
from relay.replies.parse import USAGE
from relay.web.errors import error as rejected

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.dingtalk_reply")
PATH = "/dingtalk/reply"
MAX_SKEW_MS = 3600 * 1000  # DingTalk: a timestamp more than an hour from now is illegitimate
HOW_TO = USAGE[0].upper() + USAGE[1:]


def say(text: str):
    """An answer DingTalk posts into the group."""
    return jsonify({"msgtype": "text", "text": {"content": text}})


def sentence(outcome: Outcome) -> str:
    """What the sender reads in the group."""
    body, uuid = outcome.body, outcome.body.get("issueUUID", "")
    if "said" in body:  # an action (#uuid#/resolve …) says itself what it changed
        return body["said"]
    if outcome.status == 200:
        return f"Posted as a comment on {uuid} ({body['time']})."
    if outcome.status == 400:
        return f"Not posted: {body['error']}. {HOW_TO}"
    if outcome.status == 404:
        return f"Not posted: there is no issue {uuid} in Guance; check the UUID on the alert."
    if outcome.status == 413:
        return f"Not posted: {body['error']}."
    if outcome.status == 504:
        return f"Not sure: {body['error']}."
    if outcome.status == 503:
        return f"Not posted: Guance is busy (rate limit). Try again in {body['retryAfter']} s."
    return (f"Not posted: Guance did not take the comment ({body.get('detail') or body['error']})."
            " Try again later.")


def dingtalk_reply_blueprint(rt: Runtime) -> Blueprint:
    bp = Blueprint("dingtalk_reply", __name__)
    configured = rt.settings.dingtalk_app_secret
    secret = configured.get_secret_value().strip() if configured else ""

    @bp.post(PATH)
    def dingtalk_reply():
        if not secret:
            replylog.ignore()
            return rejected(403, "DingTalk replies are off: RELAY_DINGTALK_APP_SECRET is not set")
        timestamp = request.headers.get("timestamp", "").strip()
        given = request.headers.get("sign", "").strip()
        if not timestamp.isdigit() or not given:
            return rejected(401, "missing DingTalk 'timestamp' (ms) or 'sign' header")
        if abs(rt.clock.now() * 1000 - int(timestamp)) > MAX_SKEW_MS:
            return rejected(401, "the 'timestamp' header is more than an hour from now "
                                 "(a replayed request, or a clock far off)")
        expected = sign(timestamp, secret)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            return rejected(401, "the 'sign' header does not match RELAY_DINGTALK_APP_SECRET")
        body = request.get_json(silent=True)
        text = body.get("text") if isinstance(body, dict) else None
        content = text.get("content") if isinstance(text, dict) else None
        if not isinstance(content, str):
            replylog.note(rt, 400, None, "", "not a text message")
            return say(f"Not posted: relay reads only text messages. {HOW_TO}")
        outcome = handle_reply(rt, content, "DingTalk", str(body.get("senderNick") or ""),
                               "dingtalk")
        log.info("DingTalk reply from %s: %d", body.get("senderNick") or "?", outcome.status)
        return say(sentence(outcome))

    return bp
