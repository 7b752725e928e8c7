"""The one table of platforms relay speaks to. Adding a platform is a folder under
relay/platforms/ that declares a `PLATFORM` (its kinds of destination, how their URLs are told
apart, their sinks, its reply routes) and one line in PLATFORMS below; settings, the runtime and
the web app read everything else from here."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from relay.platforms import dingtalk, dingtalk_app, feishu, wecom
from relay.platforms.base import Destination, Kind, Platform, ReplyRoute

PLATFORMS: tuple[Platform, ...] = (dingtalk.PLATFORM, dingtalk_app.PLATFORM, wecom.PLATFORM,
                                   feishu.PLATFORM)

BY_NAME: dict[str, Platform] = {p.name: p for p in PLATFORMS}
KINDS: dict[str, Kind] = {kind.name: kind for p in PLATFORMS for kind in p.kinds}
FALLBACK_KIND = next(kind.name for kind in KINDS.values() if kind.url_path is None)
REPLY_ROUTES: tuple[ReplyRoute, ...] = tuple(route for p in PLATFORMS for route in p.replies)


def url_kind(url: str) -> str:
    """The kind whose URL path the URL has; the fallback kind (a Feishu flow) for any other."""
    path = urlsplit(url).path
    for kind in KINDS.values():
        prefix = kind.url_path
        if prefix and (path.rstrip("/") == prefix
                       or (prefix.endswith("/") and path.startswith(prefix))):
            return kind.name
    return FALLBACK_KIND


def check_webhook_url(url: str, what: str = "") -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.strip("/"):
        where = f"{what} " if what else ""
        raise ValueError(f"{where}must be a webhook URL such as "
                         f"{KINDS[FALLBACK_KIND].url_shape}")


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
        if kind is not None and kind not in KINDS:
            raise ValueError(f"{where}: unknown type {kind!r} (known: {', '.join(KINDS)})")
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
    expected = kind or next((k.name for k in KINDS.values()
                             if any(host.endswith(h) for h in k.hosts)), found)
    if expected != found:
        raise ValueError(f"{where}: the URL is not a {expected} URL (one looks like "
                         f"{KINDS[expected].url_shape})")
    token = KINDS[found].token_param
    if token and not parse_qs(urlsplit(url).query).get(token):
        raise ValueError(f"{where}: the URL has no {token}= (it looks like "
                         f"{KINDS[found].url_shape})")
    if secret is not None and not KINDS[found].signs:
        signing = [k.name for k in KINDS.values() if k.signs]
        raise ValueError(f"{where}: a {found} destination takes no \"secret\" (only "
                         + " and ".join(signing) + " sign their requests)")
    return Destination(kind=found, url=url, secret=secret)
