"""Every secret value of the settings, for redaction from logs and stored errors (relay/logs.py
masks them): a setting is a secret by being declared a SecretStr."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, SecretStr


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
    return [v for v in values if len(v) >= 6]


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
