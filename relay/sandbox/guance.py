"""A local stand-in for the Guance OpenAPI, speaking its wire format on 127.0.0.1.

`relay sandbox` runs the real pipeline against it (and the Feishu, DingTalk and WeCom fakes beside
it); the tests and benchmarks use the same fakes. FakeGuance checks the DF-API-KEY header, wraps
answers in Guance's envelope, pages issue lists, can enforce the per-key limit (HTTP 401 +
ft.TriggerApiAkCurrentLimiting) and accepts injected faults.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid as uuidlib
from collections import deque
from typing import Any

from flask import Flask, jsonify, request

from relay.clock import Clock

DEFAULT_CHANNEL = "chan_default0000000000000000000000"
MODIFY_STATUS_TYPES = (10, 20, 30)  # the values Guance's modify page documents


FILTER_KEYS = ("resource", "level", "statusType", "creator", "updator")


def _matches(issue: dict[str, Any], item: dict[str, Any]) -> bool:
    """One issue/list filter {key, value, equal}: equal true = equals, false = not equal."""
    same = str(issue.get(item["key"])) == str(item.get("value"))
    return same if item.get("equal", True) else not same


def _envelope(content: Any = None, status: int = 200, error_code: str = "",
              message: str = "", **extra: Any):
    body = {"code": status, "content": content, "errorCode": error_code, "message": message,
            "success": status == 200, "traceId": f"TRACE-{uuidlib.uuid4().hex[:16]}", **extra}
    resp = jsonify(body)
    resp.status_code = status
    return resp


class FakeGuance:
    """The slice of the Guance OpenAPI relay uses, with issues and replies held in memory."""

    def __init__(self, api_key: str = "sandbox-key", clock: Clock | None = None,
                 calls_per_minute: int | None = None, content_shape: str = "object") -> None:
        self.api_key = api_key
        self.clock = clock or Clock()
        self.calls_per_minute = calls_per_minute
        self.content_shape = content_shape  # "object" {data, pageInfo} or "list"
        # which time issue/list's startTime/endTime filter on (Guance does not document it)
        self.window_on = "createAt"
        self.channels: dict[str, str] = {DEFAULT_CHANNEL: "default"}
        self.issues: list[dict[str, Any]] = []
        self.accounts: dict[str, dict[str, str]] = {}  # acnt_ UUID → {name, email}
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.levels: dict[str, str] = {}  # custom levels (issl_…) by uuid → name
        self.calls: list[tuple[float, str]] = []  # accepted calls (time, path)
        self.rate_limited = 0  # calls answered with the rate-limit error
        self.faults: deque[str] = deque()  # "500", "timeout", "malformed", "unsuccessful", "ratelimit"
        self.timeout_seconds = 3.0
        self.release = threading.Event()  # a "hold" fault answers once this is set
        self.modifications: list[tuple[str, dict[str, Any]]] = []  # accepted issue/{uuid}/modify
        self.status_types = MODIFY_STATUS_TYPES  # what issue/{uuid}/modify takes
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.app = self._make_app()

    # -- seeding --------------------------------------------------------------------------------
    def add_channel(self, name: str) -> str:
        uuid = f"chan_{uuidlib.uuid4().hex}"
        self.channels[uuid] = name
        return uuid

    def add_issue(self, title: str, channels: list[str] = (), level: Any = "system_level_2",
                  created_at: float | None = None, message: str = "", resource: str = "monitor",
                  description: str | None = None, managers: list[str] = (),
                  listed_as: dict[str, Any] | None = None) -> str:
        """An issue in the named channels (and, as in Guance, always in `default`); `managers`
        are account UUIDs of the people responsible (extend.manager). `listed_as`: fields the
        issue list shows instead of the real ones (a malformed issue, e.g.
        {"createAt": "2026-12-01T07:00:00Z"}); the time window still uses the real time."""
        uuid = f"issue_{uuidlib.uuid4().hex}"
        by_name = {name: cid for cid, name in self.channels.items()}
        chans = [DEFAULT_CHANNEL] + [by_name[c] for c in channels]
        now = int(self.clock.now() if created_at is None else created_at)
        with self._lock:
            self.issues.append({
                "uuid": uuid, "id": next(self._ids), "name": title, "level": level,
                "description": description if description is not None else f"<p>{message}</p>",
                "extend": {"text": message, "channels": [{"type": "#", "uuid": c, "exists": True}
                                                         for c in chans[1:]],
                           "manager": list(managers)},
                "resource": resource, "resourceType": "event", "status": 0, "statusType": 10,
                "createAt": now, "updateAt": now, "deleteAt": -1, "_channels": chans,
                "creator": "wsak_sandbox", "workspaceUUID": "wksp_sandbox",
                "_listed_as": listed_as or {}})
            self.replies[uuid] = []
        return uuid

    def add_level(self, name: str) -> str:
        """A custom issue level (at most 10 in Guance); its uuid, for add_issue(level=…)."""
        uuid = f"issl_{uuidlib.uuid4().hex[:20]}"
        self.levels[uuid] = name
        return uuid

    def add_reply(self, issue_uuid: str, content: str, author: str = "Alice",
                  kind: str = "reply") -> str:
        """A reply written in Guance's console by a person (kind "change": a system record)."""
        now = int(self.clock.now())
        uuid = f"repim_{uuidlib.uuid4().hex}"
        with self._lock:
            self.replies[issue_uuid].append({
                "uuid": uuid, "issueUUID": issue_uuid, "content": content, "type": kind,
                "extend": {}, "creator": "acnt_alice", "creatorInfo": {"name": author},
                "createAt": now, "updateAt": now})
        return uuid

    def set_status(self, issue_uuid: str, status_type: int, by: str = "Li Lei",
                   email: str = "li.lei@example.com", managers: list[str] | None = None) -> None:
        """Someone changes the issue in Guance's console: its statusType (10 Open, 15 Working,
        20 Resolved, 25 Closed, 30 Pending), maybe its managers; updateAt and updator move."""
        with self._lock:
            issue = next(i for i in self.issues if i["uuid"] == issue_uuid)
            issue["statusType"] = status_type
            if managers is not None:
                issue["extend"]["manager"] = list(managers)
            issue["updateAt"] = max(int(self.clock.now()), issue["updateAt"] + 1)
            issue["updator"] = f"acnt_{email.split('@')[0].replace('.', '')}"
            issue["updatorInfo"] = {"name": by, "email": email, "username": email}

    def issue(self, issue_uuid: str) -> dict[str, Any]:
        return next(i for i in self.issues if i["uuid"] == issue_uuid)

    def comments(self, issue_uuid: str) -> list[str]:
        return [r["content"] for r in self.replies.get(issue_uuid, [])]

    def calls_in_any_minute(self) -> int:
        """The most calls accepted inside any 60-second span (to check the budget held)."""
        times = sorted(t for t, _ in self.calls)
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while times[lo] <= t - 60:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    # -- the API --------------------------------------------------------------------------------
    def _gate(self):
        """Auth, rate limit and injected faults; None means go on."""
        if request.headers.get("DF-API-KEY") != self.api_key:
            return _envelope(None, 403, "ft.InvalidAPIKey", "invalid API key")
        now = self.clock.now()
        with self._lock:
            if self.calls_per_minute is not None:
                recent = sum(1 for t, _ in self.calls if t > now - 60)
                if recent >= self.calls_per_minute:
                    self.rate_limited += 1
                    return _envelope(None, 401, "ft.TriggerApiAkCurrentLimiting",
                                     "API key rate limit exceeded")
            fault = self.faults.popleft() if self.faults else None
            if fault != "ratelimit":
                self.calls.append((now, request.path))
        if fault == "500":
            return _envelope(None, 500, "ft.InternalError", "internal error")
        if fault == "timeout":
            time.sleep(self.timeout_seconds)
        if fault == "hold":  # Guance answers late: when the test says so
            self.release.wait(30)
        if fault == "malformed":
            return "<html>bad gateway</html>", 200, {"Content-Type": "application/json"}
        if fault == "unsuccessful":
            return jsonify({"code": 200, "content": None, "errorCode": "ft.Unknown",
                            "message": "something went wrong", "success": False})
        if fault == "ratelimit":
            self.rate_limited += 1
            return _envelope(None, 401, "ft.TriggerApiAkCurrentLimiting", "rate limit")
        return None

    def _make_app(self) -> Flask:
        app = Flask("fake-guance")
        app.before_request(self._gate)

        @app.get("/api/v1/channel/quick_list")
        def quick_list():
            return _envelope([{"uuid": cid, "name": name, "id": i, "deleteAt": -1,
                               "status": 0, "notifyTarget": []}
                              for i, (cid, name) in enumerate(self.channels.items(), 1)])

        @app.post("/api/v1/issue/list")
        def issue_list():
            body = request.get_json(force=True)
            channel = body.get("channelUUID")
            if channel not in self.channels:
                return _envelope(None, 400, "ft.ParamError", "unknown channelUUID")
            start, end = int(body.get("startTime", 0)), int(body.get("endTime", 2**40))
            size, page = int(body.get("pageSize", 20)), int(body.get("pageIndex", 1))
            filters = body.get("filters") or []
            if not isinstance(filters, list) or not all(
                    isinstance(f, dict) and f.get("key") in FILTER_KEYS for f in filters):
                return _envelope(None, 400, "ft.ParamError",
                                 f"filters: items {{key, value, equal}}, key in {FILTER_KEYS}")
            with self._lock:
                found = [i for i in self.issues if channel in i["_channels"]
                         and start <= i[self.window_on] <= end and i["deleteAt"] == -1
                         and all(_matches(i, f) for f in filters)]
            found.sort(key=lambda i: -i["createAt"])
            items = [{**{k: v for k, v in i.items() if not k.startswith("_")}, **i["_listed_as"]}
                     for i in found[(page - 1) * size: page * size]]
            info = {"count": len(items), "pageIndex": page, "pageSize": size,
                    "totalCount": len(found)}
            if self.content_shape == "list":
                return _envelope(items, pageInfo=info)
            return _envelope({"data": items, "pageInfo": info})

        @app.get("/api/v1/issue/<issue>/get")
        def issue_get(issue: str):
            with self._lock:
                found = next((i for i in self.issues if i["uuid"] == issue), None)
            if found is None:
                return _envelope(None, 404, "ft.IssueNotFound", "issue does not exist")
            detail = {k: v for k, v in found.items() if k != "_channels"}
            detail["bindChannels"] = [{"name": self.channels[c], "uuid": c}
                                      for c in found["_channels"][1:]]
            detail["managerInfos"] = [dict(self.accounts.get(m, {}), uuid=m)
                                      for m in found["extend"].get("manager", [])]
            return _envelope(detail)

        @app.post("/api/v1/issue/reply/create")
        def reply_create():
            body = request.get_json(force=True)
            issue = body.get("issueUUID")
            if not isinstance(body.get("extend"), dict):
                return _envelope(None, 400, "ft.ParamError", "extend is required")
            if issue not in self.replies:
                return _envelope(None, 404, "ft.IssueNotFound", "issue does not exist")
            now = int(self.clock.now())
            reply = {"uuid": f"repim_{uuidlib.uuid4().hex}", "issueUUID": issue,
                     "content": body.get("content", ""), "type": "reply", "extend": body["extend"],
                     "creator": "wsak_sandbox", "createAt": now, "updateAt": now}
            with self._lock:
                self.replies[issue].append(reply)
            return _envelope(reply)

        @app.get("/api/v1/issue-level/list")
        def level_list():  # the defaults as Guance lists them (system_level_3 is "P3" here)
            defaults = [(f"system_level_{n}", f"P{n}", colour) for n, colour in enumerate(
                ("#E94444", "#FF7931", "#FFB44A", "#C9C9C9"))]
            custom = [(uuid, name, "#5B8FF9") for uuid, name in self.levels.items()]
            return _envelope([{"uuid": uuid, "name": name, "color": colour, "description": "",
                               "isDefault": uuid.startswith("system_")}
                              for uuid, name, colour in defaults + custom])

        @app.post("/api/v1/issue/<issue>/modify")
        def issue_modify(issue: str):
            body = request.get_json(force=True)
            if not isinstance(body, dict) or not isinstance(body.get("extend"), dict):
                return _envelope(None, 400, "ft.ParamError", "extend is required")
            status = body.get("statusType")
            if status is not None and status not in self.status_types:
                return _envelope(None, 400, "ft.ParamError",
                                 f"statusType must be one of {list(self.status_types)}")
            found = next((i for i in self.issues if i["uuid"] == issue), None)
            if found is None:
                return _envelope(None, 404, "ft.IssueNotFound", "issue does not exist")
            channels = body["extend"].get("channels", [])
            if not isinstance(channels, list) or not all(
                    isinstance(c, dict) and c.get("uuid") in self.channels for c in channels):
                return _envelope(None, 400, "ft.ParamError", "extend.channels: unknown channel")
            with self._lock:
                if status is not None:
                    found["statusType"] = status
                if "manager" in body["extend"]:
                    found["extend"]["manager"] = list(body["extend"]["manager"])
                # as an older modify page says: a modify without `channels` leaves the issue in
                # the default channel only (relay sends the issue's channels every time)
                found["extend"]["channels"] = [dict(c) for c in channels]
                found["_channels"] = [DEFAULT_CHANNEL] + [c["uuid"] for c in channels
                                                          if c["uuid"] != DEFAULT_CHANNEL]
                found["updateAt"] = max(int(self.clock.now()), found["updateAt"] + 1)
                found["updator"] = "wsak_sandbox"
                self.modifications.append((issue, body))
            return _envelope({k: v for k, v in found.items() if k != "_channels"})

        @app.get("/api/v1/issue/reply/<issue>/list")
        def reply_list(issue: str):
            if issue not in self.replies:
                return _envelope(None, 404, "ft.IssueNotFound", "issue does not exist")
            items = sorted(self.replies[issue], key=lambda r: -r["createAt"])
            return _envelope(items, pageInfo={"count": len(items), "pageIndex": 1,
                                              "pageSize": len(items), "totalCount": len(items)})

        return app
