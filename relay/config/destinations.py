"""The types of destination a card can go to, declared as data: the fields an entry of each type
takes and how a webhook URL is told apart and checked. Settings parse every destination (a
`[destinations.NAME]` table of relay.toml, an entry of RELAY_DESTINATIONS, or one of the older
settings) with this table alone; each platform registers a sink for its types by name
(relay/platforms/registry.py checks that every type has one)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr


class Destination(BaseModel):
    """Where a channel's cards go: its type (`kind`) and that type's fields."""

    model_config = ConfigDict(frozen=True)
    kind: str
    url: SecretStr | None = None  # a webhook's URL (its token is a secret)
    secret: SecretStr | None = None  # a webhook's signing secret
    chat_id: str | None = None  # a Feishu app-bot chat (oc_…)
    open_conversation_id: str | None = None  # a DingTalk app-robot group (cid…)

    def secret_value(self) -> str | None:
        return self.secret.get_secret_value() if self.secret else None

    @property
    def chat(self) -> str | None:
        """An app bot's chat or group: the one field of an app type."""
        return self.chat_id or self.open_conversation_id


@dataclass(frozen=True)
class DestinationType:
    """A `type` of destination: the fields an entry takes, and for a webhook what its URL looks
    like; for an app chat what its id looks like."""

    name: str
    fields: tuple[str, ...]  # the keys an entry takes besides "type"; the first is required
    url_path: str | None = None  # the URL's path ("…/" = a prefix the token follows); None: any
    url_shape: str = ""  # what such a URL (or chat id) looks like, for error messages
    token_param: str | None = None  # the query parameter that holds the URL's token
    hosts: tuple[str, ...] = ()  # a URL on one of these hosts must be of this type
    chat_prefix: str = ""  # an app chat's id starts so
    older: str = ""  # the older setting that maps names to these chats

    @property
    def webhook(self) -> bool:
        return self.fields[0] == "url"

    @property
    def signs(self) -> bool:
        return "secret" in self.fields


WEBHOOK_TYPES: tuple[DestinationType, ...] = (
    DestinationType("dingtalk", ("url", "secret"), "/robot/send",
                    "https://oapi.dingtalk.com/robot/send?access_token=<token>",
                    token_param="access_token", hosts=("dingtalk.com",)),
    DestinationType("wecom", ("url",), "/cgi-bin/webhook/send",
                    "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<key>",
                    token_param="key", hosts=("weixin.qq.com",)),
    DestinationType("feishu_bot", ("url", "secret"), "/open-apis/bot/v2/hook/",
                    "https://open.feishu.cn/open-apis/bot/v2/hook/<token>"),
    DestinationType("feishu_flow", ("url",), None,
                    "https://www.feishu.cn/flow/api/trigger-webhook/<id>"),
)
APP_TYPES: tuple[DestinationType, ...] = (
    DestinationType("feishu_app", ("chat_id",), url_shape="a Feishu chat_id (oc_…)",
                    chat_prefix="oc_", older="RELAY_FEISHU_APP_CHATS"),
    DestinationType("dingtalk_app", ("open_conversation_id",),
                    url_shape="a group's openConversationId (cid…)",
                    older="RELAY_DINGTALK_APP_GROUPS"),
)
TYPES: dict[str, DestinationType] = {t.name: t for t in WEBHOOK_TYPES + APP_TYPES}
FIELDS = tuple(dict.fromkeys(f for t in TYPES.values() for f in t.fields))
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
    """A destination entry: a webhook URL string, or an object with an optional "type" (a
    webhook's is told by its URL) and that type's fields: {"type", "url", "secret"} for a
    webhook, {"type": "feishu_app", "chat_id"}, {"type": "dingtalk_app",
    "open_conversation_id"}. The ValueError names the entry and never shows a URL or secret."""
    where = f"destination {name!r}"
    if isinstance(value, str):
        return _webhook(where, None, value, None)
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a webhook URL string or an object "
                         '{"type": …, "url": …, "secret": …}')
    kind = value.get("type")
    unknown = sorted(set(value) - {"type", *FIELDS})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} "
                         f"(known: type, {', '.join(FIELDS)})")
    if kind is not None and kind not in TYPES:
        raise ValueError(f"{where}: unknown type {kind!r} (known: {', '.join(TYPES)})")
    if kind is None and "url" not in value:
        raise ValueError(f'{where}: needs "type" ({", ".join(TYPES)}) or "url", a webhook URL')
    kind_of = TYPES[kind] if kind else TYPES[FALLBACK_TYPE]
    if kind_of.webhook:
        other = sorted(set(value) - {"type", "url", "secret"})
        if other:
            raise ValueError(f"{where}: a webhook destination takes no {other[0]!r} (it takes: "
                             "type, url, secret)")
        secret = value.get("secret")
        if secret is not None and (not isinstance(secret, str) or not secret.strip()):
            raise ValueError(f"{where}: \"secret\" must be a non-empty string")
        return _webhook(where, kind, value.get("url"), secret)
    other = sorted(set(value) - {"type", *kind_of.fields})
    if other:
        raise ValueError(f"{where}: a {kind} destination takes no {other[0]!r} (it takes: "
                         f"type, {', '.join(kind_of.fields)})")
    field = kind_of.fields[0]
    return Destination(kind=kind_of.name, **{field: check_chat(kind_of, value.get(field),
                                                                f'{where}: "{field}"')})


def check_chat(kind: DestinationType, chat: object, what: str) -> str:
    """An app chat's id: a non-empty string without spaces, with the type's prefix."""
    if (not isinstance(chat, str) or not chat.strip() or any(c.isspace() for c in chat)
            or not chat.startswith(kind.chat_prefix)):
        raise ValueError(f"{what} must be {kind.url_shape}")
    return chat


def _webhook(where: str, kind: str | None, url: object, secret: str | None) -> Destination:
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


def merge_older(table: dict[str, Destination], webhook_url: str | None,
                bot_secrets: dict[str, SecretStr], older_chats: dict[str, dict[str, str]],
                default: str) -> dict[str, Destination]:
    """The one destinations table: `table` (RELAY_DESTINATIONS) plus what the older settings
    declare, which keep working unchanged: RELAY_FEISHU_WEBHOOK_URL is `default` (over an entry
    of that name, as before), a Feishu custom bot without a secret of its own takes the one in
    RELAY_FEISHU_BOT_SECRETS, and `older_chats` (app type → name → chat, from
    RELAY_FEISHU_APP_CHATS and RELAY_DINGTALK_APP_GROUPS) are app destinations. A ValueError
    (its message starting with the setting's name) for a name used twice or a bot secret for no
    custom bot."""
    merged = dict(table)
    if webhook_url is not None:
        merged[default] = parse_destination(default, webhook_url)
    for name, secret in bot_secrets.items():
        dest = merged.get(name)
        if dest is None or dest.kind != "feishu_bot":
            raise ValueError(
                f"RELAY_FEISHU_BOT_SECRETS: {name!r} is not a destination with a custom bot URL "
                f"(…{TYPES['feishu_bot'].url_path}<token>); the default webhook's name is "
                f"{default!r}")
        if dest.secret is None:
            merged[name] = dest.model_copy(update={"secret": secret})
    for kind, chats in older_chats.items():
        older = TYPES[kind]
        for name, chat in chats.items():
            if name in merged:
                raise ValueError(f"{older.older}: {name!r} is also another destination "
                                 "(RELAY_DESTINATIONS, 'default' or an app chat); use another name")
            merged[name] = Destination(kind=kind, **{older.fields[0]: chat})
    return merged
