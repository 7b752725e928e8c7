"""Everything a job or request needs, built once from the settings: the Runtime type, a leaf that
imports no platform (relay.platforms.registry.build_runtime makes one with every platform's
sinks; each platform keeps its own state in `platform_state`)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any, Callable, TypeVar

import requests

from relay.clock import Clock
from relay.config import Settings
from relay.errors import ConfigError
from relay.guance import GuanceClient
from relay.http import http_session
from relay.i18n import text_for
from relay.logs import Redactor
from relay.metrics import Metrics
from relay.platforms.base import Sink
from relay.platforms.mentions import Mentions
from relay.ratelimit import RateLimiter
from relay.store.base import make_engine, migrate
from relay.store.budget import SharedRateLimiter, key_id
from relay.store.leases import Leases

log = logging.getLogger("relay")
T = TypeVar("T")
GUANCE_WINDOW_SECONDS = 61.0  # a second of margin over Guance's one-minute window


MakeSinks = Callable[["Runtime", requests.Session], dict[str, Sink]]


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 apply_migrations: bool = True, *, make_sinks: MakeSinks) -> None:
        """`make_sinks`: relay.platforms.registry.make_sinks (build_runtime passes it); named,
        so that a runtime is never built without its platforms by accident."""
        self.settings = settings
        self.clock = clock or Clock()
        self.redact = Redactor(settings.secrets())
        self.routing = settings.routing()
        self.text = text_for(settings.language)  # the catalogue every sink and answer reads
        self.mentions = Mentions(settings.mentions, settings.level_mentions)  # who cards @
        session = http_session()  # one pool of keep-alive connections for every webhook
        self._platforms: dict[str, Any] = {}  # each platform's own object (platform_state)
        # the platforms check their own settings before anything touches the database
        self.sinks: dict[str, Sink] = make_sinks(self, session)
        self.engine = make_engine(settings.database_url, settings.database_busy_timeout)
        if apply_migrations:
            migrate(self.engine)
        # one budget per API key for every replica on this database (relay/store/budget.py)
        api_key = settings.guance_api_key.get_secret_value() if settings.guance_api_key else ""
        self.budget: RateLimiter = SharedRateLimiter(
            self.engine, key_id(api_key),
            [(settings.guance_calls_per_minute, GUANCE_WINDOW_SECONDS)], self.clock)
        self.leases = Leases(self.engine, settings.lease_seconds, self.clock)
        self.metrics = Metrics()
        # the long connections the platforms keep (Feishu's, DingTalk's Stream), each added as
        # its platform starts listening: /healthz and /metrics read them here (relay/connections/)
        self.connections: list[Any] = []
        self.metrics.watch_connections(lambda: list(self.connections))
        # each destination keeps under its platform's documented limits
        self.send_limits = {name: RateLimiter(sink.limits, self.clock)
                            for name, sink in self.sinks.items()}
        self.deliver_lock = threading.Lock()
        self.crontab_watcher = None  # `relay run`'s CrontabWatcher: /healthz shows its error
        self.reply_slots = threading.BoundedSemaphore(settings.replies_in_flight)
        # set on SIGTERM/SIGINT: jobs finish the send (or page) in progress, record it, and stop
        self.stopping = threading.Event()
        # issues polling recorded, by channel UUID: issue UUID → creation time (relay/pipeline/
        # poll.py's read_window skips re-reading pages of them)
        self.recent_issues: dict[str, dict[str, int]] = {}
        self.full_reads: dict[str, float] = {}  # channel UUID → when every page was last read
        self._guance: GuanceClient | None = None

    @property
    def guance(self) -> GuanceClient:
        if self._guance is None:
            if self.settings.guance_api_key is None:
                raise ConfigError("RELAY_GUANCE_API_KEY is not set")
            self._guance = GuanceClient(
                self.settings.guance_base_url, self.settings.guance_api_key.get_secret_value(),
                self.budget, reply_reserve=self.settings.guance_reply_reserve,
                poll_reserve=self.settings.guance_poll_reserve,
                timeout=self.settings.guance_timeout, clock=self.clock, session=http_session())
        return self._guance

    def platform_state(self, name: str, make: Callable[[], T]) -> T:
        """The platform's own object (its app client and tokens, its workers), made on first
        use; the platform keeps its state there instead of in attributes of the Runtime. One
        with a `close()` is closed with the runtime."""
        if name not in self._platforms:
            self._platforms[name] = make()
        return self._platforms[name]

    def platform(self, name: str) -> Any:
        """The platform's own object, None before its setup made one."""
        return self._platforms.get(name)

    def close(self) -> None:
        for connection in self.connections:
            connection.stop()
        for state in self._platforms.values():
            if callable(close := getattr(state, "close", None)):
                close()
        self.engine.dispose()


def stop_on_signals(rt: Runtime, then: Callable[[], None] | None = None) -> None:
    """How every command stops: on SIGTERM or SIGINT set `rt.stopping` (a running job finishes
    the send or page in progress, records it and ends; killed mid-send, a card the platform
    took would go out again), then call `then` (from another thread: a handler
    runs inside whatever loop the main thread is in, e.g. the server loop `then` ends)."""

    def on_signal(signum: int, _frame: Any) -> None:
        if not rt.stopping.is_set():
            log.warning("%s: finishing what is in progress, then stopping",
                        signal.Signals(signum).name)
        rt.stopping.set()
        if then is not None:
            threading.Thread(target=then, name="relay-stop", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
