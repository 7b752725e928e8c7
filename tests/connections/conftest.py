"""The DingTalk app robot's fake (gateway, Stream WebSocket, OpenAPI) on 127.0.0.1, a relay
wired to it, and a faulty proxy that can sit between them: the long-connection layer's tests run
over real sockets with the one Link the project has today."""

from __future__ import annotations

import pytest

from relay.sandbox.dingtalk_app import FakeDingTalkApp
from relay.sandbox.netfault import FaultyProxy
from relay.web.app import create_app
from tests.helpers import served

GROUP = "cidOpsGroup0000000001=="


@pytest.fixture
def ding(clock):
    yield from served(FakeDingTalkApp(clock=clock))


@pytest.fixture
def proxy(ding):
    """A FaultyProxy in front of the fake's WebSocket: the gateway hands out its address."""
    port = int(ding.ws_url.rsplit(":", 1)[1].split("/")[0])
    faulty = FaultyProxy("127.0.0.1", port)
    ding.ws_url = faulty.url()
    yield faulty
    faulty.stop()


@pytest.fixture
def make_dt(make_runtime, ding):
    def make(**overrides):
        values = dict(dingtalk_app_key=ding.app_key, dingtalk_app_secret=ding.app_secret,
                      dingtalk_app_groups={"ops-dt": GROUP},
                      dingtalk_card_template="relay-alert.schema",
                      dingtalk_open_base_url=ding.url, routes={"default": ["ops-dt"]})
        values.update(overrides)
        return make_runtime(**values)

    return make


def serving(rt, ding, connections: int = 1):
    """The serving process's start: the Stream connection opens to the fake."""
    app = create_app(rt)
    assert ding.wait_connected(connections, timeout=60)
    return app
