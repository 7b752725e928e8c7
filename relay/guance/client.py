"""The Guance OpenAPI client: channels, issues of a channel, issue replies, levels, status.

Every call spends one unit of the per-key call budget first (Guance allows 20 calls a minute and
answers a breach with HTTP 401 + ft.TriggerApiAkCurrentLimiting, which is "retry later", not "bad
key"). Errors are typed so callers can tell "try again later" from "fix your settings".
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Callable, Iterator

import requests

from relay.clock import Clock
from relay.guance.errors import (GuanceAuthError, GuanceBudgetExhausted, GuanceError,
                                 GuanceHTTPError, GuanceNoAnswer, GuanceNotFound, GuanceRateLimited,
                                 GuanceTransportError)
from relay.guance.model import (LEVEL_NAMES, Channel, Issue, IssuePage, MalformedIssue,
                                _list_content, parse_issue)
from relay import http
from relay.ratelimit import BACKGROUND, REPLY, LimitExceeded, RateLimiter

log = logging.getLogger("relay.guance")

RATE_LIMIT_CODES = {"ft.TriggerApiAkCurrentLimiting", "ft.TriggerApiWorkspaceCurrentLimiting"}
PAGE_SIZE = 100
MAX_PAGES = 50
MAX_ANSWER_BYTES = 64 << 20  # a page of 100 issues is a few MB at most; a hostile answer stops
CHANNEL_CACHE_SECONDS = 600
REPLY_WAIT_SECONDS = 10.0
BACKGROUND_WAIT_SECONDS = 20.0
REPORTED_MALFORMED = 10_000  # malformed issues remembered, so a re-read does not warn again


class GuanceClient:
    def __init__(self, base_url: str, api_key: str, budget: RateLimiter, *,
                 reply_reserve: int = 4, poll_reserve: int = 4, timeout: float = 10.0,
                 clock: Clock | None = None, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        # floors: background calls leave `reply_reserve` a minute to replies, replies leave
        # `poll_reserve` to polling and the other background jobs
        self.reply_reserve = reply_reserve
        self.poll_reserve = poll_reserve
        self.timeout = timeout
        self.clock = clock or budget.clock
        self.session = session or http.http_session()
        self.session.headers.update({"DF-API-KEY": api_key,
                                     "Content-Type": "application/json;charset=UTF-8"})
        self._channels: list[Channel] | None = None
        self._channels_at = 0.0
        # a backfill's reporter (relay/admin/progress.py): with one, background calls wait for
        # the budget as long as it takes, and it hears of each wait and each page read
        self.progress: Callable[..., None] | None = None
        self._levels: dict[str, str] | None = None  # custom levels' names by uuid
        self._levels_at = 0.0
        self._reported: OrderedDict[tuple[str, str], None] = OrderedDict()

    # -- calls ---------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, reply: bool = False, spare: int | None = None,
              **kwargs: Any) -> dict:
        """One budgeted call; returns the whole envelope or raises a GuanceError subclass.
        `spare`: calls of the window this call must leave free, besides the replies' reserve,
        and no waiting (the issue tracker: it never takes what polling needs)."""
        try:
            if reply:
                self.budget.acquire(reserve=self.poll_reserve, max_wait=REPLY_WAIT_SECONDS,
                                    kind=REPLY)
            elif spare is not None:  # against every call of the window: replies' too
                self.budget.acquire(reserve=self.reply_reserve + spare)
            elif self.progress is not None:
                self._wait_patiently()
            else:
                self.budget.acquire(reserve=self.reply_reserve, max_wait=BACKGROUND_WAIT_SECONDS,
                                    kind=BACKGROUND)
        except LimitExceeded as exc:
            raise GuanceBudgetExhausted(exc.wait) from None
        try:  # the whole call within the timeout: connect, send, the last byte read
            resp = http.call(self.session, method, self.base_url + path, timeout=self.timeout,
                             max_bytes=MAX_ANSWER_BYTES, **kwargs)
        except http.CallFailed as exc:
            if not exc.timed_out:
                raise GuanceTransportError(f"{path}: {exc}") from None
            message = f"{path}: no whole answer within {self.timeout:g} s"
            raise (GuanceNoAnswer if reply else GuanceTransportError)(message) from None
        if 300 <= resp.status_code < 400:  # relay follows no redirect
            raise GuanceTransportError(f"{path}: HTTP {resp.status_code}, a redirect to "
                                       f"{resp.headers.get('Location', '?')} (not followed: "
                                       "check RELAY_GUANCE_BASE_URL)")
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

    def _wait_patiently(self) -> None:
        while (wait := self.budget.try_acquire(self.reply_reserve, BACKGROUND)) > 0:
            if wait == float("inf"):  # the reserve leaves no call for polling at all
                raise LimitExceeded(wait)
            self.progress("wait", seconds=wait)
            self.clock.sleep(wait)

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
        """Issues of a channel in [start, end] (Unix seconds), every page (up to MAX_PAGES)."""
        return [i for page in self.issue_pages(channel_uuid, start, end) for i in page.issues]

    def issue_pages(self, channel_uuid: str, start: int, end: int, first_page: int = 1,
                    received: int = 0, max_pages: int = MAX_PAGES) -> Iterator[IssuePage]:
        """The pages of a channel's issues in [start, end], from `first_page` (`received` items
        came before it), at most `max_pages` of them. A caller that stops (or whose budget runs
        out) part-way can go on later from the next page: the window is the same, so page numbers
        still mean the same issues."""
        for number in range(first_page, first_page + max_pages):
            body = self._call("POST", "/api/v1/issue/list", json={
                "channelUUID": channel_uuid, "startTime": int(start), "endTime": int(end),
                "search": "", "filters": [], "pageIndex": number, "pageSize": PAGE_SIZE})
            items, page_info = _list_content(body)
            if not isinstance(items, list):
                raise GuanceTransportError("/api/v1/issue/list: data is not a list")
            page = IssuePage(number, [], received + len(items), False)
            for obj in items:
                if not isinstance(obj, dict) or not obj.get("uuid"):
                    continue
                try:
                    page.issues.append(parse_issue(obj))
                except MalformedIssue as exc:
                    if self._first_report(channel_uuid, exc.uuid):
                        page.malformed.append((exc.uuid, exc.reason))
            received = page.received
            total = page_info.get("totalCount") if isinstance(page_info, dict) else None
            if self.progress is not None:
                name = next((c.name for c in self._channels or [] if c.uuid == channel_uuid),
                            channel_uuid)
                self.progress("page", channel=name, page=number, received=received,
                              pages=-(-total // PAGE_SIZE) if isinstance(total, int) else None)
            # Guance may cap the page size below PAGE_SIZE (its maximum is undocumented), so a
            # short page is the last one only when there is no totalCount to go by.
            page.total = total if isinstance(total, int) else None
            page.last = not items or (received >= total if isinstance(total, int)
                                      else len(items) < PAGE_SIZE)
            page.issues = self._named_levels(page.issues)
            yield page
            if page.last:
                return

    def _first_report(self, channel_uuid: str, issue_uuid: str) -> bool:
        """True the first time a malformed issue is seen in a channel (the overlap re-reads it
        every run; one warning is enough)."""
        key = (channel_uuid, issue_uuid)
        if key in self._reported:
            return False
        self._reported[key] = None
        if len(self._reported) > REPORTED_MALFORMED:
            self._reported.popitem(last=False)
        return True

    def level_names(self) -> dict[str, str]:
        """Custom levels' own names by uuid (`issl_…`), cached for ten minutes like the channels;
        the default levels keep relay's names (LEVEL_NAMES)."""
        if self._levels is None or self.clock.now() - self._levels_at > CHANNEL_CACHE_SECONDS:
            content = self._call("GET", "/api/v1/issue-level/list").get("content")
            if isinstance(content, dict):  # parse defensively, as for the issue list
                content = content.get("data")
            self._levels = {str(lvl["uuid"]): str(lvl.get("name") or lvl["uuid"])
                            for lvl in content or [] if isinstance(lvl, dict) and lvl.get("uuid")
                            and lvl["uuid"] not in LEVEL_NAMES}
            self._levels_at = self.clock.now()
        return self._levels

    def _named_levels(self, issues: list[Issue]) -> list[Issue]:
        """A custom level shown by its name; asked only when an issue has one, and when Guance
        cannot say, the card shows the level's uuid rather than wait."""
        if not any(i.level.startswith("issl_") for i in issues):
            return issues
        try:
            names = self.level_names()
        except GuanceError as exc:  # asked again with the cache, not on every page
            log.warning("custom level names unavailable (%s); cards show the level's uuid", exc)
            self._levels, self._levels_at = self._levels or {}, self.clock.now()
            return issues
        return [replace(i, level=names.get(i.level, i.level)) for i in issues]

    def issue_page(self, channel_uuid: str, start: int, end: int, page: int,
                   filters: list[dict[str, Any]] | None = None, spare: int | None = None
                   ) -> tuple[list[dict[str, Any]], int | None]:
        """One page of the issue list, as Guance's objects (statusType, extend.manager,
        updatorInfo, updateAt …), and the totalCount when Guance gives one."""
        body = self._call("POST", "/api/v1/issue/list", spare=spare, json={
            "channelUUID": channel_uuid, "startTime": int(start), "endTime": int(end),
            "search": "", "filters": filters or [], "pageIndex": page, "pageSize": PAGE_SIZE})
        items, page_info = _list_content(body)
        total = page_info.get("totalCount") if isinstance(page_info, dict) else None
        return ([o for o in items if isinstance(o, dict) and o.get("uuid")],
                total if isinstance(total, int) else None)

    def issue(self, issue_uuid: str, spare: int | None = None) -> dict[str, Any]:
        """One issue's detail (GET /api/v1/issue/{uuid}/get; adds managerInfos)."""
        body = self._call("GET", f"/api/v1/issue/{issue_uuid}/get", spare=spare)
        return body.get("content") if isinstance(body.get("content"), dict) else {}

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
