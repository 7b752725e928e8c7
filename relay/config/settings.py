"""Settings from the environment (prefix RELAY_), a `.env` file or the config file (`relay.toml`,
relay/config/file.py), in that order of precedence.

Every failure names the variable and never echoes its value, so a mistyped secret is not printed.
"""

from __future__ import annotations

import re
import stat
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (Field, SecretStr, ValidationError, ValidationInfo, field_validator,
                      model_validator)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from relay.config.destinations import (APP_TYPES, TYPES, Destination, check_chat,
                                       check_webhook_url, merge_older, parse_destination)
from relay.config.file import ConfigFileSource, config_path, env_sources, read_config, where
from relay.config.mentions import check_levels, check_people
from relay.config.secrets import (MIN_SECRET, PasswordUrl, password_url_fields, secret_fields,
                                  secret_values, url_passwords)
from relay.errors import ConfigError

DEFAULT_DESTINATION = "default"
MIN_LINK_SECRET = 32  # bytes of RELAY_ACTION_LINK_SECRET
DEPRECATED = {"feishu_timeout": "chat_timeout"}  # old setting → the one it became
# the config file load_settings found; Settings() built elsewhere (tests, sandbox) reads none
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("relay_config_file", default=None)
# the transitions a setting can ask to announce (RELAY_FOLLOW_ANNOUNCE)
TRANSITIONS = ("claimed", "resolved", "closed", "reopened", "pending")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RELAY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    guance_base_url: str = Field(
        "https://openapi.guance.com",
        description="your site's OpenAPI endpoint, e.g. `https://us1-openapi.guance.com`")
    guance_api_key: SecretStr | None = Field(
        None, description="Guance OpenAPI key; required",
        examples=['your-openapi-key'])
    guance_calls_per_minute: int = Field(
        20, ge=1, description="Guance's per-key limit; every job and the reply endpoint share it")
    guance_reply_reserve: int = Field(
        4, ge=0,
        description="calls per minute that polling leaves free for replies (the replies' floor)")
    guance_timeout: float = Field(
        10.0, gt=0,
        description=("seconds a Guance call may take, a deadline for the whole call (connect to "
                     "last byte)"))
    guance_poll_reserve: int = Field(
        4, ge=0,
        description=("calls per minute that replies leave free for polling and the other jobs "
                     "(polling's floor); the two floors add up to at most "
                     "`RELAY_GUANCE_CALLS_PER_MINUTE`"))
    channels: str = Field(
        "all",
        description=("channels to watch, names or `chan_…` UUIDs, comma-separated (a list in "
                     "relay.toml); `all` polls the built-in `default` channel, which holds every"
                     " issue (one call a minute)"),
        examples=[['payments', 'search']])
    feishu_webhook_url: SecretStr | None = Field(
        None,
        description=("older form of the destination `default`: a Feishu flow webhook "
                     "(`https://www.feishu.cn/flow/api/trigger-webhook/<id>`) or custom bot "
                     "(`…/open-apis/bot/v2/hook/<token>`) for channels without a route"),
        examples=['https://www.feishu.cn/flow/api/trigger-webhook/ID'])
    destinations: dict[str, Destination] = Field(
        {},
        description=("the destinations by name, one table: each entry an object with its `type` "
                     "(`feishu_flow`, `feishu_bot`, `feishu_app`, `dingtalk`, `dingtalk_app`, "
                     "`wecom`) and that type's fields (`url` and `secret`, `chat_id`, "
                     "`open_conversation_id`), or just a webhook URL (its type told by the URL);"
                     " JSON in the environment, `[destinations.NAME]` tables in relay.toml — see"
                     " [Destinations](#destinations)"),
        examples=[{'db-team': {'type': 'feishu_flow',
                               'url': 'https://www.feishu.cn/flow/api/trigger-webhook/ID'},
                   'search-bot': {'type': 'feishu_bot',
                                  'url': 'https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN',
                                  'secret': 'signing-secret'},
                   'ops-ding': {'type': 'dingtalk',
                                'url': 'https://oapi.dingtalk.com/robot/send?access_token=TOKEN',
                                'secret': 'SEC0123'},
                   'ops-wecom': {
                       'type': 'wecom',
                       'url': 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY'},
                   'ops-chat': {'type': 'feishu_app', 'chat_id': 'oc_0123456789'},
                   'orders-oncall': {'type': 'dingtalk_app',
                                     'open_conversation_id': 'cidAbCdEf0123456789=='}}])
    routes: dict[str, list[str]] = Field(
        {},
        description=('channel → destination name(s), JSON: `{"payments": "db-team", "search": '
                     '["db-team", "default"]}`; routed channels are watched too'),
        examples=[{'payments': 'db-team', 'search': ['search-bot', 'default']}])
    chat_timeout: float = Field(
        10.0, gt=0,
        description=("seconds a whole call to a chat platform (Feishu, DingTalk, WeCom) may take, "
                     "connect to last byte; `RELAY_FEISHU_TIMEOUT` is its old name, still read"))
    feishu_timeout: float | None = Field(
        None, gt=0,
        description="deprecated: the old name of `RELAY_CHAT_TIMEOUT`, which wins when both are set",
        examples=[10.0])
    feishu_bot_secrets: dict[str, SecretStr] = Field(
        {},
        description=("older form of a custom bot's `secret`: signing secrets by destination "
                     'name, JSON: `{"default": "…", "db-team": "…"}`'),
        examples=[{'search-bot': 'signing-secret'}])
    feishu_card_template: Path | None = Field(
        None,
        description=("your own custom-bot and app-bot card template (a file path), in the "
                     "language you choose; unset: the packaged "
                     "`relay/platforms/feishu/card_template.<RELAY_LANGUAGE>.json`"),
        examples=['/etc/relay/card.json'])
    guance_console_url: str = Field(
        "https://console.guance.com",
        description=("where cards link an issue: `<this>/exception/issue?issueUUID=<uuid>`; a "
                     "value containing `{uuid}` is used as the whole link"))
    database_url: Annotated[str, PasswordUrl()] = Field(
        "sqlite:///relay.db",
        description=("SQLAlchemy URL; `postgresql+psycopg://user:pw@host/db` for several "
                     "replicas"))
    database_busy_timeout: float = Field(
        30.0, gt=0,
        description=("seconds a SQLite writer waits for another process's write lock before "
                     'giving up with "database busy, retry"'))
    reply_token: SecretStr | None = Field(
        None,
        description=("bearer token the Feishu flow sends to `/feishu/reply`; unset, that route "
                     "answers 404 and the other reply routes (DingTalk, app bot) still work"),
        examples=['bearer-token-of-the-feishu-flow'])
    feishu_flow_actions: bool = Field(
        True,
        description=("`false`: the Feishu flow's `/feishu/reply` takes comments only, no actions "
                     "(its `sender` is self-declared: the flow names no chat relay could check)"))
    crontab: Path = Field(
        Path("crontab.example"), description="the schedule file")
    timezone: str = Field(
        "Asia/Shanghai", description="for `createAt` in cards, reply times and crontab times")
    overlap_seconds: int = Field(
        300, ge=0,
        description=("each poll re-reads this much before its cursor, for issues Guance lists "
                     "late"))
    max_catchup_seconds: int = Field(
        86_400, ge=60,
        description="after a longer outage, older issues are skipped (with a warning)")
    delivery_max_age_seconds: int = Field(
        86_400, ge=60, description="a delivery still failing after this long becomes `dead`")
    storm_threshold: int = Field(
        10, ge=1,
        description=("when one poll finds more new issues than this for a destination, it gets "
                     "one digest card instead"))
    storm_titles: int = Field(
        5, ge=0, description="how many issue titles (with UUIDs) a digest card lists")
    host: str = Field(
        "127.0.0.1", description="the address the reply endpoint listens on")
    port: int = Field(
        8080, ge=0, le=65535, description="the port the reply endpoint listens on")
    # DingTalk (its robots are destinations of type dingtalk)
    dingtalk_app_secret: SecretStr | None = Field(
        None,
        description=("the DingTalk app's Client Secret (AppSecret): the outgoing robot's, or the"
                     " app robot's; `/dingtalk/reply` checks each request's signature with it "
                     "(off when unset)"),
        examples=['outgoing-robot-appsecret'])
    dingtalk_robot_code: str | None = Field(
        None,
        description=("the robot's `robotCode` (its page in the developer console); set, an "
                     "outgoing-robot callback with another `robotCode` or none is refused with "
                     "403; unset, not checked (the app robot uses the Client ID)"),
        examples=['dingxxxxxxxx'])
    dingtalk_session_origins: str = Field(
        "",
        description=("origins (`scheme://host:port`, comma-separated) a callback's "
                     "`sessionWebhook` may point at besides DingTalk's own "
                     "`https://*.dingtalk.com`: a local fake or an egress proxy; `relay sandbox`"
                     " sets its fake here"))
    dingtalk_app_key: str | None = Field(
        None,
        description=("the DingTalk app's Client ID (AppKey); setting it turns the app robot over"
                     " Stream on ([DingTalk app robot](platforms/dingtalk-app.md))"),
        examples=['dingxxxxxxxxxxxxxxxx'])
    dingtalk_app_groups: dict[str, str] = Field(
        {},
        description=("older form of `dingtalk_app` destinations: the app robot's groups by name,"
                     ' JSON name → openConversationId: `{"orders-oncall": "cid…=="}`'),
        examples=[{'old-group': 'cidAbCdEf0123456789=='}])
    dingtalk_conversations: dict[str, list[str]] = Field(
        {},
        description=("the DingTalk outgoing robot's groups: conversationId → the destination "
                     "name(s) it stands for, JSON; an action from a group needs the issue's card "
                     "sent to one of them (unmapped groups may comment, not act) — see [Who may "
                     "act](actions.md#who-may-act-from-where)"),
        examples=[{'cidAbCdEf0123456789==': ['ops-ding']}])
    dingtalk_allowed_users: str = Field(
        "",
        description=("DingTalk staff ids (senderStaffId) who may act, comma-separated; unset: "
                     "anyone in a group that got the card"),
        examples=[['manager4220']])
    dingtalk_card_template: str = Field(
        "",
        description=("the app robot's interactive card template ID (`….schema`); needed when "
                     "there are `dingtalk_app` destinations"),
        examples=['xxxxxxxx.schema'])
    dingtalk_open_base_url: str = Field(
        "https://api.dingtalk.com", description="DingTalk's OpenAPI and Stream gateway")
    # the Feishu app bot: IM API cards, /feishu/events, reply notifications
    feishu_app_id: str | None = Field(
        None,
        description=("the Feishu app bot's App ID (`cli_…`); needed with `feishu_app` "
                     "destinations or `RELAY_FEISHU_VERIFICATION_TOKEN`"),
        examples=['cli_0123456789'])
    feishu_app_secret: SecretStr | None = Field(
        None, description="its App Secret",
        examples=['app-secret'])
    feishu_verification_token: SecretStr | None = Field(
        None,
        description="the app's Verification Token; setting it turns on `POST /feishu/events`",
        examples=['verification-token'])
    feishu_encrypt_key: SecretStr | None = Field(
        None,
        description=("the app's Encrypt Key: events arrive encrypted and signed, and are checked"
                     " (recommended)"),
        examples=['encrypt-key'])
    feishu_open_base_url: str = Field(
        "https://open.feishu.cn",
        description="Feishu open platform; `https://open.larksuite.com` for Lark")
    feishu_events: Literal["http", "long"] = Field(
        "http",
        description=("how the Feishu app bot's events and card callbacks reach relay: `http` "
                     "(POST /feishu/events, a public URL) or `long` (relay opens the app's long "
                     "connection with the App ID and Secret: no public address, no Verification "
                     "Token or Encrypt Key); the app's console setting (事件与回调 → 订阅方式) must "
                     "say the same — see [the long connection](platforms/feishu-long-connection.md)"))
    feishu_app_chats: dict[str, str] = Field(
        {},
        description=("older form of `feishu_app` destinations: app-bot chats by name, JSON name "
                     '→ chat_id: `{"ops-chat": "oc_…"}`'),
        examples=[{'old-chat': 'oc_0123456789'}])
    feishu_allowed_chats: str = Field(
        "",
        description=("chat_ids whose messages may become comments, comma-separated; `*` = any "
                     "chat the bot is in; unset: the chats of the `feishu_app` destinations"),
        examples=[['oc_0123456789']])
    feishu_allowed_users: str = Field(
        "",
        description=("open_ids / user_ids who may comment, comma-separated; unset: anyone in an "
                     "allowed chat"),
        examples=[['ou_0123456789']])
    reply_notify_days: int = Field(
        7, ge=1,
        description="`notify_replies` watches issues relayed to an app chat in this many days")
    # replicas, logs, the delivery log page
    lease_seconds: float = Field(
        60.0, ge=1,
        description=("how long a replica's claim on polling a channel or sending to a "
                     "destination lasts unrenewed: a killed replica's work passes to another "
                     "after this (keep it well above `RELAY_CHAT_TIMEOUT`)"))
    log_format: Literal["text", "json"] = Field(
        "text", description="`text`, or `json`: one JSON object per log line")
    ui_token: SecretStr | None = Field(
        None, description="token for the delivery log page at `/`; unset, the page is off",
        examples=['token-of-the-delivery-log-page'])
    crontab_reload_seconds: float = Field(
        5.0, ge=0,
        description=("`relay run` re-reads the crontab this often and applies an edit; `0`: only"
                     " on SIGHUP"))
    ui_cookie_secure: bool = Field(
        False,
        description=("`true`: the page's cookie is always `Secure`; otherwise it is when the "
                     "request came over HTTPS, to relay or to a proxy sending "
                     "`X-Forwarded-Proto: https`"))
    replies_in_flight: int = Field(
        4, ge=1, le=256,
        description=("replies (Feishu flow, DingTalk) waiting on Guance at once; one more is "
                     "answered 503 with `Retry-After`. The server runs this many threads plus 4 "
                     "that replies never take (`/healthz`, `/feishu/events`, `/metrics`, the "
                     "page)"))
    language: Literal["zh-CN", "en"] = Field(
        "zh-CN",
        description=("`zh-CN` (简体中文) or `en`: the language of every card, digest, bot answer and"
                     " page label — see [Languages](running.md#languages)"))
    # cards that follow the issue (relay/pipeline/track_issues.py) and @-mentions
    follow_days: int = Field(
        7, ge=1,
        description=("`track_issues` follows the issues carded in this many days (see [Cards "
                     "that follow the issue](cards.md#cards-that-follow-the-issue))"))
    follow_announce: str = Field(
        "resolved,closed,reopened",
        description=("which state changes get a message: any of `claimed`, `resolved`, `closed`,"
                     " `reopened`, `pending` (the app-bot card is updated for every change)"))
    follow_calls: int = Field(
        3, ge=1, description="Guance calls `track_issues` may make a run (100 issues a call)")
    follow_spare: int = Field(
        6, ge=0,
        description=("calls of the minute `track_issues` always leaves free for polling (besides"
                     " `RELAY_GUANCE_REPLY_RESERVE`); it never waits for the budget"))
    mentions: dict[str, dict[str, str]] = Field(
        {},
        description=("Guance people (account email or `acnt_` UUID) → chat identities, JSON: "
                     '`{"li.lei@example.com": {"name": "Li Lei", "feishu": "ou_…", "dingtalk": '
                     '"13800000000", "wecom": "lilei"}}`; `feishu` is an open_id/user_id or an '
                     "email, `dingtalk` a mobile (digits) or a userId, `wecom` a userid"),
        examples=[{'acnt_0123456789': {'name': 'Li Lei',
                                       'feishu': 'ou_0123456789',
                                       'dingtalk': '13800000000',
                                       'wecom': 'lilei'}}])
    level_mentions: dict[str, dict[str, list[str]]] = Field(
        {},
        description=('people to @ by channel (or `*`) and level, JSON: `{"payments": {"P0": '
                     '["oncall-a@example.com", "oncall-b@example.com"]}, "*": {"P0,P1": '
                     '["lead@example.com"]}}`'),
        examples=[{'payments': {'P0': ['acnt_0123456789']}}])
    # acting on issues from chat (claim, resolve, close, reopen): signed links on cards
    public_url: str | None = Field(
        None,
        description=("where people's browsers reach relay, e.g. `https://relay.example.com`; "
                     "with `RELAY_ACTION_LINK_SECRET`, cards that cannot call back carry signed "
                     "Claim / Resolve links (see [Acting on issues from "
                     "chat](actions.md#signed-links)); unset: no links"),
        examples=['https://relay.example.com'])
    action_link_secret: SecretStr | None = Field(
        None,
        description=("signs those links (HMAC-SHA256); at least 32 bytes of random text, e.g. "
                     "`python -c 'import secrets; print(secrets.token_urlsafe(32))'` (a shorter "
                     "one stops start-up and `relay check`); changing it voids every link on old "
                     "cards; unset: no links"),
        examples=['a-long-random-value-of-32-bytes-or-more'])
    action_link_hours: int = Field(
        72, ge=1, le=24 * 90,
        description=("how long a link works, counted from the issue's creation (or from when its "
                     "card was sent, if that is earlier)"))
    mute_max_hours: int = Field(
        24, ge=1, le=24 * 7,
        description=("a `/mute` ends at most this many hours after it was set, a renewal too (1 "
                     "to 168); see [Mute from chat](actions.md#mute-from-chat)"))
    reminders: dict[str, Annotated[int, Field(ge=1)]] = Field(
        {},
        description=('level → minutes, JSON: `{"P0": 10, "P1": 30}`; the `remind` job reminds '
                     "the groups of an issue nobody claimed after that long; empty: off"),
        examples=[{'P0': 10, 'P1': 30}])
    reminder_max: int = Field(
        1, ge=1, le=10,
        description="reminders per issue at most (the k-th after k × the minutes)")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings):
        """Arguments, then the environment, then .env, then the config file, then defaults."""
        sources = (init_settings, env_settings, dotenv_settings, file_secret_settings)
        path = _CONFIG_FILE.get()
        return sources + (ConfigFileSource(settings_cls, path, sources),) if path else sources

    @model_validator(mode="after")
    def _old_names(self) -> Settings:
        """A deprecated name applies when its new one is not set (anywhere)."""
        for old, new in DEPRECATED.items():
            if old in self.model_fields_set and new not in self.model_fields_set:
                setattr(self, new, getattr(self, old))
        return self

    @field_validator("channels", "feishu_allowed_chats", "feishu_allowed_users",
                     "dingtalk_allowed_users", mode="before")
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

    @field_validator("action_link_secret")
    @classmethod
    def _link_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """A short secret is found offline from one link in chat history, and then any action
        can be forged: at least MIN_LINK_SECRET bytes."""
        if value is not None and value.get_secret_value().strip() and \
                len(value.get_secret_value().encode()) < MIN_LINK_SECRET:
            raise ValueError(
                f"must be at least {MIN_LINK_SECRET} bytes of random text (it signs the action "
                "links anyone in the chat can read); generate one with: python -c 'import "
                "secrets; print(secrets.token_urlsafe(32))'")
        return value

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

    @field_validator("routes", "dingtalk_conversations", mode="before")
    @classmethod
    def _routes(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("feishu_app_chats", "dingtalk_app_groups")
    @classmethod
    def _app_chats(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        kind = TYPES["feishu_app" if info.field_name == "feishu_app_chats" else "dingtalk_app"]
        for name, chat in value.items():
            check_chat(kind, chat, f"destination {name!r}")
        return value

    def chats(self, kind: str) -> dict[str, str]:
        """An app type's destinations: name → its chat (Feishu chat_id, DingTalk group)."""
        return {name: dest.chat or "" for name, dest in self.destination_table().items()
                if dest.kind == kind}

    def app_chats(self) -> dict[str, str]:
        """The app bots' own chats (Feishu, DingTalk): their cards follow the issue in place."""
        return {name: chat for kind in APP_TYPES for name, chat in self.chats(kind.name).items()}

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
        """Every destination by name, the older settings folded in (merge_older); a
        ConfigError names the setting of a clash (checked as the runtime is built)."""
        url = self.feishu_webhook_url
        try:
            return merge_older(self.destinations, url.get_secret_value() if url else None,
                               self.feishu_bot_secrets, {"feishu_app": self.feishu_app_chats,
                                                         "dingtalk_app": self.dingtalk_app_groups},
                               DEFAULT_DESTINATION)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def secrets(self) -> list[str]:
        """Every secret value, to redact from logs and stored errors (config/secrets.py)."""
        return secret_values(dict(self)) + [
            p for name in password_url_fields(Settings) for p in url_passwords(getattr(self, name))
            if len(p) >= MIN_SECRET]

    def routing(self) -> dict[str, list[str]]:
        """Channel (name or UUID) → destination names. Raises ConfigError for unknown names."""
        known = self.destination_table()
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


def exposed_config_file() -> str | None:
    """A warning when the config file holds a secret and every user of the machine may read
    it (a secret the environment overrides still sits in the file); None otherwise."""
    path = config_path()
    if path is None or not path.stat().st_mode & stat.S_IROTH:
        return None
    secret, urls = secret_fields(Settings), password_url_fields(Settings)
    held = sorted(key for key, value in read_config(path, Settings.model_fields).items()
                  if key in secret and (key not in urls or url_passwords(str(value))))
    if not held:
        return None
    return (f"{path} holds secrets ({', '.join(held)}) and every user of this machine may read "
            f"it: chmod 600 {path}")


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
