"""A thin client for the Guance OpenAPI: channels, issues of a channel, issue replies, status.

Every call spends one unit of the per-key call budget first (Guance allows 20 calls a minute and
answers a breach with HTTP 401 + ft.TriggerApiAkCurrentLimiting, which is "retry later", not "bad
key"). Errors are typed so callers can tell "try again later" from "fix your settings".
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from typing import Any

import requests

from relay.clock import Clock
from relay.ratelimit import LimitExceeded, RateLimiter

log = logging.getLogger(__name__)

RATE_LIMIT_CODES = {"ft.TriggerApiAkCurrentLimiting", "ft.TriggerApiWorkspaceCurrentLimiting"}
LEVEL_NAMES = {"system_level_0": "P0", "system_level_1": "P1", "system_level_2": "P2",
               "system_level_3": "Unknown"}
PAGE_SIZE = 100
MAX_PAGES = 50
CHANNEL_CACHE_SECONDS = 600
REPLY_WAIT_SECONDS = 10.0
BACKGROUND_WAIT_SECONDS = 20.0


class GuanceError(Exception):
    """Guance could not do what was asked. `retryable` says whether a later try may succeed."""

    retryable = True


class GuanceTransportError(GuanceError):
    """No usable answer: connection refused, timeout, or a body that is not the JSON envelope."""


class GuanceNoAnswer(GuanceTransportError):
    """A comment was sent but no answer came in time: Guance may have posted it, so it is not
    tried again by itself (it would land twice)."""

    retryable = False


class GuanceHTTPError(GuanceError):
    """Guance answered with an error status or an envelope with success: false."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {error_code or ''} {message or ''}".strip())
        self.status, self.error_code, self.message = status, error_code, message


class GuanceRateLimited(GuanceHTTPError):
    """The API key's (or workspace's) call limit was hit; try again in a minute."""


class GuanceBudgetExhausted(GuanceError):
    """relay's own budget for this key is used up; `wait` seconds until the next call."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"Guance call budget used up; next call in {wait:.0f} s")
        self.wait = wait


class GuanceAuthError(GuanceHTTPError):
    """The API key was refused: fix RELAY_GUANCE_API_KEY."""

    retryable = False


class GuanceNotFound(GuanceHTTPError):
    """The issue (or other object) does not exist."""

    retryable = False


@dataclass(frozen=True)
class Channel:
    uuid: str
    name: str


@dataclass(frozen=True)
class Issue:
    uuid: str
    title: str
    level: str
    source: str
    message: str
    create_at: int
    deleted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "title": self.title, "level": self.level,
                "source": self.source, "message": self.message, "create_at": self.create_at}


def parse_issue(obj: dict[str, Any]) -> Issue:
    """One issue object from /issue/list, tolerant of the shapes seen across doc revisions."""
    raw_level = obj.get("level")
    if isinstance(raw_level, int) or (isinstance(raw_level, str) and raw_level.isdigit()):
        raw_level = f"system_level_{int(raw_level)}"
    raw_level = str(raw_level or "")
    extend = obj.get("extend") if isinstance(obj.get("extend"), dict) else {}
    text = extend.get("text")
    if not isinstance(text, str) or not text.strip():
        text = html_to_text(str(obj.get("description") or ""))
    delete_at = obj.get("deleteAt", -1)
    return Issue(
        uuid=str(obj["uuid"]),
        title=str(obj.get("name") or obj.get("title") or "(untitled)"),
        level=LEVEL_NAMES.get(raw_level, raw_level or "Unknown"),
        source=str(obj.get("resource") or obj.get("resourceType") or ""),
        message=text.strip(),
        create_at=int(obj.get("createAt") or 0),
        deleted=delete_at not in (-1, None, 0, "-1"),
    )


def html_to_text(markup: str) -> str:
    text = re.sub(r"<br\s*/?>|</p>|</div>", "\n", markup, flags=re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


class GuanceClient:
    def __init__(self, base_url: str, api_key: str, budget: RateLimiter, *,
                 reply_reserve: int = 4, timeout: float = 10.0, clock: Clock | None = None,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.reply_reserve = reply_reserve
        self.timeout = timeout
        self.clock = clock or budget.clock
        self.session = session or requests.Session()
        self.session.headers.update({"DF-API-KEY": api_key,
                                     "Content-Type": "application/json;charset=UTF-8"})
        self._channels: list[Channel] | None = None
        self._channels_at = 0.0

    # -- calls ---------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, reply: bool = False, **kwargs: Any) -> dict:
        """One budgeted call; returns the whole envelope or raises a GuanceError subclass."""
        try:
            if reply:
                self.budget.acquire(max_wait=REPLY_WAIT_SECONDS)
            else:
                self.budget.acquire(reserve=self.reply_reserve, max_wait=BACKGROUND_WAIT_SECONDS)
        except LimitExceeded as exc:
            raise GuanceBudgetExhausted(exc.wait) from None
        try:
            resp = self.session.request(method, self.base_url + path, timeout=self.timeout,
                                        **kwargs)
        except requests.ReadTimeout:
            if reply:
                raise GuanceNoAnswer(f"{path}: no answer within {self.timeout:g} s") from None
            raise GuanceTransportError(f"{path}: ReadTimeout") from None
        except requests.RequestException as exc:
            raise GuanceTransportError(f"{path}: {type(exc).__name__}") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if resp.status_code >= 400:
                raise self._http_error(resp.status_code, "", resp.reason or "")
            raise GuanceTransportError(f"{path}: HTTP {resp.status_code} answer is not JSON")
        if resp.status_code >= 400 or body.get("success") is False:
            raise self._http_error(resp.status_code, str(body.get("errorCode") or ""),
                                   str(body.get("message") or ""))
        return body

    def _http_error(self, status: int, code: str, message: str) -> GuanceHTTPError:
        if code in RATE_LIMIT_CODES or status == 429:
            self.budget.block(60.0)
            return GuanceRateLimited(status, code, message)
        if status == 404 or re.search(r"not.?(found|exist)", code, re.I):
            return GuanceNotFound(status, code, message)
        if status in (401, 403):
            return GuanceAuthError(status, code, message)
        return GuanceHTTPError(status, code, message)

    # -- endpoints -----------------------------------------------------------------------------
    def channels(self) -> list[Channel]:
        """Live channels (cached for ten minutes: the list rarely changes and calls are scarce)."""
        if self._channels is None or self.clock.now() - self._channels_at > CHANNEL_CACHE_SECONDS:
            body = self._call("GET", "/api/v1/channel/quick_list")
            content = body.get("content") or []
            self._channels = [Channel(str(c["uuid"]), str(c.get("name") or ""))
                              for c in content if isinstance(c, dict) and "uuid" in c
                              and c.get("deleteAt", -1) in (-1, None)]
            self._channels_at = self.clock.now()
        return self._channels

    def issues(self, channel_uuid: str, start: int, end: int) -> list[Issue]:
        """Issues of a channel in [start, end] (Unix seconds), every page."""
        found: list[Issue] = []
        received = 0
        for page in range(1, MAX_PAGES + 1):
            body = self._call("POST", "/api/v1/issue/list", json={
                "channelUUID": channel_uuid, "startTime": int(start), "endTime": int(end),
                "search": "", "filters": [], "pageIndex": page, "pageSize": PAGE_SIZE})
            content = body.get("content")
            if isinstance(content, dict):
                items, page_info = content.get("data") or [], content.get("pageInfo")
            elif isinstance(content, list):
                items, page_info = content, body.get("pageInfo")
            else:
                raise GuanceTransportError("/api/v1/issue/list: content is neither list nor object")
            for obj in items:
                if isinstance(obj, dict) and obj.get("uuid"):
                    found.append(parse_issue(obj))
            received += len(items)
            total = page_info.get("totalCount") if isinstance(page_info, dict) else None
            # Guance may cap the page size below PAGE_SIZE (its maximum is undocumented), so a
            # short page is the last one only when there is no totalCount to go by.
            if not items or (received >= total if isinstance(total, int)
                             else len(items) < PAGE_SIZE):
                return found
        log.warning("issue list of %s stopped after %d pages", channel_uuid, MAX_PAGES)
        return found

    def replies(self, issue_uuid: str) -> list[dict[str, Any]]:
        """The issue's newest replies (one page, newest first): comments and change records."""
        body = self._call("GET", f"/api/v1/issue/reply/{issue_uuid}/list", params={
            "ordering": "-createAt", "pageIndex": 1, "pageSize": PAGE_SIZE})
        content = body.get("content")
        if isinstance(content, dict):  # parse defensively, as for the issue list
            content = content.get("data")
        return [r for r in content or [] if isinstance(r, dict) and r.get("uuid")]

    def reply(self, issue_uuid: str, content: str) -> dict[str, Any]:
        """Post `content` as a comment on the issue; returns Guance's reply object."""
        body = self._call("POST", "/api/v1/issue/reply/create", reply=True,
                          json={"issueUUID": issue_uuid, "content": content, "extend": {}})
        return body.get("content") if isinstance(body.get("content"), dict) else {}

    def issue_detail(self, issue_uuid: str) -> dict[str, Any]:
        """One issue as `issue/{uuid}/get` has it (statusType, extend.manager, …)."""
        body = self._call("GET", f"/api/v1/issue/{issue_uuid}/get")
        return body.get("content") if isinstance(body.get("content"), dict) else {}

    def modify_issue(self, issue_uuid: str, status_type: int | None = None,
                     managers: list[str] | None = None) -> dict[str, Any]:
        """Change the issue's status (`statusType`: 10 Open, 15 Working, 20 Resolved, 25 Closed,
        30 Pending; the modify page documents only 10, 20 and 30) and/or its managers (account
        UUIDs). `extend` is required by Guance. Spent from the reply reserve (a person is waiting)
        and, like a comment, never retried after no answer: it may have been applied."""
        body: dict[str, Any] = {"extend": {"manager": list(managers)} if managers else {}}
        if status_type is not None:
            body["statusType"] = int(status_type)
        answer = self._call("POST", f"/api/v1/issue/{issue_uuid}/modify", reply=True, json=body)
        return answer.get("content") if isinstance(answer.get("content"), dict) else {}
