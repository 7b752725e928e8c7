"""`relay config`: the effective settings, each with where it came from, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, SecretStr

from relay.config import Settings, load_settings
from relay.config.destinations import Destination
from relay.config.file import config_path, env_sources, read_config, where
from relay.config.secrets import MASK, mask_url_password, password_url_fields


def shown(value: object) -> object:
    """A value as it may be printed: every secret (SecretStr, a destination's URL) masked; a
    PasswordUrl's password is masked by report_lines."""
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, Destination):
        return {"type": value.kind, "url": MASK, **({"secret": MASK} if value.secret else {})}
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
    """One line per setting: `RELAY_NAME = value  (source)`."""
    from_file = set(read_config(path, Settings.model_fields)) if path else set()
    lines, password_urls = [], password_url_fields(Settings)
    for name in Settings.model_fields:
        if name in env:
            source = env[name]
        elif name in from_file:
            source = f"file {where(path, name)}"
        else:
            source = "default"
        value = getattr(settings, name)
        value = mask_url_password(value) if name in password_urls else shown(value)
        text = "(unset)" if value is None else json.dumps(value, ensure_ascii=False)
        lines.append(f"RELAY_{name.upper()} = {text}  ({source})")
    return lines


def show_config() -> int:
    settings = load_settings()
    path = config_path()
    where = path.resolve() if path else "none (no relay.toml, RELAY_CONFIG unset)"
    print(f"# config file: {where}")
    print("# precedence: env > .env > config file > default; secrets are shown as " + MASK)
    for line in report_lines(settings, path, env_sources()):
        print(line)
    return 0
