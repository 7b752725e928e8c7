"""The one table of platforms relay speaks to. Adding a platform is a folder under
relay/platforms/ that declares a `PLATFORM` (the sinks of its destination types, its reply
routes) and one line in PLATFORMS below; the types' URL shapes are data in
relay/config/destinations.py, which settings parse with, and every such type needs a sink here."""

from __future__ import annotations

import requests

from relay.clock import Clock
from relay.config import Settings
from relay.config.destinations import TYPES
from relay.platforms import dingtalk, dingtalk_app, feishu, wecom
from relay.platforms.base import Sink
from relay.platforms.declaration import Kind, Platform, ReplyRoute
from relay.runtime import Runtime

PLATFORMS: tuple[Platform, ...] = (dingtalk.PLATFORM, dingtalk_app.PLATFORM, wecom.PLATFORM,
                                   feishu.PLATFORM)

BY_NAME: dict[str, Platform] = {p.name: p for p in PLATFORMS}
KINDS: dict[str, Kind] = {kind.name: kind for p in PLATFORMS for kind in p.kinds}
REPLY_ROUTES: tuple[ReplyRoute, ...] = tuple(route for p in PLATFORMS for route in p.replies)


def unregistered() -> list[str]:
    """Destination types config can parse that no platform sends to, and sinks for types config
    does not know: both a mistake in adding a platform."""
    return sorted(set(TYPES) ^ set(KINDS))


def make_sinks(rt: Runtime, session: requests.Session) -> dict[str, Sink]:
    """Each platform's setup (its own settings checked, its clients made), then every
    destination's sink, by its type."""
    if missing := unregistered():
        raise RuntimeError(f"destination types without both a config entry and a sink: "
                           f"{', '.join(missing)}")
    for platform in PLATFORMS:
        if platform.setup is not None:
            platform.setup(rt, session)
    return {name: KINDS[dest.kind].sink(rt, dest, session)
            for name, dest in rt.settings.destination_table().items()}


def build_runtime(settings: Settings, clock: Clock | None = None,
                  apply_migrations: bool = True) -> Runtime:
    """The runtime of a command, a request or a test: the settings, the database and every
    platform's sinks."""
    return Runtime(settings, clock, apply_migrations, make_sinks=make_sinks)
