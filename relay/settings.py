"""Settings from the environment (prefix RELAY_) or a `.env` file.

Every failure names the variable and never echoes its value, so a mistyped secret is not printed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

DEFAULT_DESTINATION = "default"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RELAY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    guance_base_url: str = "https://openapi.guance.com"
    guance_api_key: SecretStr | None = None
    guance_calls_per_minute: int = Field(20, ge=1)
    guance_reply_reserve: int = Field(4, ge=0)
    guance_timeout: float = Field(10.0, gt=0)
    channels: str = "all"
    feishu_webhook_url: SecretStr | None = None
    destinations: dict[str, SecretStr] = {}
    routes: dict[str, list[str]] = {}
    feishu_timeout: float = Field(10.0, gt=0)
    feishu_bot_secrets: dict[str, SecretStr] = {}  # destination name → custom bot signing secret
    feishu_card_template: Path | None = None
    guance_console_url: str = "https://console.guance.com"
    database_url: str = "sqlite:///relay.db"
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

    # --- issue 5: replicas, logs, the delivery log page ----------------------------------------
    lease_seconds: float = Field(60.0, ge=1)  # a killed replica's claims pass on after this
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per log line
    ui_token: SecretStr | None = None  # the delivery log page at / is off until this is set
    # --- end of issue 5 ------------------------------------------------------------------------

    @field_validator("guance_base_url", "guance_console_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL with a host, e.g. https://openapi.guance.com")
        return value.rstrip("/")

    @field_validator("feishu_card_template", mode="before")
    @classmethod
    def _card_template(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("feishu_webhook_url")
    @classmethod
    def _webhook(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_webhook_url(value.get_secret_value())
        return value

    @field_validator("destinations", mode="before")
    @classmethod
    def _destinations(cls, value: object) -> object:
        if isinstance(value, dict):
            for name, url in value.items():
                if not isinstance(url, str):
                    raise ValueError(f"destination {name!r} must map to a webhook URL string")
                _check_webhook_url(url, f"destination {name!r}")
        return value

    @field_validator("routes", mode="before")
    @classmethod
    def _routes(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

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

    def destination_urls(self) -> dict[str, str]:
        urls = {name: url.get_secret_value() for name, url in self.destinations.items()}
        if self.feishu_webhook_url is not None:
            urls[DEFAULT_DESTINATION] = self.feishu_webhook_url.get_secret_value()
        return urls

    def secrets(self) -> list[str]:
        """Every secret value, for redaction from logs and stored errors."""
        values = [s.get_secret_value() for s in (self.guance_api_key, self.reply_token,
                                                  self.feishu_webhook_url, self.ui_token)
                  if s is not None]
        values += [u.get_secret_value() for u in self.destinations.values()]
        values += [s.get_secret_value() for s in self.feishu_bot_secrets.values()]
        # a webhook's secret part is its last path segment; redact it wherever it shows up alone
        values += [v.rstrip("/").rsplit("/", 1)[-1] for v in list(values) if "://" in v]
        return [v for v in values if len(v) >= 6]

    def routing(self) -> dict[str, list[str]]:
        """Channel (name or UUID) → destination names. Raises ConfigError for unknown names."""
        known = self.destination_urls()
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
                    "which is not in RELAY_DESTINATIONS")
        return table

    def require(self, *names: str) -> None:
        """Raise ConfigError naming the first of `names` that is unset."""
        for name in names:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is None or not str(value).strip():  # RELAY_X= (empty) counts as unset
                raise ConfigError(f"RELAY_{name.upper()} is not set")


def _check_webhook_url(url: str, what: str = "") -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.strip("/"):
        where = f"{what} " if what else ""
        raise ValueError(f"{where}must be a webhook URL such as "
                         "https://www.feishu.cn/flow/api/trigger-webhook/<id>")


def load_settings(**overrides: object) -> Settings:
    """Settings from env/.env (overrides win); a bad value becomes a ConfigError naming it."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors(include_input=False, include_url=False)[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        message = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"RELAY_{field.upper()}: {message}") from None
    except SettingsError as exc:  # JSON that does not parse, e.g. RELAY_ROUTES
        match = re.search(r'field "(\w+)"', str(exc))
        field = match.group(1).upper() if match else "?"
        raise ConfigError(f"RELAY_{field}: is not valid JSON") from None
