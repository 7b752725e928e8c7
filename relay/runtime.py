"""Everything a job or request needs, built once from the settings."""

from __future__ import annotations

import threading

import requests

from relay.clock import Clock
from relay.feishu import FlowWebhookSink
from relay.guance import GuanceClient
from relay.logs import Redactor
from relay.ratelimit import RateLimiter
from relay.settings import ConfigError, Settings
from relay.store import make_engine, migrate

# Feishu documents 5 requests/s and 100/min per custom bot; flows get the same care.
FEISHU_LIMITS = [(5, 1.0), (100, 60.0)]
GUANCE_WINDOW_SECONDS = 61.0  # a second of margin over Guance's one-minute window


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 apply_migrations: bool = True) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self.redact = Redactor(settings.secrets())
        self.routing = settings.routing()
        self.engine = make_engine(settings.database_url)
        if apply_migrations:
            migrate(self.engine)
        self.budget = RateLimiter([(settings.guance_calls_per_minute, GUANCE_WINDOW_SECONDS)],
                                  self.clock)
        http = requests.Session()  # one pool of keep-alive connections for every webhook
        self.sinks = {name: FlowWebhookSink(url, settings.tz, http, settings.feishu_timeout)
                      for name, url in settings.destination_urls().items()}
        self.send_limits = {name: RateLimiter(FEISHU_LIMITS, self.clock) for name in self.sinks}
        self.deliver_lock = threading.Lock()
        self._guance: GuanceClient | None = None

    @property
    def guance(self) -> GuanceClient:
        if self._guance is None:
            if self.settings.guance_api_key is None:
                raise ConfigError("RELAY_GUANCE_API_KEY is not set")
            self._guance = GuanceClient(
                self.settings.guance_base_url, self.settings.guance_api_key.get_secret_value(),
                self.budget, reply_reserve=self.settings.guance_reply_reserve,
                timeout=self.settings.guance_timeout, clock=self.clock)
        return self._guance

    def close(self) -> None:
        self.engine.dispose()
