"""Settings from the environment (prefix RELAY_), a `.env` file or the config file (`relay.toml`,
relay/admin/configfile.py), in that order of precedence.

Every failure names the variable and never echoes its value, so a mistyped secret is not printed.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from relay.admin.configfile import ConfigFileSource, config_path, env_sources, read_config, where
from relay.errors import ConfigError
from relay.logs import secret_values
from relay.platforms.base import Destination
from relay.platforms.follow import TRANSITIONS
from relay.platforms.mentions import check_levels, check_people
from relay.platforms.registry import check_webhook_url, parse_destination

DEFAULT_DESTINATION = "default"
# the config file load_settings found; Settings() built elsewhere (tests, sandbox) reads none
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("relay_config_file", default=None)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RELAY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    guance_base_url: str = "https://openapi.guance.com"
    guance_api_key: SecretStr | None = None
    guance_calls_per_minute: int = Field(20, ge=1)
    guance_reply_reserve: int = Field(4, ge=0)
    guance_timeout: float = Field(10.0, gt=0)
    # budget floors: calls a minute replies always leave to polling (and the other jobs)
    guance_poll_reserve: int = Field(4, ge=0)
    channels: str = "all"
    feishu_webhook_url: SecretStr | None = None
    destinations: dict[str, Destination] = {}  # name → URL or {"type", "url", "secret"}
    routes: dict[str, list[str]] = {}
    feishu_timeout: float = Field(10.0, gt=0)
    feishu_bot_secrets: dict[str, SecretStr] = {}  # destination name → custom bot signing secret
    feishu_card_template: Path | None = None
    guance_console_url: str = "https://console.guance.com"
    database_url: str = "sqlite:///relay.db"
    # a locked database: how long a SQLite writer waits for another process's lock
    database_busy_timeout: float = Field(30.0, gt=0)
    reply_token: SecretStr | None = None
    crontab: Path = Path("crontab.example")
    timezone: str = "Asia/Shanghai"
    overlap_seconds: int = Field(300, ge=0)
    max_catchup_seconds: int = Field(86_400, ge=60)
    delivery_max_age_seconds: int = Field(86_400, ge=60)
    storm_threshold: int = Field(10, ge=1)  # more new issues in one poll → one digest card
    storm_titles: int = Field(5, ge=0)  # titles listed in a digest card
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # DingTalk (its robots are RELAY_DESTINATIONS entries)
    dingtalk_app_secret: SecretStr | None = None  # outgoing robot's AppSecret: signs /dingtalk/reply
    dingtalk_robot_code: str | None = None  # the robot's robotCode: callbacks for another refused
    dingtalk_session_origins: str = ""  # origins besides https://*.dingtalk.com (a local fake)
    dingtalk_app_key: str | None = None  # the DingTalk app robot over Stream: its Client ID
    dingtalk_app_groups: dict[str, str] = {}  # destination name → openConversationId (cid…)
    dingtalk_card_template: str = ""  # the interactive card's template id (card builder)
    dingtalk_open_base_url: str = "https://api.dingtalk.com"  # OpenAPI and Stream gateway
    # the Feishu app bot: IM API cards, /feishu/events, reply notifications
    feishu_app_id: str | None = None
    feishu_app_secret: SecretStr | None = None
    feishu_verification_token: SecretStr | None = None
    feishu_encrypt_key: SecretStr | None = None
    feishu_open_base_url: str = "https://open.feishu.cn"
    feishu_events: Literal["http", "long"] = Field("http", description=(
        "How the Feishu app bot's events and card callbacks reach relay: `http` (POST "
        "/feishu/events, a public URL) or `long` (relay opens the app's long connection with "
        "the App ID and Secret: no public address, no Verification Token or Encrypt Key). "
        "The app's console setting (事件与回调 → 订阅方式) must say the same."))
    feishu_app_chats: dict[str, str] = {}  # destination name → chat_id (oc_…)
    feishu_allowed_chats: str = ""  # comma-separated chat_ids; empty: the chats of app_chats
    feishu_allowed_users: str = ""  # comma-separated open_id/user_id; empty: anyone in them
    reply_notify_days: int = Field(7, ge=1)
    # replicas, logs, the delivery log page
    lease_seconds: float = Field(60.0, ge=1)  # a killed replica's claims pass on after this
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per log line
    ui_token: SecretStr | None = None  # the delivery log page at / is off until this is set
    # the crontab's reload
    crontab_reload_seconds: float = Field(5.0, ge=0)  # crontab re-read period; 0: on SIGHUP only
    # the page's cookie Secure always (else over HTTPS or behind a proxy saying so); replies
    # waiting on Guance at once (one more gets 503; the server runs that many threads + 4)
    ui_cookie_secure: bool = False
    replies_in_flight: int = Field(4, ge=1, le=256)
    # languages: every card, digest, bot answer and page label (relay/i18n/)
    language: Literal["zh-CN", "en"] = "zh-CN"
    # cards that follow the issue (relay/pipeline/follow.py) and @-mentions
    follow_days: int = Field(7, ge=1)  # issues carded within this many days are followed
    follow_announce: str = "resolved,closed,reopened"  # transitions that get a message
    follow_calls: int = Field(3, ge=1)  # Guance calls the tracker may make per run
    follow_spare: int = Field(6, ge=0)  # calls a minute the tracker leaves for polling
    mentions: dict[str, dict[str, str]] = {}  # Guance person (email/acnt_ UUID) → chat ids
    level_mentions: dict[str, dict[str, list[str]]] = {}  # channel (or *) → level → people
    # acting on issues from chat (claim, resolve, close, reopen): signed links on cards
    public_url: str | None = None  # where chat users reach relay, e.g. https://relay.example.com
    action_link_secret: SecretStr | None = None  # signs the Claim / Resolve links on cards
    action_link_hours: int = Field(72, ge=1, le=24 * 90)  # how long such a link works
    # level (P0, P1, …) → minutes unclaimed before a reminder
    reminders: dict[str, Annotated[int, Field(ge=1)]] = {}
    reminder_max: int = Field(1, ge=1, le=10)  # reminders per issue at most

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings):
        """Arguments, then the environment, then .env, then the config file, then defaults."""
        sources = (init_settings, env_settings, dotenv_settings, file_secret_settings)
        path = _CONFIG_FILE.get()
        return sources + (ConfigFileSource(settings_cls, path, sources),) if path else sources

    @field_validator("channels", "feishu_allowed_chats", "feishu_allowed_users", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        """A TOML list is the same as the comma-separated string of the environment."""
        return ",".join(map(str, value)) if isinstance(value, list) else value

    @field_validator("guance_base_url", "guance_console_url", "feishu_open_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL with a host, e.g. https://openapi.guance.com")
        return value.rstrip("/")

    @field_validator("guance_poll_reserve")
    @classmethod
    def _floors(cls, value: int, info: ValidationInfo) -> int:
        calls = info.data.get("guance_calls_per_minute", 20)
        replies = info.data.get("guance_reply_reserve", 4)
        if value + replies > calls or max(value, replies) >= calls:
            raise ValueError(
                f"with RELAY_GUANCE_REPLY_RESERVE ({value} + {replies}) must be at most "
                f"RELAY_GUANCE_CALLS_PER_MINUTE ({calls}), and each less than it")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return cls._http_url(value.strip())

    @field_validator("feishu_card_template", mode="before")
    @classmethod
    def _card_template(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("feishu_webhook_url")
    @classmethod
    def _webhook(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_webhook_url(value.get_secret_value())
            parse_destination(DEFAULT_DESTINATION, value.get_secret_value())
        return value

    @field_validator("destinations", mode="before")
    @classmethod
    def _destinations(cls, value: object) -> object:
        if isinstance(value, dict):
            return {name: entry if isinstance(entry, Destination)
                    else parse_destination(str(name), entry) for name, entry in value.items()}
        return value

    @field_validator("routes", mode="before")
    @classmethod
    def _routes(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("feishu_app_chats")
    @classmethod
    def _app_chats(cls, value: dict[str, str]) -> dict[str, str]:
        for name, chat_id in value.items():
            if not chat_id.startswith("oc_"):
                raise ValueError(f"destination {name!r} must map to a Feishu chat_id (oc_…)")
        return value

    def app_chats(self) -> dict[str, str]:
        """The app bots' own chats (Feishu, DingTalk): their cards follow the issue in place."""
        return {**self.feishu_app_chats, **self.dingtalk_app_groups}

    @field_validator("follow_announce")
    @classmethod
    def _announce(cls, value: str) -> str:
        names = [n.strip().lower() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in TRANSITIONS]
        if unknown:
            raise ValueError(f"unknown transition {unknown[0]!r} (known: {', '.join(TRANSITIONS)})")
        return ",".join(names)

    @field_validator("mentions", mode="before")
    @classmethod
    def _mentions(cls, value: object) -> object:
        return check_people(value) if isinstance(value, dict) else value

    @field_validator("level_mentions", mode="before")
    @classmethod
    def _level_mentions(cls, value: object) -> object:
        return check_levels(value) if isinstance(value, dict) else value

    @property
    def announced(self) -> set[str]:
        return {n for n in self.follow_announce.split(",") if n}

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not an IANA time zone such as Asia/Shanghai") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def channel_list(self) -> list[str]:
        """Channels to watch; ["default"] for "all" (every issue also lands in `default`)."""
        names = [c.strip() for c in self.channels.split(",") if c.strip()]
        if not names or [n.lower() for n in names] == ["all"]:
            return ["default"]
        return names

    def destination_table(self) -> dict[str, Destination]:
        """Every destination by name; RELAY_FEISHU_WEBHOOK_URL is `default`, and a Feishu custom
        bot without a secret of its own takes the one in RELAY_FEISHU_BOT_SECRETS."""
        table = dict(self.destinations)
        if self.feishu_webhook_url is not None:
            table[DEFAULT_DESTINATION] = parse_destination(
                DEFAULT_DESTINATION, self.feishu_webhook_url.get_secret_value())
        for name, dest in table.items():
            if dest.kind == "feishu_bot" and dest.secret is None and name in self.feishu_bot_secrets:
                table[name] = dest.model_copy(update={"secret": self.feishu_bot_secrets[name]})
        return table

    def secrets(self) -> list[str]:
        """Every secret value, for redaction from logs and stored errors (relay/logs.py)."""
        return secret_values(dict(self))

    def routing(self) -> dict[str, list[str]]:
        """Channel (name or UUID) → destination names. Raises ConfigError for unknown names."""
        known = {**self.destination_table(), **self.app_chats()}  # app chats are destinations too
        table = {channel: list(self.routes.get(channel, [DEFAULT_DESTINATION]))
                 for channel in self.channel_list}
        table.update({channel: list(names) for channel, names in self.routes.items()})
        for channel, names in table.items():
            for name in names:
                if name in known:
                    continue
                if name == DEFAULT_DESTINATION:
                    raise ConfigError(
                        f"RELAY_FEISHU_WEBHOOK_URL is not set (channel {channel!r} has no route "
                        "in RELAY_ROUTES, so it goes to the default Feishu webhook)")
                raise ConfigError(
                    f"RELAY_ROUTES: channel {channel!r} names destination {name!r}, "
                    "which is not in RELAY_DESTINATIONS, RELAY_FEISHU_APP_CHATS or "
                    "RELAY_DINGTALK_APP_GROUPS")
        return table

    def require(self, *names: str) -> None:
        """Raise ConfigError naming the first of `names` that is unset."""
        for name in names:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is None or not str(value).strip():  # RELAY_X= (empty) counts as unset
                raise ConfigError(f"RELAY_{name.upper()} is not set")


def load_settings(**overrides: object) -> Settings:
    """Settings from env/.env/the config file (overrides win); a bad value becomes a ConfigError
    naming it: the variable, or the file, line and key when the value came from the file."""
    path = config_path()
    from_file = set(read_config(path, Settings.model_fields)) if path else set()
    token = _CONFIG_FILE.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors(include_input=False, include_url=False)[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        message = err["msg"].removeprefix("Value error, ")
        if field in from_file and field not in env_sources() and field not in overrides:
            raise ConfigError(f"{where(path, field)}: {field}: {message}") from None
        raise ConfigError(f"RELAY_{field.upper()}: {message}") from None
    except SettingsError as exc:  # JSON that does not parse, e.g. RELAY_ROUTES
        match = re.search(r'field "(\w+)"', str(exc))
        field = match.group(1).upper() if match else "?"
        raise ConfigError(f"RELAY_{field}: is not valid JSON") from None
    finally:
        _CONFIG_FILE.reset(token)
