"""The types of destination a card can go to, declared as data: how each one's webhook URL is
told apart and checked. Settings parse RELAY_DESTINATIONS with this table alone; each platform
registers a sink for its types by name (relay/platforms/registry.py checks every type has one)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr


class Destination(BaseModel):
    """Where a channel's cards go: the kind of endpoint, its URL and its signing secret."""

    model_config = ConfigDict(frozen=True)
    kind: str
    url: SecretStr
    secret: SecretStr | None = None

    def secret_value(self) -> str | None:
        return self.secret.get_secret_value() if self.secret else None


@dataclass(frozen=True)
class DestinationType:
    """A `type` of RELAY_DESTINATIONS: what its webhook URL looks like."""

    name: str
    url_path: str | None  # the URL's path ("…/" = a prefix the token follows); None: any URL
    url_shape: str  # what such a URL looks like, for error messages
    token_param: str | None = None  # the query parameter that holds the URL's token
    hosts: tuple[str, ...] = ()  # a URL on one of these hosts must be of this type
    signs: bool = False  # takes a signing secret


WEBHOOK_TYPES: tuple[DestinationType, ...] = (
    DestinationType("dingtalk", "/robot/send",
                    "https://oapi.dingtalk.com/robot/send?access_token=<token>",
                    token_param="access_token", hosts=("dingtalk.com",), signs=True),
    DestinationType("wecom", "/cgi-bin/webhook/send",
                    "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<key>",
                    token_param="key", hosts=("weixin.qq.com",)),
    DestinationType("feishu_bot", "/open-apis/bot/v2/hook/",
                    "https://open.feishu.cn/open-apis/bot/v2/hook/<token>", signs=True),
    DestinationType("feishu_flow", None, "https://www.feishu.cn/flow/api/trigger-webhook/<id>"),
)
TYPES: dict[str, DestinationType] = {t.name: t for t in WEBHOOK_TYPES}
FALLBACK_TYPE = next(t.name for t in WEBHOOK_TYPES if t.url_path is None)  # a Feishu flow


def url_kind(url: str) -> str:
    """The type whose URL path the URL has; the fallback type (a Feishu flow) for any other."""
    path = urlsplit(url).path
    for kind in WEBHOOK_TYPES:
        prefix = kind.url_path
        if prefix and (path.rstrip("/") == prefix
                       or (prefix.endswith("/") and path.startswith(prefix))):
            return kind.name
    return FALLBACK_TYPE


def check_webhook_url(url: str, what: str = "") -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.strip("/"):
        where = f"{what} " if what else ""
        raise ValueError(f"{where}must be a webhook URL such as "
                         f"{TYPES[FALLBACK_TYPE].url_shape}")


def parse_destination(name: str, value: object) -> Destination:
    """A RELAY_DESTINATIONS entry: a URL string, or {"type", "url", "secret"}. The ValueError
    names the entry and never shows its URL or secret."""
    where = f"destination {name!r}"
    kind = secret = None
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"type", "url", "secret"})
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} "
                             "(known: type, url, secret)")
        kind, url, secret = value.get("type"), value.get("url"), value.get("secret")
        if kind is not None and kind not in TYPES:
            raise ValueError(f"{where}: unknown type {kind!r} (known: {', '.join(TYPES)})")
        if secret is not None and (not isinstance(secret, str) or not secret.strip()):
            raise ValueError(f"{where}: \"secret\" must be a non-empty string")
    elif isinstance(value, str):
        url = value
    else:
        raise ValueError(f"{where} must be a webhook URL string or an object "
                         '{"type": …, "url": …, "secret": …}')
    if not isinstance(url, str):
        raise ValueError(f'{where}: needs "url", the webhook URL')
    check_webhook_url(url, where)
    found, host = url_kind(url), urlsplit(url).hostname or ""
    expected = kind or next((k.name for k in WEBHOOK_TYPES
                             if any(host.endswith(h) for h in k.hosts)), found)
    if expected != found:
        raise ValueError(f"{where}: the URL is not a {expected} URL (one looks like "
                         f"{TYPES[expected].url_shape})")
    token = TYPES[found].token_param
    if token and not parse_qs(urlsplit(url).query).get(token):
        raise ValueError(f"{where}: the URL has no {token}= (it looks like "
                         f"{TYPES[found].url_shape})")
    if secret is not None and not TYPES[found].signs:
        signing = [k.name for k in WEBHOOK_TYPES if k.signs]
        raise ValueError(f"{where}: a {found} destination takes no \"secret\" (only "
                         + " and ".join(signing) + " sign their requests)")
    return Destination(kind=found, url=url, secret=secret)
