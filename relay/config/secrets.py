"""Every secret value of the settings, for redaction from logs and stored errors (relay/logs.py
masks them): a setting is a secret by being declared a SecretStr, or a URL setting whose password
is one by being marked PasswordUrl (RELAY_DATABASE_URL)."""

from __future__ import annotations

import typing
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

MASK = "***"
MIN_SECRET = 6  # shorter values are not masked: "***" would replace common words


class PasswordUrl:
    """Marks a URL setting whose password part (`scheme://user:PASSWORD@host/…`) is a secret,
    while the rest of the URL may be shown: `database_url: Annotated[str, PasswordUrl()]`."""


def url_passwords(url: str) -> list[str]:
    """The password of a URL, as written (percent-encoded) and decoded; [] when it has none."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return list(dict.fromkeys([password, unquote(password)])) if password else []


def mask_url_password(url: str) -> str:
    """The URL with its password as ***, for printing."""
    parts = urlsplit(url)
    if not url_passwords(url):
        return url
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def password_url_fields(model: type[BaseModel]) -> list[str]:
    return [name for name, field in model.model_fields.items()
            if any(isinstance(m, PasswordUrl) for m in field.metadata)]


def secret_fields(model: type[BaseModel]) -> set[str]:
    """The settings that may hold a secret: a SecretStr anywhere in the type (a model with one
    included, e.g. a destination), or a PasswordUrl."""
    return {name for name, field in model.model_fields.items()
            if _holds_secret(field.annotation)} | set(password_url_fields(model))


def _holds_secret(annotation: object) -> bool:
    if annotation is SecretStr:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_holds_secret(f.annotation) for f in annotation.model_fields.values())
    return any(_holds_secret(arg) for arg in typing.get_args(annotation))


def secret_values(value: object) -> list[str]:
    """Every SecretStr in `value` (the settings: a field, a dict of them, a destination's URL and
    secret), so a new secret setting is redacted by being declared a SecretStr. A webhook's secret
    part is its last path segment (Feishu) or a query value (DingTalk's access_token, WeCom's key),
    redacted wherever it shows up alone too."""
    values = [s.get_secret_value() for s in _secret_strs(value)]
    for url in [v for v in values if "://" in v]:
        parts = urlsplit(url)
        values.append(parts.path.rstrip("/").rsplit("/", 1)[-1])
        values += [v for _, v in parse_qsl(parts.query)]
    return [v for v in values if len(v) >= MIN_SECRET]


def _secret_strs(value: object) -> list[SecretStr]:
    if isinstance(value, SecretStr):
        return [value]
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _secret_strs(item)]
    return []
