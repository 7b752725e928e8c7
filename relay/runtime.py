"""Everything a job or request needs, built once from the settings."""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING, Any, Callable

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
from relay.platforms.registry import KINDS, PLATFORMS, unregistered
from relay.ratelimit import RateLimiter
from relay.store.base import make_engine, migrate
from relay.store.budget import SharedRateLimiter, key_id
from relay.store.leases import Leases

if TYPE_CHECKING:
    from relay.connections import Connection
    from relay.platforms.dingtalk_app.connection import DingTalkStream
    from relay.platforms.dingtalk_app.openapi import DingTalkApp
    from relay.platforms.feishu.app import FeishuApp
    from relay.platforms.feishu.card import CardTemplate
    from relay.replies.event_worker import EventWorker

log = logging.getLogger("relay")
GUANCE_WINDOW_SECONDS = 61.0  # a second of margin over Guance's one-minute window


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 apply_migrations: bool = True) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self.redact = Redactor(settings.secrets())
        self.routing = settings.routing()
        self.text = text_for(settings.language)  # the catalogue every sink and answer reads
        self.mentions = Mentions(settings.mentions, settings.level_mentions)  # who cards @
        http = http_session()  # one pool of keep-alive connections for every webhook
        self.feishu_app: FeishuApp | None = None  # both set by the Feishu platform's setup
        self.card: CardTemplate | None = None
        self.dingtalk_app: DingTalkApp | None = None  # set by the DingTalk app platform's setup
        self.dingtalk_stream: DingTalkStream | None = None  # its Stream connection, when serving
        # each platform checks its own settings (before anything touches the database) and
        # makes what its sinks share, then every destination gets its type's sink
        if missing := unregistered():  # a destination type without a sink, or the reverse
            raise RuntimeError(f"destination types without both a config entry and a sink: "
                               f"{', '.join(missing)}")
        for platform in PLATFORMS:
            if platform.setup is not None:
                platform.setup(self, http)
        self.sinks: dict[str, Sink] = {
            name: KINDS[dest.kind].sink(self, dest, http)
            for name, dest in settings.destination_table().items()}
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
        # the long connections the platforms keep (Feishu's, DingTalk's Stream): each platform
        # adds its own as it starts listening; /healthz and /metrics read them here
        self.connections: list[Connection] = []
        self.metrics.watch_connections(lambda: list(self.connections))
        # started by the /feishu/events blueprint (relay/platforms/feishu/worker.py)
        self.event_worker: EventWorker | None = None
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

    def close(self) -> None:
        for connection in self.connections:
            connection.stop()
        if self.event_worker is not None:
            self.event_worker.stop()
        if self.dingtalk_stream is not None:
            self.dingtalk_stream.stop()
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
