"""What the Feishu platform keeps while relay runs, in its own object (not on the Runtime): the
card template, the app bot's client (its token, the bot's open_id) and the worker that takes its
events. Made by the platform's setup; read with `feishu_state(rt)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.platforms.feishu.app import FeishuApp
    from relay.platforms.feishu.card import CardTemplate
    from relay.replies.event_worker import EventWorker
    from relay.runtime import Runtime

NAME = "feishu"


@dataclass
class FeishuState:
    card: CardTemplate | None = None  # checked once at start-up
    app: FeishuApp | None = None  # when the app bot has chats or takes events
    worker: EventWorker | None = None  # started by the /feishu/events blueprint

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()


def feishu_state(rt: Runtime) -> FeishuState:
    return rt.platform_state(NAME, FeishuState)
