"""The config file: `relay.toml` in the working directory, or the file RELAY_CONFIG names.

Keys are the settings' names without the RELAY_ prefix, in lower case; tables (destinations,
routes, feishu_app_chats, feishu_bot_secrets) are TOML tables instead of JSON strings. The file
is checked here before pydantic-settings reads it (TomlConfigSettingsSource), so that each error
names the file, the key and its line, never the value.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Iterable

from pydantic_settings import TomlConfigSettingsSource

from relay.errors import ConfigError

DEFAULT_FILE = Path("relay.toml")
ENV_NAME = "RELAY_CONFIG"


def config_path() -> Path | None:
    """The file to read: RELAY_CONFIG (which must exist), else ./relay.toml when present."""
    named = os.environ.get(ENV_NAME, "").strip()
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"{ENV_NAME}: config file {path} does not exist")
        return path
    return DEFAULT_FILE if DEFAULT_FILE.is_file() else None


def key_line(path: Path, key: str) -> int | None:
    """The line where a top-level key is set (`key = …`, `key.x = …` before any table, or a
    `[key]` / `[key.x]` header), as far as a plain scan can tell: tomllib gives no positions
    for a valid document."""
    in_table = False
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            if re.match(rf"\[\[?\s*{re.escape(key)}\s*[\].]", stripped):
                return number
            in_table = True
        elif not in_table and re.match(rf"{re.escape(key)}\s*[=.]", stripped):
            return number
    return None


def env_sources(env_file: Path | None = Path(".env")) -> dict[str, str]:
    """Setting name → "env" or ".env" for each RELAY_ variable that sets it (the environment
    wins over .env, as in pydantic-settings)."""
    from dotenv import dotenv_values

    found: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        found.update({name.lower()[6:]: ".env" for name, value in dotenv_values(env_file).items()
                      if name.upper().startswith("RELAY_") and value is not None})
    found.update({name.lower()[6:]: "env" for name in os.environ
                  if name.upper().startswith("RELAY_")})
    return found


def where(path: Path, key: str) -> str:
    line = key_line(path, key)
    return f"{path}:{line}" if line else str(path)


def read_config(path: Path, known: Iterable[str]) -> dict[str, Any]:
    """The file's settings, checked: TOML syntax (with its line) and every key a setting."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: cannot read config file (not UTF-8 text)") from None
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        at = f"{path}:{match.group(1)}" if match else str(path)
        raise ConfigError(f"{at}: not valid TOML: {reason}"
                          + (f" (column {match.group(2)})" if match else "")) from None
    known = sorted(known)
    for key in data:
        if key not in known:
            hint = difflib.get_close_matches(key.lower().removeprefix("relay_"), known, 1)
            raise ConfigError(f"{where(path, key)}: unknown setting {key!r}"
                              + (f" (did you mean {hint[0]!r}?)" if hint else
                                 " (the keys are the RELAY_ names without the prefix, in "
                                 "lower case; see relay.example.toml)"))
    return data


class ConfigFileSource(TomlConfigSettingsSource):
    """The config file, minus the settings a source above it sets: a table in the environment
    replaces the file's table instead of being merged into it."""

    def __init__(self, settings_cls, path: Path, above) -> None:
        super().__init__(settings_cls, toml_file=path)
        self.above = above

    def __call__(self) -> dict:
        taken = {key for source in self.above for key in source()}
        return {key: value for key, value in super().__call__().items() if key not in taken}
