"""A local stand-in for Feishu flow webhooks and custom bots, answering like Feishu
({"code": 0, ...}), with an optional per-hook rate limit and injected faults."""

from __future__ import annotations

import hmac
import threading
from collections import deque
from typing import Any, Callable

from flask import Flask, jsonify, request

from relay.clock import Clock
from relay.platforms.feishu.webhook import bot_sign


def card_texts(node: object):
    """Every text of a card, in order, whatever the template's layout."""
    if isinstance(node, dict):
        if node.get("tag") in ("plain_text", "lark_md", "markdown") and "content" in node:
            yield str(node["content"])
        for value in node.values():
            yield from card_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from card_texts(value)


class FakeFeishu:
    """Feishu flow webhooks and custom bots: records each accepted post; optional per-hook rate
    limit. A custom bot whose token has an entry in `bot_secrets` checks the signature."""

    def __init__(self, clock: Clock | None = None,
                 on_receive: Callable[[str, dict[str, Any]], None] | None = None,
                 limits: list[tuple[int, float]] | None = None) -> None:
        self.clock = clock or Clock()
        self.on_receive = on_receive
        self.limits = limits  # e.g. [(5, 1.0), (100, 60.0)] as Feishu documents per bot
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.faults: deque[str] = deque()  # "500", "code" (200 + non-zero code), "429"
        self.too_frequent = 0  # posts refused for exceeding the rate limit
        self.down_until = 0.0  # an outage: before this clock time every post fails with down_with
        self.down_with = "500"
        self.bot_secrets: dict[str, str] = {}  # custom bot token → signing secret
        # set `hold` to an Event to keep each post waiting until it is set (`arrived` says one
        # is waiting): a sender interrupted mid-send
        self.hold: threading.Event | None = None
        self.arrived = threading.Event()
        self._times: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self.app = self._make_app()

    def for_hook(self, hook: str) -> list[dict[str, Any]]:
        return [body for h, body in self.received if h == hook]

    def _over_limit(self, hook: str, now: float) -> bool:
        times = self._times.setdefault(hook, [])
        if self.limits and any(sum(1 for t in times if t > now - s) >= n for n, s in self.limits):
            return True
        times.append(now)
        return False

    def _make_app(self) -> Flask:
        app = Flask("fake-feishu")

        @app.post("/flow/api/trigger-webhook/<hook>")
        def flow(hook: str):
            if self.hold is not None:
                self.arrived.set()
                self.hold.wait(60)
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return jsonify({"code": 9499, "msg": "Bad Request", "data": {}})
            with self._lock:
                fault = self.faults.popleft() if self.faults else None
                if fault is None and self.clock.now() < self.down_until:
                    fault = self.down_with
                if fault is None and self._over_limit(hook, self.clock.now()):
                    self.too_frequent += 1
                    return jsonify({"code": 11232, "msg": "frequency limited", "data": {}})
                if fault is None:
                    self.received.append((hook, body))
            if fault == "500":
                return jsonify({"code": 500, "msg": "internal error"}), 500
            if fault == "429":
                return jsonify({"code": 99991400, "msg": "too many requests"}), 429, {
                    "Retry-After": "30"}
            if fault == "code":
                return jsonify({"code": 19024, "msg": "Key Words Not Found", "data": {}})
            if self.on_receive:
                self.on_receive(hook, body)
            return jsonify({"code": 0, "msg": "success", "data": {}})

        @app.post("/open-apis/bot/v2/hook/<token>")
        def bot(token: str):
            """Checks what a custom bot checks, then records and answers like a flow."""
            body = request.get_json(silent=True)
            if len(request.get_data()) > 20 * 1024:  # Feishu's limit; its error code is ours
                return jsonify({"code": 9499, "msg": "request body too large", "data": {}})
            if not isinstance(body, dict) or not body.get("msg_type") or (
                    body["msg_type"] == "interactive" and not isinstance(body.get("card"), dict)):
                return jsonify({"code": 9499, "msg": "Bad Request", "data": {}})
            secret = self.bot_secrets.get(token)
            if secret is not None and not self._signed(body, secret):
                return jsonify({"code": 19021, "msg": "sign match fail or timestamp is not "
                                "within one hour from current time", "data": {}})
            return flow(token)

        return app

    def _signed(self, body: dict[str, Any], secret: str) -> bool:
        ts = str(body.get("timestamp", ""))
        if not ts.isdigit() or abs(self.clock.now() - int(ts)) > 3600:
            return False
        return hmac.compare_digest(bot_sign(int(ts), secret), str(body.get("sign", "")))
