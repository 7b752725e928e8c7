"""`relay config`: the effective settings, each with where it came from, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, SecretStr

from relay.config import DEFAULT_DESTINATION, ConfigError, Settings, load_settings
from relay.config.destinations import Destination
from relay.config.file import config_path, env_sources, read_config, where
from relay.config.secrets import MASK, mask_url_password, password_url_fields
from relay.config.settings import DEPRECATED


def shown(value: object) -> object:
    """A value as it may be printed: every secret (SecretStr, a destination's URL) masked; a
    PasswordUrl's password is masked by report_lines."""
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, Destination):
        fields = {k: v for k, v in dict(value).items() if v is not None and k != "kind"}
        return {"type": value.kind, **shown(fields)}
    if isinstance(value, BaseModel):
        return shown(dict(value))
    if isinstance(value, dict):
        return {str(k): shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shown(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def report_lines(settings: Settings, path: Path | None, env: dict[str, str]) -> list[str]:
    """One line per setting: `RELAY_NAME = value  (source)`; a deprecated name that is set
    says so, and the setting it became says where its value came from."""
    from_file = set(read_config(path, Settings.model_fields)) if path else set()

    def source_of(name: str) -> str | None:
        return env[name] if name in env else f"file {where(path, name)}" if (
            name in from_file) else None

    lines, password_urls = [], password_url_fields(Settings)
    for name in Settings.model_fields:
        source = source_of(name)
        old = next((o for o, new in DEPRECATED.items() if new == name), None)
        if source is None and old is not None and source_of(old) is not None:
            source = f"{source_of(old)}, as RELAY_{old.upper()}"
        if name in DEPRECATED and source is not None:
            source += f"; deprecated: use RELAY_{DEPRECATED[name].upper()}"
        source = source or "default"
        value = getattr(settings, name)
        value = mask_url_password(value) if name in password_urls else shown(value)
        text = "(unset)" if value is None else json.dumps(value, ensure_ascii=False)
        lines.append(f"RELAY_{name.upper()} = {text}  ({source})")
    return lines


def destination_lines(settings: Settings) -> list[str]:
    """The one destinations table the settings make, each entry with the older setting it came
    from, and once, when older settings are used, that the table can say the same."""
    s, older = settings, set()
    try:
        table = settings.destination_table()
    except ConfigError as exc:  # relay run would stop on it; the settings above still help
        return [f"# destinations: {exc}"]
    lines = ["# destinations (RELAY_DESTINATIONS with the older settings folded in):"]
    for name, dest in table.items():
        came = [setting for setting, used in (
            ("RELAY_FEISHU_WEBHOOK_URL", name == DEFAULT_DESTINATION and s.feishu_webhook_url),
            ("RELAY_FEISHU_BOT_SECRETS", name in s.feishu_bot_secrets and (
                name not in s.destinations or s.destinations[name].secret is None)),
            ("RELAY_FEISHU_APP_CHATS", name in s.feishu_app_chats),
            ("RELAY_DINGTALK_APP_GROUPS", name in s.dingtalk_app_groups)) if used]
        older.update(came)
        lines.append(f"destination {name} = {json.dumps(shown(dest), ensure_ascii=False)}"
                     + (f"  (from {', '.join(came)})" if came else ""))
    if older:
        lines.append(f"# {', '.join(sorted(older))} still work; one [destinations.NAME] table "
                     "in relay.toml (or RELAY_DESTINATIONS), each entry with its \"type\", can "
                     "say the same: docs/configuration.md#destinations")
    return lines


def show_config() -> int:
    settings = load_settings()
    path = config_path()
    where = path.resolve() if path else "none (no relay.toml, RELAY_CONFIG unset)"
    print(f"# config file: {where}")
    print("# precedence: env > .env > config file > default; secrets are shown as " + MASK)
    for line in report_lines(settings, path, env_sources()) + destination_lines(settings):
        print(line)
    return 0
