"""What a chat platform declares (its PLATFORM, listed in registry.py): the sinks of its
destination types, its reply routes, and what it runs as the runtime starts, is checked and
serves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import requests
from flask import Blueprint

from relay.config.destinations import Destination
from relay.platforms.base import Inert, Sink, as_is

if TYPE_CHECKING:
    from relay.connections import Link
    from relay.runtime import Runtime


@dataclass(frozen=True)
class Kind:
    """How the sink of a destination type (a `type` in RELAY_DESTINATIONS, declared with its URL
    shape in relay/config/destinations.py) is built."""

    name: str
    sink: Callable[[Runtime, Destination, requests.Session], Sink]


@dataclass(frozen=True)
class ReplyRoute:
    """An HTTP route through which a platform's chat writes back."""

    path: str
    blueprint: Callable[[Runtime], Blueprint]
    counted: bool = True  # requests it refuses unread count in relay_reply_requests_total


@dataclass(frozen=True)
class Platform:
    name: str
    kinds: tuple[Kind, ...] = ()
    replies: tuple[ReplyRoute, ...] = ()
    # run once as the runtime starts, before the sinks are built: checks the platform's own
    # settings and makes what its sinks share (the Feishu app client, the card template), kept
    # in the platform's own object (Runtime.platform_state)
    setup: Callable[[Runtime, requests.Session], None] | None = None
    # run by `relay check` after setup: settings that work, but not as one would expect
    warnings: Callable[[Runtime], list[str]] | None = None
    # run once in the serving process (relay run / serve): opens the connections the platform
    # keeps to its chat service (DingTalk's Stream)
    listen: Callable[[Runtime], None] | None = None
    # what makes text from outside (Guance's issues and comments, chat names) inert in the
    # platform's plain text messages (thread lines, answers), for code outside its folder
    # (relay/pipeline/notify_replies.py); its sinks use it and their own markup dialects'
    # functions for every such text they lay out
    inert: Inert = as_is
    # the long connections the platform keeps, not started (relay/connections/): `relay check`
    # opens each once, layer by layer
    links: Callable[[Runtime], list[Link]] | None = None
