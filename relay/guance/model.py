"""What the Guance OpenAPI lists, read defensively: channels, issues (createAt, level, text) and
issue-list pages."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

from relay.guance.errors import GuanceTransportError

LEVEL_NAMES = {"system_level_0": "P0", "system_level_1": "P1", "system_level_2": "P2",
               "system_level_3": "Unknown"}
MAX_UNIX_SECONDS = 32_503_680_000  # 3000-01-01: a createAt past this is not Unix seconds
MAX_UUID = 64  # the outbox's issue_uuid column
MAX_MUTE_KEY = 255  # the mutes table's resource column


class MalformedIssue(ValueError):
    """An issue object relay cannot read (a createAt that is not Unix seconds, no usable uuid):
    it is skipped, the rest of its page is not."""

    def __init__(self, uuid: str, reason: str) -> None:
        super().__init__(reason)
        self.uuid, self.reason = uuid, reason


@dataclass(frozen=True)
class Channel:
    uuid: str
    name: str


@dataclass(frozen=True)
class Issue:
    uuid: str
    title: str
    level: str
    source: str
    message: str
    create_at: int
    deleted: bool = False
    managers: tuple[str, ...] = ()  # account UUIDs of the people responsible (extend.manager)
    mute_key: str = ""  # what `/mute` holds back: see mute_key_of; "" when it cannot be muted

    def as_dict(self) -> dict[str, Any]:
        values = {"uuid": self.uuid, "title": self.title, "level": self.level,
                  "source": self.source, "message": self.message, "create_at": self.create_at,
                  "mute_key": self.mute_key}
        if self.managers:  # cards @-mention them (relay/platforms/mentions.py)
            values["managers"] = list(self.managers)
        return values


@dataclass
class IssuePage:
    """One page of an issue list read: its issues, the malformed ones not reported before
    (uuid, why), how many items this read has received so far, whether it was the last, and the
    list's total count."""

    number: int
    issues: list[Issue]
    received: int
    last: bool
    malformed: list[tuple[str, str]] = field(default_factory=list)
    total: int | None = None  # the list's totalCount, when Guance gives one


def unix_seconds(value: Any, uuid: str) -> int:
    """createAt as Unix seconds (int, integral float or digit string); 0 when absent."""
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_UNIX_SECONDS:
        raise MalformedIssue(uuid, f"createAt {str(value)[:40]!r} is not Unix seconds")
    return value


def parse_issue(obj: dict[str, Any]) -> Issue:
    """One issue object from /issue/list, tolerant of the shapes seen across doc revisions;
    MalformedIssue when it cannot be read at all."""
    uuid = obj.get("uuid")
    if not isinstance(uuid, str) or not uuid.strip() or len(uuid) > MAX_UUID:
        raise MalformedIssue(str(uuid)[:MAX_UUID], "uuid is not a string of at most "
                             f"{MAX_UUID} characters")
    raw_level = obj.get("level")
    if isinstance(raw_level, int) or (isinstance(raw_level, str) and raw_level.isdigit()):
        raw_level = f"system_level_{int(raw_level)}"
    raw_level = str(raw_level or "")
    extend = obj.get("extend") if isinstance(obj.get("extend"), dict) else {}
    text = extend.get("text")
    if not isinstance(text, str) or not text.strip():
        text = html_to_text(str(obj.get("description") or ""))
    delete_at = obj.get("deleteAt", -1)
    return Issue(
        uuid=uuid,
        title=str(obj.get("name") or obj.get("title") or "(untitled)"),
        level=LEVEL_NAMES.get(raw_level, raw_level or "Unknown"),
        source=str(obj.get("resource") or obj.get("resourceType") or ""),
        message=text.strip(),
        create_at=unix_seconds(obj.get("createAt"), uuid),
        deleted=delete_at not in (-1, None, 0, "-1"),
        managers=tuple(managers_of(obj)),
        mute_key=mute_key_of(obj),
    )


def mute_key_of(obj: dict[str, Any]) -> str:
    """What a mute of this issue holds back: the monitor or check that raised it
    (`resourceUUID`), else its `resource`; "" when it has neither, or only its `resourceType`
    (`event`, `dashboard`, …): such a mute would silence every issue of that type."""
    check = str(obj.get("resourceUUID") or "").strip()
    resource = str(obj.get("resource") or "").strip()
    kind = str(obj.get("resourceType") or "").strip()
    if check:
        return check[:MAX_MUTE_KEY]
    return resource[:MAX_MUTE_KEY] if resource and resource.lower() != kind.lower() else ""


def managers_of(obj: dict[str, Any]) -> list[str]:
    """The people responsible: extend.manager (account UUIDs), tolerant of odd shapes."""
    extend = obj.get("extend") if isinstance(obj.get("extend"), dict) else {}
    raw = extend.get("manager")
    raw = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return [str(m.get("uuid") if isinstance(m, dict) else m) for m in raw
            if (m.get("uuid") if isinstance(m, dict) else m)]


def html_to_text(markup: str) -> str:
    text = re.sub(r"<br\s*/?>|</p>|</div>", "\n", markup, flags=re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _list_content(body: dict[str, Any]) -> tuple[list[Any], Any]:
    """(items, pageInfo) of an issue-list answer: `content` is {data, pageInfo} or a bare list."""
    content = body.get("content")
    if isinstance(content, dict):
        return content.get("data") or [], content.get("pageInfo")
    if isinstance(content, list):
        return content, body.get("pageInfo")
    raise GuanceTransportError("/api/v1/issue/list: content is neither list nor object")
