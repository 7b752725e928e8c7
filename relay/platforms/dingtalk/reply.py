"""`POST /dingtalk/reply`: an @-mention of the DingTalk outgoing robot (机器人 outgoing) becomes a
Guance comment, and the answer is a DingTalk message shown in the group.

DingTalk signs each request: header `timestamp` (ms) and header `sign` = base64(HMAC-SHA256 keyed
with the robot's AppSecret over "timestamp\\nAppSecret"), and a timestamp more than an hour from
now is not to be trusted. The sign covers no byte of the body, so each accepted pair is kept for
that hour (relay/store/signatures.py) and a second use is a replay; a callback naming another
robot (`robotCode`, when RELAY_DINGTALK_ROBOT_CODE is set) is refused too. A request failing those
checks gets 400/401/403 with a JSON reason; a signed one always gets HTTP 200.

The answer is given once (DingTalk shows both an answer in the HTTP body and one posted to the
callback's `sessionWebhook`): in the body, `{"msgtype": "text", "text": {"content": "<a
sentence>"}}`, when it is ready within ANSWER_WAIT_SECONDS; else the body is `{}` and the sentence,
when it comes, goes to the `sessionWebhook` (DingTalk's documented way to answer) while that is
valid, if it passes relay.http's URL guard: https on a host under dingtalk.com at a public
address (or an origin of RELAY_DINGTALK_SESSION_ORIGINS), nowhere else.
"""

from __future__ import annotations

import hmac
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as NotYet
from typing import TYPE_CHECKING, Any, Callable

import requests
from flask import Blueprint, jsonify, request

from relay import http
from relay.http import UrlGuard
from relay.i18n import Text
from relay.platforms.dingtalk.robot import sign
from relay.replies import log as replylog
from relay.replies.actions import handle_reply
from relay.replies.comments import Outcome
from relay.store.signatures import first_use
from relay.web.errors import error as rejected
from relay.web.untrusted import whole_number

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.dingtalk_reply")
PATH = "/dingtalk/reply"
MAX_SKEW_MS = 3600 * 1000  # DingTalk: a timestamp more than an hour from now is illegitimate
# how long the request waits for the answer to give it in the body (DingTalk's own wait is not in
# our sources; Feishu's callbacks get 3 s); a later answer goes to the sessionWebhook
ANSWER_WAIT_SECONDS = 3.0


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
    if "said" in body:  # an action (#uuid#/resolve …) says itself what it changed
        return body["said"]
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


DINGTALK_HOSTS = ("dingtalk.com",)  # where a sessionWebhook may point: https, a host under it


def session_guard(origins: str) -> UrlGuard:
    """The guard every sessionWebhook passes: DingTalk's own hosts, or one of the origins
    (`scheme://host:port`, comma-separated) in RELAY_DINGTALK_SESSION_ORIGINS."""
    return UrlGuard(DINGTALK_HOSTS, frozenset(
        o.strip().rstrip("/").lower() for o in origins.split(",") if o.strip()))


def session_webhook(body: dict[str, Any], now_ms: float, guard: UrlGuard) -> str | None:
    """The callback's sessionWebhook if it is still valid and `guard` admits it; else None.
    The body is not signed: anything else could be a URL an attacker chose."""
    url, expires = body.get("sessionWebhook"), body.get("sessionWebhookExpiredTime")
    if not isinstance(url, str) or type(expires) is not int or expires <= now_ms:
        return None
    return url if guard.admits(url) else None


def answer_in_session(session: requests.Session, url: str, text: str, timeout: float,
                      guard: UrlGuard) -> None:
    """Post a late sentence to the sessionWebhook as a text message; a failure is one log
    line (its words, never the URL: the session is in its query)."""
    try:
        resp = http.call(session, "POST", url, timeout=timeout, guard=guard,
                         json={"msgtype": "text", "text": {"content": text}})
        code = resp.json().get("errcode") if resp.status_code == 200 else None
    except http.CallFailed as exc:
        log.warning("DingTalk sessionWebhook: the answer did not go out (%s)", exc)
        return
    except (ValueError, AttributeError):
        code = None
    if code != 0:
        log.warning("DingTalk sessionWebhook: the answer was refused (HTTP %d, errcode %s)",
                    resp.status_code, code)


def dingtalk_reply_blueprint(rt: Runtime) -> Blueprint:
    bp = Blueprint("dingtalk_reply", __name__)
    configured = rt.settings.dingtalk_app_secret
    secret = configured.get_secret_value().strip() if configured else ""
    robot_code = (rt.settings.dingtalk_robot_code or "").strip()
    guard = session_guard(rt.settings.dingtalk_session_origins)
    session = http.http_session()
    timeout = min(rt.settings.chat_timeout, 5.0)  # the sender is waiting for the answer

    answers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dingtalk-answer")

    def answer(body: dict[str, Any], work: Callable[[], str]):
        """Answer once: in the body when the sentence is ready in time, else (the reply is
        still being acted on) through the sessionWebhook when it is."""
        replylog.ignore()  # `work` notes the reply, outside this request's context
        pending = answers.submit(work)
        try:
            return say(pending.result(timeout=ANSWER_WAIT_SECONDS))
        except NotYet:
            pass
        url = session_webhook(body, rt.clock.now() * 1000, guard)

        def later(done: Future) -> None:
            if done.exception() is not None:
                log.error("DingTalk reply failed: %s", type(done.exception()).__name__)
            elif url is None:
                log.warning("DingTalk reply: the answer came after the request and the "
                            "callback has no valid sessionWebhook; it is not shown")
            else:
                answer_in_session(session, url, done.result(), timeout, guard)

        pending.add_done_callback(later)
        return jsonify({})

    @bp.post(PATH)
    def dingtalk_reply():
        if not secret:
            replylog.ignore()
            return rejected(403, rt.text("dingtalk.off"))
        timestamp = request.headers.get("timestamp", "").strip()
        given = request.headers.get("sign", "").strip()
        if not timestamp or not given:
            return rejected(401, rt.text("dingtalk.no_signature"))
        ms = whole_number(timestamp)
        if ms is None:
            return rejected(400, rt.text("dingtalk.bad_timestamp"))
        if abs(rt.clock.now() * 1000 - ms) > MAX_SKEW_MS:
            return rejected(401, rt.text("dingtalk.stale"))
        expected = sign(timestamp, secret)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            return rejected(401, rt.text("dingtalk.bad_signature"))
        # the pair passes for an hour after its timestamp: remembered until then, used once
        if not first_use(rt.engine, f"dingtalk:{given}", (ms + MAX_SKEW_MS) // 1000 + 1,
                         int(rt.clock.now())):
            return rejected(401, rt.text("dingtalk.replayed"))
        body = request.get_json(silent=True)
        body = body if isinstance(body, dict) else {}
        if robot_code and body.get("robotCode") != robot_code:
            return rejected(403, rt.text("dingtalk.other_robot"))
        text = body.get("text")
        content = text.get("content") if isinstance(text, dict) else None
        sender = f"dingtalk:{body.get('senderStaffId') or body.get('senderId') or '?'}"
        if not isinstance(content, str):
            replylog.note(rt, 400, None, "", "not a text message", sender)
            return say(rt.text("dingtalk.not_text", how_to=how_to(rt.text)))
        staff = tuple(str(body[k]) for k in ("senderStaffId",) if body.get(k))

        def act() -> str:
            outcome = handle_reply(rt, content, "DingTalk", str(body.get("senderNick") or ""),
                                   "dingtalk", sender, staff)
            log.info("DingTalk reply from %s: %d", body.get("senderNick") or "?", outcome.status)
            return sentence(outcome, rt.text)

        return answer(body, act)

    return bp
