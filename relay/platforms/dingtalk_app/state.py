"""What the DingTalk app robot keeps while relay runs, in its own object (not on the Runtime):
the OpenAPI client (its access token) and, in the serving process, the Stream connection. Made
by the platform's setup and listen; read with `dingtalk_app_state(rt)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from relay.platforms.dingtalk_app.openapi import DingTalkApp
    from relay.runtime import Runtime

NAME = "dingtalk_app"


class Stream(Protocol):
    """connection.py's DingTalkStream, as far as the state needs it (connection.py reads this
    module through inbound.py, so it is not imported here)."""

    def stop(self) -> None: ...


@dataclass
class DingTalkAppState:
    app: DingTalkApp | None = None  # when RELAY_DINGTALK_APP_KEY is set
    stream: Stream | None = None  # its Stream connection, when serving

    def close(self) -> None:
        if self.stream is not None:
            self.stream.stop()


def dingtalk_app_state(rt: Runtime) -> DingTalkAppState:
    return rt.platform_state(NAME, DingTalkAppState)
