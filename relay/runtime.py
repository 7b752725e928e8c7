"""Everything a job or request needs, built once from the settings."""

from __future__ import annotations

import os
import threading
import urllib.request
from typing import TYPE_CHECKING

import requests

from relay.clock import Clock
from relay.errors import ConfigError
from relay.guance import GuanceClient
from relay.logs import Redactor
from relay.metrics import Metrics
from relay.platforms.base import Destination, Sink
from relay.platforms.feishu.card import load_card_template
from relay.platforms.registry import KINDS, PLATFORMS
from relay.ratelimit import RateLimiter
from relay.settings import Settings
from relay.store.base import make_engine, migrate
from relay.store.budget import SharedRateLimiter, key_id
from relay.store.leases import Leases

if TYPE_CHECKING:
    from relay.platforms.feishu.app import FeishuApp
    from relay.platforms.feishu.worker import EventWorker

GUANCE_WINDOW_SECONDS = 61.0  # a second of margin over Guance's one-minute window


def http_session() -> requests.Session:
    """A requests session. With `trust_env` requests looks up the proxy variables on every
    request (about 0.5 ms each, measured with bench/burst.py); with no proxy set there is nothing
    to find, so relay reads the CA bundle variables once and turns the lookups off."""
    session = requests.Session()
    if not urllib.request.getproxies():
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        session.trust_env = False
    return session


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 apply_migrations: bool = True) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self.redact = Redactor(settings.secrets())
        self.routing = settings.routing()
        self.card = load_card_template(settings.feishu_card_template)
        destinations = settings.destination_table()
        _check_bot_secrets(settings, destinations)
        self.engine = make_engine(settings.database_url)
        if apply_migrations:
            migrate(self.engine)
        # one budget per API key for every replica on this database (relay/store/budget.py)
        api_key = settings.guance_api_key.get_secret_value() if settings.guance_api_key else ""
        self.budget: RateLimiter = SharedRateLimiter(
            self.engine, key_id(api_key),
            [(settings.guance_calls_per_minute, GUANCE_WINDOW_SECONDS)], self.clock)
        self.leases = Leases(self.engine, settings.lease_seconds, self.clock)
        self.metrics = Metrics()
        http = http_session()  # one pool of keep-alive connections for every webhook
        self.feishu_app: FeishuApp | None = None  # set by the Feishu platform when configured
        self.sinks: dict[str, Sink] = {
            name: KINDS[dest.kind].sink(self, dest, http) for name, dest in destinations.items()}
        for platform in PLATFORMS:  # destinations a platform makes from its own settings
            if platform.own_sinks is not None:
                self.sinks.update(platform.own_sinks(self, http))
        # started by the /feishu/events blueprint (relay/platforms/feishu/worker.py)
        self.event_worker: EventWorker | None = None
        # each destination keeps under its platform's documented limits
        self.send_limits = {name: RateLimiter(sink.limits, self.clock)
                            for name, sink in self.sinks.items()}
        self.deliver_lock = threading.Lock()
        # issues polling recorded, by channel UUID: issue UUID → creation time (relay/pipeline/
        # poll.py's read_window skips re-reading pages of them)
        self.recent_issues: dict[str, dict[str, int]] = {}
        self._guance: GuanceClient | None = None

    @property
    def guance(self) -> GuanceClient:
        if self._guance is None:
            if self.settings.guance_api_key is None:
                raise ConfigError("RELAY_GUANCE_API_KEY is not set")
            self._guance = GuanceClient(
                self.settings.guance_base_url, self.settings.guance_api_key.get_secret_value(),
                self.budget, reply_reserve=self.settings.guance_reply_reserve,
                timeout=self.settings.guance_timeout, clock=self.clock, session=http_session())
        return self._guance

    def close(self) -> None:
        if self.event_worker is not None:
            self.event_worker.stop()
        self.engine.dispose()


def _check_bot_secrets(settings: Settings, table: dict[str, Destination]) -> None:
    """A secret for a name that is not a custom bot is a typo that would silently go unused."""
    for name in settings.feishu_bot_secrets:
        if name not in table or table[name].kind != "feishu_bot":
            raise ConfigError(
                f"RELAY_FEISHU_BOT_SECRETS: {name!r} is not a destination with a custom bot "
                "URL (…/open-apis/bot/v2/hook/<token>); the default webhook's name is 'default'")
