"""The one table of platforms relay speaks to. Adding a platform is a folder under
relay/platforms/ that declares a `PLATFORM` (the sinks of its destination types, its reply
routes) and one line in PLATFORMS below; the types' URL shapes are data in
relay/config/destinations.py, which settings parse with, and every such type needs a sink here."""

from __future__ import annotations

from relay.config.destinations import TYPES
from relay.platforms import dingtalk, dingtalk_app, feishu, wecom
from relay.platforms.base import Kind, Platform, ReplyRoute

PLATFORMS: tuple[Platform, ...] = (dingtalk.PLATFORM, dingtalk_app.PLATFORM, wecom.PLATFORM,
                                   feishu.PLATFORM)

BY_NAME: dict[str, Platform] = {p.name: p for p in PLATFORMS}
KINDS: dict[str, Kind] = {kind.name: kind for p in PLATFORMS for kind in p.kinds}
REPLY_ROUTES: tuple[ReplyRoute, ...] = tuple(route for p in PLATFORMS for route in p.replies)


def unregistered() -> list[str]:
    """Destination types config can parse that no platform sends to, and sinks for types config
    does not know: both a mistake in adding a platform."""
    return sorted(set(TYPES) ^ set(KINDS))
