"""Everything a job or request needs, built once from the settings."""

from __future__ import annotations

import threading

import requests

from relay.clock import Clock
from relay.feishu import BotWebhookSink, FlowWebhookSink, is_bot_url, load_card_template
from relay.guance import GuanceClient
from relay.logs import Redactor
from relay.ratelimit import RateLimiter
from relay.settings import ConfigError, Settings
from relay.store import make_engine, migrate

# Feishu documents 5 requests/s and 100/min per custom bot; flows get the same care. The windows
# have a margin (as the Guance one): a card's time on the way varies, so Feishu can count a 6th
# card inside its second when relay waited exactly one.
FEISHU_LIMITS = [(5, 1.1), (100, 61.0)]
GUANCE_WINDOW_SECONDS = 61.0  # a second of margin over Guance's one-minute window


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 apply_migrations: bool = True) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self.redact = Redactor(settings.secrets())
        self.routing = settings.routing()
        self.card = load_card_template(settings.feishu_card_template)
        self._check_bot_secrets()
        self.engine = make_engine(settings.database_url)
        if apply_migrations:
            migrate(self.engine)
        self.budget = RateLimiter([(settings.guance_calls_per_minute, GUANCE_WINDOW_SECONDS)],
                                  self.clock)
        http = requests.Session()  # one pool of keep-alive connections for every webhook
        self.sinks = {name: self._sink(name, url, http)
                      for name, url in settings.destination_urls().items()}
        self.send_limits = {name: RateLimiter(FEISHU_LIMITS, self.clock) for name in self.sinks}
        self.deliver_lock = threading.Lock()
        self._guance: GuanceClient | None = None

    def _sink(self, name: str, url: str, http: requests.Session):
        """The URL says which kind of Feishu endpoint this is: custom bot or flow webhook."""
        s = self.settings
        if not is_bot_url(url):
            return FlowWebhookSink(url, s.tz, http, s.feishu_timeout)
        secret = s.feishu_bot_secrets.get(name)
        return BotWebhookSink(url, s.tz, self.card, s.guance_console_url,
                              secret.get_secret_value() if secret else None, http,
                              s.feishu_timeout)

    def _check_bot_secrets(self) -> None:
        """A secret for a name that is not a custom bot is a typo that would silently go unused."""
        urls = self.settings.destination_urls()
        for name in self.settings.feishu_bot_secrets:
            if not is_bot_url(urls.get(name, "")):
                raise ConfigError(
                    f"RELAY_FEISHU_BOT_SECRETS: {name!r} is not a destination with a custom bot "
                    "URL (…/open-apis/bot/v2/hook/<token>); the default webhook's name is "
                    "'default'")

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
