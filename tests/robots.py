"""Fixtures and helpers for the DingTalk and WeCom tests: the fake robots on 127.0.0.1, and
polling issues through relay to them. Test modules import the fixtures they use."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.sandbox.robots import FakeDingTalk, FakeWeCom, robot_url
from tests.helpers import served

DING_TOKEN = "ding-access-token-0123456789"
DING_SECRET = "SECding0123456789abcdef"
WECOM_KEY = "wecom-key-0a1b2c3d-4e5f"
TZ = ZoneInfo("Asia/Shanghai")  # relay's default time zone


@pytest.fixture
def dingtalk(clock):
    yield from served(FakeDingTalk(clock=clock))


@pytest.fixture
def wecom(clock):
    yield from served(FakeWeCom(clock=clock))


def ding_url(dingtalk, token: str = DING_TOKEN) -> str:
    return robot_url(dingtalk.url, "dingtalk", token)


def wecom_url(wecom, key: str = WECOM_KEY) -> str:
    return robot_url(wecom.url, "wecom", key)


def new_issues(rt, guance, clock, *titles: str, **kw) -> list[str]:
    """Start watching, add issues with these titles, poll them into the outbox, deliver once."""
    poll(rt)
    clock.advance(30)
    made = [guance.add_issue(title, **kw) for title in titles or ["Disk full on db-1"]]
    clock.advance(30)
    poll(rt)
    deliver(rt)
    return made


def deliver_each_minute(rt, clock, minutes: int) -> None:
    """The crontab's deliver job, once a minute for `minutes` simulated minutes."""
    for _ in range(minutes):
        clock.advance(60)
        deliver(rt)
