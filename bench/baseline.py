"""The naive approach, for comparison: what a first script (and Guance's published Feishu recipe)
does each minute.

Each run asks Guance for the issues created in one fixed window, [run time − 60 s, run time], one
channel at a time, with a new connection per request (no Session), keeps no state, posts each
issue to its Feishu webhook at once and forgets it: no store, no rate limiting, no retry. It does
follow Guance's pages (pageSize 100), which a first script might not: that only helps it.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

WINDOW = 60


@dataclass
class BaselineStats:
    runs: int = 0
    guance_calls: int = 0
    guance_refused: int = 0  # answers that were not a success (e.g. the 401 rate limit)
    posted: int = 0
    feishu_refused: int = 0  # HTTP error or a non-zero Feishu code (e.g. 11232 "too frequent")


def run_once(guance_url: str, api_key: str, hooks: dict[str, str], now: float,
             stats: BaselineStats) -> None:
    """One scheduled run at `now`; `hooks` maps channel name → Feishu flow webhook URL."""
    stats.runs += 1
    headers = {"DF-API-KEY": api_key}
    end = int(now)
    stats.guance_calls += 1
    body = requests.get(f"{guance_url}/api/v1/channel/quick_list", headers=headers,
                        timeout=10).json()
    if not body.get("success"):
        stats.guance_refused += 1
        return
    channel_uuid = {c["name"]: c["uuid"] for c in body["content"]}
    for name, hook in hooks.items():
        page = 1
        while True:
            stats.guance_calls += 1
            body = requests.post(f"{guance_url}/api/v1/issue/list", headers=headers, timeout=10,
                                 json={"channelUUID": channel_uuid[name],
                                       "startTime": end - WINDOW, "endTime": end,
                                       "pageIndex": page, "pageSize": 100}).json()
            if not body.get("success"):
                stats.guance_refused += 1
                break
            content = body["content"]
            issues = content["data"] if isinstance(content, dict) else content
            for issue in issues:
                send(hook, issue, stats)
            info = content.get("pageInfo", {}) if isinstance(content, dict) else {}
            if page * 100 >= info.get("totalCount", 0):
                break
            page += 1


def send(hook: str, issue: dict, stats: BaselineStats) -> None:
    stats.posted += 1
    try:
        resp = requests.post(hook, timeout=10, json={
            "issue_uuid": issue["uuid"], "title": issue["name"], "level": issue["level"],
            "source": issue["resource"], "message": issue["extend"]["text"],
            "createAt": issue["createAt"]})
        if resp.status_code != 200 or resp.json().get("code") != 0:
            stats.feishu_refused += 1
    except requests.RequestException:
        stats.feishu_refused += 1
