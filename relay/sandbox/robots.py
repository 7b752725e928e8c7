"""Local stand-ins for the DingTalk and WeCom group robots, speaking their wire formats.

FakeDingTalk takes `POST /robot/send?access_token=…[&timestamp=…&sign=…]`, checks the signature
of robots that have a secret (computed here from DingTalk's documented algorithm, not with relay's
code), and answers `{"errcode": 0, "errmsg": "ok"}`. FakeWeCom takes
`POST /cgi-bin/webhook/send?key=…` and refuses markdown over 4096 bytes. Both allow 20 messages a
minute per robot and answer a 21st with the platform's code (DingTalk 130101, and the robot stays
throttled for 10 minutes; WeCom 45009). FakeDingTalk can also play the outgoing robot: `mention`
posts a signed @-mention to relay's `/dingtalk/reply` carrying a `sessionWebhook` on this fake
(`POST /robot/sendBySession?session=…`, valid until `sessionWebhookExpiredTime`, as DingTalk's
callbacks do), and records what is posted there in `session_answers`. Both accept injected faults.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections import deque
from typing import Any, Callable
from urllib.parse import quote

import requests
from flask import Flask, jsonify, request

from relay.clock import Clock

PER_MINUTE = 20


def _dingtalk_signature(timestamp: str, secret: str) -> str:
    """DingTalk's documented signature, written out again so the fake does not trust relay's."""
    mac = hmac.new(secret.encode("utf-8"), (timestamp + "\n" + secret).encode("utf-8"),
                   digestmod=hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("utf-8")


class _FakeRobots:
    """What both fakes share: recorded messages, a per-robot window of 20 a minute, faults."""

    platform = ""

    def __init__(self, clock: Clock | None = None,
                 on_receive: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.clock = clock or Clock()
        self.on_receive = on_receive
        self.received: list[tuple[str, dict[str, Any]]] = []  # (robot token/key, body)
        self.faults: deque[str] = deque()  # an errcode to answer with, or "500"
        self.too_frequent = 0  # messages refused for exceeding the limit
        self._times: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self.app = Flask(f"fake-{self.platform}")

    def for_robot(self, robot: str) -> list[dict[str, Any]]:
        return [body for r, body in self.received if r == robot]

    def _over_limit(self, robot: str, now: float) -> bool:
        times = self._times.setdefault(robot, [])
        if sum(1 for t in times if t > now - 60) >= PER_MINUTE:
            return True
        times.append(now)
        return False

    def _answer(self, robot: str, body: dict[str, Any], too_fast: tuple[int, str],
                check: Callable[[], tuple[int, str] | None]):
        """Faults, the message check, the rate limit; then record and answer ok."""
        with self._lock:
            fault = self.faults.popleft() if self.faults else None
            refused = check() if fault is None else None
            if fault is None and refused is None and self._refuse_too_fast(robot):
                self.too_frequent += 1
                refused = too_fast
            if fault is None and refused is None:
                self.received.append((robot, body))
        if fault == "500":
            return "internal error", 500
        if fault is not None:
            return jsonify({"errcode": int(fault), "errmsg": f"injected fault {fault}"})
        if refused is not None:
            return jsonify({"errcode": refused[0], "errmsg": refused[1]})
        if self.on_receive:
            self.on_receive(robot, body)
        return jsonify({"errcode": 0, "errmsg": "ok"})

    def _refuse_too_fast(self, robot: str) -> bool:
        return self._over_limit(robot, self.clock.now())


class FakeDingTalk(_FakeRobots):
    """DingTalk custom robots by access_token; those with an entry in `secrets` check the sign."""

    platform = "dingtalk"
    THROTTLE_SECONDS = 600  # DingTalk throttles a robot for 10 minutes after a breach

    def __init__(self, clock: Clock | None = None,
                 on_receive: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        super().__init__(clock, on_receive)
        self.secrets: dict[str, str] = {}  # access_token → signing secret ("加签")
        self._throttled_until: dict[str, float] = {}
        self.url = ""  # where this fake is served (set by whoever serves it)
        self.robot_code = "dingsandboxrobot0001"  # the outgoing robot's robotCode in callbacks
        self.sessions: dict[str, float] = {}  # session → when its webhook expires (clock time)
        self.session_answers: list[tuple[str, dict[str, Any]]] = []  # (session, message)
        self._last_ts = 0

        @self.app.post("/robot/send")
        def send():
            token = request.args.get("access_token", "")
            body = request.get_json(silent=True)
            return self._answer(token, body, (130101, "send too fast, exceed 20 times per minute"),
                                lambda: self._check(token, body))

        @self.app.post("/robot/sendBySession")
        def send_by_session():
            session = request.args.get("session", "")
            body = request.get_json(silent=True)
            if self.sessions.get(session, 0.0) <= self.clock.now():
                return jsonify({"errcode": 300001, "errmsg": "session is expired or not exist"})
            refused = self._check("session", body)
            if refused is not None:
                return jsonify({"errcode": refused[0], "errmsg": refused[1]})
            with self._lock:
                self.session_answers.append((session, body))
            return jsonify({"errcode": 0, "errmsg": "ok"})

    def _check(self, token: str, body: Any) -> tuple[int, str] | None:
        if not token:
            return 300001, "token is not exist"
        secret = self.secrets.get(token)
        if secret is not None:
            ts, given = request.args.get("timestamp", ""), request.args.get("sign", "")
            if not ts.isdigit() or abs(self.clock.now() * 1000 - int(ts)) > 3600 * 1000:
                return 310000, "sign not match, more: timestamp is not within one hour"
            if not hmac.compare_digest(_dingtalk_signature(ts, secret), given):
                return 310000, "sign not match"
        kind = body.get("msgtype") if isinstance(body, dict) else None
        part = body.get(kind) if kind else None
        at = body.get("at", {}) if isinstance(body, dict) else {}
        if not isinstance(at, dict) or not all(
                isinstance(at.get(k, []), list) and all(isinstance(v, str) for v in at.get(k, []))
                for k in ("atMobiles", "atUserIds")):
            return 40035, "at: atMobiles / atUserIds must be lists of strings"
        text = part.get("text") or part.get("content") or "" if isinstance(part, dict) else ""
        missing = [m for m in at.get("atMobiles", []) + at.get("atUserIds", [])
                   if f"@{m}" not in text]
        if kind == "markdown" and missing:  # markdown shows the @ only where the text names it
            return 40035, f"markdown text must contain @{missing[0]}"
        if kind == "markdown" and isinstance(part, dict) and part.get("title") and part.get("text"):
            return None
        if kind == "text" and isinstance(part, dict) and part.get("content"):
            return None
        return 40035, "missing or malformed message (this fake takes markdown and text)"

    def _refuse_too_fast(self, robot: str) -> bool:
        now = self.clock.now()
        if now < self._throttled_until.get(robot, 0.0):
            return True
        if self._over_limit(robot, now):
            self._throttled_until[robot] = now + self.THROTTLE_SECONDS
            return True
        return False

    def mention(self, reply_url: str, app_secret: str, content: str,
                timestamp_ms: int | None = None, sender: str = "Alice",
                session_minutes: float = 90) -> requests.Response:
        """Play the outgoing robot: post an @-mention of it to relay's `/dingtalk/reply`, with a
        sessionWebhook on this fake valid for `session_minutes` (DingTalk's sample: 90)."""
        if timestamp_ms is None:  # one message per millisecond: each has its own signature
            timestamp_ms = self._last_ts = max(round(self.clock.now() * 1000), self._last_ts + 1)
        ts = str(timestamp_ms)
        session = hashlib.sha256(f"session{ts}{content}".encode()).hexdigest()[:32]
        expires = self.clock.now() + session_minutes * 60
        self.sessions[session] = expires
        body = {"msgtype": "text", "text": {"content": content}, "msgId": f"msg{ts}",
                "createAt": int(ts), "conversationType": "2", "conversationId": "cid_sandbox",
                "conversationTitle": "sandbox group", "senderId": "$:LWCP_v1:$sandbox",
                "senderNick": sender, "chatbotUserId": "$:LWCP_v1:$robot", "isAdmin": False,
                "robotCode": self.robot_code,
                "sessionWebhook": f"{self.url}/robot/sendBySession?session={session}",
                "sessionWebhookExpiredTime": int(expires * 1000)}
        return requests.post(reply_url, json=body, timeout=10, headers={
            "timestamp": ts, "sign": _dingtalk_signature(ts, app_secret)})


class FakeWeCom(_FakeRobots):
    """WeCom group robots by key; `keys`, when set, are the only valid ones."""

    platform = "wecom"
    MAX_MARKDOWN_BYTES = 4096

    def __init__(self, clock: Clock | None = None,
                 on_receive: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        super().__init__(clock, on_receive)
        self.keys: set[str] | None = None

        @self.app.post("/cgi-bin/webhook/send")
        def send():
            key = request.args.get("key", "")
            body = request.get_json(silent=True)
            return self._answer(key, body, (45009, "api freq out of limit"),
                                lambda: self._check(key, body))

    def _check(self, key: str, body: Any) -> tuple[int, str] | None:
        if not key or (self.keys is not None and key not in self.keys):
            return 93000, "invalid webhook url"
        kind = body.get("msgtype") if isinstance(body, dict) else None
        part = body.get(kind) if kind else None
        content = part.get("content") if isinstance(part, dict) else None
        if kind not in ("markdown", "text") or not isinstance(content, str) or not content:
            return 40008, "invalid message type"
        if kind == "markdown" and len(content.encode("utf-8")) > self.MAX_MARKDOWN_BYTES:
            return 40058, "markdown.content exceed max length 4096"
        return None


def robot_url(base: str, platform: str, token: str) -> str:
    """The webhook URL of a fake robot (the same shape as the real one, on the fake's host)."""
    if platform == "dingtalk":
        return f"{base}/robot/send?access_token={quote(token)}"
    return f"{base}/cgi-bin/webhook/send?key={quote(token)}"
